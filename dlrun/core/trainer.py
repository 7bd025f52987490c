"""Trains a cohort: experiments that share a structure and data, their K seeds each,
trained as replicas of one compiled program (R = variants x K, variant-major). Data goes
onto the device once, metrics come back once per epoch, and divergence, early stopping
and an agreed multi-host stop become each variant's status.

The flow reads top to bottom:

    setup = set_up(compiler, experiments, loaded, seeds)  # traced; compiling in the background
    cohort = Cohort(compiler, setup)
    for end in cohort.epochs():  # one EpochEnd per variant and epoch
        ...                      # progress; Ctrl-C here or inside: cohort.interrupt()
    models = cohort.finish()     # final numbers in cohort.results; each variant's trained models
"""

import functools
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dlrun.core.checkpoints import Checkpointer
from dlrun.core.compiler import Compiler
from dlrun.core.config import Experiment, Precision, resolved
from dlrun.core.devices import Placement, StopAgreement, configure, placement
from dlrun.core.engine import Hyper, data_order, init_inputs, model_graphdef
from dlrun.core.programs import Programs, initial_state, programs
from dlrun.core.task import TaskData
from dlrun.errors import ConfigError
from dlrun.record_format import DIVERGED, INTERRUPTED, OK


@dataclass
class VariantResult:
    """What one experiment produced over its seeds. Lists run over seeds."""

    variant: str
    reference: float | None
    seeds: list[int]
    status: str = OK
    epochs: int = 0  # epochs actually run
    wall_s: float = 0.0
    compile_s: float = 0.0
    train_size: int = 0
    final: dict[str, list[float]] = field(default_factory=dict)
    history: list[dict[str, list[float]]] = field(default_factory=list)
    pictures: list[str] = field(default_factory=list)  # PNGs the family saved beside the record
    model: str | None = None  # the saved weights' folder, relative to the run folder
    reused_from: str | None = None  # `--needed`: the run whose result this is

    def mean(self, metric: str) -> float | None:
        values = self.final.get(metric)
        return float(np.mean(values)) if values and self.status != DIVERGED else None

    def std(self, metric: str) -> float | None:
        values = self.final.get(metric)  # sample std (ddof=1), as the verdicts use; 0 for one seed
        if not values or self.status == DIVERGED:
            return None
        return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def check_settings(exp: Experiment, n_train: int) -> None:
    """Bad values get a clear message before anything is compiled or written."""
    if exp.epochs < 1:
        raise ConfigError(f"epochs must be at least 1, got {exp.epochs}")
    if exp.train_size < 1:
        raise ConfigError(f"train size must be at least 1, got {exp.train_size}")
    if exp.batch_size is not None and exp.batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {exp.batch_size}")
    if exp.batch_size is not None and exp.batch_size > n_train:
        raise ConfigError(f"batch size {exp.batch_size} is larger than the {n_train} training examples")
    if exp.precision is Precision.BF16 and not exp.task.mixed_precision:
        raise ConfigError(f"{exp.name} trains in float32 only (its family has its own update step)")
    if not (math.isfinite(exp.optimizer.learning_rate) and exp.optimizer.learning_rate > 0):
        raise ConfigError(f"learning rate must be a positive finite number, got {exp.optimizer.learning_rate}")


def start_compiling(compiler: Compiler, experiments: list[Experiment], seeds: list[int]) -> None:
    """Trace the programs of a cohort's initial state, which need no data, and start
    compiling them (while the data loads, say)."""
    configure()
    initial_state(compiler, resolved(experiments[0]), *init_inputs(experiments, seeds))


class Setup(NamedTuple):
    """A cohort made ready to train: its programs traced (and compiling in the background)."""

    experiments: list[Experiment]
    seeds: list[int]
    place: Callable[[], TaskData]  # makes the cohort's data on the host
    host_data: TaskData | None  # None while a cohort waits its turn (see `set_up`)
    data: TaskData | None  # on the device(s), placed when the cohort trains (`placed`)
    graphdef: nnx.GraphDef
    placement: Placement  # the R replicas on the device(s)
    make_state: Callable[[], Any]  # the initial TrainState [R, ...]
    hyper: Hyper  # [R] on the device(s)
    order_of: Callable[[int], np.ndarray]  # epoch -> data order [R, steps, B]
    programs: Programs
    trace_s: float  # seconds spent tracing, counted in the cohort's compile time


def set_up(compiler: Compiler, experiments: list[Experiment], loaded: Any, seeds: list[int], keep_data=True) -> Setup:
    """Check the settings against the data and trace the cohort's programs (they compile in
    the background). The runner sets every cohort of a run up before the first trains, so
    that their compiles overlap each other and the tracing of the next cohort; those that
    wait their turn keep no copy of their data (`keep_data=False`): `placed` makes it
    again when they train."""
    configure()
    traced_before = compiler.trace_s
    experiments = [resolved(e) for e in experiments]
    lead = experiments[0]
    place = functools.partial(lead.task.place, lead, loaded)
    host_data = place()
    n_train = len(jax.tree.leaves(host_data.train)[0])
    for exp in experiments:
        check_settings(exp, n_train)
    where = placement(len(experiments) * len(seeds))
    graphdef, (replica_seeds, numbers) = model_graphdef(lead), init_inputs(experiments, seeds)
    make_state, state_shapes = initial_state(compiler, lead, replica_seeds, numbers)
    hyper = where.put(Hyper.stack(experiments, len(seeds)), per_replica=True)
    order_of = functools.partial(data_order, replica_seeds, n_train=n_train, batch=lead.batch_size or n_train)
    # Traced against shapes, before the initial state exists: each program compiles while the next is traced.
    shapes = where.shapes(state_shapes, per_replica=True), where.shapes(host_data, per_replica=False)
    programs_ = programs(compiler, lead, graphdef, *shapes, hyper, order_of(0), where)
    return Setup(
        experiments,
        list(seeds),
        place,
        host_data if keep_data else None,
        None,
        graphdef,
        where,
        make_state,
        hyper,
        order_of,
        programs_,
        compiler.trace_s - traced_before,
    )


def placed(setup: Setup) -> Setup:
    """The set-up with its data on the host and on the device(s)."""
    host_data = setup.place() if setup.host_data is None else setup.host_data
    return setup._replace(host_data=host_data, data=setup.placement.put(host_data, per_replica=False))


class EpochEnd(NamedTuple):
    """A variant finished an epoch."""

    variant: int  # index into the cohort's experiments
    epoch: int
    metrics: dict[str, np.ndarray]  # {name: [K]}, training metrics and test_* metrics


class Cohort:
    """The training of one set-up: `epochs()`, then `finish()`. A `checkpointer` saves
    progress and, when it holds a checkpoint, the cohort resumes from it; `stop` makes a
    multi-host run stop after an epoch every process agrees on."""

    def __init__(
        self,
        compiler: Compiler,
        setup: Setup,
        checkpointer: Checkpointer | None = None,
        stop: StopAgreement | None = None,
    ):
        self._started, self._compile_before = time.perf_counter(), compiler.seconds
        self.compiler, self.setup, self.checkpointer, self.stop = compiler, placed(setup), checkpointer, stop
        n_train = len(jax.tree.leaves(self.setup.data.train)[0])
        self.results = [
            VariantResult(e.name, e.reference, list(setup.seeds), train_size=n_train) for e in setup.experiments
        ]
        self.active, self.first_epoch = set(range(len(setup.experiments))), 0
        state = self.setup.make_state()
        if checkpointer and (saved := checkpointer.restore(state)):
            self.first_epoch, state = self._resume(saved)
        self.state = self.setup.placement.put(state, per_replica=True)
        self.tested = None  # (a state, its test metrics): the final numbers reuse them for that state
        self.weights: list = []  # set by finish()
        self.stopped_by_agreement = False

    def epochs(self) -> Iterator[EpochEnd]:
        """Run epochs until every variant has finished, diverged or spent its patience, or a
        multi-host stop is agreed (then checkpointed). Yields each active variant's epoch."""
        setup, experiments = self.setup, self.setup.experiments
        for epoch in range(self.first_epoch, max(e.epochs for e in experiments)):
            order = setup.order_of(epoch)
            self.state, metrics = setup.programs.epoch(self.state, setup.data, setup.hyper, jnp.int32(epoch), order)
            self.tested = (self.state, setup.programs.evaluate(self.state.params, self.state.rest, setup.data.eval))
            metrics, test, best_epoch = jax.device_get((metrics, self.tested[1], self.state.best_epoch))  # one transfer
            yield from self._record(epoch, metrics | _prefixed("test", test), best_epoch)
            if not self.active:
                return
            self.stopped_by_agreement = bool(self.stop and self.stop.reached())
            if self.checkpointer and self.checkpointer.due(epoch, stopping=self.stopped_by_agreement):
                self._save(epoch)
            if self.stopped_by_agreement:
                self.interrupt()
                return

    def interrupt(self) -> None:
        """Ctrl-C or SIGTERM: the variants still training are marked interrupted."""
        for v in self.active:
            self.results[v].status = INTERRUPTED

    def finish(self) -> list[list]:
        """Each variant's final numbers and times into `results`; returns each variant's
        trained models, one per seed (none for a variant that diverged or never trained)."""
        models: list[list] = [[] for _ in self.results]
        final, weights = self._final_metrics() if any(r.epochs for r in self.results) else ({}, None)
        k = len(self.setup.seeds)
        for v, (exp, result) in enumerate(zip(self.setup.experiments, self.results)):
            if result.status != DIVERGED and result.epochs and final:
                trained = [_replica_model(self.setup.graphdef, weights, r) for r in range(v * k, (v + 1) * k)]
                _finish_variant(exp, result, _replicas(final, v, k), trained, self.setup.host_data)
                models[v] = trained if result.status != DIVERGED else []
        # Each variant's trained weights (params, rest) [K, ...] on the host, None when it has no model.
        self.weights = [_replicas(weights, v, k) if trained else None for v, trained in enumerate(models)]
        compile_s = self.setup.trace_s + self.compiler.seconds - self._compile_before
        for result in self.results:
            result.wall_s, result.compile_s = time.perf_counter() - self._started + self.setup.trace_s, compile_s
        return models

    def _record(self, epoch: int, metrics: dict, best_epoch: np.ndarray) -> Iterator[EpochEnd]:
        """Record each active variant's slice [K] of the epoch's metrics [R]; drop the finished."""
        k = len(self.setup.seeds)
        for v in sorted(self.active):
            mine = _replicas(metrics, v, k)
            yield EpochEnd(v, epoch, mine)
            if not _record_epoch(self.setup.experiments[v], self.results[v], epoch, mine, _replicas(best_epoch, v, k)):
                self.active.discard(v)

    def _final_metrics(self) -> tuple[dict, Any]:
        """Every replica's final numbers {name: [R]} and its weights (params, rest) [R, ...] on
        the host: the final weights or, with early stopping, the best ones, measured on the
        training and the test split. The last epoch's test numbers are reused when they were
        measured on these weights. Nothing when an interrupt left the state donated away."""
        state, lead = self.state, self.setup.experiments[0]
        if any(leaf.is_deleted() for leaf in jax.tree.leaves(state)):
            return {}, None
        weights = state.best if lead.early_stopping else (state.params, state.rest)
        reuse = self.tested is not None and self.tested[0] is state and not lead.early_stopping
        evaluate, data = self.setup.programs.evaluate, self.setup.data
        test = self.tested[1] if reuse else evaluate(*weights, data.eval)
        final = {**_prefixed("train", evaluate(*weights, data.train)), **_prefixed("test", test)}
        return jax.device_get((final, weights))

    def _resume(self, saved) -> tuple[int, Any]:
        """Put a checkpoint's history back into the results; returns (next epoch, state)."""
        epoch, state, progress = saved
        for result, done in zip(self.results, progress["results"]):
            result.history, result.epochs, result.status = done["history"], done["epochs"], done["status"]
        self.active = {v for v, done in enumerate(progress["results"]) if done["active"]}
        return epoch + 1, state

    def _save(self, epoch: int) -> None:
        progress = [
            dict(history=r.history, epochs=r.epochs, status=r.status, active=v in self.active)
            for v, r in enumerate(self.results)
        ]
        self.checkpointer.save(epoch, self.state, {"results": progress})


def train_cohort(compiler: Compiler, experiments: list[Experiment], loaded: Any, seeds: list[int]) -> tuple[list, list]:
    """A cohort trained start to end without progress lines (the GAN's judges): each
    variant's result and its trained models."""
    cohort = Cohort(compiler, set_up(compiler, experiments, loaded, seeds))
    for _ in cohort.epochs():
        pass
    models = cohort.finish()
    return cohort.results, models


def _finish_variant(exp: Experiment, result: VariantResult, final: dict, models: list, host_data: TaskData) -> None:
    """The variant's final numbers per seed (`final` {name: [K]}, then the task's numbers
    about the weights and its host-side metrics); diverged when one is not finite
    (weights that overflowed to inf, say)."""
    result.final = {name: values.tolist() for name, values in final.items()}
    result.final |= _per_seed([exp.task.final_extras(nnx.state(m, nnx.Param)) for m in models])
    if not all(np.all(np.isfinite(values)) for values in result.final.values()):
        result.status, result.final = DIVERGED, {}
        return
    result.final |= _per_seed([exp.task.host_metrics(exp, m, host_data) for m in models])


def _record_epoch(exp: Experiment, result: VariantResult, epoch: int, metrics: dict, best_epoch: np.ndarray) -> bool:
    """Append one epoch to the result; False once the variant is finished."""
    result.history.append({name: m.tolist() for name, m in metrics.items()})
    result.epochs = epoch + 1
    loss = np.asarray(metrics["train_loss"], dtype=float)
    if not np.all(np.isfinite(loss)) or np.any(loss > exp.task.diverged_above):
        result.status = DIVERGED
        return False
    if exp.early_stopping and np.all(epoch - best_epoch >= exp.early_stopping.patience):
        return False
    return epoch + 1 < exp.epochs


def _prefixed(split: str, metrics: dict) -> dict:
    return {f"{split}_{name}": value for name, value in metrics.items()}


def _per_seed(numbers: list[dict[str, float]]) -> dict[str, list[float]]:
    """[{name: x} per seed] -> {name: [x per seed]}."""
    return {name: [n[name] for n in numbers] for name in numbers[0]}


def _replica_model(graphdef, weights, replica: int):
    """The model of one replica (e.g. a variant's first seed), from the host copy of every
    replica's (params, rest): NumPy slicing, where slicing device arrays would compile a
    small program per leaf."""
    params, rest = jax.tree.map(lambda a: a[replica], weights)
    return nnx.merge(graphdef, params, rest)


def _replicas(tree, variant: int, k: int):
    """The variant's K seeds of every [R] array in the tree."""
    return jax.tree.map(lambda a: np.asarray(a)[variant * k : (variant + 1) * k], tree)
