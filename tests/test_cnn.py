"""The CNN lessons (Lecture III) and adversarial examples: hand-counted parameters, batch
norm's statistics, the fast-gradient-sign step on a hand example, and short real runs on
the bundled 5,000-digit MNIST sample (the filters picture, the parameter column, FGSM
lowering accuracy as epsilon grows).

Runs are kept short (500-1,000 images, 1-3 epochs): compiling dominates their time.
"""

import json
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from typer.testing import CliRunner

from dlrun.cli import app
from dlrun.core import engine
from dlrun.core.compiler import Compiler
from dlrun.core.config import resolved
from dlrun.core.losses import cross_entropy
from dlrun.core.registry import get_experiment
from dlrun.core.trainer import Cohort, set_up
from dlrun.families.vision.config import CNNConfig, conv_counts
from dlrun.families.vision.task import FgsmClassification, eps_key, fgsm
from helpers import init_params, one_hyper

LECTURE_CNN_PARAMS = (
    3 * 3 * 1 * 25
    + 25  # conv 25 3x3 filters on 1 channel: 250
    + 3 * 3 * 25 * 50
    + 50  # conv 50 3x3 filters on 25 channels: 11,300
    + 5 * 5 * 50 * 100
    + 100  # flatten 5x5x50 = 1250 -> dense 100: 125,100
    + 100 * 10
    + 10  # dense 100 -> 10: 1,010
)


def _count_built(config) -> int:
    model = nnx.eval_shape(lambda: config.build(nnx.Rngs(params=0)))  # shapes only
    return sum(int(np.prod(p.shape)) for _, p in nnx.to_flat_state(nnx.state(model, nnx.Param)))


def test_cnn_parameter_count_matches_a_hand_count():
    assert LECTURE_CNN_PARAMS == 137_660
    assert CNNConfig().num_params() == _count_built(CNNConfig()) == LECTURE_CNN_PARAMS
    assert CNNConfig().maps() == [(28, 28, 1), (13, 13, 25), (5, 5, 50)]  # 28 -conv-> 26 -pool-> 13 -> 11 -> 5
    # Batch norm: no conv biases (its shift replaces them) + a scale and a shift per channel.
    bn = CNNConfig(batchnorm=True)
    assert bn.num_params() == _count_built(bn) == LECTURE_CNN_PARAMS - 75 + 2 * 75


def test_weight_sharing_counts_reproduce_the_lectures_example():
    # The slide: a 6x6 image, two 3x3 filters, 4x4 maps. 18 shared weights; 16 * 2 units
    # of 9 weights each without sharing; 36 inputs x 32 units for the dense layer.
    assert conv_counts(6, 6, 1, 2, 3, bias=False) == (18, 288, 1152)
    config = CNNConfig()
    assert config.unshared_params() == 26 * 26 * 25 * 10 + 11 * 11 * 50 * 226 + 125_100 + 1_010
    assert config.num_params() < config.unshared_params() < config.dense_params()


def test_the_equal_parameter_mlp_has_as_many_weights_as_the_cnn():
    cnn, mlp = get_experiment("mnist-cnn").model, get_experiment("mnist-mlp-same-params").model
    width = mlp.hidden[0]
    assert mlp.hidden == (width, width)
    # Two hidden layers of w: w^2 + 796 w + 10 weights; one unit more or less moves it by ~1,100.
    assert abs(mlp.num_params() - cnn.num_params()) < 2 * width + 796
    assert get_experiment("mnist-mlp-500-500").model.num_params() == 648_010


# --------------------------------------------------------------------------- batch norm


@jax.jit
def _batch_norm_step(x, y):
    """Seed 0's CNN with batch norm (small), one training step through the task's update,
    then the numbers the test checks. One compiled program: eager NNX ops compile one by one."""
    exp = resolved(
        replace(get_experiment("mnist-cnn-batchnorm"), model=CNNConfig(filters=(4, 6), dense=(16,), batchnorm=True))
    )
    graphdef, params0, rest0 = init_params(exp, 0)
    tx = engine.make_optimizer(exp)
    hyper, opt_state = one_hyper(exp), tx.init(params0)
    params, rest, _, _ = exp.task.update(exp, graphdef, tx, params0, rest0, opt_state, (x, y), hyper, None)
    first_conv = nnx.merge(graphdef, params0, rest0).convs[0]  # the weights the step saw
    model, stale = nnx.merge(graphdef, params, rest), nnx.merge(graphdef, params, rest0)
    return {
        "batch_mean": first_conv(x.reshape(-1, 28, 28, 1)).mean(axis=(0, 1, 2)),  # [4]
        "running_mean": rest["norms"][0]["mean"][...],
        "running_var_2": rest["norms"][1]["var"][...],
        "alone": model(x[:1]),
        "in_batch": model(x)[:1],
        "stale": stale(x[:1]),
        # training mode last: it writes the running statistics of `model`
        "train_pair": model(x[:2], train=True)[:1],
        "train_batch": model(x, train=True)[:1],
    }


def test_batch_norm_statistics_update_in_training_and_are_used_in_evaluation():
    x = jax.random.uniform(jax.random.key(1), (16, 784))
    out = jax.device_get(_batch_norm_step(x, jnp.arange(16) % 10))
    # Running mean after one step = 0.9 * 0 + 0.1 * the batch mean of the first conv's output.
    np.testing.assert_allclose(out["running_mean"], 0.1 * out["batch_mean"], rtol=1e-4, atol=1e-6)
    assert not np.allclose(out["running_var_2"], 1.0)  # the second layer's statistics moved too
    # Evaluation uses the running statistics: an image's logits do not depend on its batch...
    np.testing.assert_allclose(out["alone"], out["in_batch"], rtol=1e-4, atol=1e-5)
    # ...and they are the updated statistics, not the initial ones...
    assert not np.allclose(out["alone"], out["stale"], atol=1e-3)
    # ...while training normalises with each batch's own statistics.
    assert not np.allclose(out["train_pair"], out["train_batch"], atol=1e-3)


# --------------------------------------------------------------------------- FGSM


def test_fgsm_moves_each_pixel_by_epsilon_along_the_hand_computed_gradient_sign():
    w = np.random.default_rng(0).normal(size=(784, 10)).astype(np.float32)
    model = lambda x: x @ w  # noqa: E731  (a linear classifier: the gradient is known by hand)
    x = np.full((2, 784), 0.5, np.float32)  # mid-grey: nothing is clipped
    y = np.array([3, 7])
    x_adv = np.asarray(fgsm(model, cross_entropy, jnp.asarray(x), jnp.asarray(y), 0.1))
    # d CE / dx = (softmax(x w) - onehot(y)) w^T for each row.
    logits = x @ w
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    grad = (p - np.eye(10)[y]) @ w.T
    np.testing.assert_allclose(x_adv - x, 0.1 * np.sign(grad), atol=1e-6)
    assert np.abs(x_adv - x).max() == pytest.approx(0.1)
    # At the edges of [0, 1] the image stays valid: a black pixel pushed darker stays 0.
    black = np.asarray(fgsm(model, cross_entropy, jnp.zeros((2, 784)), jnp.asarray(y), 0.3))
    assert black.min() == 0.0 and black.max() == pytest.approx(0.3)


@pytest.fixture(scope="module")
def attacked_mlp(tmp_path_factory):
    """The MLP of `mnist-adversarial`, trained 2 epochs on 1,000 sample digits, with its
    final metrics, its model and the data (as the runner gets them from the cohort)."""
    exp = resolved(replace(get_experiment("mnist-adversarial"), train_size=1000, epochs=2))
    loaded, _ = exp.task.load(exp, None)
    compiler = Compiler()
    cohort = Cohort(compiler, set_up(compiler, [exp], loaded, [0]))
    for _ in cohort.epochs():
        pass
    [[model]] = cohort.finish()
    return exp, cohort.results[0], model, cohort.setup.host_data, tmp_path_factory.mktemp("fgsm")


def test_fgsm_lowers_accuracy_more_as_epsilon_grows(attacked_mlp):
    exp, result, *_ = attacked_mlp
    acc = [result.final[eps_key(e)][0] for e in exp.task.epsilons]  # eps 0, 0.05, 0.1, 0.2, 0.3
    assert acc[0] > 0.8  # it learned
    assert acc[0] - acc[2] > 0.3  # eps 0.1 fools it (the lesson's claim)
    assert all(later <= earlier + 0.01 for earlier, later in zip(acc, acc[1:])), acc
    assert acc[-1] < 0.1
    # The engine's attacked test set (chunked, inside the compiled program) and the host-side
    # table agree on eps 0.1; eps 0 is the clean accuracy.
    assert result.final["test_accuracy"][0] == pytest.approx(acc[2], abs=2e-3)


def test_fgsm_picture_shows_attacked_digits(attacked_mlp):
    exp, _, model, data, out = attacked_mlp
    [path] = exp.task.pictures(exp, model, data, out)
    assert path.name == "mnist-adversarial-adversarial.png"
    _assert_real_png(path)


def test_an_unattacked_fgsm_task_reports_the_clean_accuracy(attacked_mlp):
    exp, result, model, data, _ = attacked_mlp
    clean = FgsmClassification(epsilon=0.0)
    x, y = (jnp.asarray(a) for a in data.eval)
    metrics = clean.evaluate(exp, model, (x, y))
    assert float(metrics["accuracy"]) == pytest.approx(result.final[eps_key(0.0)][0], abs=1e-6)


def _assert_real_png(path) -> None:
    """A PNG that decodes to an image with visible structure (not one flat colour)."""
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)  # [H, W, 4] floats
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels[..., :3].std() > 0.05


# --------------------------------------------------------------------------- CLI


def test_compare_cnn_vs_mlp_reports_parameter_counts_and_saves_the_filters(tmp_path):
    args = ["compare", "cnn-vs-mlp", "--epochs", "3", "--train-size", "500", "--json", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    by_name = {r["variant"]: r for r in record["results"]}
    assert by_name["mnist-cnn"]["num_params"] == LECTURE_CNN_PARAMS
    assert by_name["mnist-mlp-500-500"]["num_params"] == 648_010
    assert abs(by_name["mnist-mlp-same-params"]["num_params"] - LECTURE_CNN_PARAMS) < 1_100
    assert by_name["mnist-cnn"]["unshared_params"] == CNNConfig().unshared_params()
    assert ["num_params", "params"] in record["columns"]
    # Learning: 15 Adam steps on 500 digits gave 0.68-0.73 over seeds 0-2; chance is 0.1.
    assert by_name["mnist-cnn"]["test_accuracy"] > 0.5
    [filters] = by_name["mnist-cnn"]["pictures"]
    assert filters.endswith("mnist-cnn-filters.png")
    _assert_real_png(Path(filters))
    assert by_name["mnist-mlp-500-500"]["pictures"] == []  # an MLP has no filters to draw
