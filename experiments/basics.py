"""Seed lessons of the lectures' intro: the perceptron's limit (XOR) and the vanishing
gradient that makes deep sigmoid nets untrainable.

XOR: a linear model + softmax ("single-layer perceptron") gets at most 3 of the 4 XOR
points right, whatever its weights; one hidden layer of 4 tanh units fits all 4. Train and
test are the truth table (the lesson is fitting). Vanishing gradient: the 9-layer sigmoid
and ReLU MLPs of the `activations` lesson, with every layer's kernel-gradient norm
measured: in the sigmoid net layer 1 gets orders of magnitude less gradient than layer 9.

    dlrun compare xor
    dlrun compare vanishing-gradient
"""

from dataclasses import replace

from dlrun.core.config import Claim, Experiment, Group, Optimizer, Ref
from dlrun.core.registry import register, register_group
from dlrun.experiments.mlp import RELU_9, SIGMOID_9
from dlrun.families.basics.config import GRAD_NORMS, XOR, XOR_COPIES
from dlrun.families.mlp.config import Activation, MLPConfig

# Plain SGD like the lecture; lr 0.5 so that the 2-4-2 net fits XOR within the 30 epochs.
XOR_SGD = Optimizer(Ref("optax:sgd"), 0.5, extra=(("momentum", 0.0),))

XOR_PERCEPTRON = register(
    Experiment(
        name="xor-perceptron",
        reference=None,
        description="XOR with no hidden layer (2 inputs -> softmax over 2 classes): at most 3 of 4 right",
        model=MLPConfig(hidden=(), inputs=2, classes=2),
        task=XOR,
        dataset=None,
        optimizer=XOR_SGD,
        train_size=4 * XOR_COPIES,
        batch_size=16,
        epochs=30,
    )
)
XOR_MLP = register(
    replace(
        XOR_PERCEPTRON,
        name="xor-mlp",
        description="XOR with one hidden layer of 4 tanh units: fits all 4 points",
        model=MLPConfig(hidden=(4,), activation=Activation.TANH, inputs=2, classes=2),
    )
)

SIGMOID_9_GRADS = register(
    replace(
        SIGMOID_9,
        name="mnist-sigmoid-9layer-grads",
        task=GRAD_NORMS,
        description="mnist-sigmoid-9layer with per-layer gradient norms: layer 1 gets almost none",
    )
)
RELU_9_GRADS = register(
    replace(
        RELU_9,
        name="mnist-relu-9layer-grads",
        task=GRAD_NORMS,
        description="mnist-relu-9layer with per-layer gradient norms: every layer gets a share",
    )
)

register_group(
    Group(
        "xor",
        "XOR: a single-layer perceptron vs one hidden layer",
        (XOR_PERCEPTRON.name, XOR_MLP.name),
        (
            Claim(
                XOR_MLP.name,
                XOR_PERCEPTRON.name,
                0.2,
                metric="train_accuracy",
                text="one hidden layer fits XOR; a perceptron cannot (train accuracy +0.2 or more)",
            ),
        ),
        lesson="One layer cannot draw the line XOR needs; one hidden layer can.",
    )
)
register_group(
    Group(
        "vanishing-gradient",
        "per-layer gradient norms, 9-layer sigmoid vs ReLU",
        (SIGMOID_9_GRADS.name, RELU_9_GRADS.name),
        # Metric: log10(|g1| / |g9|) on a fixed batch of 1,000 training images (numbers: docs/lessons.md).
        (
            Claim(
                RELU_9_GRADS.name,
                SIGMOID_9_GRADS.name,
                3.0,
                metric="init_log10_grad_ratio",
                text="at init, layer 1's gradient relative to layer 9's is >1000x larger with ReLU than sigmoid",
            ),
            Claim(
                RELU_9_GRADS.name,
                SIGMOID_9_GRADS.name,
                3.0,
                metric="trained_log10_grad_ratio",
                text="after training too (>1000x): sigmoid's layer 1 still gets almost no gradient",
            ),
        ),
        lesson="In a deep sigmoid network the first layers get almost no gradient; ReLU passes it down.",
    )
)
