"""Ultra-deep MLPs: the gradient reaching the input side of a 50-block net, a highway block
checked by hand, lesions equal to skipping a block, learning on the generated stripes,
programs whose size does not grow with depth, and the run's lesion numbers and pictures."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.image
import numpy as np
import pytest
from flax import nnx
from typer.testing import CliRunner

from dlrun.cli import app
from dlrun.core.config import ADAM, Experiment, resolved
from dlrun.core.losses import cross_entropy
from dlrun.families.mlp.config import Activation
from dlrun.families.mlp.task import unit_pixels
from dlrun.families.ultradeep.config import ULTRADEEP, Connection, DeepConfig
from dlrun.families.ultradeep.models import block
from dlrun.families.ultradeep.task import lesion_accuracies
from helpers import train_one

SIGMOID, RELU = Activation.SIGMOID, Activation.RELU
PLAIN, RESIDUAL, HIGHWAY = Connection.PLAIN, Connection.RESIDUAL, Connection.HIGHWAY
DEPTH = 50  # the unit tests' nets share one shape, so its initialisers compile once


def probe(images, n: int = 200) -> tuple[jax.Array, jax.Array]:
    """The first n training stripes, [n, 784] in [0, 1], and their labels [n]."""
    return jnp.asarray(unit_pixels(images.x_train[:n].reshape(n, -1))), jnp.asarray(images.y_train[:n])


def gradient_norms(config: DeepConfig, x: jax.Array, y: jax.Array) -> tuple[float, np.ndarray]:
    """At the seed-0 initialisation: the stem's kernel-gradient norm (the layer nearest the
    input) and each block's [L], input side first."""
    graphdef, params, rest = nnx.split(config.build(nnx.Rngs(params=0)), nnx.Param, ...)
    grads = jax.grad(lambda p: cross_entropy(nnx.merge(graphdef, p, rest)(x), y))(params)
    blocks = np.linalg.norm(np.asarray(grads["kernel"][...]).reshape(config.depth, -1), axis=1)
    return float(np.linalg.norm(grads["stem"]["kernel"][...])), blocks


# --------------------------------------------------------------------------- the gradient


def test_residual_50_gets_gradient_to_its_first_layers_where_plain_sigmoid_50_gets_none(images):
    x, y = probe(images)
    plain_stem, plain = gradient_norms(DeepConfig(DEPTH, PLAIN, SIGMOID), x, y)
    residual_stem, residual = gradient_norms(DeepConfig(DEPTH, RESIDUAL, SIGMOID), x, y)
    # Plain: each sigmoid layer multiplies the error by sigmoid' <= 1/4, 50 times over.
    assert plain[0] / plain[-1] < 1e-12
    # Residual: the identity path hands every block the output's gradient.
    assert residual[0] / residual[-1] > 1e-2
    assert residual[0] > 1e6 * plain[0]
    assert residual_stem > 0.1 and residual_stem > 100 * plain_stem


# --------------------------------------------------------------------------- by hand


def test_highway_block_mixes_transform_and_carry_by_hand():
    config = DeepConfig(1, HIGHWAY, RELU, width=2)
    weights = {  # H(x) = relu(I x); T(x) = sigmoid(log 1/3) = 1/4 whatever x
        "kernel": jnp.eye(2),
        "bias": jnp.zeros(2),
        "gate_kernel": jnp.zeros((2, 2)),
        "gate_bias": jnp.full(2, np.log(1 / 3)),
    }
    out, gate = block(config, weights, jnp.array([[1.0, -2.0]]))
    # H = relu([1, -2]) = [1, 0]; y = 1/4 [1, 0] + 3/4 [1, -2] = [1, -1.5]
    np.testing.assert_allclose(out, [[1.0, -1.5]], rtol=1e-6)
    assert float(gate) == pytest.approx(0.25)


def test_highway_with_every_gate_shut_is_the_identity():
    config = DeepConfig(DEPTH, HIGHWAY, RELU, gate_bias=-1e4)  # T = sigmoid(-1e4) = 0 exactly
    model = config.build(nnx.Rngs(params=3))
    h = jax.random.normal(jax.random.key(0), (5, config.width))
    out, gates = model.blocks(h)
    np.testing.assert_array_equal(out, h)
    np.testing.assert_array_equal(gates, np.zeros(DEPTH))


# --------------------------------------------------------------------------- lesions


def test_deleting_a_residual_block_equals_skipping_it(images):
    config = DeepConfig(DEPTH, RESIDUAL, RELU)
    model = config.build(nnx.Rngs(params=1))
    x, _ = probe(images, 20)
    h = model.embed(x)
    weights = model.stacked()
    for i in range(DEPTH):
        if i != 20:
            h, _ = block(config, {name: w[i] for name, w in weights.items()}, h)
    keep = jnp.ones(DEPTH).at[20].set(0.0)
    np.testing.assert_allclose(model(x, keep=keep), model.head(h), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(model(x, keep=jnp.ones(DEPTH)), model(x))


def test_lesion_accuracies_are_the_accuracies_with_each_block_deleted(images):
    model = DeepConfig(DEPTH, PLAIN, RELU).build(nnx.Rngs(params=2))
    x, y = probe(images, 100)
    intact, lesioned = lesion_accuracies(model, np.asarray(x), np.asarray(y))

    def accuracy(logits) -> float:
        return float(np.mean(np.argmax(logits, -1) == np.asarray(y)))

    assert intact == pytest.approx(accuracy(model(x)))
    for i in (0, 17, DEPTH - 1):
        assert lesioned[i] == pytest.approx(accuracy(model(x, keep=1.0 - jnp.eye(DEPTH)[i])))


# --------------------------------------------------------------------------- training


def deep_experiment(connection: Connection, depth: int, activation: Activation) -> Experiment:
    return resolved(
        Experiment(
            name=f"test-{connection.value}-{depth}-{activation.value}",
            description="test",
            reference=None,
            model=DeepConfig(depth, connection, activation, width=32),
            task=ULTRADEEP,
            optimizer=ADAM,
            train_size=400,
            batch_size=20,
            epochs=5,
        )
    )


def test_residual_50_learns_the_stripes_where_plain_sigmoid_50_stays_at_chance(images):
    # Batches of 20: the residual sigmoid net needs about 100 steps (its 50 blocks each add
    # sigmoid(0) = 0.5 to every unit, so its first logits are large).
    residual = train_one(deep_experiment(RESIDUAL, 50, SIGMOID), images, [0])
    plain = train_one(deep_experiment(PLAIN, 50, SIGMOID), images, [0])
    assert residual.final["test_accuracy"][0] > 0.9
    assert plain.final["test_accuracy"][0] < 0.2
    assert plain.final["train_loss"][0] > 2.0  # log(10) = 2.30: no better than a guess
    # The ensemble view: one deleted block of the trained residual net costs little.
    assert residual.final["lesion_accuracy"][0] > residual.final["test_accuracy"][0] - 0.05
    assert "gate_mean" not in residual.final  # only highway nets have gates


# --------------------------------------------------------------------------- compile size


def abstract(config: DeepConfig) -> tuple[nnx.GraphDef, nnx.State, nnx.State]:
    """The model's structure and the shapes of its weights, computed without any weights."""
    return nnx.split(nnx.eval_shape(lambda: config.build(nnx.Rngs(params=0))), nnx.Param, ...)


def program_text(depth: int) -> str:
    """The HLO of one loss-and-gradient evaluation of a `depth`-block highway net on 10 images."""
    graphdef, params, rest = abstract(DeepConfig(depth, HIGHWAY, RELU))

    def loss_and_grad(params, x, y):
        return jax.value_and_grad(lambda p: cross_entropy(nnx.merge(graphdef, p, rest)(x), y))(params)

    images = jax.ShapeDtypeStruct((10, 784), jnp.float32), jax.ShapeDtypeStruct((10,), jnp.int32)
    return jax.jit(loss_and_grad).lower(params, *images).as_text()


def unrolled_blocks(model, h: jax.Array) -> jax.Array:
    """The blocks applied by a Python loop, as a model without the scan would."""
    weights = model.stacked()
    for i in range(model.config.depth):
        h, _ = block(model.config, {name: w[i] for name, w in weights.items()}, h)
    return h


def test_the_program_does_not_grow_with_depth():
    sizes = {depth: len(program_text(depth)) for depth in (10, 50, 100)}
    # Only the layer axis of the stacked shapes differs (10 -> 100: one more digit per shape).
    assert max(sizes.values()) < 1.02 * min(sizes.values()), sizes
    graphdef, params, rest = abstract(DeepConfig(10, HIGHWAY, RELU))
    h = jax.ShapeDtypeStruct((3, 50), jnp.float32)
    scanned = jax.make_jaxpr(lambda p, h: nnx.merge(graphdef, p, rest).blocks(h)[0])(params, h)
    unrolled = jax.make_jaxpr(lambda p, h: unrolled_blocks(nnx.merge(graphdef, p, rest), h))(params, h)
    assert len(scanned.eqns) * 5 < len(unrolled.eqns)  # the loop copies the block 10 times


# --------------------------------------------------------------------------- the run


def test_cli_train_reports_lesions_and_gates_and_draws_them(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "train",
            "ultradeep-highway-10-relu",
            "--epochs",
            "2",
            "--train-size",
            "500",
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)["results"]
    assert 0.0 <= run["lesion_worst_accuracy"] <= run["lesion_accuracy"] <= 1.0
    assert run["lesion_drop"] == pytest.approx(run["test_accuracy"] - run["lesion_accuracy"], abs=1e-6)
    assert 0.0 < run["gate_mean"] < 0.5  # the gates open from sigmoid(-3) = 0.05, not all the way
    names = sorted(Path(p).name for p in run["pictures"])
    assert names == ["ultradeep-highway-10-relu-gates.png", "ultradeep-highway-10-relu-lesions.png"]
    for png in run["pictures"]:
        picture = matplotlib.image.imread(Path(png))  # [H, W, 4] floats in [0, 1]
        assert picture.shape[0] > 200 and picture[..., :3].std() > 0.05  # not blank
