"""Deep Q-learning on CartPole as a task of the one engine. There is no data set: the agent
makes its own data by acting. The engine's loop is kept: each engine step is one DQN
iteration in the task's own `update` (act in every CartPole, store the transitions,
one TD update on a minibatch replayed from the buffer, maybe refresh the target network).

* The training "rows" are placeholders: their number over the batch size sets the TD
  updates per epoch (`steps_per_epoch`); the batch size is the replayed minibatch.
* The test split is 100 evaluation episodes from fixed start states, played greedily
  (no exploration) up to CartPole-v1's limit of 500 steps; the headline is their mean
  return. The same start states played uniformly at random give the baseline (once per
  process, on the host: it does not depend on the agent).
* Training metrics per epoch: `return`, the mean return of the training episodes
  (epsilon-greedy) that ended in the epoch; `loss`, the TD loss; `epsilon`; `q`, the mean
  Q-value of the replayed actions. The final `train_return` is the mean return of the last
  100 training episodes, `train_episodes` how many training episodes ended.
"""

import functools
import hashlib
import importlib.metadata
from pathlib import Path
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from dlrun.core.task import DataInfo, Task, TaskData
from dlrun.errors import ConfigError
from dlrun.families.reinforcement import pictures
from dlrun.families.reinforcement.config import ACTIONS, RANDOM_CEILING, RANDOM_UNDER_CEILING, SOLVED_RETURN
from dlrun.families.reinforcement.models import ENV_NAME, DQNAgent, EpisodeLog, Transitions, cartpole, strong_types

EVAL_EPISODES = 100  # the test split: as many episodes as gym's "solved" criterion averages
EVAL_SEED = 0  # start states of the evaluation episodes and the random actions: the same every epoch and seed
VALIDATION_START = 1_000_000  # early stopping's episodes start from other states than the test's


class Steps(NamedTuple):
    """The training split: placeholders, one per replayed transition of an epoch."""

    row: jax.Array  # [N]


class Episodes(NamedTuple):
    """An evaluation split: which start state each episode begins from."""

    start: jax.Array  # [M] int32, folded into a fixed key


def huber(q: jax.Array, target: jax.Array) -> jax.Array:
    """The TD loss (the experiments' `loss`): Huber with delta 1, mean over the batch, so
    an error's gradient is clipped to [-1, 1] as in Mnih et al. 2015."""
    return optax.huber_loss(q, target, delta=1.0).mean()


def td_targets(agent: DQNAgent, batch: Transitions) -> jax.Array:
    """r + gamma * Q_target(s', a') where the episode goes on, r where it terminated: [B].
    a' is the target network's best action, or with Double DQN the online network's."""
    next_target = agent.target(batch.next_obs)  # [B, A]
    chooser = agent.q(batch.next_obs) if agent.config.double else next_target
    best = jnp.argmax(chooser, axis=-1)  # [B]
    bootstrap = jnp.take_along_axis(next_target, best[:, None], axis=1)[:, 0]
    return batch.reward + agent.config.gamma * (1.0 - batch.terminated) * bootstrap


def td_loss(loss_fn: Callable, agent: DQNAgent, batch: Transitions) -> tuple[jax.Array, dict]:
    """loss_fn(Q(s, a), target) on a batch of transitions; the target is held fixed."""
    q = agent.q(batch.obs)  # [B, A]
    taken = jnp.take_along_axis(q, batch.action[:, None], axis=1)[:, 0]  # [B]
    target = jax.lax.stop_gradient(td_targets(agent, batch))
    return loss_fn(taken, target), {"q": taken.mean()}


def steps_per_epoch(exp) -> int:
    """TD updates per epoch: the placeholder rows over the minibatch (the engine's steps)."""
    return exp.train_size // exp.batch_size


def episode_returns(policy: Callable, starts: jax.Array) -> jax.Array:
    """The return [M] of one episode from each start [M], acting with policy(obs [M, 4],
    step) -> actions [M], until the pole falls, the cart leaves the track or the step limit
    (500). Episodes are not restarted, so the loop draws no random numbers (quick to compile)."""
    env, params = cartpole()
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(jax.random.key(EVAL_SEED), starts)  # [M]
    _, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)

    def running(carry):
        t, _, alive, _ = carry
        return (t < params.max_steps_in_episode) & jnp.any(alive)

    def advance(carry):
        t, state, alive, total = carry
        actions = policy(jax.vmap(env.get_obs)(state), t)
        _, state, reward, terminated, _ = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))(keys, state, actions, params)
        ended = terminated | jax.vmap(env.is_truncated, in_axes=(0, None))(state, params)
        return t + 1, strong_types(state), alive & ~ended, total + jnp.where(alive, reward, 0.0)

    start = (jnp.int32(0), strong_types(state), jnp.ones(starts.shape, bool), jnp.zeros(starts.shape, jnp.float32))
    return jax.lax.while_loop(running, advance, start)[-1]


def random_actions(episodes: int) -> np.ndarray:
    """Uniformly random actions [episodes, 500], drawn once on the host."""
    limit = int(cartpole()[1].max_steps_in_episode)
    return np.random.default_rng(EVAL_SEED).integers(0, ACTIONS, (episodes, limit), dtype=np.int32)


@functools.cache  # the same for every model and seed: played once per process
def random_policy_returns() -> np.ndarray:
    """The returns [EVAL_EPISODES] of a uniformly random policy from the test episodes' starts."""
    table = jnp.asarray(random_actions(EVAL_EPISODES))
    play = jax.jit(lambda starts: episode_returns(lambda obs, t: table[:, t], starts))
    return np.asarray(play(jnp.arange(EVAL_EPISODES, dtype=jnp.int32)))


class CartPoleControl(Task):
    """DQN's data, step and evaluation (see the module docstring)."""

    name = "cartpole-dqn"
    selection_metric = "return"  # greedy evaluation return: progress lines, early stopping
    needs_key = True  # exploration, environment resets and replay sampling every step
    mixed_precision = False
    diverged_above = 1e4  # a Huber TD loss this large means Q-values ran away (returns are at most 500)
    columns = (
        ("test_return", "eval return"),
        ("test_full_episodes", "eval at 500"),
        ("random_return", "random policy"),
        ("train_return", "last 100 train"),
        ("train_episodes", "train episodes"),
    )

    def load(self, exp, data_dir: Path | None) -> tuple[str, DataInfo]:
        """The simulator stands in for data; its version and parameters identify it."""
        env, params = cartpole()
        identity = f"gymnax {importlib.metadata.version('gymnax')} {ENV_NAME} {params}"
        source = f"{ENV_NAME} simulated by gymnax (train: replayed transitions per epoch, test: greedy episodes)"
        digest = hashlib.sha256(identity.encode()).hexdigest()
        return identity, DataInfo(source, digest, None, EVAL_EPISODES, exp.train_size)

    def train_rows(self, exp, loaded) -> int:  # the runner's early check of the settings
        if exp.dropout or exp.test_noise:
            raise ConfigError(f"{exp.name}: the {self.name} task has no dropout or test noise")
        if exp.batch_size is None:
            raise ConfigError(f"{exp.name}: DQN replays minibatches; give a batch size")
        return exp.train_size

    def place(self, exp, loaded) -> TaskData:
        self.train_rows(exp, loaded)
        validation = VALIDATION_START + np.arange(EVAL_EPISODES if exp.early_stopping else 0)
        return TaskData(
            Steps(np.arange(exp.train_size, dtype=np.int32)),
            Episodes(np.arange(EVAL_EPISODES, dtype=np.int32)),
            Episodes(validation.astype(np.int32)),
        )

    def loss(self, exp, model: DQNAgent, batch: Transitions, hyper, key):
        return td_loss(exp.loss, model, batch)

    def update(self, exp, graphdef, tx, params, rest, opt_state, batch: Steps, hyper, key):
        """Act and store, then one TD update (none until the buffer holds learning_starts
        transitions), then count the update and maybe refresh the target network."""
        act_key, env_key, sample_key = jax.random.split(key, 3)
        agent = nnx.merge(graphdef, params, rest, copy=True)
        acted = agent.collect(act_key, env_key, steps_per_epoch(exp))
        replayed = agent.buffer.sample(sample_key, batch.row.shape[0])
        ready = agent.buffer.size[...] >= agent.config.learning_starts
        rest = nnx.state(agent, nnx.Not(nnx.Param))
        learned, rest, learned_state, metrics = super().update(
            exp, graphdef, tx, params, rest, opt_state, replayed, hyper, key
        )
        params, opt_state = jax.tree.map(
            lambda new, old: jnp.where(ready, new, old), (learned, learned_state), (params, opt_state)
        )
        agent = nnx.merge(graphdef, params, rest, copy=True)
        agent.finish_update()
        return params, nnx.state(agent, nnx.Not(nnx.Param)), opt_state, metrics | acted

    def evaluate(self, exp, model: DQNAgent, split):
        if isinstance(split, Steps):  # the final "train" numbers: the training episodes themselves
            return {"return": model.episodes.recent_mean(), "episodes": model.episodes.count[...].astype(jnp.float32)}
        returns = episode_returns(lambda obs, t: model.greedy(obs), split.start)  # [M]
        return {"return": returns.mean(), "full_episodes": jnp.mean(returns >= cartpole()[1].max_steps_in_episode)}

    def host_metrics(self, exp, model, data: TaskData) -> dict[str, float]:
        """The baseline: a uniformly random policy from the same start states."""
        random = float(random_policy_returns().mean())
        return {"random_return": random, RANDOM_UNDER_CEILING: RANDOM_CEILING - random}

    def pictures(self, exp, model: DQNAgent, data: TaskData, out_dir: Path) -> list[Path]:
        returns, first = logged_returns(model.episodes)
        kept = " up to the kept epoch" if exp.early_stopping else ""
        title = f"{exp.name}: return of each training episode{kept} (epsilon-greedy), first seed"
        path = out_dir / f"{exp.name}-episodes.png"
        return [pictures.save_episode_returns(returns, first, SOLVED_RETURN, path, title)]


def logged_returns(log: EpisodeLog) -> tuple[np.ndarray, int]:
    """The logged training returns in the order the episodes ended, and the number of the
    first of them (the log keeps the last `capacity` episodes)."""
    count, capacity, ring = int(log.count[...]), log.capacity, np.asarray(log.returns[...])
    if count <= capacity:
        return ring[:count], 0
    return np.roll(ring, -(count % capacity)), count - capacity


CONTROL = CartPoleControl()
