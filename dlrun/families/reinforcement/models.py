"""The DQN agent as a Flax NNX module (config: dlrun.families.reinforcement.config).

Only the Q-network's weights are `nnx.Param`s, trained by the engine's optimizer. The rest
of what DQN carries from one update to the next is non-trainable state, which the engine
carries as `rest`: the target network, the replay buffer, the CartPoles where training
left them, and the tally of training episodes. The CartPole physics is gymnax's
(`gymnax.make("CartPole-v1")`), vmapped over the side-by-side copies.
"""

import functools
from typing import NamedTuple

import gymnax
import jax
import jax.numpy as jnp
from flax import nnx

from dlrun.families.mlp.config import Activation
from dlrun.families.mlp.models import MLP
from dlrun.families.reinforcement.config import OBSERVATIONS, DQNConfig

ENV_NAME = "CartPole-v1"
RECENT_EPISODES = 100  # gym's "solved" averages 100 consecutive episodes; the final train return does too


class Target(nnx.Variable):
    """The target network's weights: a copy of the Q-network's, refreshed every few updates."""


class Replay(nnx.Variable):
    """The replay buffer's transitions, its write cursor and fill level."""


class Rollout(nnx.Variable):
    """The training CartPoles: their states, observations and the returns of their running episodes."""


class Tally(nnx.Variable):
    """Counts and returns of training episodes and updates, for metrics and pictures."""


@functools.cache  # one environment object per process: gymnax's jitted step is keyed on it
def cartpole():
    """(environment, its parameters): gymnax's CartPole-v1, episodes cut at 500 steps."""
    return gymnax.make(ENV_NAME)


class Transitions(NamedTuple):
    """What the buffer stores per environment step (leaves [N, ...])."""

    obs: jax.Array  # [N, 4] the observation the action was chosen on
    action: jax.Array  # [N] int32
    reward: jax.Array  # [N]
    next_obs: jax.Array  # [N, 4] the observation after the action, before any reset
    terminated: jax.Array  # [N] 1.0 where the pole fell or the cart left the track; a time limit is not an end


TRANSITION_SHAPES = Transitions(
    obs=((OBSERVATIONS,), jnp.float32),
    action=((), jnp.int32),
    reward=((), jnp.float32),
    next_obs=((OBSERVATIONS,), jnp.float32),
    terminated=((), jnp.float32),
)


class ReplayBuffer(nnx.Module):
    """A ring of the last `capacity` transitions: new ones overwrite the oldest."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        for name, (shape, dtype) in zip(Transitions._fields, TRANSITION_SHAPES):
            setattr(self, name, Replay(jnp.zeros((capacity, *shape), dtype)))
        self.cursor = Replay(jnp.zeros((), jnp.int32))  # the next slot written
        self.size = Replay(jnp.zeros((), jnp.int32))  # slots filled so far

    def add(self, batch: Transitions) -> None:
        """Write n transitions [n, ...] at the cursor, wrapping around (n <= capacity)."""
        n = batch.reward.shape[0]
        slots = (self.cursor[...] + jnp.arange(n)) % self.capacity  # [n]
        for name, values in zip(Transitions._fields, batch):
            stored = getattr(self, name)
            stored[...] = stored[...].at[slots].set(values)
        self.cursor[...] = (self.cursor[...] + n) % self.capacity
        self.size[...] = jnp.minimum(self.size[...] + n, self.capacity)

    def contents(self) -> Transitions:
        return Transitions(*(getattr(self, name)[...] for name in Transitions._fields))

    def sample(self, key: jax.Array, n: int) -> Transitions:
        """n transitions drawn uniformly, with replacement, from the filled slots."""
        rows = jax.random.randint(key, (n,), 0, jnp.maximum(self.size[...], 1))  # [n]
        return jax.tree.map(lambda stored: stored[rows], self.contents())


def strong_types(tree):
    """The same arrays without weak types (gymnax's step counter is a Python int at reset):
    state carried through the engine's scan must keep one type."""
    return jax.tree.map(lambda a: jnp.asarray(a, a.dtype), tree)


class CartPoles(nnx.Module):
    """`n` CartPoles stepped side by side; one whose episode ends restarts at once (gymnax's auto-reset)."""

    def __init__(self, n: int, key: jax.Array):
        env, params = cartpole()
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, n), params)
        self.state = Rollout(strong_types(state))  # gymnax EnvState, leaves [n]
        self.obs = Rollout(obs)  # [n, 4]
        self.returns = Rollout(jnp.zeros(n, jnp.float32))  # reward so far in each running episode

    def step(self, actions: jax.Array, key: jax.Array) -> tuple[Transitions, jax.Array, jax.Array]:
        """Apply actions [n]; returns (the transitions, each episode's return so far [n],
        which episodes ended [n])."""
        env, params = cartpole()
        keys = jax.random.split(key, actions.shape[0])
        obs, state, reward, terminated, truncated, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            keys, self.state.get_value(), actions, params
        )
        moved = Transitions(self.obs[...], actions, reward, info["final_observation"], terminated.astype(jnp.float32))
        returns = self.returns[...] + reward
        ended = terminated | truncated
        self.state.set_value(strong_types(state))
        self.obs[...] = obs
        self.returns[...] = jnp.where(ended, 0.0, returns)
        return moved, returns, ended


class EpisodeLog(nnx.Module):
    """The returns of the last `capacity` training episodes (a ring, in the order they
    ended), how many ended, and the sum and count of those that ended this epoch."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.returns = Tally(jnp.zeros(capacity, jnp.float32))
        self.count = Tally(jnp.zeros((), jnp.int32))  # episodes ended since training began
        self.epoch_sum = Tally(jnp.zeros((), jnp.float32))
        self.epoch_count = Tally(jnp.zeros((), jnp.int32))

    def record(self, returns: jax.Array, ended: jax.Array) -> None:
        """Log the returns [n] of the episodes that `ended` [n] (n <= capacity)."""
        order = self.count[...] + jnp.cumsum(ended) - 1  # [n] each ended episode's number
        slots = jnp.where(ended, order % self.capacity, self.capacity)  # out of range: not written
        self.returns[...] = self.returns[...].at[slots].set(returns, mode="drop")
        self.count[...] = self.count[...] + jnp.sum(ended)
        self.epoch_sum[...] = self.epoch_sum[...] + jnp.sum(jnp.where(ended, returns, 0.0))
        self.epoch_count[...] = self.epoch_count[...] + jnp.sum(ended)

    def start_epoch(self, now: jax.Array) -> None:
        """Forget the epoch's episodes when `now` (a new epoch begins)."""
        self.epoch_sum[...] = jnp.where(now, 0.0, self.epoch_sum[...])
        self.epoch_count[...] = jnp.where(now, 0, self.epoch_count[...])

    def epoch_mean(self) -> jax.Array:
        """Mean return of the episodes that ended this epoch (NaN when none did)."""
        count = self.epoch_count[...]
        return jnp.where(count > 0, self.epoch_sum[...] / jnp.maximum(count, 1), jnp.nan)

    def recent_mean(self) -> jax.Array:
        """Mean return of the last RECENT_EPISODES episodes (fewer when fewer ended)."""
        window = min(RECENT_EPISODES, self.capacity)
        back = jnp.arange(window)  # 0 = the latest episode
        slots = (self.count[...] - 1 - back) % self.capacity
        ended = back < self.count[...]
        return jnp.sum(jnp.where(ended, self.returns[...][slots], 0.0)) / jnp.maximum(jnp.sum(ended), 1)


def frozen_copy(network: MLP) -> MLP:
    """The network with the same weights held as Target variables: not trained."""
    copy = nnx.clone(network)
    for layer in copy.layers:
        layer.kernel = Target(layer.kernel[...])
        layer.bias = Target(layer.bias[...])
    return copy


def epsilon_at(config: DQNConfig, transitions: jax.Array) -> jax.Array:
    """The exploration rate after `transitions` collected: linear from epsilon_start to
    epsilon_end over epsilon_decay transitions, then constant."""
    if config.epsilon_decay == 0:
        return jnp.full_like(transitions, config.epsilon_end, jnp.float32)
    progress = jnp.clip(transitions / config.epsilon_decay, 0.0, 1.0)
    return config.epsilon_start + (config.epsilon_end - config.epsilon_start) * progress


def epsilon_greedy(q_values: jax.Array, epsilon: jax.Array, key: jax.Array) -> jax.Array:
    """Actions [n] from Q-values [n, A]: the best with probability 1 - epsilon, else uniform."""
    n, actions = q_values.shape
    draws = jax.random.uniform(key, (n, 2))  # one draw decides whether to explore, one which action
    explored = jnp.minimum((draws[:, 1] * actions).astype(jnp.int32), actions - 1)
    return jnp.where(draws[:, 0] < epsilon, explored, jnp.argmax(q_values, axis=-1))


class DQNAgent(nnx.Module):
    """The Q-network Q(s, .) (trained), its target copy, the replay buffer, the training
    CartPoles and the episode log; `updates` counts the TD updates (engine steps) so far."""

    def __init__(self, config: DQNConfig, *, rngs: nnx.Rngs):
        self.config = config
        self.q = MLP(config.sizes(), Activation.RELU, rngs=rngs)
        self.target = frozen_copy(self.q)
        self.buffer = ReplayBuffer(config.buffer_size)
        self.cartpoles = CartPoles(config.envs, rngs.params())
        self.episodes = EpisodeLog(config.logged_episodes)
        self.updates = Tally(jnp.zeros((), jnp.int32))

    def transitions(self) -> jax.Array:
        """Transitions collected so far: every update steps each CartPole once."""
        return self.updates[...] * self.config.envs

    def greedy(self, obs: jax.Array) -> jax.Array:
        """How the agent acts when evaluated: the action of the highest Q-value, [n, 4] -> [n]."""
        return jnp.argmax(self.q(obs), axis=-1)

    def collect(self, act_key: jax.Array, env_key: jax.Array, steps_per_epoch: int) -> dict[str, jax.Array]:
        """Step every CartPole once epsilon-greedily and store the transitions. Returns the
        step's metrics; `return` is chosen so that its mean over the epoch's steps is the
        mean return of the training episodes that ended in the epoch."""
        position = self.updates[...] % steps_per_epoch
        self.episodes.start_epoch(position == 0)
        epsilon = epsilon_at(self.config, self.transitions())
        actions = epsilon_greedy(self.q(self.cartpoles.obs[...]), epsilon, act_key)
        moved, returns, ended = self.cartpoles.step(actions, env_key)
        self.buffer.add(moved)
        self.episodes.record(returns, ended)
        last = position == steps_per_epoch - 1  # the engine averages over steps: the whole epoch's mean at its end
        return {"epsilon": epsilon, "return": jnp.where(last, steps_per_epoch * self.episodes.epoch_mean(), 0.0)}

    def finish_update(self) -> None:
        """Count the update; every target_period updates, move the target network
        target_mix of the way to the Q-network (all the way: a copy)."""
        self.updates[...] = self.updates[...] + 1
        now = self.updates[...] % self.config.target_period == 0
        mix = jnp.where(now, self.config.target_mix, 0.0)
        for online, target in zip(self.q.layers, self.target.layers):
            for name in ("kernel", "bias"):
                old, new = getattr(target, name), getattr(online, name)
                old[...] = (1.0 - mix) * old[...] + mix * new[...]  # exactly a copy at mix 1, unchanged at 0
