"""The generative models of Lecture IV as Flax NNX modules (configs:
dlrun.families.generative.config): an auto-encoder, a VAE and a GAN, built from MLPs."""

import jax
import jax.numpy as jnp
from flax import nnx

from dlrun.families.generative.config import GANConfig
from dlrun.families.mlp.config import Activation
from dlrun.families.mlp.models import MLP

SAMPLE_SEED = 1  # the noise behind pictures, snapshots and the GAN's judged samples


class AutoEncoder(nnx.Module):
    """784 -> hidden -> code (linear) -> hidden -> 784 logits."""

    def __init__(self, sizes: tuple[int, ...], *, rngs: nnx.Rngs):
        self.encoder = MLP(sizes, Activation.RELU, rngs=rngs)
        self.decoder = MLP(sizes[::-1], Activation.RELU, rngs=rngs)

    def encode(self, x: jax.Array) -> jax.Array:
        return self.encoder(x)  # [B, latent]

    def decode(self, z: jax.Array) -> jax.Array:
        return self.decoder(z)  # [B, 784] Bernoulli logits

    def reconstruct(self, x: jax.Array) -> jax.Array:
        return jax.nn.sigmoid(self.decode(self.encode(x)))  # [B, 784] pixel means


class VAE(nnx.Module):
    """Gaussian encoder q(z|x) = N(mu, diag exp(logvar)); Bernoulli decoder p(x|z)."""

    def __init__(self, sizes: tuple[int, ...], *, rngs: nnx.Rngs):
        *body, latent = sizes
        self.encoder = MLP((*body, 2 * latent), Activation.RELU, rngs=rngs)  # mu and logvar side by side
        self.decoder = MLP(sizes[::-1], Activation.RELU, rngs=rngs)

    def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        mu, logvar = jnp.split(self.encoder(x), 2, axis=-1)
        return mu, logvar  # [B, latent] each

    def decode(self, z: jax.Array) -> jax.Array:
        return self.decoder(z)  # [B, 784] Bernoulli logits

    def reconstruct(self, x: jax.Array) -> jax.Array:
        """The decoder's pixel means at the posterior mean (pictures)."""
        return jax.nn.sigmoid(self.decode(self.encode(x)[0]))


class Snapshot(nnx.Variable):
    """Non-trainable state the GAN's step writes (the engine carries it as `rest`)."""


class GAN(nnx.Module):
    """Generator noise [B, latent] -> images [B, 784] in [-1, 1] (tanh); discriminator
    images -> one logit per image. `snapshots` [S, n, 784] keeps the generator's images of
    a fixed noise batch after `snapshot_steps` updates, so one run shows training progress."""

    def __init__(self, config: GANConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.generator = MLP((config.latent, *config.g_hidden, config.image), Activation.LEAKY_RELU_02, rngs=rngs)
        self.discriminator = MLP((config.image, *config.d_hidden, 1), Activation.LEAKY_RELU_02, rngs=rngs)
        self.snapshots = Snapshot(jnp.zeros((len(config.snapshot_steps), config.snapshot_images, config.image)))
        self.updates = Snapshot(jnp.zeros((), jnp.int32))  # generator updates so far

    def generate(self, z: jax.Array) -> jax.Array:
        return jnp.tanh(self.generator(z))  # [B, 784] in [-1, 1]

    def discriminate(self, x: jax.Array) -> jax.Array:
        return self.discriminator(x)[:, 0]  # [B] logits of "real"

    def fixed_noise(self) -> jax.Array:
        """The same noise batch for every seed and every snapshot: [n, latent]."""
        return jax.random.normal(jax.random.key(SAMPLE_SEED), (self.config.snapshot_images, self.config.latent))
