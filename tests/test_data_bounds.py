"""Data files cannot make dlrun allocate without bound: IDX (gzipped or raw), npz and ATIS
files declaring or holding far more than any real dataset fail fast, with one DataError line
naming the file and the limit. Offline and fast: the big files are sparse or highly compressed."""

from __future__ import annotations

import gzip
import io
import os
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from test_data import idx_bytes, make_arrays, write_idx_set

from dlrun.data import text
from dlrun.data.archives import Bounds, read_members
from dlrun.data.images import DatasetName, load_images
from dlrun.errors import DataError
from helpers import write_tarball

MNIST = DatasetName.MNIST
MIB = 1 << 20


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """No user data dirs, no tfds, no real ATIS folder: each test sees only what it builds."""
    monkeypatch.delenv("DLRUN_DATA_DIR", raising=False)
    monkeypatch.setenv("DLRUN_NO_TFDS", "1")
    monkeypatch.setenv("DLRUN_NO_ATIS", "1")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds_home"))


def fails_within(call, limit_mib: float, limit_s: float = 5.0) -> str:
    """Run `call`, which must raise DataError, and return its message; the Python and numpy
    allocations it made (tracemalloc sees both) must peak under `limit_mib`, and it must be fast."""
    tracemalloc.start()
    start = time.monotonic()
    try:
        with pytest.raises(DataError) as info:
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - start
    assert peak < limit_mib * MIB, f"peak {peak / MIB:.0f} MiB"
    assert elapsed < limit_s, f"took {elapsed:.1f} s"
    message = str(info.value)
    assert "\n" not in message
    return message


def idx_header(magic: int, *dims: int) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)


def gzip_with_zeros(head: bytes, zeros: int) -> bytes:
    """gzip of `head` then `zeros` zero bytes, built in pieces (50 MB of zeros packs to ~50 KB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip container
    out = [packer.compress(head)]
    chunk = bytes(MIB)
    for _ in range(zeros // MIB):
        out.append(packer.compress(chunk))
    return b"".join(out) + packer.flush()


# --------------------------------------------------------------------------- IDX files


def test_gzip_declaring_a_billion_images_is_refused_from_the_header(tmp_path: Path) -> None:
    """10^9 images of 28x28 (784 GB) in a ~100 KB gzip that unpacks to 100 MB."""
    images = write_idx_set(tmp_path / "mnist", make_arrays())[0]
    images.write_bytes(gzip_with_zeros(idx_header(2051, 10**9, 28, 28), 100 * MIB))
    message = fails_within(lambda: load_images(MNIST, tmp_path), limit_mib=20)
    assert str(images) in message
    assert "1,000,000,000 images" in message and "10,000,000" in message and "2 GiB" in message


def test_gzip_longer_than_its_header_says_stops_at_the_end_of_the_payload(tmp_path: Path) -> None:
    """A valid 12-image file followed by 200 MB of zeros inside the same gzip stream."""
    arrays = make_arrays()
    images = write_idx_set(tmp_path / "mnist", arrays)[0]
    images.write_bytes(gzip_with_zeros(idx_bytes(arrays[0]), 200 * MIB))
    message = fails_within(lambda: load_images(MNIST, tmp_path), limit_mib=20)
    assert str(images) in message and "past the 9,408 bytes" in message


def test_gzip_short_of_its_header_names_the_file(tmp_path: Path) -> None:
    arrays = make_arrays()
    labels = write_idx_set(tmp_path / "mnist", arrays)[1]
    labels.write_bytes(gzip.compress(idx_header(2049, 12) + bytes(5)))
    message = fails_within(lambda: load_images(MNIST, tmp_path), limit_mib=20)
    assert str(labels) in message and "payload is 5 bytes" in message and "needs 12" in message


def test_raw_file_size_is_checked_before_reading(tmp_path: Path) -> None:
    """A raw (non-gzip) file whose header says 12 images but which is 300 MB long (sparse)."""
    arrays = make_arrays()
    images = write_idx_set(tmp_path / "mnist", arrays, gz=False)[0]
    images.write_bytes(idx_bytes(arrays[0]))
    os.truncate(images, 300 * MIB)
    message = fails_within(lambda: load_images(MNIST, tmp_path), limit_mib=20)
    assert str(images) in message and "needs 9408" in message


def test_raw_file_of_the_declared_size_over_the_limit_is_refused_unread(tmp_path: Path) -> None:
    """3 million images (2.35 GB, sparse on disk): consistent with the file size, but over 2 GiB."""
    images = write_idx_set(tmp_path / "mnist", make_arrays(), gz=False)[0]
    images.write_bytes(idx_header(2051, 3_000_000, 28, 28))
    os.truncate(images, 16 + 3_000_000 * 28 * 28)
    message = fails_within(lambda: load_images(MNIST, tmp_path), limit_mib=20)
    assert str(images) in message and "3,000,000 images" in message and "2 GiB" in message


def test_label_count_over_the_limit_is_refused(tmp_path: Path) -> None:
    labels = write_idx_set(tmp_path / "mnist", make_arrays())[1]
    labels.write_bytes(gzip.compress(idx_header(2049, 20_000_000)))
    message = fails_within(lambda: load_images(MNIST, tmp_path), limit_mib=20)
    assert str(labels) in message and "20,000,000 labels" in message and "10,000,000" in message


def test_raw_files_of_the_right_size_still_load(tmp_path: Path) -> None:
    """The bounds leave valid files alone, raw and gzipped alike (see also test_data.py)."""
    arrays = make_arrays(n_train=30, n_test=7)
    for gz, folder in ((False, "raw"), (True, "gz")):
        write_idx_set(tmp_path / folder / "mnist", arrays, gz=gz)
        loaded = load_images(MNIST, tmp_path / folder)
        np.testing.assert_array_equal(loaded.x_train, arrays[0])
        np.testing.assert_array_equal(loaded.y_test, arrays[3])


# --------------------------------------------------------------------------- npz files


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def write_npz(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def lying_npy(shape: tuple[int, ...], descr: str = "|u1") -> bytes:
    """A .npy header declaring `shape`, followed by just 1 KB of data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + bytes(1024)


def good_members() -> dict[str, bytes]:
    arrays = make_arrays()
    return {f"{k}.npy": npy_bytes(a) for k, a in zip(("x_train", "y_train", "x_test", "y_test"), arrays)}


def test_npz_declaring_a_billion_images_is_refused_from_the_header(tmp_path: Path) -> None:
    """np.load would try to allocate 730 GiB and raise a MemoryError naming no file."""
    path = tmp_path / "mnist.npz"
    write_npz(path, {**good_members(), "x_train.npy": lying_npy((10**9, 28, 28))})
    message = fails_within(lambda: load_images(MNIST, tmp_path), limit_mib=20)
    assert f"{path}[x_train]" in message
    assert "1,000,000,000 images" in message and "10,000,000" in message and "2 GiB" in message


def test_npz_over_the_byte_limit_is_refused(tmp_path: Path) -> None:
    """100,000 labels is few, but as a [100000, 10000] int64 array it is 8 GB."""
    path = tmp_path / "mnist.npz"
    write_npz(path, {**good_members(), "y_test.npy": lying_npy((100_000, 10_000), "<i8")})
    message = fails_within(lambda: load_images(MNIST, tmp_path), limit_mib=20)
    assert f"{path}[y_test]" in message and "8,000,000,000 bytes" in message and "2 GiB" in message


def test_npz_member_that_is_not_an_array(tmp_path: Path) -> None:
    """A member named exactly `x_test` (no .npy) that holds no .npy data: np.load returns raw bytes."""
    path = tmp_path / "mnist.npz"
    members = good_members()
    del members["x_test.npy"]
    write_npz(path, {**members, "x_test": bytes(10 * MIB)})
    message = fails_within(lambda: load_images(MNIST, tmp_path), limit_mib=20)
    assert f"{path}[x_test]" in message and "not a .npy array" in message


# --------------------------------------------------------------------------- ATIS files


def atis_line(words: list[str], tags: list[str], intent: str = "atis_flight") -> str:
    return f"BOS {' '.join(words)} EOS\tO {' '.join(tags)} {intent}"


def write_atis(folder: Path, n: int = 600, test: int = 0) -> Path:
    """ATIS-format files from the generated corpus (as in test_slot_filling.py, without its jax imports)."""
    corpus = text.booking_corpus(n_train=n, n_test=max(test, 1))
    folder.mkdir(parents=True, exist_ok=True)
    lines = [atis_line(list(s.words), list(s.tags), s.intent) for s in corpus.train + corpus.val]
    (folder / text.TRAIN_FILE).write_text("\n".join(lines) + "\n")
    if test:
        lines = [atis_line(list(s.words), list(s.tags), s.intent) for s in corpus.test]
        (folder / text.TEST_FILE).write_text("\n".join(lines) + "\n")
    return folder / text.TRAIN_FILE


def test_the_longest_sentence_allowed_loads(tmp_path: Path) -> None:
    path = write_atis(tmp_path)
    with path.open("a") as f:
        f.write(atis_line(["word"] * 200, ["O"] * 200) + "\n")
    corpus = text.load_corpus(tmp_path)
    assert max(len(s.words) for s in corpus.val) == 200


def test_too_long_sentence_names_file_and_line(tmp_path: Path) -> None:
    path = write_atis(tmp_path)
    lines = path.read_text().splitlines()
    lines[6] = atis_line(["word"] * 201, ["O"] * 201)
    path.write_text("\n".join(lines) + "\n")
    message = fails_within(lambda: text.load_corpus(tmp_path), limit_mib=50)
    assert f"{path}, line 7" in message and "more than 200 words" in message


def test_a_line_of_200000_words_fails_fast(tmp_path: Path) -> None:
    """Padding would make every sentence 200,000 words long: past 10 GB before this check."""
    path = write_atis(tmp_path)
    with path.open("a") as f:
        f.write(atis_line(["word"] * 200_000, ["O"] * 200_000) + "\n")
    message = fails_within(lambda: text.load_corpus(tmp_path), limit_mib=50)
    assert f"{path}, line 601" in message and "more than 200 words" in message


def test_oversized_atis_file_is_refused_unread(tmp_path: Path) -> None:
    path = write_atis(tmp_path)
    os.truncate(path, 200 * MIB)  # sparse: the tail reads as NUL bytes
    message = fails_within(lambda: text.load_corpus(tmp_path), limit_mib=20)
    assert str(path) in message and "209,715,200 bytes" in message and "20 MB" in message


def test_too_many_padded_slots_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sentences x longest sentence is what padding allocates; the bound is checked at load."""
    monkeypatch.setattr(text, "MAX_PADDED_SLOTS", 5_000)
    write_atis(tmp_path, test=40)
    message = fails_within(lambda: text.load_corpus(tmp_path), limit_mib=50)
    assert str(tmp_path / text.TRAIN_FILE) in message and str(tmp_path / text.TEST_FILE) in message
    assert "5,000" in message and "padded" in message


@pytest.mark.parametrize("content", ["", "\n  \n\t\n"])
def test_empty_test_file_is_a_data_error_at_load(tmp_path: Path, content: str) -> None:
    """Before: the corpus loaded with test == [] and seqeval raised a TypeError after training."""
    write_atis(tmp_path)
    (tmp_path / text.TEST_FILE).write_text(content)
    with pytest.raises(DataError, match="no sentences") as info:
        text.load_corpus(tmp_path)
    assert str(tmp_path / text.TEST_FILE) in str(info.value) and "\n" not in str(info.value)


def test_valid_test_file_still_loads(tmp_path: Path) -> None:
    write_atis(tmp_path, test=40)
    corpus = text.load_corpus(tmp_path)
    assert len(corpus.test) == 40 and corpus.eval is corpus.test


def test_tarball_members_are_read_by_key_and_the_members_passed_over_are_bounded(tmp_path):
    """The shared tarball reader: the first member of each key, a stop once the wanted keys are
    found (a later bad member is never reached), and the declared sizes of skipped members
    counting against the total."""
    first_letter = lambda member: member.name[0]  # noqa: E731
    path = write_tarball(tmp_path / "a.tar.gz", {"a1": b"one", "b": b"two", "a2": b"three", "c": b"x" * 5000})
    found = read_members(path, first_letter, Bounds(1, 1, 1, 10), "a test archive", wanted=2)
    assert found == {"a": (b"one", f"{path}:a1"), "b": (b"two", f"{path}:b")}
    skip_big = lambda member: None if member.name == "c" else member.name  # noqa: E731
    with pytest.raises(DataError, match=r"a.tar.gz: more than 0.004 MB inside, over dlrun's limit for a test archive"):
        read_members(path, skip_big, Bounds(1, 1, 0.004, 10), "a test archive")
    with pytest.raises(DataError, match=r"a.tar.gz: c is 5,000 bytes, over dlrun's limit of 0.001 MB"):
        read_members(path, first_letter, Bounds(1, 0.001, 1, 10), "a test archive")
    path.write_bytes(b"neither gzip nor tar")  # tarfile's message lists each method it tried, a line each
    with pytest.raises(DataError, match=r"a.tar.gz: not a readable .tar.gz archive \(ReadError: .*method gz") as err:
        read_members(path, first_letter, Bounds(1, 1, 1, 10), "a test archive")
    assert "\n" not in str(err.value)
