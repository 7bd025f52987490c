"""Experiments as code: frozen dataclasses, registered by unique name.

An experiment states everything a run needs, including the number the lecture printed.
Variants are `dataclasses.replace` of a base. Strings map to these objects only at the CLI.
"""

import difflib
import enum
from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import optax

from dlrun.data.images import DatasetName
from dlrun.errors import ConfigError
from dlrun.core.losses import cross_entropy
from dlrun.families.mlp.models import MLPConfig
from dlrun.core.task import CLASSIFICATION, Task


@dataclass(frozen=True)
class Optimizer:
    """An optax optimizer factory and its hyper-parameters (injected, so they are traced)."""

    make: Callable[..., optax.GradientTransformation]
    learning_rate: float
    extra: tuple[tuple[str, float], ...] = ()  # e.g. (("momentum", 0.9),)
    # Epoch e uses lr / sqrt(1 + lr_decay * e): 1.0 is the lecture's "eta_t = eta / sqrt(t + 1)".
    lr_decay: float = 0.0

    @property
    def name(self) -> str:
        return self.make.__name__

    def describe(self) -> str:
        parts = [f"lr={self.learning_rate:g}", *(f"{k}={v:g}" for k, v in self.extra)]
        if self.lr_decay:
            parts.append(f"lr/sqrt(1+{self.lr_decay:g}*epoch)")
        return f"{self.name}({', '.join(parts)})"


# Plain SGD is momentum 0: numerically the same, and it shares its compiled program with
# the momentum variant (momentum is an injected, traced hyper-parameter).
SGD = Optimizer(optax.sgd, 0.1, extra=(("momentum", 0.0),))
ADAM = Optimizer(optax.adam, 0.001)  # Keras default learning rate


@dataclass(frozen=True)
class EarlyStopping:
    """Hold out the last `validation_fraction` of the training subset; keep the weights of
    the best validation epoch and stop once `patience` epochs bring no improvement."""

    validation_fraction: float = 0.1
    patience: int = 3


class Loop(enum.Enum):
    """How an epoch is compiled (see dlrun.core.engine): SCAN = one program per epoch; STEPS =
    one program per step, dispatched from Python (faster for convolutions on XLA:CPU)."""

    SCAN = "scan"
    STEPS = "steps"


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    reference: float | None  # test accuracy printed on the lecture's slide, if any
    model: Any = MLPConfig()  # a frozen config whose build(rngs) makes the Flax NNX module
    loss: Callable[[jax.Array, jax.Array], jax.Array] = cross_entropy
    optimizer: Optimizer = SGD
    dataset: DatasetName | None = DatasetName.MNIST  # None: the task brings its own data
    train_size: int = 10_000
    batch_size: int | None = 100  # None: full batch, one update per epoch
    epochs: int = 20
    dropout: float = 0.0  # fraction of hidden units dropped in training (Keras semantics)
    weight_decay: float = 0.0  # L2 penalty: wd * w added to the gradient (coupled, as Keras)
    test_noise: float = 0.0  # std of Gaussian noise added to test pixels in [0, 1]
    early_stopping: EarlyStopping | None = None
    task: Task = CLASSIFICATION  # the model family's batches, loss and metrics
    loop: Loop = Loop.SCAN


@dataclass(frozen=True)
class Claim:
    """The lesson, testable: metric(better) - metric(worse) > margin, or, with no `worse`
    variant, metric(better) > margin."""

    better: str
    worse: str | None
    margin: float
    metric: str = "test_accuracy"
    text: str = ""


@dataclass(frozen=True)
class Group:
    """A compare group: the variants of one lesson and the claims its table must show."""

    name: str
    description: str
    variants: tuple[str, ...]
    claims: tuple[Claim, ...] = field(default=())


EXPERIMENTS: dict[str, Experiment] = {}
GROUPS: dict[str, Group] = {}


def register(experiment: Experiment) -> Experiment:
    if experiment.name in EXPERIMENTS:
        raise ValueError(f"experiment {experiment.name!r} is registered twice")
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def register_group(group: Group) -> Group:
    if group.name in GROUPS:
        raise ValueError(f"compare group {group.name!r} is registered twice")
    unknown = [v for v in group.variants if v not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"group {group.name!r} names unknown experiments {unknown}")
    GROUPS[group.name] = group
    return group


def _lookup(table: dict, name: str, kind: str):
    if name in table:
        return table[name]
    close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; see `dlrun list`"
    raise ConfigError(f"unknown {kind} {name!r}{hint}")


def get_experiment(name: str) -> Experiment:
    load_catalog()
    return _lookup(EXPERIMENTS, name, "experiment")


def get_group(name: str) -> Group:
    load_catalog()
    return _lookup(GROUPS, name, "compare group")


def load_catalog() -> None:
    """Import every lesson module once; each registers its experiments on import."""
    import dlrun.experiments  # noqa: F401  (its __init__ imports the lesson modules)

