"""Files in a run folder: JSON written atomically, so a reader (or a resume) never sees
half a record or half a checkpoint marker."""

import json
import math
import os
import tempfile
from pathlib import Path

from dlrun.errors import DlrunError


def finite_or_none(value):
    """JSON has no NaN: a diverged loss is recorded as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    return value


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a
    file. Values that JSON cannot hold (NaN, infinity) are written as null."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(finite_or_none(payload), f, indent=1, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, ValueError) as e:
        if "tmp" in locals() and os.path.exists(tmp):
            os.unlink(tmp)
        raise DlrunError(f"could not write the run record {path}: {getattr(e, 'strerror', None) or e}") from None
