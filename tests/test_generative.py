"""Lecture IV, generative models: one short real run of `dlrun compare generative` on the
bundled MNIST sample (shared by the tests that read its record), ELBO terms against hand
computation, the reparameterisation's statistics, and the GAN's two-phase step.

The real run comes first on purpose: dlrun turns on JAX's persistent compilation cache
before its first compile, and JAX decides once per process, at the first compile, whether
the cache is used. The unit tests jit what they run, one compile each instead of one per
operation."""

import json
import math
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from typer.testing import CliRunner

from dlrun.cli import app
from dlrun.core.config import resolved
from dlrun.core.registry import get_experiment
from dlrun.families.generative.config import GANConfig, VAEConfig
from dlrun.families.generative.gan import Step, discriminator_step, generator_step, split_gan
from dlrun.families.generative.task import bernoulli_log_likelihood, binarize, elbo_terms, gaussian_kl, reparameterize
from helpers import init_params, one_hyper

# --------------------------------------------------------------------------- one real short run


@pytest.fixture(scope="module")
def record(tmp_path_factory) -> dict:
    """`dlrun compare generative` for 3 short epochs on 300 images of the real sample."""
    out = tmp_path_factory.mktemp("runs")
    args = ["compare", "generative", "--epochs", "3", "--train-size", "300", "--json", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _by_name(record: dict) -> dict[str, dict]:
    return {r["variant"]: r for r in record["results"]}


def _history(record: dict, variant: str) -> list[dict]:
    """Per-epoch metrics from the record on disk (`--json` prints the stable keys only)."""
    return json.loads((Path(record["run_dir"]) / "record.json").read_text())["history"][variant]


def test_cli_compare_generative_reports_the_family_metrics(record):
    results = _by_name(record)
    assert list(results) == ["mnist-autoencoder", "mnist-vae", "mnist-vae-2d", "mnist-gan"]
    assert all(r["status"] == "ok" and r["epochs"] == 3 for r in results.values())
    assert results["mnist-autoencoder"]["test_recon"] > 0
    for vae in ("mnist-vae", "mnist-vae-2d"):
        r = results[vae]
        assert r["test_elbo"] == pytest.approx(-(r["test_recon"] + r["test_kl"]), rel=1e-4)
        assert r["test_kl"] > 0
    gan = results["mnist-gan"]
    assert 0 <= gan["gan_confident_fraction"] <= 1 and 0 <= gan["gan_classes_covered"] <= 10
    assert gan["judge_test_accuracy"] > 0.5  # even on 300 images the judge learns digits
    assert [c[0] for c in record["columns"]][:3] == ["test_recon", "train_recon", "test_elbo"]
    assert len(record["claims"]) == 3  # ELBO 20-D vs 2-D, VAE vs AE reconstruction, GAN coverage


def test_the_four_variants_share_one_data_load(tmp_path):
    """Three task types (auto-encoder, VAE, GAN) read the same images: one load, one data line."""
    from dlrun.run import runner
    from dlrun.run.request import Overrides, build_request

    request = build_request("compare", "generative", Overrides(epochs=1), (0,), None, tmp_path)
    assert len({type(e.task) for e in request.experiments}) == 3
    assert len(runner.load_data(request)) == 1


def test_autoencoder_reconstruction_error_decreases(record):
    recon = [epoch["test_recon"][0] for epoch in _history(record, "mnist-autoencoder")]
    assert recon[0] > recon[1] > recon[2], recon


def test_gan_losses_are_finite_and_both_move(record):
    history = _history(record, "mnist-gan")
    for name in ("train_d_loss", "train_g_loss"):
        losses = np.array([epoch[name][0] for epoch in history])
        assert np.all(np.isfinite(losses)), name
        assert np.ptp(losses) > 1e-3, (name, losses)  # changes across epochs


def test_pictures_exist_and_are_not_blank(record):
    from matplotlib.image import imread

    pictures = {p.rsplit("/", 1)[-1]: p for r in record["results"] for p in r["pictures"]}
    expected = {
        "mnist-autoencoder-reconstructions.png",
        "mnist-vae-reconstructions.png",
        "mnist-vae-samples.png",
        "mnist-vae-2d-latent.png",
        "mnist-vae-2d-manifold.png",
        "mnist-gan-samples.png",
        "mnist-gan-progress.png",
    }
    assert expected <= set(pictures), sorted(pictures)
    for name in expected:
        pixels = imread(pictures[name])  # [H, W, 4] floats
        assert pixels.shape[0] > 100 and pixels[..., :3].std() > 0.05, name


# --------------------------------------------------------------------------- ELBO terms


def test_gaussian_kl_matches_the_closed_form_by_hand():
    # Dim 1: mu 1, var 1 -> (1 + 1 - 1 - 0) / 2 = 0.5.  Dim 2: mu 0, var 4 -> (4 + 0 - 1 - ln 4) / 2.
    mu, logvar = jnp.array([[1.0, 0.0], [0.0, 0.0]]), jnp.array([[0.0, math.log(4.0)], [0.0, 0.0]])
    hand = 0.5 + (3.0 - math.log(4.0)) / 2  # 1.30685...
    np.testing.assert_allclose(np.asarray(gaussian_kl(mu, logvar)), [hand, 0.0], rtol=1e-6, atol=1e-7)


def test_bernoulli_log_likelihood_matches_hand_values_and_stays_finite():
    # p = sigmoid(0) = 1/2 for a 1-pixel, p = sigmoid(ln 3) = 3/4 for a 0-pixel: ln(1/2) + ln(1/4).
    logits, x = jnp.array([[0.0, math.log(3.0)]]), jnp.array([[1.0, 0.0]])
    np.testing.assert_allclose(
        np.asarray(bernoulli_log_likelihood(logits, x)), [math.log(0.5) + math.log(0.25)], rtol=1e-6
    )
    # A confident wrong pixel costs its logit (p = sigmoid(100) rounds to 1 in float32).
    np.testing.assert_allclose(np.asarray(bernoulli_log_likelihood(jnp.array([[100.0]]), jnp.array([[0.0]]))), [-100.0])


def test_binarize_agrees_on_uint8_and_float_pixels():
    raw = np.array([[0, 127, 128, 255]], np.uint8)
    np.testing.assert_array_equal(np.asarray(binarize(jnp.asarray(raw))), [[0, 0, 1, 1]])
    np.testing.assert_array_equal(np.asarray(binarize(jnp.asarray(raw / 255.0, jnp.float32))), [[0, 0, 1, 1]])


def test_reparameterisation_has_the_posterior_mean_and_variance_and_passes_gradients():
    n = 200_000
    mu = jnp.tile(jnp.array([2.0, -1.0]), (n, 1))  # [n, 2]
    logvar = jnp.tile(jnp.log(jnp.array([0.25, 9.0])), (n, 1))
    z = np.asarray(reparameterize(jax.random.key(0), mu, logvar))
    np.testing.assert_allclose(z.mean(axis=0), [2.0, -1.0], atol=0.02)  # s.e. 0.0011 and 0.0067
    np.testing.assert_allclose(z.var(axis=0), [0.25, 9.0], rtol=0.02)
    # dz/dmu = 1 and dz/dlogvar = eps * sigma / 2 for each sample.
    g_mu, g_logvar = jax.grad(lambda m, v: reparameterize(jax.random.key(1), m, v).sum(), argnums=(0, 1))(
        jnp.zeros(3), jnp.zeros(3)
    )
    eps = reparameterize(jax.random.key(1), jnp.zeros(3), jnp.zeros(3))
    np.testing.assert_allclose(np.asarray(g_mu), 1.0)
    np.testing.assert_allclose(np.asarray(g_logvar), np.asarray(eps) / 2, rtol=1e-6)


def test_vae_elbo_is_reconstruction_plus_kl_of_the_model():

    model = VAEConfig(hidden=(8,), latent=3).build(nnx.Rngs(params=0))
    x = binarize(jax.random.uniform(jax.random.key(2), (5, 784)))

    @jax.jit
    def both(x):
        mu, logvar = model.encode(x)
        logits = model.decode(reparameterize(jax.random.key(3), mu, logvar))
        by_hand = {"recon": -bernoulli_log_likelihood(logits, x).mean(), "kl": gaussian_kl(mu, logvar).mean()}
        return elbo_terms(model, x, jax.random.key(3)), by_hand

    terms, by_hand = both(x)
    np.testing.assert_allclose(terms["recon"], by_hand["recon"], rtol=1e-6)
    np.testing.assert_allclose(terms["kl"], by_hand["kl"], rtol=1e-6)
    np.testing.assert_allclose(terms["elbo"], -(terms["recon"] + terms["kl"]), rtol=1e-6)


# --------------------------------------------------------------------------- the GAN's step


@pytest.fixture(scope="module")
def gan_step() -> dict:
    """One GAN step of a tiny GAN through the task's `update`, and the same two phases by
    hand with the keys the step draws its noise from, in one compiled program."""
    exp = resolved(
        replace(
            get_experiment("mnist-gan"), model=GANConfig(latent=4, g_hidden=(8,), d_hidden=(8,), snapshot_steps=(0, 5))
        )
    )
    graphdef, params, rest = nnx.split(exp.model.build(nnx.Rngs(params=0)), nnx.Param, ...)
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=1e-2, b1=0.5)
    opt_state = exp.task.set_learning_rate(exp.task.init_optimizer(tx, params), jnp.float32(1e-3))
    batch = (jax.random.uniform(jax.random.key(0), (6, 784)), jnp.zeros(6, jnp.int32))  # pixels in [0, 1]
    hyper, key = one_hyper(exp), jax.random.key(1)

    @jax.jit
    def run(params, rest, opt_state):
        new, new_rest, new_state, metrics = exp.task.update(
            exp, graphdef, tx, params, rest, opt_state, batch, hyper, key
        )
        d_key, g_key = jax.random.split(key)
        (g, d), step, real = split_gan(params), Step(graphdef, tx, rest, hyper.weight_decay), batch[0] * 2 - 1
        d_phase = discriminator_step(step, g, d, opt_state[1], real, jax.random.normal(d_key, (6, 4)))
        g_phase = generator_step(step, g, d_phase[0], opt_state[0], jax.random.normal(g_key, (6, 4)))
        first = nnx.merge(graphdef, params, rest).generate(nnx.merge(graphdef, params, rest).fixed_noise())
        return dict(
            new=new,
            new_rest=new_rest,
            new_state=new_state,
            metrics=metrics,
            d_phase=d_phase,
            g_phase=g_phase,
            first_images=first,
        )

    return run(params, rest, opt_state) | dict(params=params, opt_state=opt_state, graphdef=graphdef)


def _changed(before, after) -> bool:
    return any(bool(jnp.any(a != b)) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)))


def test_each_gan_phase_changes_only_its_own_network(gan_step):
    """The step = D phase (moves D only), then G phase against the *updated* D (moves G only)."""
    (g, d), (got_g, got_d) = split_gan(gan_step["params"]), split_gan(gan_step["new"])
    (new_d, _, d_metrics), (new_g, _, g_metrics) = gan_step["d_phase"], gan_step["g_phase"]
    assert _changed(d, new_d) and _changed(g, new_g)
    assert set(d_metrics) == {"d_loss", "d_real", "d_fake"} and np.isfinite(g_metrics["g_loss"])
    for got, want in ((got_d, new_d), (got_g, new_g)):  # D untouched by the G phase, G by the D phase
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


def test_the_gan_step_keeps_both_adam_states_and_snapshots_the_fixed_noise(gan_step):
    opt_state, new_state = gan_step["opt_state"], gan_step["new_state"]
    assert [float(s.hyperparams["learning_rate"]) for s in opt_state] == pytest.approx([1e-3, 1e-3])
    assert jax.tree.structure(new_state) == jax.tree.structure(opt_state)
    assert [int(s.count) for s in new_state] == [1, 1]  # one Adam step each
    model = nnx.merge(gan_step["graphdef"], gan_step["new"], gan_step["new_rest"])
    assert int(model.updates[...]) == 1
    np.testing.assert_allclose(model.snapshots[0], gan_step["first_images"], rtol=1e-6)  # before the update
    assert not np.any(np.asarray(model.snapshots[1]))  # the slot for update 5 is not reached yet
    metrics = gan_step["metrics"]
    assert metrics["loss"] == pytest.approx(float(metrics["d_loss"] + metrics["g_loss"]))


# --------------------------------------------------------------------------- the GAN's judges


def test_the_judges_recognise_real_digits_and_reject_noise_and_an_untrained_generator():
    """The judges (one per JUDGE_SEEDS), trained briefly here: a sample counts only when all
    agree, so they accept most real test digits, almost no uniform-noise image and no
    sample of an untrained generator (one judge alone accepted up to 36 % of noise)."""
    from dlrun.experiments.generative import GAN, JUDGE
    from dlrun.families.generative.gan import judged_digits, samples, trained_judges

    exp = resolved(replace(GAN, train_size=2000))
    data = exp.task.place(exp, exp.task.load(exp, None)[0])
    judges, accuracy = trained_judges(replace(JUDGE, epochs=5), data)
    accepted = {
        name: judged_digits(judges, x)[0].mean()
        for name, x in [
            ("real", np.asarray(data.eval[0])),  # [1000, 784] in [0, 1]
            ("noise", np.random.default_rng(0).uniform(size=(1000, 784)).astype(np.float32)),
            ("untrained", samples(nnx.merge(*init_params(GAN, 0)), 1000)),
        ]
    }
    assert len(judges) == 3 and accuracy > 0.8
    assert accepted["real"] > 0.5 and accepted["noise"] < 0.02 and accepted["untrained"] < 0.02, accepted


# --------------------------------------------------------------------------- the full lesson (make test-slow)


@pytest.mark.slow
def test_full_generative_lesson(tmp_path):
    result = CliRunner().invoke(app, ["compare", "generative", "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    results = _by_name(record)
    assert [c["verdict"] for c in record["claims"]] == ["reproduced"] * 3
    assert results["mnist-vae"]["test_elbo"] > -130  # nats per image on the 4,000-digit sample
    assert results["mnist-gan"]["gan_classes_covered"] >= 8
    assert results["mnist-gan"]["gan_confident_fraction"] > 0.4


@pytest.mark.parametrize("change", [{"dropout": 0.5}, {"test_noise": 0.3}])
def test_settings_a_generative_task_lacks_are_refused_before_a_run_folder_exists(tmp_path, change):
    from dlrun.errors import ConfigError
    from dlrun.run import runner
    from dlrun.run.request import RunRequest

    exp = resolved(replace(get_experiment("mnist-vae"), **change))
    with pytest.raises(ConfigError, match="has no early stopping, dropout or test noise"):
        runner.run(RunRequest("train", exp.name, (exp,), None, (0,), None, tmp_path))
    assert not any(tmp_path.iterdir())
