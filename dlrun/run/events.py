"""TensorBoard event files beside every record: `tensorboard --logdir runs/` shows each
variant and seed of every run as a run of its own, with the record's per-epoch metrics
as scalars and the resolved config as text. Written with tensorboardX once a variant
has finished; the record stays the source of truth."""

import json
import math
import re
from pathlib import Path

from dlrun.console import notice
from dlrun.core.config import Experiment, describe
from dlrun.core.trainer import VariantResult

EVENTS_DIR = "events"


def events_folder(run_dir: Path, index: int, variant: str, seed: int) -> Path:
    """events/NNN-<variant>/seed_<s>: the variant's name made safe for a folder."""
    safe = re.sub(r"[^A-Za-z0-9._=,+\[\]-]", "_", variant)[:100]
    return run_dir / EVENTS_DIR / f"{index:03d}-{safe}" / f"seed_{seed}"


def write_events(run_dir: Path, index: int, exp: Experiment, result: VariantResult) -> None:
    """One event file per seed: every epoch's metrics (step = epoch, from 1), the final
    metrics at the last epoch, and the config. A failure costs the logs, never the run."""
    try:
        from tensorboardX import SummaryWriter

        config = "```\n" + json.dumps(describe(exp), indent=2) + "\n```"
        for k, seed in enumerate(result.seeds):
            with SummaryWriter(str(events_folder(run_dir, index, result.variant, seed))) as writer:
                _write_seed(writer, result, k)
                writer.add_text("config", config)
    except Exception as e:  # noqa: BLE001 - logs are a view of the record, which is safe
        notice(f"TensorBoard events of {result.variant} not written ({type(e).__name__}: {e})")


def _write_seed(writer, result: VariantResult, k: int) -> None:
    """Finite numbers only: a diverged seed's NaN has no point to draw."""
    for epoch, metrics in enumerate(result.history, 1):
        for name, values in metrics.items():
            if isinstance(values, list) and k < len(values) and _finite(values[k]):
                writer.add_scalar(name, values[k], epoch)
    for name, values in result.final.items():
        if _finite(values[k]):
            writer.add_scalar(f"final/{name}", values[k], result.epochs)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
