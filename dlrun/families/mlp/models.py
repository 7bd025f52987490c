"""Flax NNX models. Their configs are frozen dataclasses whose `build` makes the module."""

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
from flax import nnx

# Keras 2016 defaults: Glorot-uniform kernels, zero biases.
KERNEL_INIT = nnx.initializers.glorot_uniform()


@dataclass(frozen=True)
class Activation:
    """A hidden-layer nonlinearity. `pieces > 1` makes it a Maxout unit: each hidden
    unit is the max over `pieces` linear pieces, so its Dense layer is `pieces` times wider."""

    name: str
    fn: Callable[[jax.Array], jax.Array]
    pieces: int = 1

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.pieces == 1:
            return self.fn(x)
        grouped = x.reshape(*x.shape[:-1], -1, self.pieces)  # [B, U, pieces]
        return grouped.max(axis=-1)  # [B, U]


SIGMOID = Activation("sigmoid", jax.nn.sigmoid)
RELU = Activation("relu", jax.nn.relu)
LEAKY_RELU = Activation("leaky_relu", jax.nn.leaky_relu)  # slope 0.01 below zero
MAXOUT = Activation("maxout", lambda x: x, pieces=2)  # ReLU is maxout with one piece fixed at 0


def dropout(x: jax.Array, rate: jax.Array | float, key: jax.Array | None) -> jax.Array:
    """Inverted dropout; `rate` (fraction dropped, as in Keras) may be a traced value,
    so variants that differ only in their rate share one compiled program."""
    if key is None:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


class MLP(nnx.Module):
    """784 -> hidden... -> classes, with one activation and optional dropout after each hidden layer."""

    def __init__(self, sizes: tuple[int, ...], activation: Activation, *, rngs: nnx.Rngs):
        widths = [n * activation.pieces for n in sizes[1:-1]] + [sizes[-1]]
        self.layers = nnx.List(
            nnx.Linear(n_in, n_out, kernel_init=KERNEL_INIT, rngs=rngs)
            for n_in, n_out in zip(sizes[:-1], widths)
        )
        self.activation = activation

    def __call__(self, x: jax.Array, dropout_rate=0.0, key: jax.Array | None = None, train: bool = False) -> jax.Array:
        x = x.reshape(x.shape[0], -1)  # [B, 784]
        for i, layer in enumerate(self.layers[:-1]):
            x = self.activation(layer(x))
            x = dropout(x, dropout_rate, None if key is None else jax.random.fold_in(key, i))
        return self.layers[-1](x)  # [B, classes] logits


@dataclass(frozen=True)
class MLPConfig:
    """Hidden widths; "N layers" in the lecture = len(hidden) + 1 (the output layer)."""

    hidden: tuple[int, ...] = (500, 500)
    activation: Activation = SIGMOID
    inputs: int = 784
    classes: int = 10

    def build(self, rngs: nnx.Rngs) -> MLP:
        return MLP((self.inputs, *self.hidden, self.classes), self.activation, rngs=rngs)

    def num_params(self) -> int:
        sizes = (self.inputs, *(h * self.activation.pieces for h in self.hidden), self.classes)
        ins = (self.inputs, *self.hidden)
        return sum(n_in * n_out + n_out for n_in, n_out in zip(ins, sizes[1:]))


def width_for_params(params: int, depth: int, inputs: int = 784, classes: int = 10) -> int:
    """Hidden width of a `depth`-hidden-layer MLP whose parameter count is closest to `params`."""
    def count(w: int) -> int:
        return MLPConfig((w,) * depth, RELU, inputs, classes).num_params()

    low, high = 1, params  # count() grows with w: bisect for the first w with count >= params
    while low < high:
        mid = (low + high) // 2
        low, high = (mid + 1, high) if count(mid) < params else (low, mid)
    return min((low - 1, low), key=lambda w: abs(count(w) - params))
