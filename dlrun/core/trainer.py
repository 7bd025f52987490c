"""Runs experiments: data onto the device once, the K seeds of each variant (and, where
asked, several variants that share a structure) trained as replicas of one compiled
program, metrics pulled once per epoch, divergence and Ctrl-C turned into a status."""

import functools
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dlrun.core.checkpoints import Checkpointer
from dlrun.core.config import Experiment, Loop
from dlrun.core.devices import batch_sharder, configure, data_mesh, replicate, replicated_shapes, stop_agreed
from dlrun.core.engine import (EpochParts, Hyper, data_order, evaluation_key, init_inputs, make_epoch_parts, make_evaluate,
                          make_scan_epoch, make_state_init, make_weights_init, model_graphdef, structure_key)
from dlrun.errors import ConfigError
from dlrun.run.records import finite_or_none
from dlrun.core.task import TaskData

OK, DIVERGED, INTERRUPTED = "ok", "diverged", "interrupted"


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

    def mean(self, metric: str) -> float | None:
        values = self.final.get(metric)
        return float(np.mean(values)) if values and self.status != DIVERGED else None

    def std(self, metric: str) -> float | None:
        values = self.final.get(metric)  # sample std (ddof=1), as the verdicts use; 0 for one seed
        if not values or self.status == DIVERGED:
            return None
        return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def check_settings(exp: Experiment, n_train: int) -> None:
    """Bad values get a clear message before anything is compiled."""
    if exp.epochs < 1:
        raise ConfigError(f"epochs must be at least 1, got {exp.epochs}")
    if exp.train_size < 1:
        raise ConfigError(f"train size must be at least 1, got {exp.train_size}")
    if exp.batch_size is not None and exp.batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {exp.batch_size}")
    if exp.batch_size is not None and exp.batch_size > n_train:
        raise ConfigError(f"batch size {exp.batch_size} is larger than the {n_train} training examples")
    if not exp.optimizer.learning_rate > 0:
        raise ConfigError(f"learning rate must be positive, got {exp.optimizer.learning_rate}")


class Program(NamedTuple):
    """The compiled programs of one structure and its data's shapes."""

    epoch: Callable  # (state, data, hyper, epoch, order [R, steps, B]) -> (state, training metrics {name: [R]})
    evaluate: Callable  # (params, rest, split) -> {metric: [R]}, for the test and the training split


_PROGRAMS: dict[tuple, Any] = {}  # programs of this process, by what decides them and their shapes
# Compiled in this process: training structures (one epoch program each), and every
# program (with the initialisation and evaluation programs, which structures may share).
compile_count = {"structures": 0, "programs": 0}
# XLA compiles with Python's lock released: programs compile on these threads while the
# main thread traces the next program or loads data. Nothing runs while any of them
# compiles: with XLA:CPU running a program alongside compiles, the slot-filling taggers'
# steps deadlocked in the runtime (measured: `compare slot-filling --seeds 3`).
_COMPILER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dlrun-compile")


class Background:
    """A program compiling on a background thread; calling it first waits for every
    compile in flight."""

    waited = 0.0  # seconds this process has waited for compiles to finish
    _in_flight: list[Future] = []

    def __init__(self, lowered: jax.stages.Lowered, options: dict | None):
        self.out_shapes = lowered.out_info  # shapes and dtypes of the outputs, known before the compile
        self._compiling = _COMPILER.submit(lowered.compile, compiler_options=options)
        Background._in_flight.append(self._compiling)

    @classmethod
    def settle(cls) -> None:
        """Wait for every compile in flight (the wait counts as compile time)."""
        if any(not f.done() for f in cls._in_flight):
            start = time.perf_counter()
            wait(cls._in_flight)
            cls.waited += time.perf_counter() - start
        cls._in_flight.clear()  # all done now

    def compiled(self) -> jax.stages.Compiled:
        Background.settle()
        return self._compiling.result()

    @property
    def out_info(self):
        return self.compiled().out_info  # shapes of the outputs, with their device shardings

    def __call__(self, *args):
        return self.compiled()(*args)


def _cached(key: tuple, build: Callable[[], Any]) -> tuple[Any, float]:
    """`build()` once per key in this process; returns it and the seconds spent (0 when cached)."""
    if key in _PROGRAMS:
        return _PROGRAMS[key], 0.0
    start = time.perf_counter()
    _PROGRAMS[key] = build()
    compile_count["programs"] += 1
    return _PROGRAMS[key], time.perf_counter() - start


def _shapes(tree) -> tuple:
    return jax.tree.structure(tree), tuple((a.shape, a.dtype) for a in jax.tree.leaves(tree))


def prepare_initial_state(exp: Experiment, seeds: np.ndarray, numbers: dict) -> tuple[Callable[[], Any], Any, float]:
    """The initial TrainState of R = len(seeds) replicas of this structure comes from two
    programs: the weights (shared by every structure with this model) and the optimizer
    state around them. Traces both and starts compiling them; returns the function that
    makes the state, the state's shapes, and the seconds spent tracing."""
    weights_init, weights_s = _cached(("weights", exp.model, len(seeds)),
                                      lambda: _aot(make_weights_init(exp), seeds, options=RUN_ONCE))
    state_init, state_s = _cached(("state", structure_key(exp), len(seeds)), lambda: _aot(
        make_state_init(exp), *weights_init.out_shapes, seeds, numbers, options=RUN_ONCE))
    return lambda: state_init(*weights_init(seeds), seeds, numbers), state_init.out_shapes, weights_s + state_s


def start_compiling(experiments: list[Experiment], seeds: list[int]) -> float:
    """Trace the programs of a batch's initial state, which need no data, and start
    compiling them (while the data loads, say). Returns the seconds spent tracing."""
    configure()
    return prepare_initial_state(experiments[0], *init_inputs(experiments, seeds))[2]


def initial_state(exp: Experiment, seeds: np.ndarray, numbers: dict):
    """The initial TrainState [R, ...], as `train_variants` starts from it."""
    return prepare_initial_state(exp, seeds, numbers)[0]()


def init_params(exp: Experiment, seed: int) -> tuple[nnx.GraphDef, nnx.State, nnx.State]:
    """One seed's initial (graphdef, params, rest), as `train_variants` starts from them."""
    state = initial_state(exp, *init_inputs([exp], [seed]))
    params, rest = jax.tree.map(lambda a: a[0], (state.params, state.rest))
    return model_graphdef(exp), params, rest


def get_program(exp: Experiment, graphdef, state, data: TaskData, hyper: Hyper, order) -> tuple[Program, float]:
    """The programs for this structure and these shapes (`state` may be shapes alone;
    `order`: an epoch's data order [R, steps, B]), traced on first use and compiled in the
    background. Returns them and the seconds spent tracing (0 when already done)."""

    def build_epoch() -> Callable:
        parts = make_epoch_parts(exp, graphdef, batch_sharder(data_mesh(), order.shape[-1]))
        compile_count["structures"] += 1
        return (_compile_scan if exp.loop == Loop.SCAN else _compile_steps)(parts, state, data, hyper, order)

    epoch, epoch_s = _cached(("epoch", structure_key(exp), _shapes((state, data, hyper, order))), build_epoch)
    evaluate, evaluate_s = get_evaluate(exp, graphdef, (state.params, state.rest), (data.eval, data.train))
    return Program(epoch, evaluate), epoch_s + evaluate_s


def get_evaluate(exp: Experiment, graphdef, weights: tuple, splits: tuple) -> tuple[Callable, float]:
    """The evaluation of replicas with these `weights` (params, rest) on splits of these
    shapes; shared by every structure with the same `evaluation_key`."""
    fn, compiled, seconds = make_evaluate(exp, graphdef), {}, 0.0
    for split in splits:
        key = ("evaluate", evaluation_key(exp), _shapes((weights, split)))
        compiled[_shapes(split)], s = _cached(key, lambda: _aot(fn, *weights, split))  # noqa: B023 - called at once
        seconds += s
    return (lambda params, rest, split: compiled[_shapes(split)](params, rest, split)), seconds


# For programs that run once (the initial weights and optimizer state): XLA's
# optimisation passes would cost about 1 s of compiling on a cold start (the threefry
# generator is large) to save a millisecond of running; the numbers are the same either way.
RUN_ONCE = {"xla_backend_optimization_level": 0}


def _aot(fn: Callable, *args, donate: tuple[int, ...] = (), options: dict | None = None) -> Background:
    """Trace now and compile ahead of time in the background (`args` may be shapes alone),
    so compile time is measured apart from training."""
    return Background(jax.jit(fn, donate_argnums=donate).lower(*args), options)


def _compile_scan(parts: EpochParts, state, data, hyper, order) -> Callable:
    epoch_fn = jax.vmap(make_scan_epoch(parts), in_axes=(0, None, 0, None, 0))
    return _aot(epoch_fn, state, data, hyper, jnp.int32(0), order, donate=(0,))


def _compile_steps(parts: EpochParts, state, data, hyper, order) -> Callable:
    """Start, step and finish compiled apart; the steps are dispatched from Python without
    waiting, and their metrics summed on the device. Each program is compiled against the
    outputs (shapes and device shardings) of the one before it."""
    start = jax.vmap(parts.start, in_axes=(0, 0, None))
    step = jax.vmap(parts.step, in_axes=((0, None, 0, 0), 0), out_axes=((0, None, 0, 0), 0))
    finish = jax.vmap(parts.finish, in_axes=(0, None, 0, None))
    steps = order.shape[1]

    def step_and_sum(carry, idx, sums):
        carry, metrics = step(carry, idx)
        return carry, jax.tree.map(jnp.add, sums, metrics)

    def finish_with_means(state, data, sums, epoch):  # each step metric's mean over the epoch, from its sum
        return finish(state, data, jax.tree.map(lambda t: t[:, None] / steps, sums), epoch)

    start_c = _aot(start, state, hyper, jnp.int32(0))
    started, key = start_c.out_info  # compiled: with their device shardings
    _, metric_shapes = jax.eval_shape(step, (started, data, hyper, key), order[:, 0])
    sums0 = jax.tree.map(lambda m: np.zeros(m.shape, m.dtype), metric_shapes)  # host zeros: no device op
    step_c = _aot(step_and_sum, (started, data, hyper, key), order[:, 0], sums0)
    (stepped, *_), sums = step_c.out_info
    finish_c = _aot(finish_with_means, stepped, data, sums, jnp.int32(0))

    def epoch_fn(state, data, hyper, epoch, order: np.ndarray):
        state, key = start_c(state, hyper, epoch)
        carry, sums = (state, data, hyper, key), sums0
        for s in range(steps):  # host rows of step s [R, B]: no device op to slice them
            carry, sums = step_c(carry, order[:, s], sums)
        return finish_c(carry[0], data, sums, epoch)

    return epoch_fn


class Setup(NamedTuple):
    """A batch of experiments made ready to train: its programs traced (and compiling in
    the background)."""

    place: Callable[[], TaskData]  # makes the batch's data on the host
    host_data: TaskData | None  # None while a batch waits its turn (see `set_up`)
    data: TaskData | None  # on the device(s), placed when the batch trains (`placed`)
    graphdef: nnx.GraphDef
    make_state: Callable[[], Any]  # the initial TrainState [R, ...]
    hyper: Hyper  # [R] on the device(s)
    order_of: Callable[[int], np.ndarray]  # epoch -> data order [R, steps, B]
    program: Program
    trace_s: float  # seconds spent tracing the programs


def set_up(experiments: list[Experiment], loaded: Any, seeds: list[int], keep_data: bool = True) -> Setup:
    """Check the settings against the data and trace the batch's programs (they compile in
    the background). The runner sets every batch of a run up before the first trains, so
    that their compiles overlap each other and the tracing of the next batch; those that
    wait their turn keep no copy of their data (`keep_data=False`): `placed` makes it
    again when they train."""
    configure()
    mesh, lead = data_mesh(), experiments[0]
    place = functools.partial(lead.task.place, lead, loaded)
    host_data = place()
    n_train = len(jax.tree.leaves(host_data.train)[0])
    for exp in experiments:
        check_settings(exp, n_train)
    graphdef, (replica_seeds, numbers) = model_graphdef(lead), init_inputs(experiments, seeds)
    make_state, state_shapes, init_s = prepare_initial_state(lead, replica_seeds, numbers)
    hyper = replicate(Hyper.stack(experiments, len(seeds)), mesh)
    order_of = functools.partial(data_order, replica_seeds, n_train=n_train, batch=lead.batch_size or n_train)
    # Traced against shapes, before the initial state exists: each program compiles while the next is traced.
    program, program_s = get_program(lead, graphdef, replicated_shapes(state_shapes, mesh),
                                     replicated_shapes(host_data, mesh), hyper, order_of(0))
    return Setup(place, host_data if keep_data else None, None, graphdef, make_state, hyper, order_of, program,
                 init_s + program_s)


def placed(setup: Setup) -> Setup:
    """The set-up with its data on the host and on the device(s)."""
    host_data = setup.place() if setup.host_data is None else setup.host_data
    return setup._replace(host_data=host_data, data=replicate(host_data, data_mesh()))


VariantCallback = Callable[[int, int, dict], None]  # (variant index, epoch, metrics {name: [K]})
TrainedCallback = Callable[[int, list, TaskData], None]  # (variant index, each seed's trained model, host data)


def train_variants(experiments: list[Experiment], loaded: Any, seeds: list[int],
                   on_epoch: VariantCallback | None = None, on_trained: TrainedCallback | None = None,
                   checkpointer: Checkpointer | None = None, setup: Setup | None = None) -> list[VariantResult]:
    """Train experiments that share a structure and data as one batch of replicas
    (variant-major, K seeds each) in one compiled program. `loaded` is what the
    experiments' task loaded (`task.load`), or None when `setup`, the batch's `set_up`, was
    done ahead; `on_trained` gets each variant's trained models; `checkpointer` saves
    progress and, when it holds a checkpoint, resumes from it."""
    start, waited_before = time.perf_counter(), Background.waited
    ahead_s = setup.trace_s if setup else 0.0  # spent before this call, counted in this batch's times
    setup = placed(setup or set_up(experiments, loaded, seeds))
    n_train = len(jax.tree.leaves(setup.data.train)[0])
    results = [VariantResult(e.name, e.reference, list(seeds), train_size=n_train) for e in experiments]
    state, first_epoch, active = setup.make_state(), 0, set(range(len(experiments)))
    if checkpointer and (saved := checkpointer.restore(state)):
        first_epoch, state, active = _resume(saved, results)
    state, tested = _run_epochs(experiments, setup, replicate(state, data_mesh()), results, on_epoch, first_epoch,
                                active, checkpointer)
    if any(r.epochs for r in results):
        _finish_variants(experiments, setup, results, *_final_metrics(experiments[0], setup, state, tested), on_trained)
    compile_s = setup.trace_s + Background.waited - waited_before  # tracing, and waiting for XLA
    for result in results:
        result.wall_s, result.compile_s = time.perf_counter() - start + ahead_s, compile_s
    return results


def _finish_variants(experiments, setup: Setup, results: list[VariantResult], final: dict, weights,
                     on_trained: TrainedCallback | None) -> None:
    """Each variant's final numbers and pictures, from every replica's `final` {name: [R]}
    and host `weights` (params, rest) [R, ...]."""
    k = len(results[0].seeds)
    for v, result in enumerate(results):
        if result.status != DIVERGED and result.epochs and final:
            models = [_replica_model(setup.graphdef, weights, r) for r in range(v * k, (v + 1) * k)]
            _finish_variant(experiments[v], result, _replicas(final, v, k), models, setup.host_data)
            if on_trained and result.status != DIVERGED:
                on_trained(v, models, setup.host_data)


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


def _final_metrics(exp: Experiment, setup: Setup, state, tested) -> tuple[dict, Any]:
    """Every replica's final numbers {name: [R]} and its weights (params, rest) [R, ...] on
    the host: the final weights or, with early stopping, the best ones, measured on the
    training and the test split. The last epoch's test numbers are reused when they were
    measured on these weights. Nothing when an interrupt left the state donated away."""
    if any(leaf.is_deleted() for leaf in jax.tree.leaves(state)):
        return {}, None
    weights = state.best if exp.early_stopping else (state.params, state.rest)
    reuse = tested is not None and tested[0] is state and not exp.early_stopping
    evaluate, data = setup.program.evaluate, setup.data
    test = tested[1] if reuse else evaluate(*weights, data.eval)
    final = {**_prefixed("train", evaluate(*weights, data.train)), **_prefixed("test", test)}
    return jax.device_get((final, weights))


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


def train(exp: Experiment, loaded: Any, seeds: list[int],
          on_epoch: Callable[[int, dict], None] | None = None) -> VariantResult:
    """Train one experiment over its seeds."""
    callback = (lambda _, epoch, metrics: on_epoch(epoch, metrics)) if on_epoch else None
    return train_variants([exp], loaded, seeds, callback)[0]


def _replicas(tree, variant: int, k: int):
    """The variant's K seeds of every [R] array in the tree."""
    return jax.tree.map(lambda a: np.asarray(a)[variant * k : (variant + 1) * k], tree)


def _resume(saved, results: list[VariantResult]) -> tuple[int, Any, set[int]]:
    """Put a checkpoint's history back into the results; returns (next epoch, state, active)."""
    epoch, state, progress = saved
    for result, done in zip(results, progress["results"]):
        result.history, result.epochs, result.status = done["history"], done["epochs"], done["status"]
    return epoch + 1, state, {v for v, done in enumerate(progress["results"]) if done["active"]}


def _save(checkpointer: Checkpointer, epoch: int, state, results: list[VariantResult], active: set[int]) -> None:
    progress = [dict(history=r.history, epochs=r.epochs, status=r.status, active=v in active) for v, r in enumerate(results)]
    checkpointer.save(epoch, state, finite_or_none({"results": progress}))


def _run_epochs(experiments, setup: Setup, state, results: list[VariantResult], on_epoch, first_epoch: int,
                active: set[int], checkpointer: Checkpointer | None):
    """Run epochs until every variant has finished, diverged or spent its patience. Ctrl-C
    or SIGTERM marks the unfinished variants interrupted (multi-host: after an epoch every
    process agrees on, checkpointed). Returns the last state and the last (state, test
    metrics) measured."""
    tested = None  # (a state, its test metrics): the final numbers reuse them for that state
    program, data, hyper = setup.program, setup.data, setup.hyper
    stopped = False
    try:
        for epoch in range(first_epoch, max(e.epochs for e in experiments)):
            state, metrics = program.epoch(state, data, hyper, jnp.int32(epoch), setup.order_of(epoch))
            tested = (state, program.evaluate(state.params, state.rest, data.eval))
            metrics, test, best_epoch = jax.device_get((metrics, tested[1], state.best_epoch))  # the epoch's one transfer
            _record_variants(experiments, results, on_epoch, epoch, active, metrics | _prefixed("test", test), best_epoch)
            if not active:
                break
            stopped = stop_agreed()  # multi-host: every process stops after the same epoch
            if checkpointer and checkpointer.due(epoch, stopping=stopped):
                _save(checkpointer, epoch, state, results, active)
            if stopped:
                break
    except KeyboardInterrupt:
        stopped = True
    if stopped:
        for v in active:
            results[v].status = INTERRUPTED
    return state, tested


def _record_variants(experiments, results: list[VariantResult], on_epoch, epoch: int, active: set[int],
                     metrics: dict, best_epoch: np.ndarray) -> None:
    """Record each active variant's slice [K] of the epoch's metrics [R]; drop the finished."""
    k = len(results[0].seeds)
    for v in sorted(active):
        mine = _replicas(metrics, v, k)
        if on_epoch:
            on_epoch(v, epoch, mine)
        if not _record_epoch(experiments[v], results[v], epoch, mine, _replicas(best_epoch, v, k)):
            active.discard(v)


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
