"""The one training engine: every lesson, whatever its family, runs through these programs.

An epoch is `start` (learning-rate decay, the step keys), one `step` per mini-batch drawn
from data that lives on the device, and `finish` (training metrics, early-stopping
bookkeeping); the test split is then measured by `evaluate`, a program of its own that
does not depend on the optimizer.
The data order of every epoch is drawn on the host (`data_order`) and passed in: a few
kilobytes per epoch, and no random generator to compile when nothing else needs one.
In the SCAN loop form the whole epoch is one compiled program (`lax.scan` over the
steps); in the STEPS form (convolutions, which XLA:CPU runs slowly inside a rolled scan,
jax#12868) each part is compiled alone and the steps are dispatched from Python without
waiting for their results. Replicas (the K seeds of a variant, or the seeds of several
variants that share a structure) are `vmap`ped copies of these programs.

Numeric hyper-parameters live in the optimizer state (`optax.inject_hyperparams`) and in
`Hyper`, so they are traced values: variants that differ only in them share one
compiled program (`structure_key`). A task (dlrun.core.task) supplies batches, loss and metrics.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from dlrun.core.config import Experiment
from dlrun.core.task import TaskData, computed


class Hyper(NamedTuple):
    """Numeric settings passed as traced values [R] (one per replica), so changing them
    does not recompile."""

    learning_rate: jax.Array  # base rate; epoch e uses lr / sqrt(1 + lr_decay * e)
    lr_decay: jax.Array
    dropout: jax.Array  # fraction of hidden units dropped
    weight_decay: jax.Array  # L2 coefficient: wd * w is added to the gradient

    @classmethod
    def stack(cls, experiments: list[Experiment], k: int) -> "Hyper":
        """[R] host arrays, variant-major (K seeds each): built in NumPy, so no device op runs."""
        rows = [(e.optimizer.learning_rate, e.optimizer.lr_decay, e.dropout, e.weight_decay) for e in experiments]
        return cls(*np.repeat(np.array(rows, np.float32), k, axis=0).T)


class TrainState(NamedTuple):
    params: nnx.State  # trainable weights
    rest: nnx.State  # other model state (batch-norm statistics); empty for most models
    opt_state: optax.OptState
    key: jax.Array  # per-seed stream for data order and dropout
    best: tuple | None  # (params, rest) of the best validation epoch (early stopping)
    best_val: jax.Array  # best validation score so far
    best_epoch: jax.Array


def structure_key(exp: Experiment) -> tuple:
    """What decides the compiled program. Everything else (learning rate and the other
    optimizer numbers, dropout rate, weight decay, test noise, epochs) is a traced value."""
    opt = exp.optimizer
    return (
        exp.task,
        exp.model,
        exp.loss,
        opt.make,
        tuple(name for name, _ in opt.extra),
        exp.batch_size,
        exp.dropout > 0,
        exp.early_stopping is not None,
        exp.loop,
        exp.precision,
    )


def make_optimizer(exp: Experiment) -> optax.GradientTransformation:
    """The experiment's optimizer with its hyper-parameters injected into its state."""
    opt = exp.optimizer
    return optax.inject_hyperparams(opt.make)(learning_rate=opt.learning_rate, **dict(opt.extra))


def model_graphdef(exp: Experiment) -> nnx.GraphDef:
    """The model's structure, found without computing any weights."""
    return nnx.graphdef(nnx.eval_shape(lambda: exp.model.build(nnx.Rngs(params=0))))


def init_inputs(experiments: list[Experiment], seeds: list[int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """What the initialisation takes for R = len(experiments) * len(seeds) replicas, variant-major:
    the seeds [R] and the optimizer's numbers {name: [R]}. The experiments share a structure."""
    numbers = [{"learning_rate": e.optimizer.learning_rate, **dict(e.optimizer.extra)} for e in experiments]
    k = len(seeds)
    return (
        np.array(list(seeds) * len(experiments), np.int32),
        {name: np.repeat(np.array([n[name] for n in numbers], np.float32), k) for name in numbers[0]},
    )


def make_weights_init(exp: Experiment) -> Callable:
    """seeds [R] -> (params, rest) with leaves [R, ...]. Initial weights depend on the
    model and the seed alone: variants of one model start equal, whatever their optimizer,
    and share this program. (Built eagerly instead, each initializer would be a tiny
    program of its own to compile on a cold start.)"""

    def weights(seed: jax.Array) -> tuple[nnx.State, nnx.State]:
        _, params, rest = nnx.split(exp.model.build(nnx.Rngs(params=jax.random.key(seed))), nnx.Param, ...)
        return params, rest

    return jax.vmap(weights)


def make_state_init(exp: Experiment) -> Callable:
    """(params, rest, seeds, numbers {name: [R]}) -> TrainState with leaves [R, ...]: the
    optimizer state around initial weights, its numbers traced (shared by variants)."""
    task, opt = exp.task, exp.optimizer

    def state(params: nnx.State, rest: nnx.State, seed: jax.Array, numbers: dict[str, jax.Array]) -> TrainState:
        tx = optax.inject_hyperparams(opt.make)(**numbers)
        return TrainState(
            params=params,
            rest=rest,
            opt_state=task.init_optimizer(tx, params),
            key=jax.random.key_data(jax.random.key(seed)),
            best=jax.tree.map(jnp.copy, (params, rest)) if exp.early_stopping else None,
            best_val=jnp.float32(-jnp.inf),
            best_epoch=jnp.int32(-1),
        )

    return jax.vmap(state)


def data_order(seeds: np.ndarray, epoch: int, n_train: int, batch: int) -> np.ndarray:
    """[R, steps, B] training rows of each replica's mini-batches for this epoch: a fresh
    shuffle per (seed, epoch), so variants trained with the same seed see the same order
    and a resumed run the order it would have seen. The rows left over are skipped."""
    steps = n_train // batch
    return np.stack(
        [
            np.random.default_rng((int(seed), epoch)).permutation(n_train)[: steps * batch].reshape(steps, batch)
            for seed in seeds
        ]
    ).astype(np.int32)


class EpochParts(NamedTuple):
    """One replica's epoch in three pure functions (see the module docstring)."""

    start: Callable  # (state, hyper, epoch) -> (state, step key)
    step: Callable  # (carry, idx [B]) -> (carry, metrics); carry = (state, data, hyper, key)
    finish: Callable  # (state, data, step_metrics {name: [steps]}, epoch) -> (state, metrics)


def make_epoch_parts(exp: Experiment, graphdef: nnx.GraphDef, shard: Callable) -> EpochParts:
    """Reads only the structural fields of `exp` (see `structure_key`); `shard` places each
    mini-batch over the devices (data parallelism)."""
    task, tx = exp.task, make_optimizer(exp)
    uses_key = exp.dropout > 0 or task.needs_key  # a fresh key every step

    def start(state: TrainState, hyper: Hyper, epoch: jax.Array):
        lr = hyper.learning_rate / jnp.sqrt(1.0 + hyper.lr_decay * epoch)
        state = state._replace(opt_state=task.set_learning_rate(state.opt_state, lr))
        if not uses_key:
            return state, state.key
        return state, jax.random.key_data(jax.random.fold_in(jax.random.wrap_key_data(state.key), epoch))

    def step(carry, idx):
        state, data, hyper, key = carry
        step_key = None
        if uses_key:  # else no random generator in the loop: it would only add compile time
            key, step_key = jax.random.split(jax.random.wrap_key_data(key))
            key = jax.random.key_data(key)
        params, rest, opt_state, metrics = task.update(
            exp,
            graphdef,
            tx,
            state.params,
            state.rest,
            state.opt_state,
            task.batch(data.train, idx, shard),
            hyper,
            step_key,
        )
        state = state._replace(params=params, rest=rest, opt_state=opt_state)
        return (state, data, hyper, key), metrics

    def finish(state: TrainState, data: TaskData, step_metrics, epoch):
        metrics = {f"train_{k}": v.mean() for k, v in step_metrics.items()}
        state = _track_best(exp, state, nnx.merge(graphdef, state.params, state.rest), data, epoch)
        return state, metrics | {"best_val_score": state.best_val}  # best so far, not this epoch's

    return EpochParts(start, step, finish)


def make_scan_epoch(parts: EpochParts) -> Callable:
    """The whole epoch as one program: (state, data, hyper, epoch, order [steps, B]) -> (state, metrics)."""

    def epoch_fn(state, data, hyper, epoch, order):
        state, key = parts.start(state, hyper, epoch)
        (state, *_), step_metrics = jax.lax.scan(parts.step, (state, data, hyper, key), order)
        return parts.finish(state, data, step_metrics, epoch)

    return epoch_fn


def _track_best(exp: Experiment, state: TrainState, model, data: TaskData, epoch) -> TrainState:
    """Early stopping: remember the weights of the best validation epoch."""
    if not exp.early_stopping:
        return state
    score = exp.task.evaluate(exp, model, data.val)[exp.task.selection_metric]
    better = score > state.best_val
    best = jax.tree.map(lambda new, old: jnp.where(better, new, old), (state.params, state.rest), state.best)
    return state._replace(
        best=best,
        best_val=jnp.where(better, score, state.best_val),
        best_epoch=jnp.where(better, epoch, state.best_epoch),
    )


def evaluation_key(exp: Experiment) -> tuple:
    """What decides the evaluation program: not the optimizer, so the variants of an
    optimizer comparison share it."""
    return exp.task, exp.model, exp.loss, exp.precision


def make_evaluate(exp: Experiment, graphdef: nnx.GraphDef) -> Callable:
    """(params, rest, split) -> {metric: [R]}: every replica's metrics on a whole split,
    in inference mode. Reads only `evaluation_key(exp)`. The test split after each epoch
    and the final numbers on the training and test splits all come from it."""

    def evaluate(params: nnx.State, rest: nnx.State, split) -> dict[str, jax.Array]:
        model = nnx.merge(graphdef, computed(exp, params), rest)
        return exp.task.evaluate(exp, model, computed(exp, split))

    return jax.vmap(evaluate, in_axes=(0, 0, None))
