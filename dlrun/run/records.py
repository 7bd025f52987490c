"""Run records under runs/ (or --out): what a run writes, after every cohort, so an
interrupted comparison keeps what finished. Reading them is dlrun.output.records."""

import contextlib
import fcntl
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

from dlrun.core.config import Experiment, describe
from dlrun.core.task import DataInfo
from dlrun.core.trainer import VariantResult
from dlrun.errors import DlrunError
from dlrun.files import finite_or_none
from dlrun.output.lessons import still_improving
from dlrun.record_format import INTERRUPTED, STANDARD_METRICS
from dlrun.run.claims import verdict
from dlrun.run.request import RunRequest

# What `--json` prints: the stable keys scripts rely on (the record on disk has more).
PUBLIC_KEYS = (
    "command",
    "name",
    "data",
    "results",
    "columns",
    "claims",
    "structures_compiled",
    "programs_compiled",
    "run_dir",
)


def environment() -> dict:
    """Versions and the device, recorded with every run."""
    import flax
    import jax
    import optax

    return {
        "jax": jax.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "device": str(jax.devices()[0].device_kind),
        "backend": jax.default_backend(),
        "device_count": jax.device_count(),
        "python": platform.python_version(),
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


@contextlib.contextmanager
def run_lock(run_dir: Path | None):
    """Hold the run folder for this process while it trains: a second `--resume` of the same
    run says so instead of writing over it. The lock goes with the process, even a killed one."""
    if run_dir is None:
        yield
        return
    path = run_dir / ".lock"
    with open(path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise DlrunError(f"{run_dir} is already running (pid {lock.read().strip() or '?'})") from None
        lock.seek(0), lock.truncate(), lock.write(str(os.getpid())), lock.flush()
        try:
            yield
        finally:
            path.unlink(missing_ok=True)


def result_summary(result: VariantResult, exp: Experiment, headline: str) -> dict:
    """Mean over seeds of every final metric (a family adds its own, e.g. test_f1), the
    standard keys scripts rely on (null where a family has no accuracy), and the spread
    of the headline metric."""
    means = {name: result.mean(name) for name in (*STANDARD_METRICS, *result.final)}
    summary = {
        "variant": result.variant,
        "status": result.status,
        **means,
        f"{headline}_std": result.std(headline),
        "test_accuracy_std": result.std("test_accuracy"),
        "reference": result.reference,
        "seeds": result.seeds,
        "epochs": result.epochs,
        "wall_s": round(result.wall_s, 3),
        "compile_s": round(result.compile_s, 3),
        "pictures": result.pictures,
        "model": result.model,
        "reused_from": result.reused_from,
        # A variant that keeps its best validation epoch improves only while that score rises.
        "still_improving": still_improving(result.history, "best_val_score" if exp.early_stopping else headline),
        "gap_reason": exp.gap_reason or None,
    }
    return finite_or_none(summary)


def table_columns(experiments) -> list[list[str]]:
    """Every variant's metric columns, each once, the first variant's (and headline) first."""
    columns = dict.fromkeys(c for e in experiments for c in e.task.columns)
    return [list(c) for c in columns]


def _train_size(request: RunRequest, info: DataInfo, results: dict[str, VariantResult]) -> int:
    """Training examples used (known once a variant trained; held-out validation excluded)."""
    if results:
        return next(iter(results.values())).train_size
    return min(request.experiments[0].train_size, info.available_train)


def build_record(
    request: RunRequest,
    info: DataInfo,
    results: dict[str, VariantResult],
    run_dir: Path | None,
    started: float,
    wall_s: float,
) -> dict:
    """The summary the CLI prints with --json, plus what a later report or resume needs."""
    claims = request.group.claims if request.group else ()
    headline = request.experiments[0].task.columns[0][0]
    verdicts = [dict(claim=describe(c), verdict=v, evidence=e) for c in claims for v, e in [verdict(c, results)]]
    return finite_or_none(
        {
            "command": request.command,
            "name": request.name,
            "data": {
                "source": info.source,
                "train_size": _train_size(request, info, results),
                "test_size": info.test_size,
                "sha256": info.sha256,
                "notice": info.notice,
            },
            "results": [result_summary(results[e.name], e, headline) for e in request.experiments if e.name in results],
            "lesson": request.group.lesson if request.group else None,
            "columns": table_columns(request.experiments),
            "claims": verdicts,
            "run_dir": str(run_dir) if run_dir else None,
            "request": request.recorded(),
            "started": started,
            "wall_s": round(wall_s, 3),
            "environment": environment(),
            "configs": {e.name: describe(e) for e in request.experiments},
            "history": {name: r.history for name, r in results.items()},
            "final_per_seed": {name: r.final for name, r in results.items()},
            "sweep": sweep_section(request),
        }
    )


def sweep_section(request: RunRequest) -> dict | None:
    """A sweep's keys and each trial's values (as typed), for its table and plot."""
    if not request.trials:
        return None
    values = {e.name: [value for _, value in trial] for e, trial in zip(request.experiments, request.trials)}
    return {"keys": [key for key, _ in request.trials[0]], "values": values}


def public_summary(record: dict) -> dict:
    """What `--json` prints."""
    return {k: record[k] for k in PUBLIC_KEYS}


def finished_results(record: dict) -> dict[str, VariantResult]:
    """Variants a saved run finished (ok or diverged), rebuilt from its record."""
    done = {}
    for r in record["results"]:
        if r["status"] == INTERRUPTED:
            continue
        name = r["variant"]
        done[name] = VariantResult(
            name,
            r["reference"],
            r["seeds"],
            r["status"],
            r["epochs"],
            r["wall_s"],
            r["compile_s"],
            record["data"]["train_size"],
            record["final_per_seed"][name],
            record["history"][name],
            r.get("pictures", []),
            r.get("model"),
            r.get("reused_from"),
        )
    return done
