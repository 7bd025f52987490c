"""The convolutional network of Lecture III as a Flax NNX module (config: dlrun.families.vision.config)."""

import jax
import jax.numpy as jnp
from flax import nnx

from dlrun.families.mlp.models import KERNEL_INIT, dropout
from dlrun.families.vision.config import CNNConfig


class CNN(nnx.Module):
    """[B, 784] floats in [0, 1] -> [B, classes] logits."""

    def __init__(self, config: CNNConfig, *, rngs: nnx.Rngs):
        self.config = config
        channels = (config.image[2], *config.filters)
        self.convs = nnx.List(
            nnx.Conv(
                c_in,
                c_out,
                (config.kernel, config.kernel),
                padding="VALID",
                use_bias=not config.batchnorm,
                kernel_init=KERNEL_INIT,
                rngs=rngs,
            )
            for c_in, c_out in zip(channels[:-1], channels[1:])
        )
        self.norms = (
            nnx.List(nnx.BatchNorm(f, momentum=config.bn_momentum, rngs=rngs) for f in config.filters)
            if config.batchnorm
            else None
        )
        h, w, c = config.maps()[-1]
        sizes = (h * w * c, *config.dense, config.classes)
        self.dense = nnx.List(
            nnx.Linear(a, b, kernel_init=KERNEL_INIT, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])
        )

    def features(self, x: jax.Array, train: bool = False) -> jax.Array:
        """The convolution stack: [B, 784] -> [B, h, w, c] (5 x 5 x 50 for the lecture's net).
        In training, batch norm uses the batch's statistics and updates its running averages
        (non-Param state, carried by the engine as `rest`); in evaluation it uses them."""
        x = x.reshape(x.shape[0], *self.config.image)  # [B, 28, 28, 1]
        pool = (self.config.pool, self.config.pool)
        for i, conv in enumerate(self.convs):
            x = conv(x)  # [B, H-2, W-2, filters]
            if self.norms is not None:
                x = self.norms[i](x, use_running_average=not train)
            x = nnx.max_pool(jax.nn.relu(x), pool, strides=pool, padding="VALID")
        return x

    def __call__(self, x: jax.Array, dropout_rate=0.0, key: jax.Array | None = None, train: bool = False) -> jax.Array:
        x = self.features(x, train).reshape(x.shape[0], -1)  # [B, 1250]
        for i, layer in enumerate(self.dense[:-1]):
            x = jax.nn.relu(layer(x))
            x = dropout(x, dropout_rate, None if key is None else jax.random.fold_in(key, i))
        return self.dense[-1](x)  # [B, classes]

    def first_filters(self) -> jax.Array:
        """The first convolution's kernels, [k, k, channels, filters]."""
        return jnp.asarray(self.convs[0].kernel[...])
