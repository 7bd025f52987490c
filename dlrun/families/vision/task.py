"""Image-classification tasks that look at the trained network, not only at its accuracy:
parameter counts (CNN vs MLP), the first layer's filters, and fast-gradient-sign
adversarial examples (Goodfellow, Shlens & Szegedy 2015).

Training is the plain classification task's (dlrun.families.mlp.task); these tasks
add final metrics, table columns and pictures.
"""

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dlrun.core.task import TaskData
from dlrun.families.mlp.task import Classification

COUNT_COLUMNS = (("num_params", "params"), ("unshared_params", "w/o sharing"))


class CnnClassification(Classification):
    """Classification that reports the parameter count next to the accuracy, and the count
    the same connections would need without weight sharing (equal to it for an MLP).
    Draws the first layer's filters when the model is convolutional."""

    name = "cnn-classification"
    columns = Classification.columns + COUNT_COLUMNS

    def final_extras(self, params):
        count = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
        return super().final_extras(params) | {"num_params": float(count)}

    def host_metrics(self, exp, model, data: TaskData) -> dict[str, float]:
        unshared = getattr(exp.model, "unshared_params", exp.model.num_params)
        return {"unshared_params": float(unshared())}

    def pictures(self, exp, model, data: TaskData, out_dir: Path) -> list[Path]:
        if not hasattr(model, "first_filters"):
            return []
        from dlrun.families.vision.pictures import save_filters

        digit = data.eval[0][:1]  # [1, 784]: the first test image, to show what the filters respond to
        response = np.asarray(_first_response(model, jnp.asarray(digit)))[0]  # [26, 26, filters]
        path = Path(out_dir) / f"{exp.name}-filters.png"
        return [save_filters(np.asarray(model.first_filters()), digit[0], response, path, exp.name)]


def _first_response(model, x: jax.Array) -> jax.Array:
    """The first convolution's ReLU output [B, H', W', filters] (before pooling)."""
    return jax.nn.relu(model.convs[0](x.reshape(x.shape[0], *model.config.image)))


# --------------------------------------------------------------------------- adversarial


def fgsm(model, loss, x: jax.Array, y: jax.Array, epsilon) -> jax.Array:
    """Fast gradient sign: x [B, 784] in [0, 1] moved by epsilon along the sign of the
    loss's input gradient, then clipped to valid pixels. Each pixel moves by at most
    epsilon (exactly epsilon where the gradient is non-zero and nothing is clipped)."""
    # The batch mean would scale every gradient by 1/B; the sum keeps tiny ones from
    # underflowing to zero (a zero gradient has no sign and the pixel would not move).
    grad = jax.grad(lambda x: loss(model(x), y) * x.shape[0])(x)  # [B, 784]
    return jnp.clip(x + epsilon * jnp.sign(grad), 0.0, 1.0)


CHUNK = 1000  # test images attacked at once: bounds the memory of the CNN's input gradients


def fgsm_chunked(model, loss, x: jax.Array, y: jax.Array, epsilon) -> jax.Array:
    """`fgsm` over a whole split, CHUNK images at a time. A Python loop (unrolled when
    traced), not lax.map: convolutions inside a rolled loop are slow on XLA:CPU (jax#12868)."""
    parts = [fgsm(model, loss, x[i : i + CHUNK], y[i : i + CHUNK], epsilon) for i in range(0, len(y), CHUNK)]
    return jnp.concatenate(parts)


@partial(jax.jit, static_argnums=(0, 1))
def _attacked_predictions(graphdef, loss, state, x, y, epsilon):
    """Predicted labels [B] on clean and on attacked images, and the attacked images."""
    model = nnx.merge(graphdef, state)
    x_adv = fgsm(model, loss, x, y, epsilon)
    return model(x).argmax(-1), model(x_adv).argmax(-1), x_adv


def attacked_accuracy(model, loss, x: np.ndarray, y: np.ndarray, epsilon: float) -> float:
    """Host side: accuracy on FGSM images, in chunks of CHUNK padded to one shape (one compile)."""
    graphdef, state = nnx.split(model)
    correct = 0
    for start in range(0, len(y), CHUNK):
        xs, ys = x[start : start + CHUNK], y[start : start + CHUNK]
        pad = CHUNK - len(ys)
        xs, ys = np.pad(xs, ((0, pad), (0, 0))), np.pad(ys, (0, pad))
        _, pred, _ = _attacked_predictions(graphdef, loss, state, xs, ys, jnp.float32(epsilon))
        correct += int(np.sum(np.asarray(pred)[: CHUNK - pad] == ys[: CHUNK - pad]))
    return correct / len(y)


EPSILONS = (0.0, 0.05, 0.1, 0.2, 0.3)  # pixel units in [0, 1]; Goodfellow et al. used 0.25 on MNIST


def eps_key(epsilon: float) -> str:
    return f"test_accuracy_eps_{epsilon:g}"


@dataclass(frozen=True)  # hashable by value: the task is part of the compiled program's key
class FgsmClassification(CnnClassification):
    """Clean training; the test set is attacked with FGSM at `epsilon` against the model
    being evaluated (0: the clean test set), every epoch and at the end. Final metrics
    add the test accuracy at each of `epsilons`. The uint8 training split is reported clean."""

    epsilon: float = 0.0
    epsilons: tuple[float, ...] = EPSILONS
    name = "fgsm-classification"

    @property
    def columns(self):
        return Classification.columns[:1] + tuple((eps_key(e), f"eps {e:g}") for e in self.epsilons) + COUNT_COLUMNS[:1]

    def evaluate(self, exp, model, split):
        x, y = split
        if self.epsilon and x.dtype != jnp.uint8:  # the float test split
            x = fgsm_chunked(model, exp.loss, x, y, self.epsilon)
        return super().evaluate(exp, model, (x, y))

    def host_metrics(self, exp, model, data: TaskData) -> dict[str, float]:
        x, y = data.eval
        table = {eps_key(e): attacked_accuracy(model, exp.loss, x, y, e) for e in self.epsilons}
        return super().host_metrics(exp, model, data) | table

    def pictures(self, exp, model, data: TaskData, out_dir: Path) -> list[Path]:
        from dlrun.families.vision.pictures import save_adversarial

        x, y = data.eval[0][:8], data.eval[1][:8]  # the first 8 test digits, not hand-picked
        epsilon = self.epsilon or 0.1
        graphdef, state = nnx.split(model)
        pred, pred_adv, x_adv = jax.device_get(
            _attacked_predictions(graphdef, exp.loss, state, x, y, jnp.float32(epsilon))
        )
        path = Path(out_dir) / f"{exp.name}-adversarial.png"
        examples = save_adversarial(x, np.asarray(x_adv), y, pred, pred_adv, epsilon, path, exp.name)
        return super().pictures(exp, model, data, out_dir) + [examples]


CNN_CLASSIFICATION = CnnClassification()
