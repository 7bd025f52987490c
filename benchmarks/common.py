"""Shared by every contender and by bench.py: the workloads, the data, the epoch clock,
the FLOP count and the JSON result a contender writes.

Imports numpy and dlrun.data.images only (no JAX, no torch), so it costs every contender the same.
"""

import argparse
import json
import os
import resource
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # the Debian package dataset-fashion-mnist
TRAIN_SIZE = 10_000
BATCH = 100
# dlrun's runner trains on a fixed random subset (dlrun.core.task.SUBSET_SEED); every contender
# takes the same 10,000 images so that accuracies are comparable.
SUBSET_SEED = 0


@dataclass(frozen=True)
class Variant:
    """One network + optimizer; `dlrun_name` is the dlrun experiment with exactly these settings."""

    dlrun_name: str
    hidden: tuple[int, ...]
    activation: str  # "relu" or "sigmoid"
    optimizer: str  # "sgd", "momentum" (0.9), "adagrad", "rmsprop", "adam"
    lr: float

    def params(self, inputs: int = 784, classes: int = 10) -> int:
        sizes = (inputs, *self.hidden, classes)
        return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


@dataclass(frozen=True)
class Workload:
    name: str
    kind: str  # "single" or "compare"
    variants: tuple[Variant, ...]
    seeds: tuple[int, ...]

    @property
    def models(self) -> int:
        return len(self.variants) * len(self.seeds)


RELU_3 = Variant("mnist-relu-3layer", (500, 500), "relu", "sgd", 0.1)
COMPARE = (
    RELU_3,
    Variant("mnist-relu-3layer-momentum", (500, 500), "relu", "momentum", 0.01),
    Variant("mnist-relu-3layer-adagrad", (500, 500), "relu", "adagrad", 0.01),
    Variant("mnist-relu-3layer-rmsprop", (500, 500), "relu", "rmsprop", 0.001),
    Variant("mnist-relu-3layer-adam", (500, 500), "relu", "adam", 0.001),
)
WORKLOADS = {
    "relu3": Workload("relu3", "single", (RELU_3,), (0,)),
    "sigmoid3": Workload(
        "sigmoid3", "single", (Variant("mnist-sigmoid-3layer", (500, 500), "sigmoid", "sgd", 0.1),), (0,)
    ),
    "relu9": Workload("relu9", "single", (Variant("mnist-relu-9layer", (500,) * 8, "relu", "sgd", 0.1),), (0,)),
    "compare": Workload("compare", "compare", COMPARE, (0, 1, 2)),
}


@dataclass
class Data:
    x_train: np.ndarray  # [N, 784] float32 in [0, 1]
    y_train: np.ndarray  # [N] int64
    x_test: np.ndarray  # [M, 784] float32 in [0, 1]
    y_test: np.ndarray  # [M] int64
    source: str

    def sizes(self) -> tuple[int, int, str]:
        return len(self.y_train), len(self.y_test), self.source


def data_choice() -> tuple[str, str | None]:
    """Fashion-MNIST from the Debian package when installed, else the bundled MNIST sample."""
    if FASHION_DIR.is_dir():
        return "fashion_mnist", str(FASHION_DIR)
    return "mnist", None


def load_data(dataset: str, data_dir: str | None) -> Data:
    os.environ.setdefault("DLRUN_NO_TFDS", "1")  # the fallback must not try a download
    from dlrun.data.images import load_images

    images = load_images(dataset, data_dir or None)
    idx = np.random.default_rng(SUBSET_SEED).permutation(len(images.y_train))[:TRAIN_SIZE]
    flat = lambda x: x.reshape(len(x), -1).astype(np.float32) / 255.0  # noqa: E731
    return Data(
        flat(images.x_train[idx]),
        images.y_train[idx].astype(np.int64),
        flat(images.x_test),
        images.y_test.astype(np.int64),
        images.source,
    )


class Clock:
    """Splits a process's training time into first epochs and steady-state epochs.

    A contender calls `epoch_done(unit)` when an epoch of a unit ends (unit: one model; for
    dlrun one variant, its seeds vmapped). The time since the previous call, whatever its
    unit, is charged to this epoch: to the first epochs (with set-up, compilation and the
    previous unit's final evaluation) or to the steady ones. Units that train one after
    another and units that train interleaved (dlrun batching variants) are both counted right.
    """

    def __init__(self):
        self.begin = self.last = time.perf_counter()
        self.first_s = self.steady_s = 0.0
        self.epochs: dict[object, int] = {}

    def epoch_done(self, unit) -> None:
        now = time.perf_counter()
        self.epochs[unit] = self.epochs.get(unit, 0) + 1
        if self.epochs[unit] == 1:
            self.first_s += now - self.last
        else:
            self.steady_s += now - self.last
        self.last = now

    def summary(self, epochs: int) -> dict:
        """steady_epoch_s: one epoch of every model of the workload, in steady state."""
        complete = bool(self.epochs) and all(n == epochs for n in self.epochs.values())
        return {
            "train_s": time.perf_counter() - self.begin,
            "first_s": self.first_s,
            "steady_epoch_s": self.steady_s / (epochs - 1) if complete else None,
            "units": len(self.epochs),
            "epochs_timed": sorted(set(self.epochs.values())),
        }


def epoch_flops(workload: Workload, n_train: int, n_test: int) -> float:
    """FLOPs of one epoch of every model of the workload: 6 * params per training image
    (forward 2, backward 4) plus 2 * params per test image of the per-epoch evaluation."""
    used = (n_train // BATCH) * BATCH  # a partial last batch is dropped
    return sum(len(workload.seeds) * v.params() * (6 * used + 2 * n_test) for v in workload.variants)


def parse_args(description: str, extra=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--dataset", default=data_choice()[0])
    parser.add_argument("--data-dir", default=data_choice()[1] or "")
    parser.add_argument("--json", type=Path, required=True, help="where the result goes")
    if extra:
        extra(parser)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is not steady state)")
    return args


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def write_result(
    args, name: str, trained_on: tuple[int, int, str], clock: Clock, test_accs: list[float], **extra
) -> None:
    """The contender's JSON: timings, throughput, memory and the accuracy it reached.
    `trained_on`: (train size, test size, data source), e.g. `Data.sizes()`."""
    workload = WORKLOADS[args.workload]
    n_train, n_test, source = trained_on
    timing = clock.summary(args.epochs)
    flops = epoch_flops(workload, n_train, n_test)
    steady = timing["steady_epoch_s"]
    used = (n_train // BATCH) * BATCH
    result = {
        "status": "ok",
        "contender": name,
        "workload": workload.name,
        "epochs": args.epochs,
        "data_source": source,
        "n_train": n_train,
        "n_test": n_test,
        "models": workload.models,
        **timing,
        "samples_per_s": workload.models * used / steady if steady else None,
        "epoch_flops": flops,
        "flops_per_s": flops / steady if steady else None,
        "peak_rss_mb": peak_rss_mb(),
        "test_acc": float(np.mean(test_accs)),
        "test_accs": [float(a) for a in test_accs],
        **extra,
    }
    args.json.write_text(json.dumps(result, indent=1))


def main_guard(name: str, main) -> None:
    """Run a contender; on any error write a 'failed' result with a one-line reason."""
    try:
        main()
    except Exception as e:  # noqa: BLE001 - the reason is shown in the table, not hidden
        traceback.print_exc()
        reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
        json_path = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
        if json_path:
            Path(json_path).write_text(json.dumps({"status": "failed", "contender": name, "error": reason[:300]}))
        sys.exit(1)
