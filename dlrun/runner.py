"""`train` and `compare`: resolve experiments, load data once, train each variant with
live progress, keep a record on disk, and return the JSON-able summary."""

import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import jax
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dlrun.claims import verdict
from dlrun.config import Experiment, Group, Optimizer
from dlrun.console import console, notice
from dlrun.data import DatasetName, ImageData, load_images
from dlrun.records import describe, environment, new_run_dir, write_json_atomic
from dlrun.engine import structure_key
from dlrun.train import INTERRUPTED, VariantResult, compile_count, train_variants


@dataclass(frozen=True)
class Overrides:
    """CLI options that replace an experiment's settings (None: keep the declared value)."""

    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    train_size: int | None = None
    dataset: DatasetName | None = None

    def apply(self, exp: Experiment) -> Experiment:
        plain = (("epochs", self.epochs), ("train_size", self.train_size), ("dataset", self.dataset))
        changes = {k: v for k, v in plain if v is not None}
        if self.batch_size is not None and exp.batch_size is not None:  # full batch stays full batch
            changes["batch_size"] = self.batch_size
        if self.learning_rate is not None:
            changes["optimizer"] = replace(exp.optimizer, learning_rate=self.learning_rate)
        return replace(exp, **changes)


@dataclass(frozen=True)
class RunRequest:
    command: str  # "train" or "compare"
    name: str  # experiment or group name
    experiments: tuple[Experiment, ...]
    group: Group | None
    seeds: tuple[int, ...]
    data_dir: Path | None
    out: Path


def finite_or_none(value):
    """JSON has no NaN: a diverged loss is recorded as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    return value


def result_summary(result: VariantResult) -> dict:
    summary = {
        "variant": result.variant, "status": result.status,
        "test_accuracy": result.mean("test_accuracy"), "test_accuracy_std": result.std("test_accuracy"),
        "train_accuracy": result.mean("train_accuracy"), "test_loss": result.mean("test_loss"),
        "weight_norm": result.mean("weight_norm"), "reference": result.reference,
        "seeds": result.seeds, "epochs": result.epochs,
        "wall_s": round(result.wall_s, 3), "compile_s": round(result.compile_s, 3),
    }
    return finite_or_none(summary)


def batch_variants_default() -> bool:
    """Train variants that share a structure as one vmapped program? On a GPU one small
    model is launch-bound, so batching wins; on CPU it measured no faster (README), so
    each variant runs alone and reuses the compiled program. DLRUN_BATCH_VARIANTS=0/1 overrides."""
    setting = os.environ.get("DLRUN_BATCH_VARIANTS", "auto")
    return jax.default_backend() != "cpu" if setting == "auto" else setting == "1"


def plan_batches(experiments: tuple[Experiment, ...], batch_variants: bool) -> list[list[Experiment]]:
    """Which experiments train together as replicas of one program: same structure, same
    data and epochs; early stopping decides per variant when to stop, so it runs alone."""
    if not batch_variants:
        return [[e] for e in experiments]
    batches: dict[tuple, list[Experiment]] = {}
    for e in experiments:
        key = (structure_key(e), e.dataset, e.train_size, e.test_noise, e.epochs, e.early_stopping and e.name)
        batches.setdefault(key, []).append(e)
    return list(batches.values())


def run(request: RunRequest) -> dict:
    """Train every experiment of the request; returns the record (also saved on disk)."""
    images = load_images(request.experiments[0].dataset, request.data_dir)
    console.print(f"data: [bold]{images.source}[/] ({len(images.y_train):,} train / {len(images.y_test):,} test)")
    if images.notice:
        notice(images.notice)
    if (wanted := max(e.train_size for e in request.experiments)) > len(images.y_train):
        notice(f"train size {wanted:,} asked for, {len(images.y_train):,} available: training on all of them")
    run_dir = new_run_dir(request.out, request.name)
    results: dict[str, VariantResult] = {}
    started, compiled_before = time.time(), compile_count["programs"]
    with _progress() as progress:
        for batch in plan_batches(request.experiments, batch_variants_default()):
            for result in _train_batch(batch, images, request, progress):
                results[result.variant] = result
            record = _record(request, images, results, run_dir, started)
            record["programs_compiled"] = compile_count["programs"] - compiled_before
            write_json_atomic(run_dir / "record.json", record)
            if any(r.status == INTERRUPTED for r in results.values()):
                break
    return record


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(), console=console, transient=False,
    )


def _train_batch(batch: list[Experiment], images: ImageData, request: RunRequest, progress: Progress) -> list[VariantResult]:
    tasks = [progress.add_task(e.name, total=e.epochs, metrics="compiling…") for e in batch]

    def on_epoch(variant, epoch, m):
        text = f"loss {m.train_loss.mean():.4f}  acc {m.train_accuracy.mean():.3f}  test {m.test_accuracy.mean():.3f}"
        progress.update(tasks[variant], completed=epoch + 1, metrics=text)

    results = train_variants(batch, images, list(request.seeds), on_epoch)
    for task, result in zip(tasks, results):
        status = f"[{_status_style(result.status)}]{result.status}[/]"
        progress.update(task, total=result.epochs or 1, completed=result.epochs, metrics=status)
    return results


def _status_style(status: str) -> str:
    return {"ok": "green", "diverged": "red", "interrupted": "yellow"}.get(status, "white")


def _record(request: RunRequest, images: ImageData, results: dict[str, VariantResult], run_dir: Path, started: float) -> dict:
    """The summary the CLI prints with --json, plus what a later report needs."""
    claims = request.group.claims if request.group else ()
    verdicts = [dict(claim=describe(c), verdict=v, evidence=e) for c in claims for v, e in [verdict(c, results)]]
    return finite_or_none({
        "command": request.command, "name": request.name,
        "data": {"source": images.source, "train_size": next(iter(results.values())).train_size,
                 "test_size": int(len(images.y_test)), "sha256": images.sha256, "notice": images.notice},
        "results": [result_summary(results[e.name]) for e in request.experiments if e.name in results],
        "claims": verdicts,
        "run_dir": str(run_dir),
        "started": started, "wall_s": round(time.time() - started, 3),
        "environment": environment(),
        "configs": {e.name: describe(e) for e in request.experiments},
        "history": {name: r.history for name, r in results.items()},
        "final_per_seed": {name: r.final for name, r in results.items()},
    })


PUBLIC_KEYS = ("command", "name", "data", "results", "claims", "programs_compiled", "run_dir")


def public_summary(record: dict) -> dict:
    """What `--json` prints: the stable keys scripts rely on (the record on disk has more)."""
    return {k: record[k] for k in PUBLIC_KEYS}
