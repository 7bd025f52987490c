"""Lecture IV, deep reinforcement learning: DQN on gymnax's CartPole-v1. One short real run
of `dlrun train cartpole-dqn` (learning happens: the greedy return climbs far above a
random policy's), the TD targets and the TD update against hand computation, the replay
ring's slots, the episode tally behind the per-epoch training return, the exploration
schedule, evaluation episodes of hand-written controllers (the step limit of 500 included),
clear errors for bad settings, and gymnax kept out of the commands that only read."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from typer.testing import CliRunner

from dlrun.cli import app
from dlrun.core.config import resolved
from dlrun.core.engine import make_optimizer
from dlrun.core.registry import get_experiment
from dlrun.core.task import Task
from dlrun.errors import ConfigError
from dlrun.families.reinforcement.config import DQNConfig
from dlrun.families.reinforcement.models import EpisodeLog, ReplayBuffer, Transitions, epsilon_at
from dlrun.families.reinforcement.task import (
    CONTROL,
    episode_returns,
    logged_returns,
    random_actions,
    random_policy_returns,
    td_loss,
    td_targets,
)
from helpers import one_hyper

# --------------------------------------------------------------------------- one real short run


@pytest.fixture(scope="module")
def record(tmp_path_factory) -> dict:
    """`dlrun train cartpole-dqn` for 2 epochs of 1,000 TD updates (4,000 transitions)."""
    out = tmp_path_factory.mktemp("runs")
    args = ["train", "cartpole-dqn", "--epochs", "2", "--json", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _history(record: dict) -> list[dict]:
    return json.loads((Path(record["run_dir"]) / "record.json").read_text())["history"]["cartpole-dqn"]


def test_a_short_training_lifts_the_greedy_return_far_above_a_random_policy(record):
    [result] = record["results"]
    assert result["status"] == "ok" and result["epochs"] == 2
    assert 15 < result["random_return"] < 40  # about 22 for a uniformly random policy
    assert result["test_return"] > 3 * result["random_return"], result
    assert [c[0] for c in record["columns"]][:3] == ["test_return", "test_full_episodes", "random_return"]


def test_the_training_episodes_are_tallied_per_epoch(record):
    [result] = record["results"]
    history = _history(record)
    epsilon = [epoch["train_epsilon"][0] for epoch in history]
    assert 1.0 > epsilon[0] > epsilon[1]  # exploration falls from the start
    returns = [epoch["train_return"][0] for epoch in history]
    assert all(r is not None and 8 <= r <= 500 for r in returns), returns  # a mean of whole episodes
    assert result["train_episodes"] > 50  # 4,000 transitions of mostly short episodes
    assert 8 <= result["train_return"] <= 500


def test_the_episode_picture_exists_and_is_not_blank(record):
    from matplotlib.image import imread

    [result] = record["results"]
    [picture] = [p for p in result["pictures"] if p.endswith("cartpole-dqn-episodes.png")]
    pixels = imread(picture)  # [H, W, 4] floats
    assert pixels.shape[0] > 100 and pixels[..., :3].std() > 0.05


# --------------------------------------------------------------------------- TD targets and the TD update


def _small(**changes) -> DQNConfig:
    settings = dict(hidden=(16,), envs=2, buffer_size=8, learning_starts=0, logged_episodes=8) | changes
    return DQNConfig(**settings)


def _built(config: DQNConfig, perturbed: bool = False):
    """The agent made in one compiled program (eagerly, each initialiser would compile
    alone); `perturbed`: its target network disagrees with the online one, as between two
    copies."""

    def make():
        agent = config.build(nnx.Rngs(params=0))
        for i, layer in enumerate(agent.target.layers if perturbed else []):
            layer.kernel[...] = layer.kernel[...] + 0.5 * jax.random.normal(jax.random.key(10 + i), layer.kernel.shape)
        return nnx.state(agent)

    return nnx.merge(nnx.graphdef(nnx.eval_shape(lambda: config.build(nnx.Rngs(params=0)))), jax.jit(make)())


def _batch(n: int = 32, seed: int = 0) -> Transitions:
    rng = np.random.default_rng(seed)
    return Transitions(
        obs=jnp.asarray(rng.normal(size=(n, 4)), jnp.float32),
        action=jnp.asarray(rng.integers(0, 2, n), jnp.int32),
        reward=jnp.ones(n, jnp.float32),
        next_obs=jnp.asarray(rng.normal(size=(n, 4)), jnp.float32),
        terminated=jnp.asarray(rng.random(n) < 0.3, jnp.float32),
    )


@pytest.mark.parametrize("double", [True, False])
def test_td_targets_follow_the_bellman_equation_by_hand(double):
    agent, batch = _built(_small(gamma=0.9, double=double), perturbed=True), _batch()
    both = nnx.jit(lambda agent: (agent.q(batch.next_obs), agent.target(batch.next_obs), td_targets(agent, batch)))
    online, target, targets = (np.asarray(a) for a in both(agent))  # [B, 2], [B, 2], [B]
    assert np.any(online.argmax(1) != target.argmax(1))  # so Double DQN's choice matters
    chosen = online.argmax(1) if double else target.argmax(1)  # Double DQN: the online net picks a'
    hand = 1.0 + 0.9 * (1.0 - np.asarray(batch.terminated)) * target[np.arange(32), chosen]
    np.testing.assert_allclose(targets, hand, rtol=1e-5)


def test_a_td_update_reduces_the_td_error_on_a_fixed_batch_and_leaves_the_target_alone():
    exp = resolved(replace(get_experiment("cartpole-dqn"), model=_small(gamma=0.9)))
    graphdef, params, rest = nnx.split(_built(exp.model, perturbed=True), nnx.Param, ...)
    tx = make_optimizer(exp)
    batch, hyper = _batch(), one_hyper(exp)

    @jax.jit
    def run(params, rest, opt_state):
        def one(carry, _):  # the TD step DQN's update makes after acting (Task.update with the TD loss)
            params, rest, opt_state, metrics = Task.update(CONTROL, exp, graphdef, tx, *carry, batch, hyper, None)
            return (params, rest, opt_state), metrics["loss"]

        (new_params, new_rest, _), losses = jax.lax.scan(one, (params, rest, opt_state), length=50)
        after = td_loss(exp.loss, nnx.merge(graphdef, new_params, new_rest), batch)[0]
        return losses, after, new_params, new_rest

    before = float(td_loss(exp.loss, nnx.merge(graphdef, params, rest), batch)[0])
    losses, after, new_params, new_rest = run(params, rest, CONTROL.init_optimizer(tx, params))
    assert np.isclose(losses[0], before, rtol=1e-5)  # the step's loss is the TD error of the batch
    assert losses[1] < losses[0]  # one update lowers it
    assert after < 0.5 * before  # and 50 updates halve it
    trained, untrained = nnx.merge(graphdef, new_params, new_rest), nnx.merge(graphdef, params, rest)
    np.testing.assert_array_equal(trained.target.layers[0].kernel[...], untrained.target.layers[0].kernel[...])


def test_the_dqn_step_learns_only_after_learning_starts_and_copies_the_target_every_period():
    exp = resolved(replace(get_experiment("cartpole-dqn"), model=_small(learning_starts=4, target_period=3)))
    graphdef, params, rest = nnx.split(_built(exp.model), nnx.Param, ...)
    tx = make_optimizer(exp)
    placeholders = jax.tree.map(jnp.asarray, CONTROL.place(replace(exp, train_size=8, batch_size=4), None).train)

    @jax.jit
    def run(params, rest, opt_state):
        def one(carry, key):
            params, rest, opt_state, _ = CONTROL.update(exp, graphdef, tx, *carry, placeholders, one_hyper(exp), key)
            model = nnx.merge(graphdef, params, rest)
            return (params, rest, opt_state), (model.q.layers[0].kernel[...], model.target.layers[0].kernel[...])

        return jax.lax.scan(one, (params, rest, opt_state), jax.random.split(jax.random.key(0), 4))[1]

    first = np.asarray(nnx.merge(graphdef, params, rest).q.layers[0].kernel[...])
    online, target = (np.asarray(a) for a in run(params, rest, CONTROL.init_optimizer(tx, params)))  # [4, ...]
    np.testing.assert_array_equal(online[0], first)  # 2 transitions stored < 4: no TD update yet
    assert not np.array_equal(online[1], first)  # 4 stored: learning starts
    np.testing.assert_array_equal(target[1], first)  # the target still holds the initial weights
    np.testing.assert_array_equal(target[2], online[2])  # update 3: copied
    assert not np.array_equal(target[3], online[3])  # update 4: the online net moved on
    np.testing.assert_array_equal(target[3], online[2])


# --------------------------------------------------------------------------- replay ring and episode tally


def _steps(rewards: list[float]) -> Transitions:
    """Transitions told apart by their reward; actions 0, 1, ... in the order written."""
    n = len(rewards)
    zeros = jnp.zeros((n, 4))
    return Transitions(zeros, jnp.arange(n, dtype=jnp.int32), jnp.asarray(rewards, jnp.float32), zeros, jnp.zeros(n))


def test_the_replay_ring_wraps_around_at_the_hand_checked_slots():
    @nnx.jit
    def fill(buffer):
        buffer.add(_steps([1.0, 2.0, 3.0]))  # slots 0, 1, 2
        early = (buffer.cursor[...], buffer.size[...])
        buffer.add(_steps([4.0, 5.0, 6.0, 7.0]))  # slots 3, 4, then 0, 1: the oldest two are overwritten
        return early, buffer.sample(jax.random.key(0), 200).reward

    buffer = ReplayBuffer(5)
    early, drawn = fill(buffer)
    assert (int(early[0]), int(early[1])) == (3, 3)
    np.testing.assert_array_equal(np.asarray(buffer.reward[...]), [6.0, 7.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(np.asarray(buffer.action[...]), [2, 3, 2, 0, 1])
    assert (int(buffer.cursor[...]), int(buffer.size[...])) == (2, 5)
    assert set(np.asarray(drawn).tolist()) == {3.0, 4.0, 5.0, 6.0, 7.0}  # only what the ring holds


def test_the_episode_log_keeps_the_last_episodes_in_order():
    @nnx.jit
    def play(log):
        log.record(jnp.array([10.0, 20.0]), jnp.array([True, False]))  # episode 0 ends with 10
        log.record(jnp.array([30.0, 40.0]), jnp.array([True, True]))  # episodes 1, 2
        first_epoch = log.epoch_mean()
        log.start_epoch(jnp.array(True))
        log.record(jnp.array([50.0, 60.0]), jnp.array([True, True]))  # episodes 3, 4: the ring drops episode 0
        return first_epoch, log.epoch_mean(), log.recent_mean()

    log = EpisodeLog(4)
    first_epoch, second_epoch, recent = (float(x) for x in play(log))
    returns, first = logged_returns(log)
    np.testing.assert_array_equal(returns, [30.0, 40.0, 50.0, 60.0])
    assert first == 1 and int(log.count[...]) == 5
    assert first_epoch == pytest.approx(80.0 / 3) and second_epoch == 55.0  # each epoch's own episodes
    assert recent == 45.0  # the last (up to 100) episodes the log still holds


def test_the_per_step_return_metric_averages_to_the_epochs_episode_mean():
    """The engine averages step metrics over the epoch; the epoch's last step carries the
    whole epoch's mean, so the average is the mean return of the episodes that ended."""
    graphdef, state = nnx.split(_built(_small(envs=4, buffer_size=16, logged_episodes=400)))
    steps = 50

    @jax.jit
    def epoch(state, key):
        def one(state, key):
            agent = nnx.merge(graphdef, state)
            metrics = agent.collect(*jax.random.split(key), steps)
            agent.updates[...] = agent.updates[...] + 1
            return nnx.state(agent), metrics["return"]

        return jax.lax.scan(one, state, jax.random.split(key, steps))

    state, _ = epoch(state, jax.random.key(0))  # a first epoch, forgotten by the second
    count_before = int(nnx.merge(graphdef, state).episodes.count[...])
    state, emitted = epoch(state, jax.random.key(1))
    returns, first = logged_returns(nnx.merge(graphdef, state).episodes)
    this_epoch = returns[count_before - first :]
    assert len(this_epoch) > 3
    assert float(np.mean(np.asarray(emitted))) == pytest.approx(float(this_epoch.mean()), rel=1e-5)


def test_epsilon_falls_linearly_then_stays():
    config = _small(epsilon_start=1.0, epsilon_end=0.1, epsilon_decay=1_000)
    at = [float(epsilon_at(config, jnp.float32(n))) for n in (0, 250, 500, 1_000, 5_000)]
    np.testing.assert_allclose(at, [1.0, 0.775, 0.55, 0.1, 0.1], rtol=1e-6)
    assert float(epsilon_at(_small(epsilon_decay=0, epsilon_end=0.2), jnp.float32(0))) == pytest.approx(0.2)


# --------------------------------------------------------------------------- evaluation episodes


def test_evaluation_returns_of_hand_written_controllers_and_of_a_random_policy():
    starts = jnp.arange(100, dtype=jnp.int32)
    policies = {
        "left": lambda obs, t: jnp.zeros(obs.shape[0], jnp.int32),  # always push left: the pole falls at once
        "pd": lambda obs, t: (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(jnp.int32),  # push under the falling pole
    }
    run = jax.jit(lambda starts: {name: episode_returns(p, starts) for name, p in policies.items()})(starts)
    left, pd = np.asarray(run["left"]), np.asarray(run["pd"])
    assert 8 <= left.min() and left.max() <= 12
    np.testing.assert_array_equal(pd, 500.0)  # CartPole-v1 cuts episodes at 500 steps
    random = random_policy_returns()
    assert 15 < random.mean() < 40 and random.max() < 200  # about 22: far from the solved 475
    assert np.all(random == np.round(random)) and random.min() >= 8  # returns count steps
    table = random_actions(100)
    assert set(np.unique(table)) == {0, 1} and abs(table.mean() - 0.5) < 0.01  # both pushes, evenly


# --------------------------------------------------------------------------- settings and imports


@pytest.mark.parametrize(
    "changes, says",
    [
        (dict(gamma=1.0), "model.gamma"),
        (dict(envs=0), "model.envs"),
        (dict(learning_starts=100, buffer_size=50), "model.learning_starts"),
        (dict(epsilon_end=1.5), "model.epsilon_end"),
        (dict(envs=16, buffer_size=8, learning_starts=0), "model.buffer_size"),
        (dict(hidden=()), "model.hidden"),
    ],
)
def test_bad_settings_are_refused_with_the_field_named(changes, says):
    with pytest.raises(ConfigError, match=says):
        replace(DQNConfig(), **changes)


def test_settings_the_task_cannot_honour_are_refused():
    exp = get_experiment("cartpole-dqn")
    for bad, says in ((replace(exp, dropout=0.5), "dropout"), (replace(exp, batch_size=None), "batch size")):
        with pytest.raises(ConfigError, match=says):
            CONTROL.train_rows(bad, None)


def test_commands_that_only_read_do_not_import_gymnax(tmp_path):
    probe = (
        "import sys; from dlrun.cli import run_command; code = run_command(sys.argv[1:]); "
        "print('GYMNAX', 'gymnax' in sys.modules, 'EXIT', code, file=sys.stderr)"
    )
    for args in (["list"], ["show", "cartpole-dqn"], ["show", "cartpole"]):
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=tmp_path)
        assert "GYMNAX False EXIT 0" in done.stderr, done.stderr[-2000:]
