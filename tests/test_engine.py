"""Models, the training engine and `train`: hand counts, hand-computed updates, learning,
determinism, vmapped seeds, divergence, early stopping, regularisation, and compile-once.

Training runs use the tiny separable image set and a 32-unit net from conftest.py.
"""

import math
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from dlrun.core import devices, engine
from dlrun.core.compiler import Compiler
from dlrun.core.config import EarlyStopping, Optimizer, Precision, resolved
from dlrun.core.losses import cross_entropy
from dlrun.core.registry import get_experiment
from dlrun.core.trainer import Cohort, check_settings, set_up, train_cohort
from dlrun.errors import ConfigError
from dlrun.families.mlp import task as tasks
from dlrun.families.mlp.config import Activation, MLPConfig, width_for_params
from dlrun.families.mlp.models import ACTIVATIONS, dropout
from dlrun.record_format import DIVERGED, OK
from helpers import init_params, initial_states, one_hyper, train_one

SIGMOID, RELU, MAXOUT = Activation.SIGMOID, Activation.RELU, Activation.MAXOUT

# --------------------------------------------------------------------------- models


def _count_built(config: MLPConfig) -> int:
    model = nnx.eval_shape(lambda: config.build(nnx.Rngs(params=0)))  # shapes only, no compute
    return sum(int(np.prod(p.shape)) for _, p in nnx.to_flat_state(nnx.state(model, nnx.Param)))


def test_num_params_of_the_lecture_net_matches_a_hand_count():
    config = MLPConfig(hidden=(500, 500), activation=SIGMOID)
    hand = 784 * 500 + 500 + 500 * 500 + 500 + 500 * 10 + 10  # 648,010
    assert config.num_params() == hand == 648_010
    assert _count_built(config) == hand


def test_maxout_layers_are_pieces_times_wider_but_feed_forward_their_unit_count():
    config = MLPConfig(hidden=(500, 500), activation=MAXOUT)
    # Dense 784 -> 1000 (2 pieces x 500 units), max -> 500, Dense 500 -> 1000, max -> 500, Dense 500 -> 10.
    hand = 784 * 1000 + 1000 + 500 * 1000 + 1000 + 500 * 10 + 10  # 1,291,010
    assert config.num_params() == hand
    model = nnx.eval_shape(lambda: config.build(nnx.Rngs(params=0)))
    assert [layer.kernel.shape for layer in model.layers] == [(784, 1000), (500, 1000), (500, 10)]
    assert _count_built(config) == hand


def test_maxout_takes_the_max_over_consecutive_pieces():
    x = jnp.array([[1.0, 5.0, -2.0, -3.0, 0.0, 0.5], [-1.0, -4.0, 7.0, 7.5, 2.0, -2.0]])  # 3 units x 2 pieces
    np.testing.assert_array_equal(np.asarray(ACTIVATIONS[MAXOUT](x)), [[5.0, -2.0, 0.5], [-1.0, 7.5, 2.0]])


def test_width_for_params_matches_the_thin_tall_net_within_one_unit():
    thin_tall = MLPConfig(hidden=(500,) * 4, activation=RELU).num_params()
    assert thin_tall == 784 * 500 + 500 + 3 * (500 * 500 + 500) + 500 * 10 + 10  # 1,149,010
    # One hidden layer of w: 784w + w + 10w + 10 = 795w + 10 -> w = 1445.3; 1445 is closer.
    width = width_for_params(thin_tall, depth=1)
    assert width == 1445
    fat = MLPConfig(hidden=(width,), activation=RELU).num_params()
    assert fat == 795 * 1445 + 10
    assert abs(fat - thin_tall) <= 795  # within one unit's worth of parameters


def test_width_for_params_recovers_an_exact_width():
    assert width_for_params(MLPConfig(hidden=(500, 500)).num_params(), depth=2) == 500
    assert width_for_params(795 * 37 + 10, depth=1) == 37


def test_dropout_rate_zero_is_the_identity_and_rate_quarter_scales_kept_units():
    x = jnp.arange(1.0, 100_001.0)
    key = jax.random.key(0)
    np.testing.assert_array_equal(np.asarray(dropout(x, 0.0, key)), np.asarray(x))
    np.testing.assert_array_equal(np.asarray(dropout(x, 0.5, None)), np.asarray(x))  # no key: eval
    out = np.asarray(dropout(x, 0.25, key))
    kept = out != 0
    assert abs(1 - kept.mean() - 0.25) < 0.01
    np.testing.assert_allclose(out[kept], np.asarray(x)[kept] / 0.75, rtol=1e-6)


def test_model_with_dropout_rate_zero_equals_the_model_without_dropout():
    model = MLPConfig(hidden=(16, 16), activation=RELU).build(nnx.Rngs(params=0))
    x = jax.random.uniform(jax.random.key(1), (4, 784))
    plain = nnx.jit(lambda m, x: m(x))(model, x)
    with_key = nnx.jit(lambda m, x, rate, key: m(x, rate, key))
    np.testing.assert_array_equal(np.asarray(with_key(model, x, 0.0, jax.random.key(2))), np.asarray(plain))
    assert not np.allclose(np.asarray(with_key(model, x, 0.5, jax.random.key(2))), np.asarray(plain))


# --------------------------------------------------------------------------- init


def _leaves(state) -> list[np.ndarray]:
    return [np.asarray(v) for v in jax.tree.leaves(state)]


def test_variants_differing_only_in_activation_start_from_identical_weights(tiny):
    relu = init_params(tiny(model=MLPConfig(hidden=(32,), activation=RELU)), 3)[1]
    sigmoid = init_params(tiny(model=MLPConfig(hidden=(32,), activation=SIGMOID)), 3)[1]
    for a, b in zip(_leaves(relu), _leaves(sigmoid), strict=True):
        np.testing.assert_array_equal(a, b)
    other_seed = init_params(tiny(), 4)[1]
    assert any(not np.array_equal(a, b) for a, b in zip(_leaves(relu), _leaves(other_seed)))


def test_data_order_is_a_fresh_shuffle_per_epoch_shared_by_equal_seeds():
    """10 rows in batches of 3: 3 steps, one row left out; seeds [4, 7, 4] (two variants of seed 4)."""
    first, second = (engine.data_order(np.array([4, 7, 4]), epoch, 10, 3) for epoch in (0, 1))
    assert first.shape == (3, 3, 3)  # [R, steps, B]
    for replica in (*first, *second):
        assert len(set(replica.ravel())) == 9 and set(replica.ravel()) <= set(range(10))
    np.testing.assert_array_equal(first[0], first[2])  # same seed, same order
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[0], second[0])
    np.testing.assert_array_equal(first, engine.data_order(np.array([4, 7, 4]), 0, 10, 3))  # reproducible


# --------------------------------------------------------------------------- one epoch, by hand


def _first_epoch(exp, images, n_train: int):
    """Seed 0's first epoch through the engine's own program, without vmap."""
    data = tasks.place_images(exp, images)
    states = initial_states(exp, [0])
    graphdef, state = engine.model_graphdef(exp), jax.tree.map(lambda a: a[0], states)
    epoch = jax.jit(engine.make_scan_epoch(engine.make_epoch_parts(exp, graphdef, lambda a: a)))
    order = engine.data_order(np.array([0]), 0, n_train, exp.batch_size or n_train)[0]  # [steps, B]
    new_state, metrics = epoch(state, data, one_hyper(exp), jnp.int32(0), order)
    return graphdef, data, new_state, metrics


@pytest.mark.parametrize("batch_size, updates", [(None, 1), (50, 4), (64, 3)])
def test_an_epoch_does_one_update_per_full_batch(tiny, images, batch_size, updates):
    """200 examples: full batch -> 1 update, batches of 50 -> 4, of 64 -> 3 (remainder dropped)."""
    _, _, state, _ = _first_epoch(tiny(batch_size=batch_size, train_size=200), images, 200)
    assert int(state.opt_state.count) == updates


def test_full_batch_epoch_equals_one_manual_gradient_step(tiny, images):
    lr = 0.1
    exp = tiny(batch_size=None, train_size=200, optimizer=Optimizer(optax.sgd, lr))
    graphdef, data, new_state, metrics = _first_epoch(exp, images, 200)

    _, params, rest = init_params(exp, 0)
    x, y = data.train
    x = jnp.asarray(x, jnp.float32) / 255.0

    def loss(p):
        return cross_entropy(nnx.merge(graphdef, p, rest)(x), y)

    value, grads = jax.value_and_grad(loss)(params)
    expected = jax.tree.map(lambda w, g: w - lr * g, params, grads)
    for got, want in zip(_leaves(new_state.params), _leaves(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert float(metrics["train_loss"]) == pytest.approx(float(value), rel=1e-5)  # loss before the step
    assert not np.allclose(_leaves(new_state.params)[0], _leaves(params)[0])  # it did move


# --------------------------------------------------------------------------- train: shared runs


@pytest.fixture(scope="module")
def base_runs(tiny_exp, images):
    """The tiny experiment with seeds [0, 1], trained twice; and seed 0 and 1 alone."""
    return {
        "pair": train_one(tiny_exp, images, [0, 1]),
        "pair_again": train_one(tiny_exp, images, [0, 1]),
        "seed0": train_one(tiny_exp, images, [0]),
        "seed1": train_one(tiny_exp, images, [1]),
    }


def _column(result, seed_index: int) -> dict:
    return {
        "final": {k: v[seed_index] for k, v in result.final.items()},
        "history": [{k: v[seed_index] for k, v in h.items()} for h in result.history],
    }


def test_training_lowers_the_loss_and_beats_chance(base_runs):
    r = base_runs["pair"]
    assert r.status == OK and r.epochs == 3 and r.train_size == 400
    losses = np.array([h["train_loss"] for h in r.history])  # [epochs, seeds]
    assert np.all(np.diff(losses, axis=0) < 0), losses  # every epoch lowers each seed's loss
    assert np.all(losses[-1] < losses[0] - 0.5)
    assert losses[0].max() < math.log(10) + 0.1  # started near chance, as a 10-way softmax does
    assert min(r.final["test_accuracy"]) > 0.8  # chance is 0.1
    assert min(r.final["train_accuracy"]) > 0.8
    assert r.mean("test_accuracy") == pytest.approx(np.mean(r.final["test_accuracy"]))


def test_same_seeds_give_identical_results(base_runs):
    a, b = base_runs["pair"], base_runs["pair_again"]
    assert a.final == b.final
    assert a.history == b.history


def test_different_seeds_give_different_results(base_runs):
    r = base_runs["pair"]
    assert r.final["test_loss"][0] != r.final["test_loss"][1]
    assert r.history[0]["train_loss"][0] != r.history[0]["train_loss"][1]


@pytest.mark.parametrize("seed_index", [0, 1])
def test_vmapped_seeds_equal_separate_runs(base_runs, seed_index):
    together = _column(base_runs["pair"], seed_index)
    alone = _column(base_runs[f"seed{seed_index}"], 0)
    for key, value in alone["final"].items():
        assert together["final"][key] == pytest.approx(value, abs=1e-5), key
    for h_together, h_alone in zip(together["history"], alone["history"], strict=True):
        for key, value in h_alone.items():
            assert h_together[key] == pytest.approx(value, abs=1e-5), key


def test_a_cpu_gets_as_many_devices_as_divide_the_replicas(monkeypatch):
    monkeypatch.delenv("DLRUN_CPU_DEVICES")
    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda pid: {0, 1})  # two cores
    assert [devices.cpu_device_count(r) for r in (1, 2, 3, 4, 10)] == [1, 2, 1, 2, 2]
    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda pid: set(range(16)))
    assert [devices.cpu_device_count(r) for r in (3, 10, 16)] == [3, 5, 8]  # at most MAX_CPU_DEVICES
    monkeypatch.setenv("DLRUN_CPU_DEVICES", "1")
    assert devices.cpu_device_count(4) == 1
    monkeypatch.setenv("DLRUN_CPU_DEVICES", "two")
    with pytest.raises(ConfigError, match="DLRUN_CPU_DEVICES must be a whole number of at least 1, got 'two'"):
        devices.cpu_device_count(4)


def test_variants_batched_in_one_program_equal_separate_runs(tiny, images, base_runs):
    """Variants that differ only in traced numbers (here the learning rate) can train as
    replicas of one program; each must get exactly what it gets alone."""
    slow = tiny(name="tiny-slow", optimizer=Optimizer(optax.sgd, 0.03))
    (fast_batched, slow_batched), _ = train_cohort(Compiler(), [tiny(), slow], images, [0, 1])
    slow_alone = train_one(slow, images, [0, 1])
    for batched, alone in ((fast_batched, base_runs["pair"]), (slow_batched, slow_alone)):
        for key, values in alone.final.items():
            assert batched.final[key] == pytest.approx(values, abs=1e-5), key
        np.testing.assert_allclose(
            [h["train_loss"] for h in batched.history], [h["train_loss"] for h in alone.history], atol=1e-5
        )
    for slow_loss, fast_loss in zip(slow_batched.final["train_loss"], fast_batched.final["train_loss"], strict=True):
        assert slow_loss > fast_loss  # each variant trained with its own rate


def test_mixed_precision_multiplies_in_bfloat16_and_keeps_float32_weights(tiny, images, base_runs):
    exp = tiny(precision=Precision.BF16)
    [result], [models] = train_cohort(Compiler(), [exp], images, [0, 1])
    float32 = base_runs["pair"]
    assert min(result.final["test_accuracy"]) > 0.8  # it learns as well as float32 ...
    assert result.final["test_accuracy"] == pytest.approx(float32.final["test_accuracy"], abs=0.05)
    assert result.final["train_loss"][0] != pytest.approx(float32.final["train_loss"][0], abs=1e-5)  # ... by other sums
    assert {leaf.dtype for leaf in jax.tree.leaves(nnx.state(models[0], nnx.Param))} == {np.dtype("float32")}
    split = exp.task.place(exp, images).eval
    for precision, dtype in ((Precision.BF16, "bf16"), (Precision.FLOAT32, "f32")):
        exp = tiny(precision=precision)
        weights = engine.make_weights_init(exp)(np.array([0], np.int32))
        text = jax.jit(engine.make_evaluate(exp, engine.model_graphdef(exp))).lower(*weights, split).as_text()
        # e.g. `dot_general ... : (tensor<200x784xbf16>, tensor<1x784x32xbf16>) -> tensor<200x1x32xbf16>`
        products = [line.split(" : ")[-1] for line in text.splitlines() if "dot_general" in line]
        assert len(products) == 2 and all(line.count(f"x{dtype}>") == 3 for line in products), products


def test_a_family_with_its_own_update_step_refuses_mixed_precision():
    gan = replace(resolved(get_experiment("mnist-gan")), precision=Precision.BF16)
    with pytest.raises(ConfigError, match="mnist-gan trains in float32 only"):
        check_settings(gan, 1000)


def test_epoch_program_is_traced_once_per_run(tiny, images):
    """Count Python calls of the loss (it only runs while JAX traces): none may happen
    after the first epoch, so later epochs reuse the compiled program."""
    calls = []

    def counting_loss(logits, labels):
        calls.append(1)
        return cross_entropy(logits, labels)

    compiler, exp = Compiler(), tiny(loss=counting_loss, epochs=4)
    cohort = Cohort(compiler, set_up(compiler, [exp], images, [0]))
    seen = [(end.epoch, len(calls), float(end.metrics["train_loss"][0])) for end in cohort.epochs()]
    cohort.finish()
    [result] = cohort.results
    assert result.status == OK
    assert [epoch for epoch, _, _ in seen] == [0, 1, 2, 3]
    counts = {count for _, count, _ in seen}
    assert len(counts) == 1 and counts.pop() > 0
    assert len(calls) == seen[0][1]  # the final evaluation did not trace again either
    assert [loss for *_, loss in seen] == [h["train_loss"][0] for h in result.history]

    # The learning rate is a traced value: in the same run, a variant differing only in it
    # is not traced again.
    traced = len(calls)
    slower = train_one(tiny(loss=counting_loss, epochs=4, optimizer=Optimizer(optax.sgd, 0.01)), images, [0], compiler)
    assert len(calls) == traced
    assert slower.history[-1]["train_loss"][0] > result.history[-1]["train_loss"][0]  # and it did apply


def test_optimizer_variants_share_weights_and_evaluation_and_compile_their_own_epoch(tiny, images):
    """A first run compiles its initial weights, its optimizer state, its epoch and one
    evaluation per split shape (400 training rows, 200 test rows: two). Another optimizer
    on the same model needs a new optimizer state and epoch, and reuses the rest."""
    compiler = Compiler()
    train_one(tiny(epochs=1), images, [0], compiler)
    assert (compiler.structures, compiler.programs) == (1, 5)
    train_one(tiny(epochs=1, optimizer=Optimizer(optax.adam, 1e-3)), images, [0], compiler)
    assert (compiler.structures, compiler.programs) == (2, 5 + 2)


def test_a_compare_compiles_every_structure_before_the_first_trains(tmp_path, monkeypatch):
    """The runner sets every cohort up at once, so their compiles overlap: by the time the
    first cohort's epochs run, all of the run's structures have been traced."""
    from dlrun.run import runner
    from dlrun.run.request import Overrides, build_request

    structures_when_training_began = []
    epochs = Cohort.epochs

    def noting_epochs(self):
        structures_when_training_began.append(self.compiler.structures)
        return epochs(self)

    monkeypatch.setattr(Cohort, "epochs", noting_epochs)
    request = build_request("compare", "optimizers", Overrides(epochs=1, train_size=300), (0,), None, tmp_path)
    record = runner.run(request)
    assert record["structures_compiled"] > 1 and len(structures_when_training_began) > 1
    assert structures_when_training_began[0] == record["structures_compiled"]


# --------------------------------------------------------------------------- divergence


def test_nan_loss_is_reported_as_diverged_and_stops_training(tiny, images):
    def nan_loss(logits, labels):
        return cross_entropy(logits, labels) * jnp.nan

    result = train_one(tiny(loss=nan_loss, epochs=5), images, [0, 1])
    assert result.status == DIVERGED
    assert result.epochs == 1 and len(result.history) == 1
    assert result.mean("test_accuracy") is None  # not NaN
    assert result.std("test_accuracy") is None
    assert result.final == {}


def test_absurd_learning_rate_is_reported_as_diverged(tiny, images):
    result = train_one(tiny(optimizer=Optimizer(optax.sgd, 1e30), epochs=5), images, [0])
    assert result.status == DIVERGED
    assert result.epochs < 5
    assert result.mean("test_accuracy") is None


def test_exploding_but_finite_loss_is_reported_as_diverged(tiny, images):
    result = train_one(
        tiny(model=MLPConfig(hidden=(32,), activation=SIGMOID), optimizer=Optimizer(optax.sgd, 1e6)), images, [0]
    )
    assert max(h["train_loss"][0] for h in result.history) > 1e4  # it did blow up
    assert result.status == DIVERGED


# --------------------------------------------------------------------------- early stopping


def test_early_stopping_stops_when_patience_is_spent_and_keeps_the_best_weights(tiny, images):
    patience = 2
    exp = tiny(epochs=30, early_stopping=EarlyStopping(validation_fraction=0.25, patience=patience))
    result = train_one(exp, images, [0])
    assert result.train_size == 300  # 400 minus the 25% validation split
    assert result.status == OK
    assert result.epochs < 30
    best_val = [h["best_val_score"][0] for h in result.history]  # best validation accuracy so far
    best_epoch = best_val.index(max(best_val))
    assert result.epochs - 1 - best_epoch == patience  # stopped exactly when patience ran out
    # Final metrics come from the best epoch's weights, not from the last epoch's.
    assert result.final["test_loss"][0] == pytest.approx(result.history[best_epoch]["test_loss"][0], abs=1e-5)
    assert result.final["test_loss"][0] != pytest.approx(result.history[-1]["test_loss"][0], abs=1e-3)


# --------------------------------------------------------------------------- regularisation


def _kernel_norm(params) -> float:
    return math.sqrt(sum(float(jnp.sum(p[...] ** 2)) for path, p in nnx.to_flat_state(params) if path[-1] == "kernel"))


def _zero_gradient_loss(logits, labels):
    return 0.0 * jnp.sum(logits)  # module level: the three cases below share one compiled program


@pytest.mark.parametrize("weight_decay, decay_lr", [(0.0, False), (0.05, False), (0.05, True)])
def test_weight_decay_shrinks_weights_by_the_hand_computed_factor(tiny, images, weight_decay, decay_lr):
    """With a loss whose gradient is zero, SGD with L2 coefficient wd multiplies every
    weight by (1 - lr_t * wd) per step: 8 steps per epoch (400 / 50), 2 epochs, and
    lr_t = 0.1 / sqrt(1 + epoch) when the learning rate decays."""
    lr, epochs, steps = 0.1, 2, 8
    exp = tiny(
        loss=_zero_gradient_loss,
        weight_decay=weight_decay,
        epochs=epochs,
        optimizer=Optimizer(optax.sgd, lr, lr_decay=1.0 if decay_lr else 0.0),
    )
    result = train_one(exp, images, [0])
    factor = 1.0
    for epoch in range(epochs):
        lr_t = lr / math.sqrt(1 + epoch) if decay_lr else lr
        factor *= (1 - lr_t * weight_decay) ** steps
    params = init_params(exp, 0)[1]
    assert result.final["weight_norm"][0] == pytest.approx(_kernel_norm(params) * factor, rel=1e-5)


def test_weight_decay_gives_a_smaller_weight_norm_when_learning(tiny, images, base_runs):
    decayed = train_one(tiny(weight_decay=0.02), images, [0, 1])
    plain = base_runs["pair"]
    for wd_norm, plain_norm in zip(decayed.final["weight_norm"], plain.final["weight_norm"], strict=True):
        assert wd_norm < plain_norm
    assert decayed.mean("test_accuracy") > 0.8  # still learns


def test_dropout_acts_in_training_only(tiny, images, base_runs):
    with_dropout = train_one(tiny(dropout=0.5), images, [0])
    plain = base_runs["seed0"]
    assert with_dropout.history[0]["train_loss"] != pytest.approx(plain.history[0]["train_loss"], abs=1e-4)
    # Evaluation has dropout off: the final test loss is the last epoch's test loss.
    assert with_dropout.final["test_loss"][0] == pytest.approx(with_dropout.history[-1]["test_loss"][0], abs=1e-5)


def test_test_noise_changes_test_accuracy_but_not_training(tiny, images, base_runs):
    noisy = train_one(tiny(test_noise=1.0), images, [0, 1])
    clean = base_runs["pair"]
    assert [h["train_loss"] for h in noisy.history] == [h["train_loss"] for h in clean.history]
    assert noisy.final["train_accuracy"] == clean.final["train_accuracy"]
    assert noisy.final["weight_norm"] == clean.final["weight_norm"]
    for noisy_acc, clean_acc in zip(noisy.final["test_accuracy"], clean.final["test_accuracy"], strict=True):
        assert noisy_acc < clean_acc - 0.05
    assert noisy.final["test_loss"] != clean.final["test_loss"]


def test_test_noise_is_the_same_noisy_test_set_every_run(tiny, images):
    a = tasks.place_images(tiny(test_noise=1.0), images)
    b = tasks.place_images(tiny(test_noise=1.0), images)
    clean = tasks.place_images(tiny(), images)
    np.testing.assert_array_equal(a.eval[0], b.eval[0])
    diff = a.eval[0] - clean.eval[0]
    assert diff.std() == pytest.approx(1.0, rel=0.02)  # each pixel ~ N(pixel, 1)
    np.testing.assert_array_equal(a.train[0], clean.train[0])


# --------------------------------------------------------------------------- bad settings


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(batch_size=401), "larger than the 400 training examples"),
        (dict(batch_size=0), "batch size"),
        (dict(epochs=0), "epochs"),
        (dict(optimizer=Optimizer(optax.sgd, 0.0)), "learning rate"),
        (dict(optimizer=Optimizer(optax.sgd, -0.1)), "learning rate"),
        (dict(optimizer=Optimizer(optax.sgd, float("nan"))), "learning rate"),
    ],
)
def test_bad_settings_raise_config_error_before_training(tiny, images, changes, message):
    seen = []
    with pytest.raises(ConfigError, match=message):
        compiler = Compiler()
        seen.extend(Cohort(compiler, set_up(compiler, [tiny(**changes)], images, [0])).epochs())
    assert seen == []


def test_early_stopping_split_counts_against_the_batch_size(tiny):
    exp = tiny(batch_size=350, early_stopping=EarlyStopping(validation_fraction=0.25))
    with pytest.raises(ConfigError, match="larger than the 300"):
        check_settings(exp, 300)
    check_settings(tiny(batch_size=300), 300)  # exactly all examples is fine


def test_empty_training_subset_is_a_config_error(tiny, images):
    with pytest.raises(ConfigError, match="train size must be at least 1"):
        train_one(tiny(train_size=0), images, [0])


def test_the_runner_trains_variants_batched_in_one_program_to_the_same_numbers(tmp_path, monkeypatch):
    """DLRUN_BATCH_VARIANTS=1 (the GPU default) trains variants that share a structure as
    replicas of one program; on CPU it must give what the per-variant path gives."""
    from dlrun.run import runner
    from dlrun.run.request import Overrides, build_request

    names = "mnist-relu-3layer,mnist-relu-3layer-momentum"  # momentum is a traced number: one structure
    records = {}
    for setting in ("0", "1"):
        monkeypatch.setenv("DLRUN_BATCH_VARIANTS", setting)
        overrides = Overrides(epochs=2, train_size=300)
        request = build_request("compare", names, overrides, (0, 1), None, tmp_path / setting)
        records[setting] = runner.run(request)
    alone, batched = ({r["variant"]: r for r in records[s]["results"]} for s in ("0", "1"))
    for name, result in alone.items():
        for key in ("test_accuracy", "train_loss", "test_loss", "weight_norm"):
            assert batched[name][key] == pytest.approx(result[key], abs=1e-5), (name, key)
    assert alone["mnist-relu-3layer"]["train_loss"] != alone["mnist-relu-3layer-momentum"]["train_loss"]
    assert records["1"]["structures_compiled"] == records["0"]["structures_compiled"] == 1
