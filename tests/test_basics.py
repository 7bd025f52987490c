"""XOR (a perceptron can't, one hidden layer can) and per-layer gradient norms (the
vanishing gradient): the numbers, an independent check of the norms, and both lessons
through the CLI. Fast: tiny nets, 1-epoch MNIST runs on 500 images."""

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
from dlrun.core.config import Experiment, resolved
from dlrun.core.engine import make_optimizer
from dlrun.experiments import basics
from dlrun.families.basics.pictures import log10_ratio
from dlrun.families.basics.task import GRAD_NORMS, XOR_X, XOR_Y, model_grad_norms
from dlrun.families.mlp.config import Activation, MLPConfig
from helpers import one_hyper, train_one

XOR_PERCEPTRON, SIGMOID_9_GRADS, RELU_9_GRADS = (
    resolved(e) for e in (basics.XOR_PERCEPTRON, basics.SIGMOID_9_GRADS, basics.RELU_9_GRADS)
)


def invoke(*args: str) -> dict:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --------------------------------------------------------------------------- XOR


def test_no_linear_classifier_gets_more_than_three_xor_points():
    """Proof: class 1 needs w2 + b > 0 and w1 + b > 0, whose sum is w1 + w2 + 2b > 0;
    class 0 needs b <= 0 and w1 + w2 + b <= 0, whose sum is w1 + w2 + 2b <= 0. A 2-class
    softmax predicts by the sign of such a linear score, so it can't get all 4. The grid
    below checks the bound is 3/4 (not less): it is reached."""
    grid = np.linspace(-3, 3, 41)
    w1, w2, b = (a.ravel() for a in np.meshgrid(grid, grid, grid))  # [G]
    scores = XOR_X[:, :1] * w1 + XOR_X[:, 1:] * w2 + b  # [4, G]
    accuracy = ((scores > 0) == XOR_Y[:, None]).mean(axis=0)  # argmax ties pick class 0
    assert accuracy.max() == 0.75


def test_perceptron_stays_at_or_below_three_quarters():
    loaded, _ = XOR_PERCEPTRON.task.load(XOR_PERCEPTRON, None)
    result = train_one(XOR_PERCEPTRON, loaded, seeds=list(range(5)))
    assert max(result.final["train_accuracy"]) <= 0.75
    assert min(result.final["train_loss"]) > 0.6  # stuck near ln 2: the best a line can do


def test_cli_train_xor_mlp_fits_all_four_points_for_seeds_0_to_4(tmp_path):
    record = invoke("train", "xor-mlp", "--seeds", "5", "--out", str(tmp_path))
    (result,) = record["results"]
    assert record["data"]["source"] == "XOR truth table (4 points)"
    assert result["train_accuracy"] == 1.0 and result["test_accuracy"] == 1.0  # the mean of 5 seeds


# --------------------------------------------------------------------------- gradient norms


def hand_backprop_norms(model, x: np.ndarray, y: np.ndarray) -> list[float]:
    """Kernel-gradient norms of mean softmax cross-entropy for a sigmoid MLP, by hand in numpy."""
    weights = [(np.asarray(d.kernel[...]), np.asarray(d.bias[...])) for d in model.layers]
    activations = [x]  # a_0 = x [B, n_0], a_l = sigmoid(a_{l-1} W_l + b_l)
    for w, b in weights[:-1]:
        activations.append(1 / (1 + np.exp(-(activations[-1] @ w + b))))
    logits = activations[-1] @ weights[-1][0] + weights[-1][1]  # [B, C]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    delta = (probs - np.eye(logits.shape[1])[y]) / len(y)  # d loss / d logits
    norms = []
    for k in range(len(weights) - 1, -1, -1):
        norms.append(np.linalg.norm(activations[k].T @ delta))  # weights[k] reads activations[k]
        if k:
            delta = (delta @ weights[k][0].T) * activations[k] * (1 - activations[k])  # times sigmoid'
    return norms[::-1]


@pytest.fixture(scope="module")
def tiny_sigmoid():
    """A 6-5-4-3 sigmoid net (3 Dense layers) and a batch of 8."""
    model = MLPConfig(hidden=(5, 4), activation=Activation.SIGMOID, inputs=6, classes=3)
    exp = resolved(Experiment(name="tiny-grads", description="test", reference=None, task=GRAD_NORMS, model=model))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 6)).astype(np.float32), rng.integers(0, 3, 8).astype(np.int32)
    return exp, exp.model.build(nnx.Rngs(params=3)), x, y


def test_layer_norms_equal_hand_backprop(tiny_sigmoid):
    exp, model, x, y = tiny_sigmoid
    np.testing.assert_allclose(model_grad_norms(exp, model, x, y), hand_backprop_norms(model, x, y), rtol=1e-4)


def test_training_step_reports_the_same_norms(tiny_sigmoid):
    """The per-step metrics (history: train_grad_norm_layer_i) are those norms too."""
    exp, model, x, y = tiny_sigmoid
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = make_optimizer(exp)
    step = jax.jit(lambda *args: GRAD_NORMS.update(exp, graphdef, tx, *args, None))  # eager: 3x slower
    *_, metrics = step(params, rest, tx.init(params), (jnp.asarray(x), jnp.asarray(y)), one_hyper(exp))
    expected = hand_backprop_norms(model, x, y)
    assert sorted(k for k in metrics if k.startswith("grad_norm")) == [f"grad_norm_layer_{i}" for i in (1, 2, 3)]
    np.testing.assert_allclose([metrics[f"grad_norm_layer_{i}"] for i in (1, 2, 3)], expected, rtol=1e-4)


def test_sigmoid_first_layer_gets_far_less_gradient_than_relu_at_init():
    """On random "images": the effect is the architecture's, not the data's. 500 rows, as
    the probe batch of the CLI test below, so that test reuses these compiled programs."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(size=(500, 784)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 10, 500), jnp.int32)
    ratio = {
        exp.name: log10_ratio(model_grad_norms(exp, exp.model.build(nnx.Rngs(params=0)), x, y))
        for exp in (SIGMOID_9_GRADS, RELU_9_GRADS)
    }
    assert ratio[SIGMOID_9_GRADS.name] < -3  # layer 1 gets over 1000x less than layer 9
    assert abs(ratio[RELU_9_GRADS.name]) < 1  # within 10x of layer 9


def test_cli_compare_vanishing_gradient_reports_norms_and_plots(tmp_path):
    record = invoke("compare", "vanishing-gradient", "--epochs", "1", "--train-size", "500", "--out", str(tmp_path))
    by_name = {r["variant"]: r for r in record["results"]}
    for result in by_name.values():
        for key in (
            "init_log10_grad_ratio",
            "trained_log10_grad_ratio",
            *(f"init_grad_norm_layer_{i}" for i in range(1, 10)),
        ):
            assert np.isfinite(result[key]), key
        (png,) = result["pictures"]
        picture = matplotlib.image.imread(Path(png))  # [H, W, 4] floats in [0, 1]
        assert picture.shape[0] > 200 and picture[..., :3].std() > 0.05  # not blank
    assert by_name[SIGMOID_9_GRADS.name]["init_log10_grad_ratio"] < -3
    assert [c["verdict"] for c in record["claims"]] == ["reproduced", "reproduced"]
    history = json.loads((Path(record["run_dir"]) / "record.json").read_text())["history"]
    assert all(f"train_grad_norm_layer_{i}" in history[SIGMOID_9_GRADS.name][0] for i in range(1, 10))
