"""Tasks: what a model family plugs into the one engine.

A task says how a batch is cut from the training arrays, what is minimised, what is
measured, and which pictures a run leaves behind. The engine owns the loop, the
optimizer, the seeds and the compiled programs; a task owns none of them.
"""

import math
from pathlib import Path
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from dlrun.core.config import Precision
from dlrun.errors import ConfigError
from dlrun.record_format import DEFAULT_COLUMNS

Metrics = dict[str, jax.Array]


class TaskData(NamedTuple):
    """What an epoch reads, as pytrees of arrays (host side until `replicate`)."""

    train: Any  # leaves with a leading example axis [N, ...]
    eval: Any  # the split reported as "test" (the validation split when a task has no test)
    val: Any  # early-stopping split ([0, ...] leaves when unused)


class DataInfo(NamedTuple):
    """Where the data came from, printed and recorded with every run."""

    source: str
    sha256: str
    notice: str | None
    test_size: int
    available_train: int


class Query(NamedTuple):
    """What `dlrun predict` asks a trained model about: a text (a sentence, an image's
    path) or the index of a test example."""

    text: str | None
    index: int | None


class Prediction(NamedTuple):
    """A trained model's answer, one row per class or word, averaged over the seeds."""

    asked: str  # the input, as the model saw it
    rows: list[dict[str, Any]]  # {column: value}, e.g. {"class": "7", "probability": 0.98}
    note: str | None = None  # how the input was read (inverted, unknown words...)


class Task:
    """The default behaviour is supervised training of `model(inputs, dropout, key, train)`."""

    name = "task"
    selection_metric = "accuracy"  # early stopping keeps the epoch that maximises it
    needs_key = False  # a random key every step even without dropout (VAE sampling, GAN noise)
    mixed_precision = True  # False: a family whose own update step keeps float32 throughout
    diverged_above = math.inf  # a training loss above this counts as diverged, like NaN
    # Final metrics shown in tables, (key, label); the first is the headline, compared with
    # the lecture's number and shown with its spread over seeds.
    columns: tuple[tuple[str, str], ...] = DEFAULT_COLUMNS

    def init_optimizer(self, tx: optax.GradientTransformation, params):
        return tx.init(params)

    def set_learning_rate(self, opt_state, lr: jax.Array):
        """The decayed rate for this epoch, written into the injected hyper-parameters."""
        return opt_state._replace(hyperparams=dict(opt_state.hyperparams, learning_rate=lr))

    def load(self, exp, data_dir: Path | None) -> tuple[Any, DataInfo]:
        raise NotImplementedError

    def place(self, exp, loaded) -> TaskData:
        raise NotImplementedError

    def train_rows(self, exp, loaded) -> int:
        """How many training examples `place` would give (to check settings early)."""
        return len(jax.tree.leaves(self.place(exp, loaded).train)[0])

    def batch(self, train, idx: jax.Array, shard: Callable):
        """Rows `idx` [B] of every training array, split over devices by `shard`."""
        return jax.tree.map(lambda a: shard(a[idx]), train)

    def loss(self, exp, model, batch, hyper, key) -> tuple[jax.Array, Metrics]:
        """The training objective on one batch, and metrics averaged over the epoch."""
        raise NotImplementedError

    def evaluate(self, exp, model, split) -> Metrics:
        """Metrics of the model in inference mode on a whole split."""
        raise NotImplementedError

    def update(self, exp, graphdef, tx, params, rest, opt_state, batch, hyper, key):
        """One optimizer step; a family with its own step (the GAN) overrides this."""

        def objective(params):
            # copy=True: batch norm writes its statistics during the step, and NNX refuses
            # writes to variables made outside the gradient's trace.
            model = nnx.merge(graphdef, computed(exp, params), rest, copy=True)
            loss, metrics = self.loss(exp, model, computed(exp, batch), hyper, key)
            return loss, (metrics, nnx.state(model, nnx.Not(nnx.Param)))

        (loss, (metrics, rest)), grads = jax.value_and_grad(objective, has_aux=True)(params)
        metrics |= self.gradient_metrics(grads)
        params, opt_state = apply_gradients(tx, grads, opt_state, params, hyper.weight_decay)
        return params, rest, opt_state, {"loss": loss, **metrics}

    def gradient_metrics(self, grads) -> Metrics:
        """Metrics of the loss gradient of a step (averaged over the epoch); none by default."""
        return {}

    def final_extras(self, params) -> dict[str, float]:
        """Numbers about one replica's trained weights (host NumPy arrays), reported with the final metrics."""
        kernels = [np.asarray(p[...]) for path, p in nnx.to_flat_state(params) if path[-1] == "kernel"]
        return {"weight_norm": float(np.sqrt(sum(np.sum(k.astype(np.float64) ** 2) for k in kernels)))}

    def host_metrics(self, exp, model, data: TaskData) -> dict[str, float]:
        """Final metrics computed outside the compiled programs (e.g. entity F1 with
        seqeval), for every replica's trained model; none by default."""
        return {}

    def pictures(self, exp, model, data: TaskData, out_dir: Path) -> list[Path]:
        """PNGs a run leaves beside its record (filters, samples...); none by default."""
        return []

    def attacked_accuracy(self, exp, model, split, epsilon: float) -> float:
        """Accuracy on the split's examples attacked with FGSM at `epsilon` against `model`
        (`dlrun evaluate --fgsm`); image classifiers only."""
        raise ConfigError(f"--fgsm applies to the image classifiers, not to {exp.name}")

    def predict(self, exp, models: list, load: Callable[[], Any], query: Query) -> Prediction:
        """The trained models' (one per seed) answer to `query`; `load()` gives the data the
        task was trained on, for a test example or a vocabulary. Families whose models
        answer no question from an input say so."""
        raise ConfigError(f"{exp.name} makes no predictions from an input; `dlrun evaluate` measures it")


def in_chunks(fn: Callable, model, inputs: tuple, size: int, fill: tuple | None = None):
    """fn(model, *inputs) over inputs with a leading [N] axis, `size` rows at a time: one
    compiled loop whatever N, so evaluating a whole split needs the memory of one chunk.
    The last chunk is padded with `fill` (a value per input, default 0) and the padding
    dropped; every output keeps a leading [N] axis."""
    n = inputs[0].shape[0]
    if n <= size:
        return fn(model, *inputs)
    chunks = math.ceil(n / size)
    pad = chunks * size - n
    parts = tuple(
        jnp.pad(a, ((0, pad),) + ((0, 0),) * (a.ndim - 1), constant_values=value).reshape(chunks, size, *a.shape[1:])
        for a, value in zip(inputs, fill or (0,) * len(inputs), strict=True)
    )
    # The weights enter the loop as its (unchanged) carry: NNX refuses variables traced
    # outside a transform inside it (a recurrent model's own scan), so they cannot be closed over.
    graphdef, state = nnx.split(model)

    def chunk(state, part):
        return state, fn(nnx.merge(graphdef, state), *part)

    _, out = jax.lax.scan(chunk, state, parts)  # leaves [chunks, size, ...]
    return jax.tree.map(lambda a: a.reshape(chunks * size, *a.shape[2:])[:n], out)


def computed(exp, tree):
    """The float32 arrays of `tree` in the experiment's compute type: bfloat16 under
    `Precision.BF16` (the float32 originals stay the master copy, and gradients flow back
    to them as float32), else unchanged."""
    if exp.precision is not Precision.BF16:
        return tree
    return jax.tree.map(lambda a: a.astype(jnp.bfloat16) if a.dtype == jnp.float32 else a, tree)


def apply_gradients(tx: optax.GradientTransformation, grads, opt_state, params, weight_decay: jax.Array):
    """One optimizer update with coupled L2 weight decay (Keras semantics: wd * w is added
    to the gradient before the optimizer sees it). Returns (params, opt_state)."""
    grads = jax.tree.map(lambda g, w: g + weight_decay * w, grads, params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


SUBSET_SEED = 0  # the training subset is the same for every run, seed and variant


def training_subset(n_available: int, train_size: int) -> np.ndarray:
    """Indices of the training subset (fixed, independent of the run seed)."""
    return np.random.default_rng(SUBSET_SEED).permutation(n_available)[:train_size]
