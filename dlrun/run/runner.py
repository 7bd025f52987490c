"""`train` and `compare`: load each dataset once, set up every cohort, train them one after
the other with live progress, and keep the record on disk after each.

A cohort is the experiments that train together as replicas of one compiled program
(same structure, data and epochs; on CPU each variant is a cohort of its own, see
`batch_variants_default`)."""

import contextlib
import importlib
import math
import os
import shutil
import threading
import time
from pathlib import Path
from typing import NamedTuple

import jax
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from dlrun.console import console, notice, to_stderr
from dlrun.core.checkpoints import Checkpointer, save_weights
from dlrun.core.compiler import Compiler
from dlrun.core.config import Experiment
from dlrun.core.devices import StopAgreement, configure
from dlrun.core.engine import structure_key
from dlrun.core.trainer import Cohort, Setup, VariantResult, check_settings, set_up, start_compiling
from dlrun.errors import DlrunError, Terminated
from dlrun.files import write_json_atomic
from dlrun.output import plots
from dlrun.output.records import RECORD_NAME, load_record
from dlrun.output.tables import STATUS_STYLE
from dlrun.record_format import INTERRUPTED
from dlrun.run.events import write_events
from dlrun.run.records import build_record, finished_results, new_run_dir, run_lock
from dlrun.run.request import RunRequest, folder_label
from dlrun.run.reuse import adopt, finished_elsewhere


def batch_variants_default() -> bool:
    """Train variants that share a structure as one vmapped program? On a GPU one small
    model is launch-bound, so batching wins; on CPU it measured no faster (docs/design.md),
    so each variant runs alone and reuses the compiled program. DLRUN_BATCH_VARIANTS=0/1 overrides."""
    setting = os.environ.get("DLRUN_BATCH_VARIANTS", "auto")
    return jax.default_backend() != "cpu" if setting == "auto" else setting == "1"


def plan_cohorts(experiments: tuple[Experiment, ...], batch_variants: bool) -> list[list[Experiment]]:
    """Which experiments train together as replicas of one program: same structure, same
    data and epochs; early stopping decides per variant when to stop, so it runs alone."""
    if not batch_variants:
        return [[e] for e in experiments]
    cohorts: dict[tuple, list[Experiment]] = {}
    for e in experiments:
        key = (structure_key(e), e.dataset, e.train_size, e.test_noise, e.epochs, e.early_stopping and e.name)
        cohorts.setdefault(key, []).append(e)
    return list(cohorts.values())


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
        console.print(
            f"data: [bold]{escape(info.source)}[/] ({info.available_train:,} train / {info.test_size:,} test)"
        )
        if info.notice:
            notice(info.notice)
        wanted = max(e.train_size for e in request.experiments if data_key(e) == data_key(exp))
        if wanted > info.available_train:
            notice(f"train size {wanted:,} asked for, {info.available_train:,} available: training on all of them")
    return data


class ReadyCohort(NamedTuple):
    """Experiments that train together, set up, with their progress lines."""

    setup: Setup
    lines: list[TaskID]  # one progress line per variant


class Run:
    """One `train` or `compare` command's run: its compiler, its record and its folder."""

    def __init__(self, request: RunRequest):
        configure(len(request.seeds))  # before any JAX work: multi-host start-up, CPU devices, the compile cache
        self.request, self.compiler, self.stop = request, Compiler(), StopAgreement()
        self.primary = _primary_process()
        self.results: dict[str, VariantResult] = {}
        self.stopped_by: str | None = None  # "SIGTERM" or "Ctrl-C" once interrupted
        self.run_dir: Path | None = None
        self.started = self.part_started = time.time()  # a resumed run keeps its first start
        self.earlier_wall_s, self.earlier_compiled = 0.0, (0, 0)  # a resumed run's parts before this one
        self.epochs_run = 0  # in this process
        self.reused: dict[str, Path] = {}  # --needed: variant -> the run folder that finished it

    def execute(self) -> dict:
        """Train every experiment of the request; returns the record (also saved on disk)."""
        request = self.request
        cohorts = plan_cohorts(request.experiments, batch_variants_default())
        if not request.resume:  # the first initial state needs no data: it compiles while the data loads
            start_compiling(self.compiler, cohorts[0], list(request.seeds))
        early_s = self.compiler.trace_s
        data = load_data(request)
        self.info = data[data_key(request.experiments[0])][1]
        for exp in request.experiments:  # bad settings fail before a run folder exists
            check_settings(exp, exp.task.train_rows(exp, data[data_key(exp)][0]))
        if request.resume:
            self._continue(load_record(request.resume / RECORD_NAME))
        elif request.needed and (earlier := self._reuse()) is not None:
            return earlier
        cohorts = [c for c in cohorts if not all(e.name in self.results for e in c)]  # finished before
        plots.import_in_background()
        for module in ("orbax.checkpoint", "tensorboardX") if request.save_models else ("tensorboardX",):
            threading.Thread(target=importlib.import_module, args=(module,), daemon=True).start()  # while it trains
        with _progress() as progress:
            ready = self._set_up(cohorts, data, progress)
            self.run_dir = request.resume or (
                new_run_dir(request.out, folder_label(request.name)) if self.primary else None
            )
            with run_lock(self.run_dir if self.primary else None), self._removed_if_nothing_trained():
                self._train_all(ready, progress, early_s)
        statuses = {r.status for r in self.results.values()}
        return self.save(complete=len(self.results) == len(request.experiments) and INTERRUPTED not in statuses)

    def _reuse(self) -> dict | None:
        """`--needed`: take the variants finished under --out; returns the earlier record
        when one run of the same command finished them all (nothing to train, no new folder)."""
        request = self.request
        found = finished_elsewhere(request.out, request.experiments, request.seeds, self.info.sha256)
        sources = {source for _, source in found.values()}
        if len(found) == len(request.experiments) and len(sources) == 1:
            record = load_record(next(iter(sources)) / RECORD_NAME)
            if (record["command"], record["name"]) == (request.command, request.name) and record.get("complete"):
                notice(f"--needed: every variant finished in {record.get('run_dir') or next(iter(sources))}")
                return record
        if found:
            notice(f"--needed: {len(found)} of {len(request.experiments)} variants finished earlier, reused")
        self.reused = {name: source for name, (_, source) in found.items()}
        self.results |= {name: result for name, (result, _) in found.items()}
        return None

    def _train_all(self, ready: list["ReadyCohort"], progress: Progress, early_s: float) -> None:
        for name, source in self.reused.items():
            adopt(self.results[name], source, self.run_dir if self.primary else None, self._model_folder(name))
        self.save(complete=False)  # from the start, so a run stopped early can be resumed
        for i, cohort in enumerate(ready):
            self._train(cohort, progress, ahead_s=early_s if i == 0 else 0.0)
            if self.stopped_by:
                for later in ready[i + 1 :]:
                    for line in later.lines:
                        progress.update(line, metrics="[yellow]not started[/]")
                return  # keep the checkpoint: --resume continues from it
            self.save(complete=False)

    def _continue(self, previous: dict) -> None:
        """A resume: the finished variants, the times and counts so far, and the same data."""
        recorded = previous["data"].get("sha256")
        if recorded != self.info.sha256 and not self.request.allow_data_change:
            raise DlrunError(
                f"the data changed since {self.request.resume} started (SHA-256 {str(recorded)[:12]}… is now "
                f"{self.info.sha256[:12]}…): its variants would train on different data; "
                "pass --allow-data-change to resume anyway"
            )
        try:
            self.results = finished_results(previous)
        except (KeyError, TypeError, IndexError):
            where = self.request.resume / RECORD_NAME
            raise DlrunError(f"{where}: its finished variants cannot be read back (no metrics per seed?)") from None
        wall_s = previous.get("wall_s")
        self.started = previous.get("started") or self.started
        self.earlier_wall_s = float(wall_s) if isinstance(wall_s, (int, float)) and math.isfinite(wall_s) else 0.0
        self.earlier_compiled = (previous.get("structures_compiled") or 0, previous.get("programs_compiled") or 0)

    @contextlib.contextmanager
    def _removed_if_nothing_trained(self):
        """A run that fails before its first epoch leaves no folder behind (a resume keeps
        its folder, and Ctrl-C keeps it for --resume)."""
        try:
            yield
        except Exception:
            if self.primary and not self.request.resume and not self.epochs_run:
                shutil.rmtree(self.run_dir, ignore_errors=True)
            raise

    def save(self, complete: bool) -> dict:
        wall_s = self.earlier_wall_s + time.time() - self.part_started
        record = build_record(self.request, self.info, self.results, self.run_dir, self.started, wall_s)
        record |= {"complete": complete, "stopped_by": self.stopped_by}
        structures, programs = self.earlier_compiled
        record |= {
            "structures_compiled": structures + self.compiler.structures,
            "programs_compiled": programs + self.compiler.programs,
        }
        if self.primary:
            write_json_atomic(self.run_dir / RECORD_NAME, record)
        return record

    def _set_up(self, cohorts: list[list[Experiment]], data: dict, progress: Progress) -> list[ReadyCohort]:
        """Every cohort set up before the first trains (see `set_up`), each variant's progress
        line shown from the start."""
        seeds = list(self.request.seeds)
        lines = [[progress.add_task(escape(e.name), total=e.epochs, metrics="compiling…") for e in c] for c in cohorts]
        return [
            ReadyCohort(set_up(self.compiler, c, data[data_key(c[0])][0], seeds, keep_data=i == 0), t)
            for i, (c, t) in enumerate(zip(cohorts, lines))
        ]

    def _train(self, ready: ReadyCohort, progress: Progress, ahead_s: float) -> None:
        """Train one cohort with live progress, then its pictures; its results go into the record."""
        setup, headline = ready.setup, ready.setup.experiments[0].task.selection_metric
        checkpoints = self.run_dir / "checkpoints" / setup.experiments[0].name if self.run_dir else None
        checkpointer = (
            Checkpointer(checkpoints, self.request.checkpoint_every, writes=self.primary) if checkpoints else None
        )
        cohort = Cohort(self.compiler, setup, checkpointer, self.stop)
        try:
            for end in cohort.epochs():
                self.epochs_run += 1
                loss, score = end.metrics["train_loss"].mean(), end.metrics[f"test_{headline}"].mean()
                text = f"loss {loss:.4f}  test {headline} {score:.3f}"
                progress.update(ready.lines[end.variant], completed=end.epoch + 1, metrics=text)
        except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (raised as Terminated by the CLI)
            cohort.interrupt()
            self.stopped_by = "SIGTERM" if isinstance(stop, Terminated) else "Ctrl-C"
        if cohort.stopped_by_agreement:
            self.stopped_by = "SIGTERM"
        models = cohort.finish()
        for exp, result, trained, line in zip(setup.experiments, cohort.results, models, ready.lines):
            if trained and self.run_dir and self.primary:  # the first seed's model draws the pictures
                result.pictures = save_pictures(exp, trained[0], cohort.setup.host_data, self.run_dir)
            result.compile_s += ahead_s  # part of this cohort's time, spent before the data loaded
            result.wall_s += ahead_s
            self.results[result.variant] = result
            status = f"[{STATUS_STYLE[result.status]}]{result.status}[/]"
            progress.update(line, total=result.epochs or 1, completed=result.epochs, metrics=status)
        if self.run_dir and self.primary:
            self._keep(setup.experiments, cohort)
        if self.primary and checkpointer and not self.stopped_by:
            shutil.rmtree(checkpointer.folder, ignore_errors=True)  # the cohort is in the record now

    def _keep(self, experiments: list[Experiment], cohort: Cohort) -> None:
        """What a finished cohort leaves beside the record: models and TensorBoard events."""
        for exp, result, weights in zip(experiments, cohort.results, cohort.weights):
            if self.request.save_models and weights is not None:
                result.model = self._save_model(exp.name, weights)
            if result.epochs:
                write_events(self.run_dir, self._index(exp.name), exp, result)

    def _index(self, variant: str) -> int:
        """The variant's place in the request: it names its folders (models/NNN, events/NNN-...)."""
        return [e.name for e in self.request.experiments].index(variant)

    def _model_folder(self, variant: str) -> str:
        return f"models/{self._index(variant):03d}"

    def _save_model(self, variant: str, weights) -> str | None:
        """The variant's trained weights under models/NNN (NNN: its place in the request);
        a failure costs the saved model, never the results."""
        folder = self._model_folder(variant)
        try:
            save_weights(self.run_dir / folder, weights)
        except DlrunError as e:
            notice(f"{e}; the results are unaffected")
            return None
        return folder


def run(request: RunRequest) -> dict:
    """Train every experiment of the request; returns the record (also saved on disk). The
    caller prints it, then draws the curves (`plots.save_curves`)."""
    return Run(request).execute()


def save_pictures(exp: Experiment, model, data, run_dir: Path) -> list[str]:
    """The family's pictures beside the record; a failure here never loses the results."""
    try:
        return [str(p) for p in exp.task.pictures(exp, model, data, run_dir)]
    except Exception as e:  # noqa: BLE001 - pictures are a bonus, the numbers are the result
        notice(f"could not save pictures for {exp.name}: {e}")
        return []


def _primary_process() -> bool:
    """With several processes (multi-host), every process trains its share and process 0
    alone writes the run folder and prints; the others say so once and stay quiet."""
    if jax.process_index() == 0:
        return True
    to_stderr(
        f"process {jax.process_index()} of {jax.process_count()}: training in step with process 0, "
        "which prints and writes the results"
    )
    console.quiet = True
    return False


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[metrics]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
