"""The one training engine: every classifier lesson runs through these programs.

A training epoch is one compiled program: `lax.scan` over shuffled mini-batches drawn
from data that lives on the device, then an evaluation pass. Replicas (the K seeds of a
variant, or the seeds of several variants that share a structure) are `vmap`ped copies of
that program. Numeric hyper-parameters live in the optimizer state
(`optax.inject_hyperparams`) and in `Hyper`, so they are traced values: variants that
differ only in them share one compiled program (`structure_key`).
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from dlrun.config import Experiment
from dlrun.losses import accuracy


class DeviceData(NamedTuple):
    """Everything an epoch reads, placed on the device once."""

    x_train: jax.Array  # [N, 784] uint8
    y_train: jax.Array  # [N] int32
    x_eval: jax.Array  # [M, 784] float32 in [0, 1] (+ noise for the noisy test set)
    y_eval: jax.Array  # [M] int32
    x_val: jax.Array  # [V, 784] float32, V = 0 without early stopping
    y_val: jax.Array  # [V] int32


class Hyper(NamedTuple):
    """Numeric settings passed as traced values [R] (one per replica), so changing them
    does not recompile."""

    learning_rate: jax.Array  # base rate; epoch e uses lr / sqrt(1 + lr_decay * e)
    lr_decay: jax.Array
    dropout: jax.Array  # fraction of hidden units dropped
    weight_decay: jax.Array  # L2 coefficient: wd * w is added to the gradient

    @classmethod
    def of(cls, exp: Experiment) -> "Hyper":
        opt = exp.optimizer
        return cls(*(jnp.float32(v) for v in (opt.learning_rate, opt.lr_decay, exp.dropout, exp.weight_decay)))


def structure_key(exp: Experiment) -> tuple:
    """What decides the compiled program. Everything else (learning rate and the other
    optimizer numbers, dropout rate, weight decay, test noise, epochs) is a traced value."""
    opt = exp.optimizer
    return (exp.model, exp.loss, opt.make, tuple(name for name, _ in opt.extra), exp.batch_size,
            exp.dropout > 0, exp.early_stopping is not None, exp.family)


class TrainState(NamedTuple):
    params: nnx.State
    opt_state: optax.OptState
    key: jax.Array  # per-seed stream for data order and dropout
    best_params: nnx.State  # weights of the best validation epoch (early stopping)
    best_val: jax.Array  # best validation accuracy so far
    best_epoch: jax.Array


class EpochMetrics(NamedTuple):
    train_loss: jax.Array  # running mean over the epoch's mini-batches, as Keras reports
    train_accuracy: jax.Array
    test_loss: jax.Array
    test_accuracy: jax.Array
    val_accuracy: jax.Array  # NaN without a validation split


def make_optimizer(exp: Experiment) -> optax.GradientTransformation:
    """The experiment's optimizer with its hyper-parameters injected into its state."""
    opt = exp.optimizer
    return optax.inject_hyperparams(opt.make)(learning_rate=opt.learning_rate, **dict(opt.extra))


def init_params(exp: Experiment, seed: int) -> tuple[nnx.GraphDef, nnx.State]:
    """Initial weights depend on the seed alone, so variants of the same shape start equal."""
    return nnx.split(exp.model.build(nnx.Rngs(params=seed)))


def init_states(experiments: list[Experiment], seeds: list[int]) -> tuple[nnx.GraphDef, TrainState]:
    """One TrainState for R = len(experiments) * len(seeds) replicas, variant-major: its
    leaves carry a leading replica axis [R, ...]. The experiments share a structure."""
    states = []
    for exp in experiments:
        tx = make_optimizer(exp)  # its numbers go into the (traced) optimizer state
        for seed in seeds:
            graphdef, params = init_params(exp, seed)
            states.append(TrainState(
                params=params,
                opt_state=tx.init(params),
                key=jax.random.key_data(jax.random.key(seed)),
                best_params=params if exp.early_stopping else None,
                best_val=jnp.array(-1.0),
                best_epoch=jnp.array(-1),
            ))
    return graphdef, jax.tree.map(lambda *xs: jnp.stack(xs), *states)


def _evaluate(model, loss_fn, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    logits = model(x)  # [M, classes]
    return loss_fn(logits, y), accuracy(logits, y)


def make_epoch_fn(exp: Experiment, graphdef: nnx.GraphDef, n_train: int, shard: Callable = lambda x: x) -> Callable:
    """The program for one epoch of one replica: (state, data, hyper, epoch) -> (state, metrics).
    Reads only the structural fields of `exp` (see `structure_key`). `shard` places each
    mini-batch (data parallelism over several devices)."""
    tx = make_optimizer(exp)
    batch = exp.batch_size or n_train
    steps = n_train // batch
    loss_fn = exp.loss

    def batch_loss(params, x, y, hyper, key):
        logits = nnx.merge(graphdef, params)(x, hyper.dropout, key)  # [B, classes]
        return loss_fn(logits, y), logits

    def step(carry, idx):  # idx: [B] indices into the training set
        params, opt_state, data, hyper, key = carry
        x = shard(data.x_train[idx].astype(jnp.float32) / 255.0)  # [B, 784]
        y = shard(data.y_train[idx])
        key, dropout_key = jax.random.split(key)
        (loss, logits), grads = jax.value_and_grad(batch_loss, has_aux=True)(
            params, x, y, hyper, dropout_key if exp.dropout else None
        )
        grads = jax.tree.map(lambda g, w: g + hyper.weight_decay * w, grads, params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (params, opt_state, data, hyper, key), (loss, accuracy(logits, y))

    def epoch_fn(state: TrainState, data: DeviceData, hyper: Hyper, epoch: jax.Array):
        key = jax.random.wrap_key_data(state.key)
        order_key = jax.random.fold_in(key, epoch)  # data order: seed and epoch only
        order = jax.random.permutation(order_key, n_train)[: steps * batch]
        lr = hyper.learning_rate / jnp.sqrt(1.0 + hyper.lr_decay * epoch)
        opt_state = _with_learning_rate(state.opt_state, lr)
        carry = (state.params, opt_state, data, hyper, jax.random.fold_in(order_key, 1))
        (params, opt_state, *_), (losses, accs) = jax.lax.scan(step, carry, order.reshape(steps, batch))
        model = nnx.merge(graphdef, params)
        test_loss, test_acc = _evaluate(model, loss_fn, data.x_eval, data.y_eval)
        state = _track_best(exp, state._replace(params=params, opt_state=opt_state), model, data, epoch)
        metrics = EpochMetrics(losses.mean(), accs.mean(), test_loss, test_acc, state.best_val)
        return state, metrics

    return epoch_fn


def _with_learning_rate(opt_state, lr: jax.Array):
    hyperparams = dict(opt_state.hyperparams, learning_rate=lr)
    return opt_state._replace(hyperparams=hyperparams)


def _track_best(exp: Experiment, state: TrainState, model, data: DeviceData, epoch) -> TrainState:
    """Early stopping: remember the weights of the best validation epoch."""
    if not exp.early_stopping:
        return state
    _, val_acc = _evaluate(model, exp.loss, data.x_val, data.y_val)
    better = val_acc > state.best_val
    best_params = jax.tree.map(lambda new, old: jnp.where(better, new, old), state.params, state.best_params)
    return state._replace(
        best_params=best_params,
        best_val=jnp.where(better, val_acc, state.best_val),
        best_epoch=jnp.where(better, epoch, state.best_epoch),
    )


def make_final_eval(exp: Experiment, graphdef: nnx.GraphDef) -> Callable:
    """Accuracy and loss of the final (or best, with early stopping) weights on the full
    training subset and on the test set, with dropout off. Vmapped over seeds."""

    def final_eval(state: TrainState, data: DeviceData):
        params = state.best_params if exp.early_stopping else state.params
        model = nnx.merge(graphdef, params)
        x_train = data.x_train.astype(jnp.float32) / 255.0
        train_loss, train_acc = _evaluate(model, exp.loss, x_train, data.y_train)
        test_loss, test_acc = _evaluate(model, exp.loss, data.x_eval, data.y_eval)
        kernels = [p for path, p in nnx.to_flat_state(params) if path[-1] == "kernel"]
        weight_norm = jnp.sqrt(sum(jnp.sum(k[...] ** 2) for k in kernels))
        return dict(train_loss=train_loss, train_accuracy=train_acc, test_loss=test_loss,
                    test_accuracy=test_acc, weight_norm=weight_norm)

    return jax.vmap(final_eval, in_axes=(0, None))
