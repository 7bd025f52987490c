"""The compiled programs of a cohort (experiments trained together as replicas): the
initial state, the epoch and the evaluation, each traced against shapes and compiled
ahead of time by the run's `Compiler`, and shared by every cohort that needs the same."""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dlrun.core.compiler import RUN_ONCE, Compiler, shapes_key
from dlrun.core.config import Experiment, Loop
from dlrun.core.devices import Placement
from dlrun.core.engine import (
    EpochParts,
    Hyper,
    evaluation_key,
    make_epoch_parts,
    make_evaluate,
    make_scan_epoch,
    make_state_init,
    make_weights_init,
    structure_key,
)
from dlrun.core.task import TaskData


class Programs(NamedTuple):
    """The compiled programs of one structure and its data's shapes."""

    epoch: Callable  # (state, data, hyper, epoch, order [R, steps, B]) -> (state, training metrics {name: [R]})
    evaluate: Callable  # (params, rest, split) -> {metric: [R]}, for the test and the training split


def initial_state(compiler: Compiler, exp: Experiment, seeds: np.ndarray, numbers: dict) -> tuple[Callable, Any]:
    """The initial TrainState of R = len(seeds) replicas of this structure comes from two
    programs: the weights (shared by every structure with this model) and the optimizer
    state around them. Traces both and starts compiling them; returns the function that
    makes the state and the state's shapes."""
    weights = compiler.cached(
        ("weights", exp.model, len(seeds)), lambda: compiler.aot(make_weights_init(exp), seeds, options=RUN_ONCE)
    )
    state = compiler.cached(
        ("state", structure_key(exp), len(seeds)),
        lambda: compiler.aot(make_state_init(exp), *weights.out_shapes, seeds, numbers, options=RUN_ONCE),
    )
    return (lambda: state(*weights(seeds), seeds, numbers)), state.out_shapes


def programs(
    compiler: Compiler, exp: Experiment, graphdef, state, data: TaskData, hyper: Hyper, order, where: Placement
) -> Programs:
    """The programs for this structure and these shapes (`state` may be shapes alone;
    `order`: an epoch's data order [R, steps, B]), traced now and compiled in the background."""

    def build_epoch() -> Callable:
        parts = make_epoch_parts(exp, graphdef, where.batch_sharder(order.shape[-1]))
        compiler.structures += 1
        compile_epoch = _compile_scan if exp.loop == Loop.SCAN else _compile_steps
        return compile_epoch(compiler, parts, state, data, hyper, order)

    epoch = compiler.cached(("epoch", structure_key(exp), shapes_key((state, data, hyper, order))), build_epoch)
    return Programs(epoch, evaluation(compiler, exp, graphdef, (state.params, state.rest), (data.eval, data.train)))


def evaluation(compiler: Compiler, exp: Experiment, graphdef, weights: tuple, splits: tuple) -> Callable:
    """The evaluation of replicas with these `weights` (params, rest) on splits of these
    shapes; shared by every structure with the same `evaluation_key`."""
    fn, compiled = make_evaluate(exp, graphdef), {}
    for split in splits:
        key = ("evaluate", evaluation_key(exp), shapes_key((weights, split)))
        compiled[shapes_key(split)] = compiler.cached(key, lambda: compiler.aot(fn, *weights, split))  # noqa: B023
    return lambda params, rest, split: compiled[shapes_key(split)](params, rest, split)


def _compile_scan(compiler: Compiler, parts: EpochParts, state, data, hyper, order) -> Callable:
    epoch_fn = jax.vmap(make_scan_epoch(parts), in_axes=(0, None, 0, None, 0))
    return compiler.aot(epoch_fn, state, data, hyper, jnp.int32(0), order, donate=(0,))


def _compile_steps(compiler: Compiler, parts: EpochParts, state, data, hyper, order) -> Callable:
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

    start_c = compiler.aot(start, state, hyper, jnp.int32(0))
    started, key = start_c.out_info  # compiled: with their device shardings
    _, metric_shapes = jax.eval_shape(step, (started, data, hyper, key), order[:, 0])
    sums0 = jax.tree.map(lambda m: np.zeros(m.shape, m.dtype), metric_shapes)  # host zeros: no device op
    step_c = compiler.aot(step_and_sum, (started, data, hyper, key), order[:, 0], sums0)
    (stepped, *_), sums = step_c.out_info
    finish_c = compiler.aot(finish_with_means, stepped, data, sums, jnp.int32(0))

    def epoch_fn(state, data, hyper, epoch, order: np.ndarray):
        state, key = start_c(state, hyper, epoch)
        carry, sums = (state, data, hyper, key), sums0
        for s in range(steps):  # host rows of step s [R, B]: no device op to slice them
            carry, sums = step_c(carry, order[:, s], sums)
        return finish_c(carry[0], data, sums, epoch)

    return epoch_fn
