"""Runs one experiment: data onto the device once, K seeds trained as one compiled
program, metrics pulled once per epoch, divergence and Ctrl-C turned into a status."""

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from dlrun.config import Experiment
from dlrun.data import ImageData
from dlrun.engine import DeviceData, EpochMetrics, Hyper, init_states, make_epoch_fn, make_final_eval
from dlrun.errors import ConfigError

SUBSET_SEED = 0  # the training subset is the same for every run, seed and variant
NOISE_SEED = 1234  # so is the noisy test set

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

    def mean(self, metric: str) -> float | None:
        values = self.final.get(metric)
        return float(np.mean(values)) if values and self.status != DIVERGED else None

    def std(self, metric: str) -> float | None:
        values = self.final.get(metric)
        return float(np.std(values)) if values and self.status != DIVERGED else None


def check_settings(exp: Experiment, n_train: int) -> None:
    """Bad values get a clear message before anything is compiled."""
    if exp.epochs < 1:
        raise ConfigError(f"epochs must be at least 1, got {exp.epochs}")
    if exp.batch_size is not None and exp.batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {exp.batch_size}")
    if exp.batch_size is not None and exp.batch_size > n_train:
        raise ConfigError(f"batch size {exp.batch_size} is larger than the {n_train} training examples")
    if not exp.optimizer.learning_rate > 0:
        raise ConfigError(f"learning rate must be positive, got {exp.optimizer.learning_rate}")
    if exp.train_size < 1:
        raise ConfigError(f"train size must be at least 1, got {exp.train_size}")


def training_subset(exp: Experiment, images: ImageData) -> np.ndarray:
    """Indices of the experiment's training subset (fixed, independent of the run seed)."""
    order = np.random.default_rng(SUBSET_SEED).permutation(len(images.y_train))
    return order[: exp.train_size]


def place_data(exp: Experiment, images: ImageData) -> DeviceData:
    idx = training_subset(exp, images)
    n_val = int(len(idx) * exp.early_stopping.validation_fraction) if exp.early_stopping else 0
    train_idx, val_idx = idx[: len(idx) - n_val], idx[len(idx) - n_val :]
    x_test = images.x_test.reshape(len(images.x_test), -1).astype(np.float32) / 255.0  # [M, 784]
    if exp.test_noise:  # the lecture's np.random.normal(x_test): each pixel ~ N(pixel, std)
        x_test = x_test + np.random.default_rng(NOISE_SEED).normal(0, exp.test_noise, x_test.shape)
    flat = images.x_train.reshape(len(images.x_train), -1)  # [N, 784] uint8
    return jax.device_put(
        DeviceData(
            x_train=flat[train_idx],
            y_train=images.y_train[train_idx].astype(np.int32),
            x_eval=x_test.astype(np.float32),
            y_eval=images.y_test.astype(np.int32),
            x_val=flat[val_idx].astype(np.float32) / 255.0,
            y_val=images.y_train[val_idx].astype(np.int32),
        )
    )


EpochCallback = Callable[[int, EpochMetrics], None]


def train(exp: Experiment, images: ImageData, seeds: list[int], on_epoch: EpochCallback | None = None) -> VariantResult:
    """Train `exp` for every seed at once and return its metrics and history."""
    start = time.perf_counter()
    data = place_data(exp, images)
    n_train = len(data.y_train)
    check_settings(exp, n_train)
    result = VariantResult(exp.name, exp.reference, list(seeds), train_size=n_train)
    graphdef, state = init_states(exp, seeds)
    hyper = Hyper(*(jnp.float32(v) for v in (exp.optimizer.learning_rate, exp.dropout, exp.weight_decay)))
    epoch_fn = jax.jit(jax.vmap(make_epoch_fn(exp, graphdef, n_train), in_axes=(0, None, None, None)), donate_argnums=0)
    final_eval = jax.jit(make_final_eval(exp, graphdef))
    compile_start = time.perf_counter()
    epoch_fn = epoch_fn.lower(state, data, hyper, jnp.int32(0)).compile()
    final_eval = final_eval.lower(state, data).compile()
    result.compile_s = time.perf_counter() - compile_start
    try:
        state = _run_epochs(exp, epoch_fn, state, data, hyper, result, on_epoch)
    except KeyboardInterrupt:
        result.status = INTERRUPTED
    if result.status != DIVERGED and result.epochs:
        result.final = {k: np.asarray(v).tolist() for k, v in jax.device_get(final_eval(state, data)).items()}
    result.wall_s = time.perf_counter() - start
    return result


def _run_epochs(exp, epoch_fn, state, data, hyper, result: VariantResult, on_epoch):
    for epoch in range(exp.epochs):
        state, metrics = epoch_fn(state, data, hyper, jnp.int32(epoch))
        metrics = jax.device_get(metrics)  # the one host transfer of the epoch
        result.history.append({k: np.asarray(v).tolist() for k, v in metrics._asdict().items()})
        result.epochs = epoch + 1
        if on_epoch:
            on_epoch(epoch, metrics)
        if not np.all(np.isfinite(metrics.train_loss)):
            result.status = DIVERGED
            break
        if exp.early_stopping and _patience_spent(exp, state, epoch):
            break
    return state


def _patience_spent(exp: Experiment, state, epoch: int) -> bool:
    """Stop when no seed has improved its validation accuracy for `patience` epochs."""
    best_epoch = np.asarray(jax.device_get(state.best_epoch))  # [K]
    return bool(np.all(epoch - best_epoch >= exp.early_stopping.patience))
