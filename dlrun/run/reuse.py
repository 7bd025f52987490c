"""`--needed`: variants already finished under --out are not trained again.

A finished variant (ok or diverged) of an earlier run is reused when it was trained with
the same resolved config (epochs included), the same seeds and data of the same SHA-256.
Its numbers, curves and saved model come from that run, and the record says where from."""

import json
import shutil
from pathlib import Path

from dlrun.console import notice
from dlrun.core.config import Experiment, describe
from dlrun.core.trainer import VariantResult
from dlrun.errors import DlrunError
from dlrun.output.records import RECORD_NAME, load_record, run_dirs
from dlrun.run.records import finished_results


def comparable(exp: Experiment) -> dict:
    """The config as a record keeps it (a JSON round trip: tuples become lists)."""
    return json.loads(json.dumps(describe(exp)))


def finished_elsewhere(out: Path, experiments: tuple[Experiment, ...], seeds: tuple[int, ...], sha256: str) -> dict:
    """{variant: (result, run folder)} for every experiment some run under `out` finished
    with the same config, seeds and data; the newest such run wins."""
    wanted = {e.name: comparable(e) for e in experiments}
    found: dict[str, tuple[VariantResult, Path]] = {}
    for run_dir in sorted(run_dirs(out)):  # folder names start with the time: newest last
        try:
            record = load_record(run_dir / RECORD_NAME)
            if (record.get("data") or {}).get("sha256") != sha256:
                continue
            configs = record.get("configs") or {}
            for name, result in finished_results(record).items():
                original = result.reused_from is None  # a reused result is found in the run that trained it
                if original and name in wanted and configs.get(name) == wanted[name] and tuple(result.seeds) == seeds:
                    found[name] = (result, run_dir)
        except (DlrunError, KeyError, TypeError, IndexError):
            continue  # a record that cannot be reused is simply not reused
    return found


def adopt(result: VariantResult, source: Path, run_dir: Path | None, folder: str) -> VariantResult:
    """The earlier result, marked as reused; its saved model copied into this run's folder."""
    result.reused_from = source.name
    if result.model and run_dir is not None:
        try:
            shutil.copytree(source / result.model, run_dir / folder, symlinks=True)
            result.model = folder
        except OSError as e:
            notice(f"the saved model of {result.variant} in {source} was not copied ({e.strerror or e})")
            result.model = None
    return result
