"""Check that two sets of `dlrun ... --json` outputs report the same numbers.

    python scripts/same_numbers.py BEFORE_DIR AFTER_DIR

Each folder holds `<name>.json` files, the stdout of `dlrun compare <name> ... --json`
(`scripts/same_numbers.sh OUT_DIR` writes them). Times, the run folder and the data
notice's wording may differ; every other value must be equal. Prints one line per file
and exits 1 when any differs.
"""

import json
import sys
from pathlib import Path

IGNORED = {"wall_s", "compile_s", "run_dir", "pictures"}


def differences(before, after, where: str = "") -> list[str]:
    """Paths at which two JSON values differ, ignoring the keys in IGNORED."""
    if isinstance(before, dict) and isinstance(after, dict):
        keys = (before.keys() | after.keys()) - IGNORED
        return [d for k in sorted(keys) for d in differences(before.get(k), after.get(k), f"{where}.{k}")]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [d for i, (b, a) in enumerate(zip(before, after)) for d in differences(b, a, f"{where}[{i}]")]
    return [] if before == after else [f"{where}: {before!r} -> {after!r}"]


def main(before_dir: Path, after_dir: Path) -> int:
    failed = 0
    for before in sorted(before_dir.glob("*.json")):
        after = after_dir / before.name
        if not after.is_file():
            print(f"{before.name}: missing in {after_dir}")
            failed += 1
            continue
        try:
            found = differences(json.loads(before.read_text()), json.loads(after.read_text()))
        except json.JSONDecodeError as e:
            found = [f"not JSON ({e})"]
        print(f"{before.name}: {'same numbers' if not found else f'{len(found)} differences'}")
        for line in found[:20]:
            print(f"  {line}")
        failed += bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
