"""The ultra-deep MLP as a Flax NNX module: a stem, `depth` blocks whose weights are stacked
on a leading layer axis and applied by one `jax.lax.scan`, and a softmax layer.

With the loop rolled into a scan the program holds one block, whatever the depth: a
50- and a 100-block network compile in the same time. A Python loop would unroll into
`depth` copies of the block, in the forward and in the backward pass."""

import jax
import jax.numpy as jnp
from flax import nnx

from dlrun.families.mlp.models import ACTIVATIONS, KERNEL_INIT
from dlrun.families.ultradeep.config import Connection, DeepConfig

# Glorot-uniform per block: axis 0 counts blocks, each [W, W] slice gets the fan of one layer.
STACKED_INIT = nnx.initializers.glorot_uniform(in_axis=-2, out_axis=-1, batch_axis=0)


def stacked_weights(config: DeepConfig, rngs: nnx.Rngs, scale: float = 1.0) -> tuple[jax.Array, jax.Array]:
    """Kernels [L, W, W] (Glorot-uniform per block, times `scale`) and zero biases [L, W]."""
    shape = (config.depth, config.width, config.width)
    return scale * STACKED_INIT(rngs.params(), shape), jnp.zeros(shape[:2])


def branch_scale(config: DeepConfig) -> float:
    """How much smaller than Glorot the blocks' kernels start. A residual block adds its
    branch to its input: with Glorot weights a ReLU branch adds half the input's energy
    again, and 50 blocks multiply it by 1.5^50, about 1e9 (there is no batch norm here to
    rein it in). Kernels 1/sqrt(depth) as large add 1/(2 depth) per block: about e^0.5
    in all. Plain and highway blocks (the gate carries most of the input) start at Glorot."""
    return config.depth**-0.5 if config.connection is Connection.RESIDUAL else 1.0


class DeepMLP(nnx.Module):
    """784 -> act(stem) -> depth x block -> classes logits (see DeepConfig)."""

    def __init__(self, config: DeepConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.stem = nnx.Linear(config.inputs, config.width, kernel_init=KERNEL_INIT, rngs=rngs)
        kernel, bias = stacked_weights(config, rngs, branch_scale(config))
        self.kernel, self.bias = nnx.Param(kernel), nnx.Param(bias)  # [L, W, W], [L, W]
        if config.connection is Connection.HIGHWAY:
            gate_kernel, _ = stacked_weights(config, rngs)
            self.gate_kernel = nnx.Param(gate_kernel)  # [L, W, W]
            self.gate_bias = nnx.Param(jnp.full((config.depth, config.width), config.gate_bias))  # [L, W]
        self.head = nnx.Linear(config.width, config.classes, kernel_init=KERNEL_INIT, rngs=rngs)

    def __call__(self, x: jax.Array, dropout_rate=0.0, key=None, train: bool = False, keep=None) -> jax.Array:
        """Logits [B, classes] of images x [B, ...]; `keep` [L] (1 keeps a block, 0 deletes
        it: its input passes on unchanged) lesions blocks; None keeps every block."""
        h, _ = self.blocks(self.embed(x), keep)
        return self.head(h)

    def embed(self, x: jax.Array) -> jax.Array:
        """The stem's output [B, W]: what the first block reads."""
        return ACTIVATIONS[self.config.activation](self.stem(x.reshape(x.shape[0], -1)))

    def stacked(self) -> dict[str, jax.Array]:
        """The blocks' weights, each with a leading [L] axis: what the scan slices."""
        weights = {"kernel": self.kernel[...], "bias": self.bias[...]}
        if self.config.connection is Connection.HIGHWAY:
            weights |= {"gate_kernel": self.gate_kernel[...], "gate_bias": self.gate_bias[...]}
        return weights

    def blocks(self, h: jax.Array, keep: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """Every block in order on h [B, W]: (the last block's output [B, W], the mean
        transform gate T of each block [L], ones for blocks without a gate)."""
        config = self.config
        kept = jnp.ones(config.depth) if keep is None else keep

        def step(h, layer):
            weights, keep_this = layer
            out, gate = block(config, weights, h)
            if keep is not None:  # traced only for lesions: training has no select to pay for
                out = jnp.where(keep_this > 0, out, h)
            return out, gate

        return jax.lax.scan(step, h, (self.stacked(), kept))


def block(config: DeepConfig, weights: dict[str, jax.Array], h: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One block on h [B, W]: (its output [B, W], its mean transform gate T, a scalar)."""
    act = ACTIVATIONS[config.activation]
    transformed = act(h @ weights["kernel"] + weights["bias"])  # H(x) [B, W]
    if config.connection is Connection.PLAIN:
        return transformed, jnp.float32(1.0)
    if config.connection is Connection.RESIDUAL:
        return h + transformed, jnp.float32(1.0)
    gate = jax.nn.sigmoid(h @ weights["gate_kernel"] + weights["gate_bias"])  # T(x) [B, W]
    return gate * transformed + (1.0 - gate) * h, gate.mean()
