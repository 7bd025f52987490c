"""Adversarial examples (Goodfellow, Shlens & Szegedy 2015, "Explaining and harnessing
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

from dlrun.core.config import Claim, Group, register, register_group
from dlrun.experiments.vision import CNN
from dlrun.experiments.mlp import RELU_3_ADAM
from dlrun.families.vision.task import FgsmClassification

ATTACK = FgsmClassification(epsilon=0.1)

ADVERSARIAL = register(replace(
    RELU_3_ADAM, name="mnist-adversarial", reference=None, task=ATTACK,
    description="mnist-relu-3layer-adam tested on FGSM images at epsilon 0.1 made against itself",
))
CNN_ADVERSARIAL = register(replace(
    CNN, name="mnist-cnn-adversarial", task=ATTACK,
    description="mnist-cnn tested on FGSM images at epsilon 0.1 made against itself",
))

register_group(Group(
    "adversarial", "fast-gradient-sign examples fool a trained MLP and a CNN",
    (ADVERSARIAL.name, RELU_3_ADAM.name, CNN_ADVERSARIAL.name),
    (Claim(RELU_3_ADAM.name, ADVERSARIAL.name, 0.3, text="FGSM at epsilon 0.1 drops test accuracy by more than 0.3"),),
))
