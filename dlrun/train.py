"""Runs experiments: data onto the device once, the K seeds of each variant (and, where
asked, several variants that share a structure) trained as replicas of one compiled
program, metrics pulled once per epoch, divergence and Ctrl-C turned into a status."""

import time
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dlrun.config import Experiment
from dlrun.data import ImageData
from dlrun.devices import batch_sharder, configure, data_mesh, replicate
from dlrun.engine import (DeviceData, EpochMetrics, Hyper, init_states, make_epoch_fn, make_final_eval,
                          structure_key)
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
    """The arrays an epoch reads (host side; `replicate` puts them on the device once)."""
    idx = training_subset(exp, images)
    n_val = int(len(idx) * exp.early_stopping.validation_fraction) if exp.early_stopping else 0
    train_idx, val_idx = idx[: len(idx) - n_val], idx[len(idx) - n_val :]
    x_test = images.x_test.reshape(len(images.x_test), -1).astype(np.float32) / 255.0  # [M, 784]
    if exp.test_noise:  # the lecture's np.random.normal(x_test): each pixel ~ N(pixel, std)
        x_test = x_test + np.random.default_rng(NOISE_SEED).normal(0, exp.test_noise, x_test.shape)
    flat = images.x_train.reshape(len(images.x_train), -1)  # [N, 784] uint8
    return DeviceData(
        x_train=flat[train_idx],
        y_train=images.y_train[train_idx].astype(np.int32),
        x_eval=x_test.astype(np.float32),
        y_eval=images.y_test.astype(np.int32),
        x_val=flat[val_idx].astype(np.float32) / 255.0,
        y_val=images.y_train[val_idx].astype(np.int32),
    )


class Program(NamedTuple):
    """The compiled programs of one structure and shape: an epoch, and the final evaluation."""

    epoch: Callable
    final_eval: Callable


_PROGRAMS: dict[tuple, Program] = {}
compile_count = {"programs": 0}  # programs compiled in this process (the cache misses)


def get_program(exp: Experiment, graphdef, state, data: DeviceData, hyper: Hyper) -> tuple[Program, float]:
    """The compiled programs for this structure and these shapes; compiled on first use.
    Returns them and the seconds spent compiling (0 when already compiled)."""
    shapes = tuple((a.shape, a.dtype) for a in jax.tree.leaves((state, data, hyper)))
    key = (structure_key(exp), jax.tree.structure((state, data, hyper)), shapes)
    if key in _PROGRAMS:
        return _PROGRAMS[key], 0.0
    shard = batch_sharder(data_mesh(), exp.batch_size or len(data.y_train))
    epoch_fn = make_epoch_fn(exp, graphdef, len(data.y_train), shard)
    epoch_fn = jax.jit(jax.vmap(epoch_fn, in_axes=(0, None, 0, None)), donate_argnums=0)
    final_eval = jax.jit(make_final_eval(exp, graphdef))
    start = time.perf_counter()
    program = Program(
        epoch_fn.lower(state, data, hyper, jnp.int32(0)).compile(),
        final_eval.lower(state, data).compile(),
    )
    compile_count["programs"] += 1
    _PROGRAMS[key] = program
    return program, time.perf_counter() - start


VariantCallback = Callable[[int, int, EpochMetrics], None]  # (variant index, epoch, metrics [K])


def train_variants(experiments: list[Experiment], images: ImageData, seeds: list[int],
                   on_epoch: VariantCallback | None = None) -> list[VariantResult]:
    """Train experiments that share a structure and data as one batch of replicas
    (variant-major, K seeds each) in one compiled program."""
    start = time.perf_counter()
    configure()
    mesh = data_mesh()
    data = replicate(place_data(experiments[0], images), mesh)
    n_train = len(data.y_train)
    for exp in experiments:
        check_settings(exp, n_train)
    results = [VariantResult(e.name, e.reference, list(seeds), train_size=n_train) for e in experiments]
    graphdef, state = init_states(experiments, seeds)
    hyper = jax.tree.map(lambda *h: jnp.stack(h), *(Hyper.of(e) for e in experiments for _ in seeds))
    state, hyper = replicate((state, hyper), mesh)
    program, compile_s = get_program(experiments[0], graphdef, state, data, hyper)
    try:
        state = _run_epochs(experiments, program, state, data, hyper, results, on_epoch)
    except KeyboardInterrupt:
        for result in results:
            result.status = INTERRUPTED if result.status == OK else result.status
    final = jax.device_get(program.final_eval(state, data)) if any(r.epochs for r in results) else {}
    for v, result in enumerate(results):
        if result.status != DIVERGED and result.epochs:
            result.final = {k: _replicas(a, v, len(seeds)).tolist() for k, a in final.items()}
        result.wall_s, result.compile_s = time.perf_counter() - start, compile_s
    return results


def train(exp: Experiment, images: ImageData, seeds: list[int],
          on_epoch: Callable[[int, EpochMetrics], None] | None = None) -> VariantResult:
    """Train one experiment over its seeds."""
    callback = (lambda _, epoch, metrics: on_epoch(epoch, metrics)) if on_epoch else None
    return train_variants([exp], images, seeds, callback)[0]


def _replicas(array: np.ndarray, variant: int, k: int) -> np.ndarray:
    return np.asarray(array)[variant * k : (variant + 1) * k]  # [K]


def _run_epochs(experiments, program: Program, state, data, hyper, results: list[VariantResult], on_epoch):
    """Run epochs until every variant has finished, diverged or spent its patience."""
    k = len(results[0].seeds)
    active = set(range(len(experiments)))
    for epoch in range(max(e.epochs for e in experiments)):
        state, metrics = program.epoch(state, data, hyper, jnp.int32(epoch))
        metrics = jax.device_get(metrics)  # the one host transfer of the epoch
        best_epoch = np.asarray(state.best_epoch) if experiments[0].early_stopping else None
        for v in sorted(active):
            mine = EpochMetrics(*(_replicas(m, v, k) for m in metrics))
            best = None if best_epoch is None else _replicas(best_epoch, v, k)
            if on_epoch:
                on_epoch(v, epoch, mine)
            if not _record_epoch(experiments[v], results[v], epoch, mine, best):
                active.discard(v)
        if not active:
            break
    return state


def _record_epoch(exp: Experiment, result: VariantResult, epoch: int, metrics: EpochMetrics,
                  best_epoch: np.ndarray | None) -> bool:
    """Append one epoch to the result; False once the variant is finished."""
    result.history.append({k: v.tolist() for k, v in metrics._asdict().items()})
    result.epochs = epoch + 1
    if not np.all(np.isfinite(metrics.train_loss)):
        result.status = DIVERGED
        return False
    if exp.early_stopping and np.all(epoch - best_epoch >= exp.early_stopping.patience):
        return False
    return epoch + 1 < exp.epochs
