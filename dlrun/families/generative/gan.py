"""The generative adversarial network (Goodfellow et al. 2014) as a task of the one
engine: per step one discriminator update, then one generator update, in its own
`update`; the loop is the engine's. Its samples are judged by classifiers that dlrun
trains on the same data."""

import hashlib
from dataclasses import replace
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from dlrun.core.compiler import Compiler
from dlrun.core.task import TaskData, apply_gradients
from dlrun.core.trainer import train_cohort
from dlrun.data.images import ImageData
from dlrun.families.generative import pictures
from dlrun.families.generative.models import GAN, SAMPLE_SEED
from dlrun.families.generative.task import EVAL_SEED, ImageModelling
from dlrun.families.mlp.task import unit_pixels


@nnx.jit
def _pixels(model, z: jax.Array) -> jax.Array:
    return (model.generate(z) + 1.0) / 2.0  # [B, 784] in [0, 1]


@nnx.jit
def _probabilities(classifier, x: jax.Array) -> jax.Array:
    return jax.nn.softmax(classifier(x))  # [B, classes]


def split_gan(params: nnx.State) -> tuple[nnx.State, nnx.State]:
    """(generator, discriminator) parameters; nnx.merge_state(g, d) puts them back."""
    return nnx.split_state(params, nnx.PathContains("generator"), ...)


def _real(x: jax.Array) -> jax.Array:
    """uint8 or [0, 1] pixels -> [-1, 1], the generator's tanh range."""
    return 2.0 * unit_pixels(x) - 1.0


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


def discriminator_step(step: Step, g, d, d_state, real, z):
    """One update of the discriminator alone: real images -> 1, generated -> 0."""

    def objective(d):
        model = nnx.merge(step.graphdef, g, d, step.rest)
        fake = jax.lax.stop_gradient(model.generate(z))  # [B, 784]
        real_logits, fake_logits = model.discriminate(real), model.discriminate(fake)
        loss = step.bce(real_logits, 1.0) + step.bce(fake_logits, 0.0)
        return loss, {"d_real": jax.nn.sigmoid(real_logits).mean(), "d_fake": jax.nn.sigmoid(fake_logits).mean()}

    (loss, metrics), grads = jax.value_and_grad(objective, has_aux=True)(d)
    d, d_state = apply_gradients(step.tx, grads, d_state, d, step.weight_decay)
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
    g, g_state = apply_gradients(step.tx, grads, g_state, g, step.weight_decay)
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


class GanTraining(ImageModelling):
    """The GAN: per step one discriminator update, then one generator update (Adam states
    for each, in a tuple). `judge` is a classifier experiment that dlrun trains on the same
    training data with each of JUDGE_SEEDS, once per process, to check that samples look
    like digits."""

    name = "gan"
    selection_metric = "d_loss"  # shown in the progress bar
    needs_key = True  # fresh noise every step
    mixed_precision = False
    columns = (
        ("gan_confident_fraction", "confident samples"),
        ("gan_classes_covered", "classes"),
        ("test_d_loss", "test D loss"),
        ("test_g_loss", "test G loss"),
        ("judge_test_accuracy", "judge acc"),
    )

    def __init__(self, judge):
        self.judge = judge  # an Experiment (Classification task)
        self._judges: dict[str, tuple] = {}  # data digest -> trained_judges(...): once per data

    def init_optimizer(self, tx, params):
        g, d = split_gan(params)
        return tx.init(g), tx.init(d)

    def set_learning_rate(self, opt_state, lr):
        return tuple(super(GanTraining, self).set_learning_rate(s, lr) for s in opt_state)

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
        return {
            "loss": d_loss + g_loss,
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": jax.nn.sigmoid(real_logits).mean(),
            "d_fake": jax.nn.sigmoid(fake_logits).mean(),
        }

    def host_metrics(self, exp, model, data: TaskData) -> dict[str, float]:
        """How many of 1,000 samples the judges call one digit with >= 90% confidence, and
        how many different digits those confident samples are."""
        digest = data_digest(data)
        if digest not in self._judges:
            self._judges[digest] = trained_judges(self.judge, data)
        judges, judge_accuracy = self._judges[digest]
        confident, digits = judged_digits(judges, samples(model, JUDGED_SAMPLES))
        return {
            "gan_confident_fraction": float(confident.mean()),
            "gan_classes_covered": float(len(np.unique(digits[confident]))),
            "judge_test_accuracy": judge_accuracy,
        }

    def pictures(self, exp, model, data, out_dir):
        first = np.asarray(samples(model, JUDGED_SAMPLES))[:100]  # the first 100 judged samples
        grid = pictures.save_grid(
            first,
            out_dir / f"{exp.name}-samples.png",
            f"{exp.name}: 100 samples after {int(model.updates[...])} generator updates",
        )
        rows = progress_rows(exp, model, len(data.train[1]))
        title = f"{exp.name}: the same noise through the generator as training goes on"
        return [grid, pictures.save_rows(rows, out_dir / f"{exp.name}-progress.png", title)]


def samples(model: GAN, n: int) -> jax.Array:
    """n generated images in [0, 1] from noise drawn with a fixed key: [n, 784]."""
    return _pixels(model, jax.random.normal(jax.random.key(SAMPLE_SEED), (n, model.config.latent)))


def progress_rows(exp, model: GAN, n_train: int) -> list[tuple[str, np.ndarray]]:
    """(label, images [n, 784] in [0, 1]) for each snapshot taken, then the final generator."""
    done, per_epoch = int(model.updates[...]), max(n_train // (exp.batch_size or n_train), 1)
    rows = [
        (f"{s} updates\n(epoch {s / per_epoch:.1f})", (np.asarray(model.snapshots[i]) + 1) / 2)
        for i, s in enumerate(model.config.snapshot_steps)
        if s < done
    ]  # slots never reached stay out
    final = np.asarray(_pixels(model, model.fixed_noise()))
    return rows + [(f"{done} updates\n(epoch {done / per_epoch:.1f}, end)", final)]


def judged_digits(judges: list, x: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """(confident [N], digit [N]) for images x [N, 784] in [0, 1]: an image looks like a
    digit when every judge gives the same class a probability of at least CONFIDENCE."""
    probs = np.stack([np.asarray(_probabilities(judge, x)) for judge in judges])  # [J, N, 10]
    digits = probs.argmax(axis=-1)  # [J, N]
    agree = np.all(digits == digits[0], axis=0)
    return agree & np.all(probs.max(axis=-1) >= CONFIDENCE, axis=0), digits[0]


def data_digest(data: TaskData) -> str:
    """Identifies the training images and the test split of a task's data."""
    (x, y), (x_test, _) = (tuple(np.asarray(a) for a in split) for split in (data.train, data.eval))
    return hashlib.sha256(x.tobytes() + y.tobytes() + x_test.tobytes()).hexdigest()


def trained_judges(judge, data: TaskData) -> tuple[list, float]:
    """(classifiers, their mean test accuracy): `judge` trained by dlrun on the task's own
    training images with each of JUDGE_SEEDS, as one cohort. Their logits take [N, 784]
    pixels in [0, 1]. A compiler of its own: every compile of the run that asks has
    finished by the time its final metrics are measured."""
    (x, y), (x_test, y_test) = (tuple(np.asarray(a) for a in split) for split in (data.train, data.eval))
    # The test split was scaled to [0, 1] floats by `place`; the loader's format is uint8.
    images = ImageData(x, y, np.round(x_test * 255).astype(np.uint8), y_test, "the GAN's data", data_digest(data), None)
    exp = replace(judge, batch_size=min(judge.batch_size or len(y), len(y)), train_size=len(y))
    [result], [models] = train_cohort(Compiler(), [exp], images, list(JUDGE_SEEDS))
    return models, float(np.mean(result.final["test_accuracy"]))
