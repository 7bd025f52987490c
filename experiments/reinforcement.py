"""Lecture IV, "deep reinforcement learning" (Hung-yi Lee, 2016): an agent acts on an
environment, observes it and receives rewards, and learns which actions maximise the
expected reward; a deep network is the function from observation to action. Seed lecture
002 names the method: deep Q-learning, Q(s, a) as a network (Mnih et al. 2015).

dlrun's version balances gymnax's CartPole-v1 (+1 per step the pole stays up, episodes cut
at 500 steps; "solved" is a mean return of 475 over 100 episodes). Double DQN (van Hasselt
et al. 2016) with a 4-128-128-2 ReLU Q-network, a replay buffer of 100,000 transitions, a
target network copied every 128 TD updates, epsilon-greedy exploration falling from 1 to
0.04 over the first 8,000 transitions, the Huber TD loss and Adam (lr 2.3e-3), batches of
64: the settings of RL Baselines3 Zoo's tuned CartPole-v1 DQN (which uses a 256-256
network), with 2 CartPoles stepped per update, so each transition is replayed 32 times on
average, as there. An epoch is 1,000 TD updates (2,000 transitions); 30 epochs.

The greedy return swings between 500 and under 100 from one epoch to the next, on every
seed, long after it first reaches 500 (DQN is known to be unstable on CartPole; meanwhile
the replayed Q-values climb steadily towards the 99.3 that 500 steps are worth at gamma
0.99, reached at epoch 26). dlrun therefore keeps the weights of the epoch
whose greedy return on 100 validation episodes was best, as early stopping does in the
supervised lessons; the validation episodes start from other states than the 100 test
episodes the headline is measured on.

Evidence (2026-12-01, 2 CPU cores shared with other jobs): `dlrun compare cartpole --seeds 3`
took 137 s wall (79 s CPU; 32 s compiling, cold cache). It gives an eval return of
500.0 ± 0.0, every test episode of every seed reaching 500, against 22.7 for a uniformly
random policy on the same start states. Both claims are reproduced. With
`dlrun train cartpole-dqn --seeds 6` the validation return reached 500 on seeds 0–5 (first
at epochs 24, 13, 19, 25, 19 and 20 of 30), and the kept weights return 500.0. The last
epoch alone would have passed on 2 of those 6 seeds. Seeds 6–11: 5 of 6 pass; seed 6
never got past 293 on validation (291.0 on test). Over seeds 0–11, 11 of 12 pass.
Run it with

    dlrun compare cartpole --seeds 3   # curves.png: training and evaluation return per epoch, seeds' spread
    dlrun train cartpole-dqn           # cartpole-dqn-episodes.png: the return of every training episode
"""

from dlrun.core.config import Claim, EarlyStopping, Experiment, Group, Optimizer, Ref
from dlrun.core.registry import register, register_group
from dlrun.families.reinforcement.config import (
    CONTROL,
    HUBER,
    RANDOM_CEILING,
    RANDOM_UNDER_CEILING,
    SOLVED_RETURN,
    DQNConfig,
)

EPOCHS = 30

DQN = register(
    Experiment(
        name="cartpole-dqn",
        description="Double DQN on gymnax CartPole-v1: 4-128-128-2 Q-network, replay, target network, "
        "epsilon-greedy; keeps the epoch of best validation return",
        reference=None,  # the slides print no number
        model=DQNConfig(),
        task=CONTROL,
        loss=HUBER,
        optimizer=Optimizer(Ref("optax:adam"), 2.3e-3),
        dataset=None,  # the agent's own experience
        train_size=64 * 1_000,  # 1,000 TD updates of 64 replayed transitions per epoch
        batch_size=64,
        epochs=EPOCHS,
        # Patience as long as the training: it never stops early, it keeps the weights of the
        # epoch with the best greedy return on 100 validation episodes (the fraction is unused).
        early_stopping=EarlyStopping(patience=EPOCHS),
    )
)

register_group(
    Group(
        "cartpole",
        "deep Q-learning balances the pole of CartPole-v1; a random policy does not",
        (DQN.name,),
        (
            Claim(
                DQN.name,
                None,
                SOLVED_RETURN,
                metric="test_return",
                text=f"the trained agent's mean return over 100 greedy episodes is above {SOLVED_RETURN:g} (solved)",
            ),
            Claim(
                DQN.name,
                None,
                0.0,
                metric=RANDOM_UNDER_CEILING,
                text=f"a uniformly random policy keeps the pole up for fewer than {RANDOM_CEILING:g} steps (about 22)",
            ),
        ),
        lesson="An agent learns from rewards alone: deep Q-learning keeps the pole up for all 500 steps, "
        "where random actions keep it up for about 22.",
    )
)
