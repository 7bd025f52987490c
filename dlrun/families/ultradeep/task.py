"""MNIST classification with ultra-deep MLPs (dlrun.families.ultradeep.models), trained as
the Lecture II MLPs are (dlrun.families.mlp.task), plus two looks at the trained network:

* Lesions (Veit, Wilber & Belongie 2016, "Residual networks behave like ensembles of
  relatively shallow networks"): delete one block, so that its input passes on
  unchanged, and measure test accuracy; once for each block. A residual network is an
  ensemble of many paths of different lengths and loses little; a plain network is
  one path, and any deleted layer breaks it.
* The highway gates: the mean transform gate T of each block on the test images, i.e.
  how much of each layer the network decided to use (T = 0: the block copies its input).
"""

from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dlrun.core.losses import accuracy
from dlrun.core.task import TaskData
from dlrun.families.mlp.task import Classification
from dlrun.families.ultradeep.config import Connection


@partial(jax.jit, static_argnums=0)  # static: compiled once per architecture
def _lesioned_accuracies(graphdef: nnx.GraphDef, state: nnx.State, x: jax.Array, y: jax.Array) -> jax.Array:
    """Test accuracy [1 + L] on x [M, 784], y [M]: intact first, then with block i deleted."""
    model = nnx.merge(graphdef, state)
    depth = model.config.depth
    keeps = jnp.concatenate([jnp.ones((1, depth)), 1.0 - jnp.eye(depth)])  # [1 + L, L]
    # One lesion at a time: memory stays that of one forward pass on the whole split.
    return jax.lax.map(lambda keep: accuracy(model(x, keep=keep), y), keeps)


def lesion_accuracies(model, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """(intact test accuracy, accuracy with block i deleted [L]) on images x [M, 784] in [0, 1]."""
    graphdef, state = nnx.split(model)
    accuracies = np.asarray(_lesioned_accuracies(graphdef, state, jnp.asarray(x), jnp.asarray(y)))
    return float(accuracies[0]), accuracies[1:]


@partial(jax.jit, static_argnums=0)
def _mean_gates(graphdef: nnx.GraphDef, state: nnx.State, x: jax.Array) -> jax.Array:
    model = nnx.merge(graphdef, state)
    _, gates = model.blocks(model.embed(x))
    return gates  # [L]


def mean_gates(model, x: np.ndarray) -> np.ndarray:
    """Each block's transform gate T averaged over units and images x [M, 784]: [L]."""
    graphdef, state = nnx.split(model)
    return np.asarray(_mean_gates(graphdef, state, jnp.asarray(x)))


class UltraDeepClassification(Classification):
    """MNIST classification; final metrics add the lesion accuracies (and the highway gates)."""

    name = "ultradeep-classification"
    columns = (
        ("test_accuracy", "test acc"),
        ("train_loss", "train loss"),
        ("lesion_accuracy", "lesion acc"),  # the mean over deleting each single block
        ("lesion_worst_accuracy", "worst lesion"),
        ("gate_mean", "gate T"),
    )

    def host_metrics(self, exp, model, data: TaskData) -> dict[str, float]:
        """`lesion_accuracy`: mean test accuracy over deleting each single block;
        `lesion_worst_accuracy`: the most harmful deletion's; `lesion_drop`: how far the
        mean falls below the intact network; highway nets: `gate_mean`, T over blocks."""
        x, y = data.eval
        intact, lesioned = lesion_accuracies(model, x, y)
        metrics = {
            "lesion_accuracy": float(lesioned.mean()),
            "lesion_worst_accuracy": float(lesioned.min()),
            "lesion_drop": intact - float(lesioned.mean()),
        }
        if exp.model.connection is Connection.HIGHWAY:
            metrics["gate_mean"] = float(mean_gates(model, x).mean())
        return metrics

    def pictures(self, exp, model, data: TaskData, out_dir: Path) -> list[Path]:
        from dlrun.families.ultradeep.pictures import save_gates, save_lesions

        x, y = data.eval
        intact, lesioned = lesion_accuracies(model, x, y)
        paths = [save_lesions(intact, lesioned, Path(out_dir) / f"{exp.name}-lesions.png", exp.name)]
        if exp.model.connection is Connection.HIGHWAY:
            paths.append(save_gates(mean_gates(model, x), Path(out_dir) / f"{exp.name}-gates.png", exp.name))
        return paths


ULTRADEEP = UltraDeepClassification()
