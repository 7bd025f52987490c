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

from dlrun.core.losses import accuracy

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


class Task:
    """The default behaviour is supervised training of `model(inputs, dropout, key, train)`."""

    name = "task"
    selection_metric = "accuracy"  # early stopping keeps the epoch that maximises it
    needs_key = False  # a random key every step even without dropout (VAE sampling, GAN noise)
    diverged_above = math.inf  # a training loss above this counts as diverged, like NaN
    # Final metrics shown in tables, (key, label); the first is the headline, compared with
    # the lecture's number and shown with its spread over seeds.
    columns: tuple[tuple[str, str], ...] = (
        ("test_accuracy", "test acc"), ("train_accuracy", "train acc"), ("test_loss", "test loss"))

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
            model = nnx.merge(graphdef, params, rest, copy=True)
            loss, metrics = self.loss(exp, model, batch, hyper, key)
            return loss, (metrics, nnx.state(model, nnx.Not(nnx.Param)))

        (loss, (metrics, rest)), grads = jax.value_and_grad(objective, has_aux=True)(params)
        metrics |= self.gradient_metrics(grads)
        grads = jax.tree.map(lambda g, w: g + hyper.weight_decay * w, grads, params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), rest, opt_state, {"loss": loss, **metrics}

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


class Classification(Task):
    """Images -> one of C classes. Train images stay uint8 on the device, [N, 784]."""

    name = "classification"
    # Cross-entropy starts near log(10) = 2.3 and MSE is below 1: a loss above 1,000 means
    # the weights have exploded even while it is still a finite number.
    diverged_above = 1e3

    def load(self, exp, data_dir):
        from dlrun.data.images import load_images

        images = load_images(exp.dataset, data_dir)
        info = DataInfo(images.source, images.sha256, images.notice, len(images.y_test), len(images.y_train))
        return images, info

    def place(self, exp, images) -> TaskData:
        return place_images(exp, images)

    def train_rows(self, exp, images) -> int:  # without placing the images
        return len(training_split(exp, len(images.y_train))[0])

    def batch(self, train, idx, shard):
        x, y = train
        return shard(x[idx].astype(jnp.float32) / 255.0), shard(y[idx])  # [B, 784], [B]

    def loss(self, exp, model, batch, hyper, key):
        x, y = batch
        logits = model(x, hyper.dropout, key, train=True)  # [B, classes]
        return exp.loss(logits, y), {"accuracy": accuracy(logits, y)}

    def evaluate(self, exp, model, split):
        x, y = split
        x = x.astype(jnp.float32) / 255.0 if x.dtype == jnp.uint8 else x  # the train split is uint8
        logits = model(x)  # [M, classes]
        return {"loss": exp.loss(logits, y), "accuracy": accuracy(logits, y)}


SUBSET_SEED = 0  # the training subset is the same for every run, seed and variant
NOISE_SEED = 1234  # so is the noisy test set


def training_subset(n_available: int, train_size: int) -> np.ndarray:
    """Indices of the training subset (fixed, independent of the run seed)."""
    return np.random.default_rng(SUBSET_SEED).permutation(n_available)[:train_size]


def training_split(exp, n_available: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the training subset that train, and the last `validation_fraction` of it
    held out for early stopping."""
    idx = training_subset(n_available, exp.train_size)
    n_val = int(len(idx) * exp.early_stopping.validation_fraction) if exp.early_stopping else 0
    return idx[: len(idx) - n_val], idx[len(idx) - n_val :]


def place_images(exp, images) -> TaskData:
    """Train [N, 784] uint8; test [M, 784] float32 in [0, 1] (+ noise for the noisy test
    set); validation rows held out for early stopping (`training_split`)."""
    train_idx, val_idx = training_split(exp, len(images.y_train))
    x_test = images.x_test.reshape(len(images.x_test), -1).astype(np.float32) / 255.0
    if exp.test_noise:  # the lecture's np.random.normal(x_test): each pixel ~ N(pixel, std)
        x_test = x_test + np.random.default_rng(NOISE_SEED).normal(0, exp.test_noise, x_test.shape)
    flat = images.x_train.reshape(len(images.x_train), -1)  # [N, 784] uint8
    labels = images.y_train.astype(np.int32)
    return TaskData(
        train=(flat[train_idx], labels[train_idx]),
        eval=(x_test.astype(np.float32), images.y_test.astype(np.int32)),
        val=(flat[val_idx], labels[val_idx]),
    )


CLASSIFICATION = Classification()
