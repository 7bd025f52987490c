"""Two seed lessons that need their own task: XOR and per-layer gradient norms.

XOR (the perceptron's limit): no line separates {(0,1), (1,0)} from {(0,0), (1,1)}, so a
linear model + softmax gets at most 3 of the 4 points right; one hidden layer fixes it.

Vanishing gradient: in a deep sigmoid net each layer multiplies the backpropagated error
by sigmoid' <= 1/4, so the first layer's kernel gradient is orders of magnitude smaller
than the last layer's; with ReLU (derivative 1 where active) it is not. The task below
records every layer's kernel-gradient norm at each training step, at initialisation and
after training.

    dlrun compare xor
    dlrun compare vanishing-gradient
"""

import hashlib
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dlrun.core.task import DataInfo, Task, TaskData
from dlrun.families.basics.config import XOR_COPIES
from dlrun.families.basics.pictures import log10_ratio, plot_grad_norms
from dlrun.families.mlp.task import Classification, unit_pixels

# ---------------------------------------------------------------- XOR

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)  # [4, 2]
XOR_Y = np.array([0, 1, 1, 0], np.int32)  # [4]: x1 xor x2


def xor_training_set(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `size` rows of the truth table repeated: every point equally often when
    size is a multiple of 4. Exact copies (no noise): train accuracy is then the fraction
    of the 4 points the model gets right."""
    rows = np.arange(size) % len(XOR_Y)
    return XOR_X[rows], XOR_Y[rows]  # [size, 2], [size]


class XorTask(Classification):
    """Two inputs in {0, 1} -> 2 classes; train and test are the same 4 points (the
    lesson is whether the model can fit them, not generalisation)."""

    name = "xor"
    predict = Task.predict  # four fixed points, no image to classify
    attacked_accuracy = Task.attacked_accuracy
    columns = (("train_accuracy", "train acc"), ("train_loss", "train loss"), ("weight_norm", "weight norm"))

    def load(self, exp, data_dir):
        digest = hashlib.sha256(XOR_X.tobytes() + XOR_Y.tobytes()).hexdigest()
        notice = f"training on the 4 points repeated {XOR_COPIES} times; the test set is the 4 points"
        return None, DataInfo("XOR truth table (4 points)", digest, notice, len(XOR_Y), len(XOR_Y) * XOR_COPIES)

    def train_rows(self, exp, loaded) -> int:
        return min(exp.train_size, len(XOR_Y) * XOR_COPIES)

    def place(self, exp, loaded) -> TaskData:
        # `loaded` is not read: the data is a constant, so this task also trains correctly
        # inside a group whose first variant loaded another dataset (the `all` group).
        x, y = xor_training_set(self.train_rows(exp, loaded))
        empty = (np.zeros((0, 2), np.float32), np.zeros((0,), np.int32))
        return TaskData(train=(x, y), eval=(XOR_X, XOR_Y), val=empty)

    def batch(self, train, idx, shard):
        x, y = train
        return shard(x[idx]), shard(y[idx])  # [B, 2] float32 already, [B]


XOR = XorTask()

# ---------------------------------------------------------------- per-layer gradient norms


def layer_grad_norms(grads: nnx.State) -> jax.Array:
    """L2 norm of each Dense layer's kernel gradient, input layer first: [L]."""
    kernels = {path[-2]: g[...] for path, g in nnx.to_flat_state(grads) if path[-1] == "kernel"}
    return jnp.stack([jnp.linalg.norm(kernels[i]) for i in sorted(kernels)])


def norms_as_metrics(norms: jax.Array, prefix: str = "") -> dict[str, jax.Array]:
    """[L] -> {"<prefix>grad_norm_layer_1": ..., ...}, layers counted from 1 at the input."""
    return {f"{prefix}grad_norm_layer_{i + 1}": norms[i] for i in range(norms.shape[0])}


def model_grad_norms(exp, model: nnx.Module, x: jax.Array, y: jax.Array) -> np.ndarray:
    """Per-layer kernel-gradient norms of exp.loss on (x [B, 784] float, y [B]): [L]."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    return np.asarray(_grad_norms(graphdef, exp.loss, params, rest, x, y))


@partial(jax.jit, static_argnums=(0, 1))  # static: compiled once per architecture and loss
def _grad_norms(graphdef, loss, params, rest, x, y) -> jax.Array:
    def objective(params):
        return loss(nnx.merge(graphdef, params, rest)(x), y)

    return layer_grad_norms(jax.grad(objective)(params))


INIT_SEED = 0  # the at-init norms are those of the seed-0 weights (the default --seed)
PROBE_SIZE = 1_000  # gradients at init and after training: the mean over these training rows


def probe_batch(data: TaskData) -> tuple[jax.Array, jax.Array]:
    """A fixed batch: the first PROBE_SIZE training rows, [P, 784] in [0, 1] and [P]."""
    x, y = data.train
    return unit_pixels(jnp.asarray(x[:PROBE_SIZE])), jnp.asarray(y[:PROBE_SIZE])


def init_and_trained_norms(exp, model, data: TaskData) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer kernel-gradient norms [L] on the probe batch, for a fresh model (the
    seed-0 initialisation; the task hooks are not told a replica's seed) and the trained one."""
    x, y = probe_batch(data)
    fresh = exp.model.build(nnx.Rngs(params=INIT_SEED))
    return model_grad_norms(exp, fresh, x, y), model_grad_norms(exp, model, x, y)


def grad_summary(norms: np.ndarray, prefix: str) -> dict[str, float]:
    """Final metrics from per-layer norms [L]: each layer, and the log10 of the first, the
    last and their ratio (the table prints 3 decimals, too few for a norm of 1e-5)."""
    return {
        **{f"{prefix}grad_norm_layer_{i + 1}": float(n) for i, n in enumerate(norms)},
        f"{prefix}log10_grad_first": float(np.log10(norms[0])),
        f"{prefix}log10_grad_last": float(np.log10(norms[-1])),
        f"{prefix}log10_grad_ratio": log10_ratio(norms),
    }


class GradNormClassification(Classification):
    """MNIST classification that also measures each layer's kernel-gradient norm:
    per training step (averaged over the epoch: `train_grad_norm_layer_i` in the history),
    and on a fixed probe batch at initialisation and after training (final metrics)."""

    name = "classification+grad-norms"
    columns = (
        ("test_accuracy", "test acc"),
        # gL: the last (output) layer. Three columns keep a 150-wide table untruncated.
        ("init_log10_grad_first", "log10|g1| init"),
        ("init_log10_grad_ratio", "log10 g1/gL init"),
        ("trained_log10_grad_ratio", "log10 g1/gL end"),
    )

    def gradient_metrics(self, grads):
        """The norms of the loss gradient per layer (before weight decay is added)."""
        return norms_as_metrics(layer_grad_norms(grads))

    def host_metrics(self, exp, model, data):
        init, trained = init_and_trained_norms(exp, model, data)
        return grad_summary(init, "init_") | grad_summary(trained, "trained_")

    def pictures(self, exp, model, data, out_dir: Path) -> list[Path]:
        init, trained = init_and_trained_norms(exp, model, data)
        probe = len(probe_batch(data)[1])
        return [plot_grad_norms(exp.name, init, trained, probe, Path(out_dir) / f"{exp.name}-grad-norms.png")]


GRAD_NORMS = GradNormClassification()
