"""Experiments as code: frozen dataclasses, registered by unique name (`dlrun.core.registry`).

An experiment states everything a run needs, including the number the lecture printed.
Variants are `dataclasses.replace` of a base. This module imports no JAX: a declaration
names what lives in JAX code (a loss, an optimizer, a task) with a `Ref`, and a run
resolves the Refs once (`resolved`), so `dlrun list` and `dlrun show` stay light.
"""

import dataclasses
import enum
import functools
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from dlrun.data.images import DatasetName


@dataclass(frozen=True)
class Ref:
    """A function or object named by where it is defined, `"package.module:attribute"`.
    With `kwargs`, what it names is called with them (a task class and its settings)."""

    path: str
    kwargs: tuple[tuple[str, Any], ...] | None = None

    @property
    def name(self) -> str:
        return self.path.rpartition(":")[2]

    def resolve(self) -> Any:
        return _resolve(self)

    def dotted(self) -> str:
        """How records name it: `module.attribute`, with the arguments of a call."""
        text = self.path.replace(":", ".")
        if self.kwargs is None:
            return text
        return f"{text}({', '.join(f'{k}={describe(v)}' for k, v in self.kwargs)})"


@functools.cache  # one object per Ref, so resolved tasks compare (and key programs) by identity
def _resolve(ref: Ref) -> Any:
    module, _, attribute = ref.path.partition(":")
    target = getattr(importlib.import_module(module), attribute)
    return target if ref.kwargs is None else target(**dict(ref.kwargs))


def _value(thing):
    return thing.resolve() if isinstance(thing, Ref) else thing


@dataclass(frozen=True)
class Optimizer:
    """An optax optimizer factory and its hyper-parameters (injected, so they are traced)."""

    make: Ref | Callable[..., Any]  # e.g. Ref("optax:sgd")
    learning_rate: float
    extra: tuple[tuple[str, float], ...] = ()  # e.g. (("momentum", 0.9),)
    # Epoch e uses lr / sqrt(1 + lr_decay * e): 1.0 is the lecture's "eta_t = eta / sqrt(t + 1)".
    lr_decay: float = 0.0

    @property
    def name(self) -> str:
        return self.make.name if isinstance(self.make, Ref) else self.make.__name__

    def describe(self) -> str:
        parts = [f"lr={self.learning_rate:g}", *(f"{k}={v:g}" for k, v in self.extra)]
        if self.lr_decay:
            parts.append(f"lr/sqrt(1+{self.lr_decay:g}*epoch)")
        return f"{self.name}({', '.join(parts)})"


# Plain SGD is momentum 0: numerically the same, and it shares its compiled program with
# the momentum variant (momentum is an injected, traced hyper-parameter).
SGD = Optimizer(Ref("optax:sgd"), 0.1, extra=(("momentum", 0.0),))
MOMENTUM = Optimizer(Ref("optax:sgd"), 0.01, extra=(("momentum", 0.9),))  # the step size of SGD 0.1 once it builds up
ADAGRAD = Optimizer(Ref("optax:adagrad"), 0.01)
RMSPROP = Optimizer(Ref("optax:rmsprop"), 0.001)
ADAM = Optimizer(Ref("optax:adam"), 0.001)  # Keras default learning rate
# By name, for `--set optimizer=NAME` (their numbers: Lecture II's optimizer comparison).
OPTIMIZERS = {"sgd": SGD, "momentum": MOMENTUM, "adagrad": ADAGRAD, "rmsprop": RMSPROP, "adam": ADAM}

CROSS_ENTROPY = Ref("dlrun.core.losses:cross_entropy")
SOFTMAX_MSE = Ref("dlrun.core.losses:softmax_mse")  # square error on the softmax outputs
LOSSES = {"cross_entropy": CROSS_ENTROPY, "mse": SOFTMAX_MSE}  # for `--set loss=NAME`


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


class Precision(enum.Enum):
    """The arithmetic of training and testing. BF16 is mixed precision: matmuls and
    activations in bfloat16, while weights, gradients, optimizer state and losses stay
    float32."""

    FLOAT32 = "float32"
    BF16 = "bf16"


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    reference: float | None  # test accuracy printed on the lecture's slide, if any
    model: Any  # a frozen config whose build(rngs) makes the Flax NNX module
    task: Any  # the model family's batches, loss and metrics (a Ref to a dlrun.core.task.Task)
    loss: Ref | Callable[..., Any] = CROSS_ENTROPY
    optimizer: Optimizer = SGD
    dataset: DatasetName | None = DatasetName.MNIST  # None: the task brings its own data
    train_size: int = 10_000
    batch_size: int | None = 100  # None: full batch, one update per epoch
    epochs: int = 20
    dropout: float = 0.0  # fraction of hidden units dropped in training (Keras semantics)
    weight_decay: float = 0.0  # L2 penalty: wd * w added to the gradient (coupled, as Keras)
    test_noise: float = 0.0  # std of Gaussian noise added to test pixels in [0, 1]
    early_stopping: EarlyStopping | None = None
    loop: Loop = Loop.SCAN
    precision: Precision = Precision.FLOAT32
    # Why dlrun's number may differ from the slide's (a plateau left at a seed-dependent
    # epoch, the data size, a setting the slide does not state); shown when it does.
    gap_reason: str = ""


def resolved(exp: Experiment) -> Experiment:
    """The experiment with its loss, task and optimizer factory resolved from their Refs
    (this imports the family's JAX code); unchanged when they are objects already."""
    optimizer = dataclasses.replace(exp.optimizer, make=_value(exp.optimizer.make))
    return dataclasses.replace(exp, loss=_value(exp.loss), task=_value(exp.task), optimizer=optimizer)


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
    lesson: str = ""  # the lesson in one sentence, as the lecture puts it

    def renamed(self, names: dict[str, str]) -> "Group":
        """The group with its variants (and the claims about them) renamed, e.g. after `--set`."""
        claims = [dataclasses.replace(c, better=names[c.better], worse=c.worse and names[c.worse]) for c in self.claims]
        return dataclasses.replace(self, variants=tuple(names[v] for v in self.variants), claims=tuple(claims))


def describe(value):
    """A JSON-able view of a config: dataclasses as dicts, callables and Refs by their
    dotted name, enums by their value, a task by its name."""
    if isinstance(value, Ref):
        return value.dotted()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: describe(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [describe(v) for v in value]
    if callable(value):
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return getattr(value, "name", type(value).__name__)  # e.g. a task object
