"""Files in a run folder: written atomically, so a reader (or a resume) never sees half a
record or half a checkpoint, and a Ctrl-C or SIGTERM that arrives during a write takes
effect once the write is done (`stop_after_writing`)."""

import contextlib
import json
import math
import os
import signal
import tempfile
import threading
from pathlib import Path

from dlrun.errors import DataError, DlrunError


def finite_or_none(value):
    """JSON has no NaN: a diverged loss is recorded as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    return value


@contextlib.contextmanager
def stop_after_writing():
    """Within the block, Ctrl-C and SIGTERM are held back; when it ends, the first one that
    arrived acts as it would have (KeyboardInterrupt, dlrun's Terminated). A write takes
    milliseconds, so the stop stays prompt, and no temporary file is left behind. Signals
    whose handler is not Python's (JAX's preemption notifier in a multi-host run: it stops
    at an epoch boundary anyway) are left alone, and so is every thread but the main one,
    where Python runs its signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    handlers = {s: h for s, h in handlers.items() if callable(h)}
    arrived: list[int] = []
    for signum in handlers:
        signal.signal(signum, lambda number, frame: arrived.append(number))
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        if arrived:
            handlers[arrived[0]](arrived[0], None)


def _umask() -> int:
    mask = os.umask(0)  # reading it means setting it: put it straight back
    os.umask(mask)
    return mask


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a
    file. Values that JSON cannot hold (NaN, infinity) are written as null."""
    with stop_after_writing():
        _write_json(path, payload)


def _write_json(path: Path, payload: dict) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it private; a record is as readable as the PNGs
        with os.fdopen(fd, "w") as f:
            json.dump(finite_or_none(payload), f, indent=1, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, ValueError) as e:
        if "tmp" in locals() and os.path.exists(tmp):
            os.unlink(tmp)
        raise DlrunError(f"could not write the run record {path}: {getattr(e, 'strerror', None) or e}") from None


def check_size(path: Path, limit_mb: float, what: str) -> None:
    """DataError when the file is over LIMIT_MB, from its size alone (nothing is read);
    `what` names the kind of file in the message ("a bAbI archive")."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if size > limit_mb * 10**6:
        raise DataError(f"{path}: {size:,} bytes, over dlrun's limit of {limit_mb} MB for {what}")


def read_bounded(path: Path, limit_mb: int, what: str) -> bytes:
    """The bytes of a data file, refused (one DataError line naming it) when it is over
    LIMIT_MB, checked before reading and bounded even if the file grows meanwhile; `what`
    names the kind of file in the message ("an ATIS file")."""
    check_size(path, limit_mb, what)
    limit = limit_mb * 10**6
    try:
        with path.open("rb") as f:
            raw = f.read(int(limit) + 1)
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if len(raw) > limit:
        raise DataError(f"{path}: more than {limit_mb} MB, over dlrun's limit for {what}")
    return raw
