"""`train` and `compare`: resolve experiments, load data once, train each variant with
live progress, keep a record on disk, and return the JSON-able summary."""

import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, NamedTuple

import jax
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from dlrun.output import plots
from dlrun.core.checkpoints import Checkpointer
from dlrun.run.claims import verdict
from dlrun.core.config import Experiment, Group, get_experiment, get_group
from dlrun.console import console, notice, to_stderr
from dlrun.data.images import DatasetName
from dlrun.core.engine import structure_key
from dlrun.errors import ConfigError, DlrunError
from dlrun.run.records import describe, environment, finite_or_none, new_run_dir, write_json_atomic
from dlrun.output.report import load_record
from dlrun.core.task import DataInfo
from dlrun.core.trainer import (INTERRUPTED, Setup, VariantResult, check_settings, compile_count, set_up, start_compiling,
                         train_variants)


@dataclass(frozen=True)
class Overrides:
    """CLI options that replace an experiment's settings (None: keep the declared value)."""

    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    train_size: int | None = None
    dataset: DatasetName | None = None

    def apply(self, exp: Experiment) -> Experiment:
        plain = (("epochs", self.epochs), ("train_size", self.train_size))
        changes = {k: v for k, v in plain if v is not None}
        if self.dataset is not None and exp.dataset is not None:  # text and toy tasks bring their own data
            changes["dataset"] = self.dataset
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
    overrides: Overrides = Overrides()  # recorded, so --resume rebuilds the same request
    checkpoint_every: int | None = None  # epochs between checkpoints (default: every 30 s)
    resume: Path | None = None  # the run folder to continue


def build_request(command: str, name: str, overrides: Overrides, seeds: tuple[int, ...], data_dir: Path | None,
                  out: Path, checkpoint_every: int | None = None, resume: Path | None = None) -> RunRequest:
    """Resolve an experiment (train) or a group's variants (compare), with the overrides
    applied. `compare` also takes experiments of your choice, as a comma list (no verdict)."""
    group = get_group(name) if command == "compare" and "," not in name else None
    names = group.variants if group else _comma_list(name)
    experiments = tuple(overrides.apply(get_experiment(n)) for n in names)
    return RunRequest(command, name, experiments, group, seeds, data_dir, out, overrides, checkpoint_every, resume)


def _comma_list(names: str) -> tuple[str, ...]:
    listed = tuple(n.strip() for n in names.split(",") if n.strip())
    if not listed:
        raise ConfigError(f"no experiment named in {names!r}")
    if repeated := sorted({n for n in listed if listed.count(n) > 1}):
        raise ConfigError(f"{', '.join(repeated)} listed more than once in {names!r}")
    return listed


def resume_request(run_dir: Path) -> RunRequest:
    """The request a saved run was started with, set to continue in the same folder."""
    saved = load_record(run_dir / "record.json")["request"]
    o = saved["overrides"]
    overrides = Overrides(o["epochs"], o["batch_size"], o["learning_rate"], o["train_size"],
                          DatasetName(o["dataset"]) if o["dataset"] else None)
    data_dir = Path(saved["data_dir"]) if saved["data_dir"] else None
    return build_request(saved["command"], saved["name"], overrides, tuple(saved["seeds"]), data_dir,
                         run_dir.parent, saved["checkpoint_every"], run_dir)


def find_resumable(out: Path, name: str) -> Path:
    """The newest run of `name` under `out` that did not finish."""
    for run_dir in sorted(out.glob(f"*-{name}"), reverse=True):  # folder names start with the time
        record = load_record(run_dir / "record.json") if (run_dir / "record.json").is_file() else {}
        if record.get("name") == name and not record.get("complete", True):
            return run_dir
    raise DlrunError(f"no unfinished run of {name!r} under {out} to resume")


STANDARD_METRICS = ("test_accuracy", "train_accuracy", "test_loss")


def result_summary(result: VariantResult, headline: str) -> dict:
    """Mean over seeds of every final metric (a family adds its own, e.g. test_f1), the
    standard keys scripts rely on (null where a family has no accuracy), and the spread
    of the headline metric."""
    means = {name: result.mean(name) for name in (*STANDARD_METRICS, *result.final)}
    summary = {
        "variant": result.variant, "status": result.status, **means,
        f"{headline}_std": result.std(headline), "test_accuracy_std": result.std("test_accuracy"),
        "reference": result.reference, "seeds": result.seeds, "epochs": result.epochs,
        "wall_s": round(result.wall_s, 3), "compile_s": round(result.compile_s, 3),
        "pictures": result.pictures,
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


def run(request: RunRequest, show: Callable[[dict], None] | None = None) -> dict:
    """Train every experiment of the request; returns the record (also saved on disk).
    `show` gets the record once it is saved, before the learning curves are drawn."""
    primary, compiled_before = _primary_process(), dict(compile_count)
    batches = plan_batches(request.experiments, batch_variants_default())
    # The first initial state needs no data: its programs compile while the data loads.
    early_trace_s = 0.0 if request.resume else start_compiling(batches[0], list(request.seeds))
    data = load_data(request)
    info = data[data_key(request.experiments[0])][1]
    for exp in request.experiments:  # bad settings fail before a run folder exists
        loaded = data[data_key(exp)][0]
        check_settings(exp, exp.task.train_rows(exp, loaded))
    run_dir = request.resume or (new_run_dir(request.out, request.name) if primary else None)
    results = finished_results(run_dir) if request.resume else {}
    started = time.time()

    def save(complete: bool) -> dict:
        record = _record(request, info, results, run_dir, started) | {"complete": complete}
        for kind in ("structures", "programs"):
            record[f"{kind}_compiled"] = compile_count[kind] - compiled_before[kind]
        if primary:
            write_json_atomic(run_dir / "record.json", record)
        return record

    save(complete=False)  # from the start, so a run stopped early can be resumed
    batches = [b for b in batches if not all(e.name in results for e in b)]  # some finished before a resume
    plots.import_in_background()
    with _progress() as progress:
        ready_batches = _set_up_batches(batches, data, list(request.seeds), progress)
        for i, ready in enumerate(ready_batches):
            checkpointer = Checkpointer(run_dir / "checkpoints" / ready.batch[0].name, request.checkpoint_every,
                                        writes=primary) if run_dir else None
            for result in _train_batch(ready, request, run_dir if primary else None, progress, checkpointer):
                result.compile_s += early_trace_s  # part of this batch's time, spent before the data loaded
                result.wall_s += early_trace_s
                results[result.variant] = result
            early_trace_s = 0.0
            if any(r.status == INTERRUPTED for r in results.values()):
                _mark_not_started(progress, ready_batches[i + 1:])
                break  # keep the checkpoint: --resume continues from it
            save(complete=False)
            if primary:
                shutil.rmtree(checkpointer.folder, ignore_errors=True)  # the batch is in the record now
    record = save(complete=len(results) == len(request.experiments) and INTERRUPTED not in
                  {r.status for r in results.values()})
    if primary:
        if show:
            show(record)  # the results first: the curves take a moment to draw
        plots.save_curves(record, run_dir)
    return record


def _primary_process() -> bool:
    """With several processes (multi-host), every process trains its share and process 0
    alone writes the run folder and prints; the others say so once and stay quiet."""
    if jax.process_index() == 0:
        return True
    to_stderr(f"process {jax.process_index()} of {jax.process_count()}: training in step with process 0, "
              "which prints and writes the results")
    console.quiet = True
    return False


def data_key(exp: Experiment) -> tuple:
    """Experiments whose tasks load alike (the same `load`, e.g. every image task) from the
    same dataset share one load, and the data line and notices are printed once."""
    return type(exp.task).load, exp.dataset


def load_data(request: RunRequest) -> dict[tuple, tuple]:
    """Each distinct dataset of the request, loaded once: {data_key: (loaded, DataInfo)}."""
    data = {}
    for exp in request.experiments:
        if data_key(exp) in data:
            continue
        loaded, info = data[data_key(exp)] = exp.task.load(exp, request.data_dir)
        console.print(f"data: [bold]{info.source}[/] ({info.available_train:,} train / {info.test_size:,} test)")
        if info.notice:
            notice(info.notice)
        if (wanted := max(e.train_size for e in request.experiments if data_key(e) == data_key(exp))) > info.available_train:
            notice(f"train size {wanted:,} asked for, {info.available_train:,} available: training on all of them")
    return data


def finished_results(run_dir: Path) -> dict[str, VariantResult]:
    """Variants a saved run finished (ok or diverged), rebuilt from its record."""
    record = load_record(run_dir / "record.json")
    done = {}
    for r in record["results"]:
        if r["status"] == INTERRUPTED:
            continue
        name = r["variant"]
        done[name] = VariantResult(
            name, r["reference"], r["seeds"], r["status"], r["epochs"], r["wall_s"], r["compile_s"],
            record["data"]["train_size"], record["final_per_seed"][name], record["history"][name], r.get("pictures", []),
        )
    return done


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(), console=console, transient=False,
    )


def table_columns(experiments) -> list[list[str]]:
    """Every variant's metric columns, each once, the first variant's (and headline) first."""
    columns = dict.fromkeys(c for e in experiments for c in e.task.columns)
    return [list(c) for c in columns]


def _train_size(request: RunRequest, info: DataInfo, results: dict[str, VariantResult]) -> int:
    """Training examples used (known once a variant trained; held-out validation excluded)."""
    if results:
        return next(iter(results.values())).train_size
    return min(request.experiments[0].train_size, info.available_train)


def save_pictures(exp: Experiment, model, data, run_dir: Path) -> list[str]:
    """The family's pictures beside the record; a failure here never loses the results."""
    try:
        return [str(p) for p in exp.task.pictures(exp, model, data, run_dir)]
    except Exception as e:  # noqa: BLE001 - pictures are a bonus, the numbers are the result
        notice(f"could not save pictures for {exp.name}: {e}")
        return []


class ReadyBatch(NamedTuple):
    """Experiments that train together, set up, with their progress lines."""

    batch: list[Experiment]
    setup: Setup
    tasks: list[TaskID]  # one per variant


def _set_up_batches(batches: list[list[Experiment]], data: dict, seeds: list[int], progress: Progress) -> list[ReadyBatch]:
    """A progress line per variant ("compiling…"), then every batch set up at once: their
    programs compile side by side, and while the next batch is traced. Only the first
    keeps its data meanwhile; the others make theirs again when they train."""
    tasks = [[progress.add_task(e.name, total=e.epochs, metrics="compiling…") for e in b] for b in batches]
    return [ReadyBatch(b, set_up(b, data[data_key(b[0])][0], seeds, keep_data=i == 0), t)
            for i, (b, t) in enumerate(zip(batches, tasks))]


def _mark_not_started(progress: Progress, batches: list[ReadyBatch]) -> None:
    for ready in batches:
        for task in ready.tasks:
            progress.update(task, metrics="[yellow]not started[/]")


def _train_batch(ready: ReadyBatch, request: RunRequest, run_dir: Path | None, progress: Progress,
                 checkpointer: Checkpointer | None) -> list[VariantResult]:
    """Train one batch with live progress; its pictures go to `run_dir` (none when None)."""
    batch, tasks = ready.batch, ready.tasks
    headline = batch[0].task.selection_metric

    def on_epoch(variant, epoch, m):
        text = f"loss {m['train_loss'].mean():.4f}  test {headline} {m[f'test_{headline}'].mean():.3f}"
        progress.update(tasks[variant], completed=epoch + 1, metrics=text)

    pictures: dict[int, list[str]] = {}

    def on_trained(variant, models, data):  # the first seed's model draws the pictures
        pictures[variant] = save_pictures(batch[variant], models[0], data, run_dir)

    results = train_variants(batch, None, list(request.seeds), on_epoch, on_trained if run_dir else None, checkpointer,
                             setup=ready.setup)
    for variant, paths in pictures.items():
        results[variant].pictures = paths
    for task, result in zip(tasks, results):
        status = f"[{_status_style(result.status)}]{result.status}[/]"
        progress.update(task, total=result.epochs or 1, completed=result.epochs, metrics=status)
    return results


def _status_style(status: str) -> str:
    return {"ok": "green", "diverged": "red", "interrupted": "yellow"}.get(status, "white")


def _record(request: RunRequest, info: DataInfo, results: dict[str, VariantResult], run_dir: Path, started: float) -> dict:
    """The summary the CLI prints with --json, plus what a later report needs."""
    claims = request.group.claims if request.group else ()
    task = request.experiments[0].task
    headline = task.columns[0][0]
    verdicts = [dict(claim=describe(c), verdict=v, evidence=e) for c in claims for v, e in [verdict(c, results)]]
    return finite_or_none({
        "command": request.command, "name": request.name,
        "data": {"source": info.source, "train_size": _train_size(request, info, results),
                 "test_size": info.test_size, "sha256": info.sha256, "notice": info.notice},
        "results": [result_summary(results[e.name], headline) for e in request.experiments if e.name in results],
        "columns": table_columns(request.experiments),
        "claims": verdicts,
        "run_dir": str(run_dir) if run_dir else None,
        "request": {"command": request.command, "name": request.name, "seeds": list(request.seeds),
                    "overrides": describe(request.overrides), "checkpoint_every": request.checkpoint_every,
                    "data_dir": str(request.data_dir) if request.data_dir else None},
        "started": started, "wall_s": round(time.time() - started, 3),
        "environment": environment(),
        "configs": {e.name: describe(e) for e in request.experiments},
        "history": {name: r.history for name, r in results.items()},
        "final_per_seed": {name: r.final for name, r in results.items()},
    })


PUBLIC_KEYS = ("command", "name", "data", "results", "columns", "claims", "structures_compiled", "programs_compiled",
               "run_dir")


def public_summary(record: dict) -> dict:
    """What `--json` prints: the stable keys scripts rely on (the record on disk has more)."""
    return {k: record[k] for k in PUBLIC_KEYS}
