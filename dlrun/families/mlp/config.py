"""The multilayer perceptron of Lecture II, as a JAX-free config, and the image
classification task it is trained with (`CLASSIFICATION`, resolved by a run)."""

import enum
from dataclasses import dataclass

from dlrun.core.config import SOFTMAX_MSE, Ref

__all__ = ["CLASSIFICATION", "SOFTMAX_MSE", "Activation", "MLPConfig", "dense_params", "width_for_params"]

CLASSIFICATION = Ref("dlrun.families.mlp.task:CLASSIFICATION")


class Activation(enum.Enum):
    """A hidden-layer nonlinearity (its function: dlrun.families.mlp.models.ACTIVATIONS).
    Maxout has 2 pieces: each hidden unit is the max over 2 linear pieces, so its Dense
    layer is twice as wide."""

    SIGMOID = "sigmoid"
    RELU = "relu"
    LEAKY_RELU = "leaky_relu"  # slope 0.01 below zero
    LEAKY_RELU_02 = "leaky_relu_0.2"  # the usual GAN slope
    TANH = "tanh"
    MAXOUT = "maxout"  # ReLU is maxout with one piece fixed at 0

    @property
    def pieces(self) -> int:
        return 2 if self is Activation.MAXOUT else 1


@dataclass(frozen=True)
class MLPConfig:
    """Hidden widths; "N layers" in the lecture = len(hidden) + 1 (the output layer)."""

    hidden: tuple[int, ...] = (500, 500)
    activation: Activation = Activation.SIGMOID
    inputs: int = 784
    classes: int = 10

    def build(self, rngs):
        from dlrun.families.mlp.models import MLP  # JAX is imported by runs only

        return MLP((self.inputs, *self.hidden, self.classes), self.activation, rngs=rngs)

    def num_params(self) -> int:
        sizes = (self.inputs, *(h * self.activation.pieces for h in self.hidden), self.classes)
        ins = (self.inputs, *self.hidden)
        return sum(n_in * n_out + n_out for n_in, n_out in zip(ins, sizes[1:]))


def dense_params(sizes: tuple[int, ...]) -> int:
    """Weights and biases of Dense layers between consecutive `sizes`."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def width_for_params(params: int, depth: int, inputs: int = 784, classes: int = 10) -> int:
    """Hidden width of a `depth`-hidden-layer MLP whose parameter count is closest to `params`."""

    def count(w: int) -> int:
        return MLPConfig((w,) * depth, Activation.RELU, inputs, classes).num_params()

    low, high = 1, params  # count() grows with w: bisect for the first w with count >= params
    while low < high:
        mid = (low + high) // 2
        low, high = (mid + 1, high) if count(mid) < params else (low, mid)
    return min((low - 1, low), key=lambda w: abs(count(w) - params))
