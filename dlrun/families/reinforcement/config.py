"""Deep Q-learning on CartPole (Lecture IV, "deep reinforcement learning") as a JAX-free
config, whose `build` makes the Flax NNX agent (dlrun.families.reinforcement.models), and
the task and TD loss it is trained with (dlrun.families.reinforcement.task), named for
declarations. Imports neither JAX nor gymnax: `dlrun list` reads this module."""

from dataclasses import dataclass

from dlrun.core.config import Ref
from dlrun.errors import ConfigError
from dlrun.families.mlp.config import dense_params

CONTROL = Ref("dlrun.families.reinforcement.task:CONTROL")
HUBER = Ref("dlrun.families.reinforcement.task:huber")  # the TD loss: squared near 0, linear beyond 1

# A uniformly random policy keeps the pole up for about 22 steps; the lesson checks that it
# stays under this many, through the evaluation metric RANDOM_UNDER_CEILING = ceiling - its return.
RANDOM_CEILING = 40.0
RANDOM_UNDER_CEILING = "random_under_40"
SOLVED_RETURN = 475.0  # CartPole-v1 counts as solved at a mean return of 475 over 100 episodes

# CartPole-v1: observations (cart position and velocity, pole angle and angular velocity)
# and actions (push left, push right).
OBSERVATIONS = 4
ACTIONS = 2


@dataclass(frozen=True)
class DQNConfig:
    """A Q-network and everything DQN (Mnih et al. 2015) carries between updates: a frozen
    copy of it (the target network), the replay buffer of past transitions, the states of
    `envs` CartPoles stepped side by side, and the exploration schedule. Every engine step
    first steps each CartPole once (epsilon-greedy), stores those transitions, then makes
    one TD update on a minibatch drawn uniformly from the buffer (the experiment's
    `batch_size`). Counts of transitions are over all CartPoles together."""

    hidden: tuple[int, ...] = (128, 128)
    envs: int = 2
    buffer_size: int = 100_000  # transitions kept; the oldest are overwritten (a ring)
    learning_starts: int = 1_000  # transitions collected before the first TD update
    gamma: float = 0.99  # discount of future rewards
    target_period: int = 128  # TD updates between refreshes of the target network
    # A refresh moves the target this fraction of the way to the Q-network: 1 copies it
    # (Mnih et al. 2015); a small fraction every update is Polyak averaging (Lillicrap et al. 2016).
    target_mix: float = 1.0
    epsilon_start: float = 1.0
    epsilon_end: float = 0.04
    epsilon_decay: int = 8_000  # transitions over which epsilon falls linearly to its end value
    double: bool = True  # Double DQN (van Hasselt et al. 2016): the online net picks a', the target rates it
    logged_episodes: int = 20_000  # training episodes whose return is kept for the picture

    def __post_init__(self):
        """Bad values fail where they are declared or `--set`, with the field named."""
        for name in ("envs", "buffer_size", "target_period", "logged_episodes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be at least 1, got {getattr(self, name)}")
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError(f"model.hidden needs at least one layer of at least 1 unit, got {self.hidden}")
        for name in ("buffer_size", "logged_episodes"):  # one step of every CartPole fits in their rings
            if getattr(self, name) < self.envs:
                raise ConfigError(f"model.{name} ({getattr(self, name)}) must be at least model.envs ({self.envs})")
        if not 0 <= self.learning_starts <= self.buffer_size:
            raise ConfigError(
                f"model.learning_starts must be between 0 and the buffer size {self.buffer_size}, "
                f"got {self.learning_starts}"
            )
        if not 0.0 <= self.gamma < 1.0:
            raise ConfigError(f"model.gamma must be in [0, 1), got {self.gamma}")
        for name in ("epsilon_start", "epsilon_end"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"model.{name} must be a probability in [0, 1], got {getattr(self, name)}")
        if not 0.0 < self.target_mix <= 1.0:
            raise ConfigError(f"model.target_mix must be in (0, 1], got {self.target_mix}")
        if self.epsilon_decay < 0:
            raise ConfigError(f"model.epsilon_decay must not be negative, got {self.epsilon_decay}")

    def sizes(self) -> tuple[int, ...]:
        return (OBSERVATIONS, *self.hidden, ACTIONS)

    def build(self, rngs):
        from dlrun.families.reinforcement.models import DQNAgent  # JAX and gymnax are imported by runs only

        return DQNAgent(self, rngs=rngs)

    def num_params(self) -> int:
        return dense_params(self.sizes())  # trained weights; the target network is a copy
