"""Run records under runs/ (or --out): JSON, written atomically after every variant so
an interrupted comparison keeps what finished."""

import dataclasses
import enum
import json
import math
import os
import platform
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from dlrun.errors import DlrunError


def describe(value):
    """A JSON-able view of a config: dataclasses as dicts, callables by their dotted name."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: describe(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [describe(v) for v in value]
    if callable(value):
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return getattr(value, "name", type(value).__name__)  # e.g. a task object


def finite_or_none(value):
    """JSON has no NaN: a diverged loss is recorded as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    return value


def environment() -> dict:
    """Versions and the device, recorded with every run."""
    import flax
    import jax
    import optax

    return {
        "jax": jax.__version__, "flax": flax.__version__, "optax": optax.__version__,
        "device": str(jax.devices()[0].device_kind), "backend": jax.default_backend(),
        "device_count": jax.device_count(), "python": platform.python_version(),
        "host": platform.node(),
    }


def new_run_dir(out: Path, name: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    run_dir = out / f"{stamp}-{name}"
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
    except OSError as e:
        raise DlrunError(f"cannot create the run folder {run_dir}: {e.strerror or e}") from None
    return run_dir


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=1, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, ValueError) as e:
        if "tmp" in locals() and os.path.exists(tmp):
            os.unlink(tmp)
        raise DlrunError(f"could not write the run record {path}: {getattr(e, 'strerror', None) or e}") from None
