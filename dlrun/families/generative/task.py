"""Generative models (Lecture IV): an auto-encoder, a variational auto-encoder (Kingma &
Welling 2013) and a generative adversarial network (Goodfellow et al. 2014) on MNIST, as
tasks of the one engine: they bring their batches, losses and metrics; the GAN
(dlrun.families.generative.gan) brings its own optimizer step, never its own loop.

Units: reconstruction error, KL and ELBO are in nats per image, summed over the 784
pixels. The auto-encoder and the VAE model binarised pixels (grey value > 0.5), so their
Bernoulli likelihood is a proper likelihood and the ELBO a true lower bound on log p(x);
the GAN works on the grey values scaled to [-1, 1].
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from dlrun.core.task import Task, TaskData
from dlrun.errors import ConfigError
from dlrun.families.generative import pictures
from dlrun.families.generative.models import SAMPLE_SEED, VAE
from dlrun.families.mlp.task import Classification, unit_pixels

EVAL_SEED = 0  # evaluation draws (VAE latent samples, GAN noise) are the same every epoch


# ---------------------------------------------------------------- ELBO terms


def binarize(x: jax.Array) -> jax.Array:
    """uint8 [..., 784] (the train split) or floats in [0, 1] (the test split) -> {0., 1.}."""
    return (unit_pixels(x) > 0.5).astype(jnp.float32)


def gaussian_kl(mu: jax.Array, logvar: jax.Array) -> jax.Array:
    """KL( N(mu, diag exp(logvar)) || N(0, I) ) in closed form: [B, D] -> [B]."""
    return 0.5 * jnp.sum(jnp.exp(logvar) + mu**2 - 1.0 - logvar, axis=-1)


def bernoulli_log_likelihood(logits: jax.Array, x: jax.Array) -> jax.Array:
    """log p(x | logits) = sum_i x_i log p_i + (1 - x_i) log(1 - p_i), p = sigmoid(logits);
    computed from the logits, which stays finite where p rounds to 0 or 1: [B, 784] -> [B]."""
    return -jnp.sum(optax.sigmoid_binary_cross_entropy(logits, x), axis=-1)


def reconstruction_error(logits: jax.Array, x: jax.Array) -> jax.Array:
    """-log p(x | logits) averaged over the batch, in nats per image (the experiments' `loss`
    for the auto-encoder and the VAE's reconstruction term)."""
    return -bernoulli_log_likelihood(logits, x).mean()


def reparameterize(key: jax.Array, mu: jax.Array, logvar: jax.Array) -> jax.Array:
    """z = mu + sigma * eps, eps ~ N(0, I): a sample whose gradient reaches mu and logvar."""
    return mu + jnp.exp(0.5 * logvar) * jax.random.normal(key, mu.shape)


# Pictures and final checks run once per run: each is one compiled program (nnx.jit)
# rather than one small compile per operation.


@nnx.jit
def _reconstruct(model, x: jax.Array) -> jax.Array:
    return model.reconstruct(x)  # [B, 784]


@nnx.jit
def _decode_means(model, z: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(model.decode(z))  # [B, 784] pixel means


@nnx.jit
def _posterior_means(model, x: jax.Array) -> jax.Array:
    return model.encode(binarize(x))[0]  # [B, latent]


# ---------------------------------------------------------------- tasks


class ImageModelling(Classification):
    """MNIST loaded and placed as for classification (labels kept: pictures colour the
    latent space by digit, the GAN's judge learns from them); no early stopping, because
    there is no accuracy-like score to maximise."""

    # Reconstruction losses are sums over 784 pixels: an untrained decoder already costs
    # 784 ln 2 = 543 nats, too close to classification's divergence limit (1,000, meant for
    # a mean over classes). 10,000 nats (13 per pixel) means exploded logits.
    diverged_above = 1e4
    predict = Task.predict  # no class to name: `dlrun evaluate` measures these models
    attacked_accuracy = Task.attacked_accuracy

    def train_rows(self, exp, images) -> int:  # the runner's early check of the settings
        if exp.early_stopping or exp.dropout or exp.test_noise:
            raise ConfigError(f"{exp.name}: the {self.name} task has no early stopping, dropout or test noise")
        return super().train_rows(exp, images)

    def place(self, exp, images) -> TaskData:
        self.train_rows(exp, images)
        return super().place(exp, images)

    def pictures(self, exp, model, data: TaskData, out_dir: Path) -> list[Path]:

        x, y = (np.asarray(a) for a in data.eval)
        digits = np.array([np.flatnonzero(y == d)[0] for d in np.unique(y)])  # one test image per digit
        inputs = np.asarray(binarize(jnp.asarray(x[digits])))
        rows = [("input", inputs), ("reconstruction", np.asarray(_reconstruct(model, inputs)))]
        title = f"{exp.name}: test digits and their reconstructions"
        return [pictures.save_rows(rows, out_dir / f"{exp.name}-reconstructions.png", title)]


class AutoEncoding(ImageModelling):
    """Reconstruction error: -log p(x | decoder(encoder(x))), Bernoulli, in nats per image."""

    name = "autoencoder"
    selection_metric = "recon"  # shown in the progress bar (lower is better)
    columns = (("test_recon", "test recon"), ("train_recon", "train recon"))

    def loss(self, exp, model, batch, hyper, key):
        recon = self._recon(exp, model, batch[0])
        return recon, {"recon": recon}

    def evaluate(self, exp, model, split):
        recon = self._recon(exp, model, split[0])
        return {"loss": recon, "recon": recon}

    @staticmethod
    def _recon(exp, model, x):
        x = binarize(x)  # [B, 784]
        return exp.loss(model.decode(model.encode(x)), x)  # reconstruction_error


def elbo_terms(model: VAE, x: jax.Array, key: jax.Array, recon_loss=reconstruction_error) -> dict:
    """One-sample ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)), averaged over the batch."""
    mu, logvar = model.encode(x)  # [B, latent]
    logits = model.decode(reparameterize(key, mu, logvar))  # [B, 784]
    recon = recon_loss(logits, x)
    kl = gaussian_kl(mu, logvar).mean()
    return {"elbo": -(recon + kl), "recon": recon, "kl": kl}


class VariationalAutoEncoding(ImageModelling):
    """Minimises -ELBO; reports ELBO, reconstruction and KL (nats per image)."""

    name = "vae"
    selection_metric = "elbo"
    needs_key = True  # a fresh latent sample every step
    columns = (
        ("test_elbo", "test ELBO"),
        ("test_recon", "test recon"),
        ("test_kl", "test KL"),
        ("train_elbo", "train ELBO"),
    )

    def loss(self, exp, model, batch, hyper, key):
        terms = elbo_terms(model, binarize(batch[0]), key, exp.loss)
        return -terms["elbo"], terms

    def evaluate(self, exp, model, split):
        # A fixed key: an unbiased one-sample estimate that is comparable between epochs.
        terms = elbo_terms(model, binarize(split[0]), jax.random.key(EVAL_SEED), exp.loss)
        return {"loss": -terms["elbo"], **terms}

    def pictures(self, exp, model, data, out_dir):

        paths = super().pictures(exp, model, data, out_dir)
        z = jax.random.normal(jax.random.key(SAMPLE_SEED), (100, exp.model.latent))
        decoded = np.asarray(_decode_means(model, z))  # [100, 784]
        paths.append(
            pictures.save_grid(decoded, out_dir / f"{exp.name}-samples.png", f"{exp.name}: decoded z ~ N(0, I)")
        )
        if exp.model.latent == 2:
            paths += self._latent_pictures(exp, model, data, out_dir)
        return paths

    @staticmethod
    def _latent_pictures(exp, model, data, out_dir) -> list[Path]:

        x, y = (np.asarray(a) for a in data.eval)
        means = np.asarray(_posterior_means(model, jnp.asarray(x)))  # [M, 2]
        decoded = np.asarray(
            _decode_means(model, jnp.asarray(pictures.normal_grid(15)))
        )  # [225, 784], Gaussian quantiles
        return [
            pictures.save_latent(means, y, out_dir / f"{exp.name}-latent.png", f"{exp.name}: test-set means of q(z|x)"),
            pictures.save_grid(decoded, out_dir / f"{exp.name}-manifold.png", f"{exp.name}: decoder over the plane"),
        ]


AUTOENCODING = AutoEncoding()
VARIATIONAL_AUTOENCODING = VariationalAutoEncoding()
