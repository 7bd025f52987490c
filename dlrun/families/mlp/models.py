"""The MLP as a Flax NNX module, and dropout (shared by every family's models)."""

import jax
import jax.numpy as jnp
from flax import nnx

from dlrun.families.mlp.config import Activation

# Keras 2016 defaults: Glorot-uniform kernels, zero biases.
KERNEL_INIT = nnx.initializers.glorot_uniform()

ACTIVATIONS = {
    Activation.SIGMOID: jax.nn.sigmoid,
    Activation.RELU: jax.nn.relu,
    Activation.LEAKY_RELU: jax.nn.leaky_relu,
    Activation.LEAKY_RELU_02: lambda x: jax.nn.leaky_relu(x, 0.2),
    Activation.TANH: jnp.tanh,
    Activation.MAXOUT: lambda x: x.reshape(*x.shape[:-1], -1, 2).max(axis=-1),  # [B, 2U] -> [B, U]
}


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
            nnx.Linear(n_in, n_out, kernel_init=KERNEL_INIT, rngs=rngs) for n_in, n_out in zip(sizes[:-1], widths)
        )
        self.activation = activation

    def __call__(self, x: jax.Array, dropout_rate=0.0, key: jax.Array | None = None, train: bool = False) -> jax.Array:
        x = x.reshape(x.shape[0], -1)  # [B, 784]
        for i, layer in enumerate(self.layers[:-1]):
            x = ACTIVATIONS[self.activation](layer(x))
            x = dropout(x, dropout_rate, None if key is None else jax.random.fold_in(key, i))
        return self.layers[-1](x)  # [B, classes] logits
