"""Lecture IV, "Ultra Deep Network" (Hung-yi Lee, 2016): "worry about training first".

The slides show networks growing from 8 to 152 layers and two structures that make that
trainable: the residual block, x + H(x) (He et al. 2016), which makes a deep network "an
ensemble of many networks with different depth" (Veit et al. 2016), and the highway
block, T H(x) + (1 - T) x (Srivastava, Greff & Schmidhuber 2015), whose gates let the
network "automatically determine the layers needed". The lesson here is the highway
paper's MNIST experiment (its Fig. 1): thin MLPs of 10 to 100 layers, plain or not.

The settings: 784 -> Dense(50) + act (the stem) -> B blocks of 50 units -> Dense(10)
softmax ("B blocks" is B + 2 Dense layers); Glorot-uniform kernels, zero biases; the
highway gates' bias starts at -3 (-4 at 100 blocks, see DEEPEST_GATE_BIAS); the residual
kernels start 1/sqrt(B) times Glorot (dlrun.families.ultradeep.models.branch_scale; no
batch norm). Adam at lr 0.001, batches of 100, 20 epochs, the Lecture II training subset
(all 4,000 digits of the bundled sample). The blocks' weights are stacked and applied by
one lax.scan: the loss-and-gradient program is 33,228 characters of HLO at 10, 20 and 50
blocks and 33,364 at 100, and its compile time does not grow with depth.

The evidence, `dlrun compare ultradeep --seeds 3` (2026-12-01, the 4,000-digit sample;
mean over seeds 0-2; lesion: the mean test accuracy over deleting each single block):

    blocks  kind      sigmoid: test acc  train loss   ReLU: test acc  train loss  lesion acc
    10      plain              0.194     1.920              0.922     0.029       0.106
    10      residual           0.916     0.173              0.940     0.004       0.931
    10      highway            0.912     0.231              0.935     0.022       0.910
    50      plain              0.100     2.304              0.100     2.303       0.100
    50      residual           0.907     0.212              0.931     0.015       0.931
    50      highway            0.917     0.217              0.932     0.034       0.926

Plain 50-block nets do not train at all (the loss stays at log 10 = 2.30): at
initialisation the first block's kernel gradient is 0 in float32 with sigmoid and 2e-9
with ReLU, against 0.89 and 3.4 in the residual nets (1,000 training digits, seed 0).
Residual and highway nets at 50 blocks are within 0.01 of their 10-block versions. Deleting
any one block of the trained residual-50 ReLU net leaves 0.925 or more (0.931 on average,
the intact net's accuracy); deleting one of plain-10's layers leaves 0.106, chance.
Highway ReLU nets keep their gates a little open (mean T 0.07 at 50 blocks); the sigmoid
highway nets shut them (T = 0.001): they decided to use almost none of their blocks.

`dlrun compare ultradeep-depth --seeds 3` (same date, data and seeds), ReLU test accuracy:

    blocks       10      20      50      100
    plain        0.922   0.899   0.100   0.100
    residual     0.940   0.927   0.931   0.919
    highway      0.935   0.935   0.932   (0.896 +- 0.053, not in the group)

Plain nets degrade with depth, first in their training loss (0.029 at 10, 0.093 at 20,
as He et al.'s plain-56 against plain-20), then entirely. The highway net of 100 blocks
is the one setting that is unstable here: one seed in three jumps to a training loss of
5.6 at epoch 11 and ends at 0.834 (`dlrun train ultradeep-highway-100-relu --seeds 3`);
gate bias -5 diverged, lr 0.0003 gave 0.903 +- 0.023. The gate bias: at 50 ReLU blocks
(1 seed, 10 epochs) -1, -2, -3 and -4 gave 0.728, 0.430, 0.930 and 0.921. SGD with
momentum 0.9 (lr 0.01; 1 seed, 10 epochs, gate bias -2) trained no net better than Adam
and left both 50-block highway nets at chance.

Run it with

    dlrun compare ultradeep --seeds 3        # 10 claims; 9 min wall on 2 busy CPU cores
    dlrun compare ultradeep-depth --seeds 3  # 5 claims; 5 min
    dlrun train ultradeep-highway-50-relu    # the gates and lesion pictures beside the record
"""

from dataclasses import replace

from dlrun.core.config import ADAM, Claim, Experiment, Group
from dlrun.core.registry import register, register_group
from dlrun.families.mlp.config import Activation
from dlrun.families.ultradeep.config import ULTRADEEP, Connection, DeepConfig

SIGMOID, RELU = Activation.SIGMOID, Activation.RELU
PLAIN, RESIDUAL, HIGHWAY = Connection.PLAIN, Connection.RESIDUAL, Connection.HIGHWAY
DEPTHS = {RELU: (10, 20, 50, 100), SIGMOID: (10, 50)}
# The carry path of B blocks whose gates start at T = sigmoid(b) passes (1 - T)^B of the
# signal at the start: 9% at 50 blocks with b = -3 (DeepConfig's default), 0.8% at 100
# (ReLU highway nets diverged), 16% at 100 with b = -4.
DEEPEST_GATE_BIAS = -4.0
# "About as good": a deep net's test accuracy at most this far below its 10-block version.
ABOUT_AS_GOOD = 0.05

_BLOCKS = {
    PLAIN: "act(Wx + b)",
    RESIDUAL: "x + act(Wx + b)",
    HIGHWAY: "T act(Wx + b) + (1 - T) x",
}


def name(connection: Connection, depth: int, activation: Activation) -> str:
    return f"ultradeep-{connection.value}-{depth}-{activation.value}"


def model(connection: Connection, depth: int, activation: Activation) -> DeepConfig:
    config = DeepConfig(depth, connection, activation)
    return replace(config, gate_bias=DEEPEST_GATE_BIAS) if depth >= 100 else config


def description(config: DeepConfig) -> str:
    gate = f", gate bias {config.gate_bias:g}" if config.connection is HIGHWAY else ""
    shape = _BLOCKS[config.connection]
    return f"{config.depth} {config.activation.value} blocks of {config.width}, each {shape}{gate}; Adam 0.001"


BASE = Experiment(
    name=name(PLAIN, 10, SIGMOID),
    description=description(model(PLAIN, 10, SIGMOID)),
    reference=None,  # the slide prints no number for these networks
    model=model(PLAIN, 10, SIGMOID),
    task=ULTRADEEP,
    optimizer=ADAM,  # lr 0.001, Keras's default
    train_size=10_000,  # the Lecture II subset (4,000 on the bundled sample)
    batch_size=100,
    epochs=20,
)

NETS = {
    (c, d, a): register(
        replace(BASE, name=name(c, d, a), description=description(model(c, d, a)), model=model(c, d, a))
    )
    for a, depths in DEPTHS.items()
    for d in depths
    for c in Connection
}


def net(connection: Connection, depth: int, activation: Activation) -> str:
    return NETS[connection, depth, activation].name


def about_as_good(connection: Connection, depth: int, activation: Activation) -> Claim:
    """The `depth`-block net's test accuracy is at most ABOUT_AS_GOOD below the 10-block one's."""
    kind = f"{connection.value} {activation.value}"
    return Claim(
        net(connection, depth, activation),
        net(connection, 10, activation),
        -ABOUT_AS_GOOD,
        text=f"{kind} at {depth} blocks within {ABOUT_AS_GOOD:g} of {kind} at 10 (or better)",
    )


register_group(
    Group(
        "ultradeep",
        "plain vs residual vs highway MLPs of 10 and 50 blocks, sigmoid and ReLU; one block deleted",
        tuple(net(c, d, a) for a in (SIGMOID, RELU) for d in (10, 50) for c in Connection),
        (
            *(
                Claim(
                    net(c, 50, SIGMOID),
                    net(PLAIN, 50, SIGMOID),
                    0.6,
                    text=f"{c.value} 50 sigmoid beats plain 50 sigmoid (chance) by more than 0.6",
                )
                for c in (RESIDUAL, HIGHWAY)
            ),
            *(
                Claim(
                    net(PLAIN, 50, RELU),
                    net(c, 50, RELU),
                    1.5,
                    metric="train_loss",
                    text=f"plain 50 ReLU's training loss stays more than 1.5 above {c.value} 50's",
                )
                for c in (RESIDUAL, HIGHWAY)
            ),
            *(about_as_good(c, 50, a) for a in (SIGMOID, RELU) for c in (RESIDUAL, HIGHWAY)),
            Claim(
                net(PLAIN, 10, RELU),
                net(RESIDUAL, 50, RELU),
                0.5,
                metric="lesion_drop",
                text="deleting one block costs plain 10 ReLU over 0.5 more accuracy than residual 50",
            ),
            Claim(
                net(RESIDUAL, 50, RELU),
                None,
                0.9,
                metric="lesion_worst_accuracy",
                text="residual 50 ReLU keeps test accuracy above 0.9 whichever block is deleted",
            ),
        ),
        lesson=(
            "Worry about training first: a plain 50-layer net does not train, while residual and highway "
            "connections let it train as well as a 10-layer one, like an ensemble of shallower networks."
        ),
    )
)
register_group(
    Group(
        "ultradeep-depth",
        "ReLU MLPs of 10, 20, 50 and 100 blocks: plain nets degrade with depth, residual nets do not",
        tuple(net(c, d, RELU) for d in DEPTHS[RELU] for c in Connection if (c, d) != (HIGHWAY, 100)),
        (
            Claim(
                net(PLAIN, 20, RELU),
                net(PLAIN, 10, RELU),
                0.0,
                metric="train_loss",
                text="plain 20 ReLU ends with a higher training loss than plain 10",
            ),
            Claim(
                net(PLAIN, 10, RELU),
                net(PLAIN, 50, RELU),
                0.5,
                text="plain 10 ReLU beats plain 50 (chance) by more than 0.5",
            ),
            about_as_good(RESIDUAL, 50, RELU),
            about_as_good(RESIDUAL, 100, RELU),
            about_as_good(HIGHWAY, 50, RELU),
        ),
        lesson="Plain networks get worse with depth even on training data; residual and highway networks do not.",
    )
)
