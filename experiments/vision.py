"""Lecture III, "Why CNN for image" (Hung-yi Lee, "Deep Learning Tutorial", 2016): a CNN
on MNIST, convolution -> max pooling -> convolution -> max pooling -> flatten -> dense.

The slides build it in Keras: Convolution2D(25,3,3), MaxPooling2D((2,2)),
Convolution2D(50,3,3), MaxPooling2D((2,2)), Flatten, Dense(100), Dense(10) softmax. They
print no accuracy for it (`reference` is None); the lesson is the parameter count. A 3x3
filter has 9 weights shared over the whole image: 18 for two filters, where the dense
layer between the slide's 6x6 image and its two 4x4 maps has 1152. Our CNN has 137,660
weights; without sharing, the same local connections would need 1,662,410 and dense layers
between the same maps 38,959,910. Tables show `params` and `w/o sharing` next to accuracy.

Batch normalization (Ioffe & Szegedy 2015; seed notes 001: "CNNs train faster") after
each convolution speeds up training.

    dlrun compare cnn-vs-mlp    # CNN vs an MLP with as many weights, and vs the 4.7x larger 500-500 MLP
    dlrun compare batchnorm     # the same CNN with and without batch norm
    dlrun train mnist-cnn

Adversarial examples (Goodfellow, Shlens & Szegedy 2015, "Explaining and harnessing
adversarial examples"; seed notes 001: "add images to see what can fool the network").

A trained network is fooled by images that differ from real test digits by at most
epsilon per pixel: the fast gradient sign method moves every pixel by epsilon in the
direction that increases the loss, x' = clip(x + epsilon * sign(dL/dx), 0, 1). No lecture
prints a number for MNIST at these settings (`reference` is None); Goodfellow et al.
report 89.4% error for a shallow softmax model at epsilon 0.25.

`mnist-adversarial` trains exactly as `mnist-relu-3layer-adam` (same seeds, same initial
weights, same data order) and is tested on FGSM images at epsilon 0.1 made against
itself; its table row also gives the test accuracy at epsilon 0, 0.05, 0.1, 0.2 and 0.3,
and its folder a picture of eight attacked test digits. `mnist-cnn-adversarial` does the
same for the CNN of Lecture III.

    dlrun compare adversarial
"""

from dataclasses import replace

from dlrun.core.config import ADAM, Claim, Experiment, Group, Loop
from dlrun.core.registry import register, register_group
from dlrun.experiments.mlp import RELU_3_ADAM
from dlrun.families.mlp.config import Activation, MLPConfig, width_for_params
from dlrun.families.vision.config import CNN_CLASSIFICATION, CNNConfig, fgsm_classification

CNN_EPOCHS = 10  # the CNN is close to its best after 10 epochs of the 4,000-digit sample

CNN = register(
    Experiment(
        name="mnist-cnn",
        reference=None,
        description="conv 25x3x3, max-pool 2x2, conv 50x3x3, max-pool 2x2, dense 100 ReLU, softmax; Adam",
        model=CNNConfig(),
        optimizer=ADAM,
        task=CNN_CLASSIFICATION,
        epochs=CNN_EPOCHS,
        # Convolutions inside a rolled lax.scan are slow on XLA:CPU (jax#12868): one program per
        # step instead (timings: docs/lessons.md).
        loop=Loop.STEPS,
    )
)
CNN_BATCHNORM = register(
    replace(
        CNN,
        name="mnist-cnn-batchnorm",
        description="as mnist-cnn with BatchNorm after each convolution (batch statistics in training)",
        model=replace(CNN.model, batchnorm=True),
    )
)

# The MLPs of Lecture II, with the parameter count in their table row too.
MLP_500 = register(
    replace(
        RELU_3_ADAM,
        name="mnist-mlp-500-500",
        reference=None,
        epochs=CNN_EPOCHS,
        task=CNN_CLASSIFICATION,
        description=f"the lecture's ReLU MLP 784-500-500-10, Adam ({RELU_3_ADAM.model.num_params():,} weights)",
    )
)
_SAME_WIDTH = width_for_params(CNN.model.num_params(), depth=2)
MLP_SAME_PARAMS = register(
    replace(
        MLP_500,
        name="mnist-mlp-same-params",
        description=f"ReLU MLP with 2 hidden layers of {_SAME_WIDTH}: as many weights as mnist-cnn",
        model=MLPConfig(hidden=(_SAME_WIDTH, _SAME_WIDTH), activation=Activation.RELU),
    )
)

register_group(
    Group(
        "cnn-vs-mlp",
        "a CNN vs MLPs with as many and with 4.7x more weights",
        (CNN.name, MLP_SAME_PARAMS.name, MLP_500.name),
        (
            Claim(CNN.name, MLP_SAME_PARAMS.name, 0.0, text="the CNN beats an MLP with the same number of weights"),
            Claim(CNN.name, MLP_500.name, -0.01, text="the CNN matches an MLP with 4.7x its weights (within 0.01)"),
        ),
        lesson="A CNN shares a few weights across the image, so it does better than an MLP with as many weights.",
    )
)
# Batch norm's speed shows in the training loss, measured in training mode. The first
# epoch's test accuracy need not be better: inference uses the running averages, which
# still trail the batch statistics early on (numbers: docs/lessons.md).
register_group(
    Group(
        "batchnorm",
        "the CNN with and without batch normalization after each convolution",
        (CNN.name, CNN_BATCHNORM.name),
        (
            Claim(
                CNN.name,
                CNN_BATCHNORM.name,
                0.0,
                metric="train_loss",
                text="batch norm trains faster: a lower training loss after the same epochs",
            ),
            Claim(CNN_BATCHNORM.name, CNN.name, -0.01, text="batch norm costs no test accuracy (within 0.01)"),
        ),
        lesson="Batch normalization makes training faster: the training loss falls sooner.",
    )
)

# Adversarial examples: trained as above, tested on FGSM images made against the model itself.
ATTACK = fgsm_classification(epsilon=0.1)

ADVERSARIAL = register(
    replace(
        RELU_3_ADAM,
        name="mnist-adversarial",
        reference=None,
        task=ATTACK,
        description="mnist-relu-3layer-adam tested on FGSM images at epsilon 0.1 made against itself",
    )
)
CNN_ADVERSARIAL = register(
    replace(
        CNN,
        name="mnist-cnn-adversarial",
        task=ATTACK,
        description="mnist-cnn tested on FGSM images at epsilon 0.1 made against itself",
    )
)

register_group(
    Group(
        "adversarial",
        "fast-gradient-sign examples fool a trained MLP and a CNN",
        (ADVERSARIAL.name, RELU_3_ADAM.name, CNN_ADVERSARIAL.name),
        (
            Claim(
                RELU_3_ADAM.name, ADVERSARIAL.name, 0.3, text="FGSM at epsilon 0.1 drops test accuracy by more than 0.3"
            ),
        ),
        lesson="A tiny, well-chosen change to the input fools a trained network.",
    )
)
