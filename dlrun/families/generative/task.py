"""Generative models (Lecture IV): an auto-encoder, a variational auto-encoder (Kingma &
Welling 2013) and a generative adversarial network (Goodfellow et al. 2014) on MNIST, as
tasks of the one engine: they bring their batches, losses and metrics, and the GAN brings
its own optimizer step (discriminator, then generator), never its own loop.

Units: reconstruction error, KL and ELBO are in nats per image, summed over the 784
pixels. The auto-encoder and the VAE model binarised pixels (grey value > 0.5), so their
Bernoulli likelihood is a proper likelihood and the ELBO a true lower bound on log p(x);
the GAN works on the grey values scaled to [-1, 1].
"""

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from dlrun.data.images import ImageData
from dlrun.errors import ConfigError
from dlrun.families.mlp.models import MLP, RELU, Activation
from dlrun.core.task import Classification, TaskData

EVAL_SEED = 0  # evaluation draws (VAE latent samples, GAN noise) are the same every epoch
SAMPLE_SEED = 1  # the noise behind pictures and the GAN's judged samples
LEAKY_RELU_02 = Activation("leaky_relu_0.2", lambda x: jax.nn.leaky_relu(x, 0.2))  # the usual GAN slope


# ---------------------------------------------------------------- ELBO terms


def binarize(x: jax.Array) -> jax.Array:
    """uint8 [..., 784] (the train split) or floats in [0, 1] (the test split) -> {0., 1.}."""
    x = x.astype(jnp.float32) / 255.0 if x.dtype == jnp.uint8 else x
    return (x > 0.5).astype(jnp.float32)


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


def _mlp_params(sizes: tuple[int, ...]) -> int:
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


# ---------------------------------------------------------------- models


class AutoEncoder(nnx.Module):
    """784 -> hidden -> code (linear) -> hidden -> 784 logits."""

    def __init__(self, sizes: tuple[int, ...], *, rngs: nnx.Rngs):
        self.encoder = MLP(sizes, RELU, rngs=rngs)
        self.decoder = MLP(sizes[::-1], RELU, rngs=rngs)

    def encode(self, x: jax.Array) -> jax.Array:
        return self.encoder(x)  # [B, latent]

    def decode(self, z: jax.Array) -> jax.Array:
        return self.decoder(z)  # [B, 784] Bernoulli logits

    def reconstruct(self, x: jax.Array) -> jax.Array:
        return jax.nn.sigmoid(self.decode(self.encode(x)))  # [B, 784] pixel means


@dataclass(frozen=True)
class AutoEncoderConfig:
    hidden: tuple[int, ...] = (256,)
    latent: int = 20
    inputs: int = 784

    def sizes(self) -> tuple[int, ...]:
        return (self.inputs, *self.hidden, self.latent)

    def build(self, rngs: nnx.Rngs) -> AutoEncoder:
        return AutoEncoder(self.sizes(), rngs=rngs)

    def num_params(self) -> int:
        return _mlp_params(self.sizes()) + _mlp_params(self.sizes()[::-1])


class VAE(nnx.Module):
    """Gaussian encoder q(z|x) = N(mu, diag exp(logvar)); Bernoulli decoder p(x|z)."""

    def __init__(self, sizes: tuple[int, ...], *, rngs: nnx.Rngs):
        *body, latent = sizes
        self.encoder = MLP((*body, 2 * latent), RELU, rngs=rngs)  # mu and logvar side by side
        self.decoder = MLP(sizes[::-1], RELU, rngs=rngs)

    def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        mu, logvar = jnp.split(self.encoder(x), 2, axis=-1)
        return mu, logvar  # [B, latent] each

    def decode(self, z: jax.Array) -> jax.Array:
        return self.decoder(z)  # [B, 784] Bernoulli logits

    def reconstruct(self, x: jax.Array) -> jax.Array:
        """The decoder's pixel means at the posterior mean (pictures)."""
        return jax.nn.sigmoid(self.decode(self.encode(x)[0]))


@dataclass(frozen=True)
class VAEConfig(AutoEncoderConfig):
    def build(self, rngs: nnx.Rngs) -> VAE:
        return VAE(self.sizes(), rngs=rngs)

    def num_params(self) -> int:
        *body, latent = self.sizes()
        return _mlp_params((*body, 2 * latent)) + _mlp_params(self.sizes()[::-1])


class Snapshot(nnx.Variable):
    """Non-trainable state the GAN's step writes (the engine carries it as `rest`)."""


class GAN(nnx.Module):
    """Generator noise [B, latent] -> images [B, 784] in [-1, 1] (tanh); discriminator
    images -> one logit per image. `snapshots` [S, n, 784] keeps the generator's images of
    a fixed noise batch after `snapshot_steps` updates, so one run shows training progress."""

    def __init__(self, config: "GANConfig", *, rngs: nnx.Rngs):
        self.config = config
        self.generator = MLP((config.latent, *config.g_hidden, config.image), LEAKY_RELU_02, rngs=rngs)
        self.discriminator = MLP((config.image, *config.d_hidden, 1), LEAKY_RELU_02, rngs=rngs)
        self.snapshots = Snapshot(jnp.zeros((len(config.snapshot_steps), config.snapshot_images, config.image)))
        self.updates = Snapshot(jnp.zeros((), jnp.int32))  # generator updates so far

    def generate(self, z: jax.Array) -> jax.Array:
        return jnp.tanh(self.generator(z))  # [B, 784] in [-1, 1]

    def discriminate(self, x: jax.Array) -> jax.Array:
        return self.discriminator(x)[:, 0]  # [B] logits of "real"

    def fixed_noise(self) -> jax.Array:
        """The same noise batch for every seed and every snapshot: [n, latent]."""
        return jax.random.normal(jax.random.key(SAMPLE_SEED), (self.config.snapshot_images, self.config.latent))


@dataclass(frozen=True)
class GANConfig:
    latent: int = 64
    g_hidden: tuple[int, ...] = (256,)
    d_hidden: tuple[int, ...] = (256,)
    image: int = 784
    snapshot_steps: tuple[int, ...] = (0, 100, 500, 2000)  # generator updates before each snapshot
    snapshot_images: int = 10

    def build(self, rngs: nnx.Rngs) -> GAN:
        return GAN(self, rngs=rngs)

    def num_params(self) -> int:
        return _mlp_params((self.latent, *self.g_hidden, self.image)) + _mlp_params((self.image, *self.d_hidden, 1))


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


@nnx.jit
def _pixels(model, z: jax.Array) -> jax.Array:
    return (model.generate(z) + 1.0) / 2.0  # [B, 784] in [0, 1]


@nnx.jit
def _probabilities(classifier, x: jax.Array) -> jax.Array:
    return jax.nn.softmax(classifier(x))  # [B, classes]


# ---------------------------------------------------------------- tasks


class _Images(Classification):
    """MNIST loaded and placed as for classification (labels kept: pictures colour the
    latent space by digit, the GAN's judge learns from them); no early stopping, because
    there is no accuracy-like score to maximise."""

    # Reconstruction losses are sums over 784 pixels: an untrained decoder already costs
    # 784 ln 2 = 543 nats, too close to classification's divergence limit (1,000, meant for
    # a mean over classes). 10,000 nats (13 per pixel) means exploded logits.
    diverged_above = 1e4

    def train_rows(self, exp, images) -> int:  # the runner's early check of the settings
        if exp.early_stopping or exp.dropout or exp.test_noise:
            raise ConfigError(f"{exp.name}: the {self.name} task has no early stopping, dropout or test noise")
        return super().train_rows(exp, images)

    def place(self, exp, images) -> TaskData:
        self.train_rows(exp, images)
        return super().place(exp, images)

    def pictures(self, exp, model, data: TaskData, out_dir: Path) -> list[Path]:
        from dlrun import generative_pictures as pics

        x, y = (np.asarray(a) for a in data.eval)
        digits = np.array([np.flatnonzero(y == d)[0] for d in np.unique(y)])  # one test image per digit
        inputs = np.asarray(binarize(jnp.asarray(x[digits])))
        rows = [("input", inputs), ("reconstruction", np.asarray(_reconstruct(model, inputs)))]
        title = f"{exp.name}: test digits and their reconstructions"
        return [pics.save_rows(rows, out_dir / f"{exp.name}-reconstructions.png", title)]


class AutoEncoding(_Images):
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


class VariationalAutoEncoding(_Images):
    """Minimises -ELBO; reports ELBO, reconstruction and KL (nats per image)."""

    name = "vae"
    selection_metric = "elbo"
    needs_key = True  # a fresh latent sample every step
    columns = (("test_elbo", "test ELBO"), ("test_recon", "test recon"), ("test_kl", "test KL"),
               ("train_elbo", "train ELBO"))

    def loss(self, exp, model, batch, hyper, key):
        terms = elbo_terms(model, binarize(batch[0]), key, exp.loss)
        return -terms["elbo"], terms

    def evaluate(self, exp, model, split):
        # A fixed key: an unbiased one-sample estimate that is comparable between epochs.
        terms = elbo_terms(model, binarize(split[0]), jax.random.key(EVAL_SEED), exp.loss)
        return {"loss": -terms["elbo"], **terms}

    def pictures(self, exp, model, data, out_dir):
        from dlrun import generative_pictures as pics

        paths = super().pictures(exp, model, data, out_dir)
        z = jax.random.normal(jax.random.key(SAMPLE_SEED), (100, exp.model.latent))
        decoded = np.asarray(_decode_means(model, z))  # [100, 784]
        paths.append(pics.save_grid(decoded, out_dir / f"{exp.name}-samples.png", f"{exp.name}: decoded z ~ N(0, I)"))
        if exp.model.latent == 2:
            paths += self._latent_pictures(exp, model, data, out_dir)
        return paths

    @staticmethod
    def _latent_pictures(exp, model, data, out_dir) -> list[Path]:
        from dlrun import generative_pictures as pics

        x, y = (np.asarray(a) for a in data.eval)
        means = np.asarray(_posterior_means(model, jnp.asarray(x)))  # [M, 2]
        decoded = np.asarray(_decode_means(model, jnp.asarray(pics.normal_grid(15))))  # [225, 784], Gaussian quantiles
        return [pics.save_latent(means, y, out_dir / f"{exp.name}-latent.png", f"{exp.name}: test-set means of q(z|x)"),
                pics.save_grid(decoded, out_dir / f"{exp.name}-manifold.png", f"{exp.name}: decoder over the plane")]


# ---------------------------------------------------------------- GAN


def split_gan(params: nnx.State) -> tuple[nnx.State, nnx.State]:
    """(generator, discriminator) parameters; nnx.merge_state(g, d) puts them back."""
    return nnx.split_state(params, nnx.PathContains("generator"), ...)


def _real(x: jax.Array) -> jax.Array:
    """uint8 or [0, 1] pixels -> [-1, 1], the generator's tanh range."""
    x = x.astype(jnp.float32) / 255.0 if x.dtype == jnp.uint8 else x
    return 2.0 * x - 1.0


def sigmoid_bce(logits: jax.Array, label: float) -> jax.Array:
    """Mean binary cross-entropy of D's logits [B] against one label for all (the GAN's
    `loss`): 1 = real, 0 = generated."""
    return optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)).mean()


class Step(NamedTuple):
    """What both phases of a GAN step read."""

    graphdef: nnx.GraphDef
    tx: optax.GradientTransformation
    rest: nnx.State  # non-trainable model state (the snapshots)
    weight_decay: jax.Array
    bce: Callable = sigmoid_bce  # the experiment's `loss`


def _apply(step: Step, grads, opt_state, params):
    grads = jax.tree.map(lambda g, w: g + step.weight_decay * w, grads, params)
    updates, opt_state = step.tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def discriminator_step(step: Step, g, d, d_state, real, z):
    """One update of the discriminator alone: real images -> 1, generated -> 0."""

    def objective(d):
        model = nnx.merge(step.graphdef, g, d, step.rest)
        fake = jax.lax.stop_gradient(model.generate(z))  # [B, 784]
        real_logits, fake_logits = model.discriminate(real), model.discriminate(fake)
        loss = step.bce(real_logits, 1.0) + step.bce(fake_logits, 0.0)
        return loss, {"d_real": jax.nn.sigmoid(real_logits).mean(), "d_fake": jax.nn.sigmoid(fake_logits).mean()}

    (loss, metrics), grads = jax.value_and_grad(objective, has_aux=True)(d)
    d, d_state = _apply(step, grads, d_state, d)
    return d, d_state, {"d_loss": loss, **metrics}


def generator_step(step: Step, g, d, g_state, z):
    """One update of the generator alone (gradients flow through D, D is not changed), with
    the non-saturating loss -log D(G(z)): the minimax log(1 - D(G(z))) has a vanishing
    gradient exactly when D confidently rejects the fakes, early in training."""

    def objective(g):
        model = nnx.merge(step.graphdef, g, d, step.rest)
        fake_logits = model.discriminate(model.generate(z))  # [B]
        return step.bce(fake_logits, 1.0)

    loss, grads = jax.value_and_grad(objective)(g)
    g, g_state = _apply(step, grads, g_state, g)
    return g, g_state, {"g_loss": loss}


def take_snapshot(graphdef, g, d, rest) -> nnx.State:
    """Store G(fixed noise) in the slot whose step count is the number of updates so far."""
    model = nnx.merge(graphdef, g, d, rest)
    hit = jnp.asarray(model.config.snapshot_steps) == model.updates[...]  # [S], at most one True
    images = model.generate(model.fixed_noise())  # [n, 784]
    model.snapshots[...] = jnp.where(hit[:, None, None], images[None], model.snapshots[...])
    model.updates[...] = model.updates[...] + 1
    return nnx.state(model, nnx.Not(nnx.Param))


JUDGED_SAMPLES = 1000
CONFIDENCE = 0.9  # a sample "looks like a digit" when every judge gives the same class at least this
# One judge alone is confident on 4-36 % of uniform-noise images depending on its seed (an
# MLP far from its data is overconfident); judges of several seeds rarely agree on noise.
JUDGE_SEEDS = (0, 1, 2)
_JUDGES: dict[tuple, tuple] = {}  # (judge experiment, data digest) -> (models, mean test accuracy)


class Adversarial(_Images):
    """The GAN: per step one discriminator update, then one generator update (Adam states
    for each, in a tuple). `judge` is a classifier experiment that dlrun trains on the same
    training data with each of JUDGE_SEEDS, once per process, to check that samples look
    like digits."""

    name = "gan"
    selection_metric = "d_loss"  # shown in the progress bar
    needs_key = True  # fresh noise every step
    columns = (("gan_confident_fraction", "confident samples"), ("gan_classes_covered", "classes"),
               ("test_d_loss", "test D loss"), ("test_g_loss", "test G loss"), ("judge_test_accuracy", "judge acc"))

    def __init__(self, judge):
        self.judge = judge  # an Experiment (Classification task)

    def init_optimizer(self, tx, params):
        g, d = split_gan(params)
        return tx.init(g), tx.init(d)

    def set_learning_rate(self, opt_state, lr):
        return tuple(super(Adversarial, self).set_learning_rate(s, lr) for s in opt_state)

    def update(self, exp, graphdef, tx, params, rest, opt_state, batch, hyper, key):
        real = _real(batch[0])  # [B, 784]
        (g, d), (g_state, d_state) = split_gan(params), opt_state
        d_key, g_key = jax.random.split(key)
        step = Step(graphdef, tx, take_snapshot(graphdef, g, d, rest), hyper.weight_decay, exp.loss)
        shape = (real.shape[0], exp.model.latent)
        d, d_state, d_metrics = discriminator_step(step, g, d, d_state, real, jax.random.normal(d_key, shape))
        g, g_state, g_metrics = generator_step(step, g, d, g_state, jax.random.normal(g_key, shape))
        # "loss" (the sum of the two) is what the engine checks for divergence.
        metrics = {"loss": d_metrics["d_loss"] + g_metrics["g_loss"], **d_metrics, **g_metrics}
        return nnx.merge_state(g, d), step.rest, (g_state, d_state), metrics

    def loss(self, exp, model, batch, hyper, key):
        raise NotImplementedError("the GAN has two objectives; see update()")

    def evaluate(self, exp, model, split):
        """D and G losses on the split's real images and as many generated ones."""
        real = _real(split[0])  # [M, 784]
        z = jax.random.normal(jax.random.key(EVAL_SEED), (real.shape[0], exp.model.latent))
        real_logits, fake_logits = model.discriminate(real), model.discriminate(model.generate(z))
        d_loss, g_loss = exp.loss(real_logits, 1.0) + exp.loss(fake_logits, 0.0), exp.loss(fake_logits, 1.0)
        return {"loss": d_loss + g_loss, "d_loss": d_loss, "g_loss": g_loss,
                "d_real": jax.nn.sigmoid(real_logits).mean(), "d_fake": jax.nn.sigmoid(fake_logits).mean()}

    def host_metrics(self, exp, model, data: TaskData) -> dict[str, float]:
        """How many of 1,000 samples the judges call one digit with >= 90% confidence, and
        how many different digits those confident samples are."""
        judges, judge_accuracy = trained_judges(self.judge, data)
        confident, digits = judged_digits(judges, samples(model, JUDGED_SAMPLES))
        return {"gan_confident_fraction": float(confident.mean()),
                "gan_classes_covered": float(len(np.unique(digits[confident]))), "judge_test_accuracy": judge_accuracy}

    def pictures(self, exp, model, data, out_dir):
        from dlrun import generative_pictures as pics

        first = np.asarray(samples(model, JUDGED_SAMPLES))[:100]  # the first 100 judged samples
        grid = pics.save_grid(first, out_dir / f"{exp.name}-samples.png",
                              f"{exp.name}: 100 samples after {int(model.updates[...])} generator updates")
        rows = progress_rows(exp, model, len(data.train[1]))
        title = f"{exp.name}: the same noise through the generator as training goes on"
        return [grid, pics.save_rows(rows, out_dir / f"{exp.name}-progress.png", title)]


def samples(model: GAN, n: int) -> jax.Array:
    """n generated images in [0, 1] from noise drawn with a fixed key: [n, 784]."""
    return _pixels(model, jax.random.normal(jax.random.key(SAMPLE_SEED), (n, model.config.latent)))


def progress_rows(exp, model: GAN, n_train: int) -> list[tuple[str, np.ndarray]]:
    """(label, images [n, 784] in [0, 1]) for each snapshot taken, then the final generator."""
    done, per_epoch = int(model.updates[...]), max(n_train // (exp.batch_size or n_train), 1)
    rows = [(f"{s} updates\n(epoch {s / per_epoch:.1f})", (np.asarray(model.snapshots[i]) + 1) / 2)
            for i, s in enumerate(model.config.snapshot_steps) if s < done]  # slots never reached stay out
    final = np.asarray(_pixels(model, model.fixed_noise()))
    return rows + [(f"{done} updates\n(epoch {done / per_epoch:.1f}, end)", final)]


def judged_digits(judges: list, x: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """(confident [N], digit [N]) for images x [N, 784] in [0, 1]: an image looks like a
    digit when every judge gives the same class a probability of at least CONFIDENCE."""
    probs = np.stack([np.asarray(_probabilities(judge, x)) for judge in judges])  # [J, N, 10]
    digits = probs.argmax(axis=-1)  # [J, N]
    agree = np.all(digits == digits[0], axis=0)
    return agree & np.all(probs.max(axis=-1) >= CONFIDENCE, axis=0), digits[0]


def trained_judges(judge, data: TaskData) -> tuple[list, float]:
    """(classifiers, their mean test accuracy): `judge` trained by dlrun on the task's own
    training images with each of JUDGE_SEEDS (one program), once per process and data.
    Their logits take [N, 784] pixels in [0, 1]."""
    from dlrun.core.trainer import train_variants

    (x, y), (x_test, y_test) = (tuple(np.asarray(a) for a in split) for split in (data.train, data.eval))
    digest = hashlib.sha256(x.tobytes() + y.tobytes() + x_test.tobytes()).hexdigest()
    if (judge, digest) not in _JUDGES:
        # The test split was scaled to [0, 1] floats by `place`; the loader's format is uint8.
        images = ImageData(x, y, np.round(x_test * 255).astype(np.uint8), y_test, "the GAN's data", digest, None)
        exp = replace(judge, batch_size=min(judge.batch_size or len(y), len(y)), train_size=len(y))
        trained = {}
        [result] = train_variants([exp], images, list(JUDGE_SEEDS),
                                  on_trained=lambda v, models, d: trained.update(models=models))
        _JUDGES[(judge, digest)] = (trained["models"], float(np.mean(result.final["test_accuracy"])))
    return _JUDGES[(judge, digest)]
