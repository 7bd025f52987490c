"""Reading saved run records: the one place that finds and loads them (`runs`, `show`,
`report` and `--resume` all read through it)."""

import json
from pathlib import Path

from dlrun.errors import DlrunError

RECORD_NAME = "record.json"


def load_record(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DlrunError(f"cannot read run record {path}: {e}") from None


def run_dirs(root: Path) -> list[Path]:
    """Every folder below ROOT that holds a run record (runs/ holds runs/reproduce/<run>/)."""
    return [p.parent for p in root.rglob(RECORD_NAME)] if root.is_dir() else []


def find_records(paths: list[Path]) -> list[Path]:
    """Record files named directly, inside a run folder, or in run folders at any depth
    below a folder; each record once, in path order."""
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif (path / RECORD_NAME).is_file():
            found.append(path / RECORD_NAME)
        elif path.is_dir():
            found.extend(sorted(path.rglob(RECORD_NAME)))
        else:
            raise DlrunError(f"no run record at {path}")
    if not found:
        raise DlrunError(f"no run records found in {', '.join(map(str, paths))}")
    return list({p.resolve(): p for p in found}.values())
