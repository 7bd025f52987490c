"""Ultra-deep MLPs of Lecture IV ("Ultra Deep Network"): plain, residual and highway
blocks stacked tens of times, as JAX-free configs, and the task they train with
(`ULTRADEEP`, MNIST classification that also deletes blocks and reads the highway gates)."""

import enum
from dataclasses import dataclass

from dlrun.core.config import Ref
from dlrun.families.mlp.config import Activation

ULTRADEEP = Ref("dlrun.families.ultradeep.task:ULTRADEEP")


class Connection(enum.Enum):
    """How a block passes its input x [B, W] on (H(x) = act(W x + b)):

    plain     H(x)                          the lecture's ordinary deep network
    residual  x + H(x)                      He et al. 2016
    highway   T(x) H(x) + (1 - T(x)) x      Srivastava, Greff & Schmidhuber 2015,
              T(x) = sigmoid(W_T x + b_T)   the transform gate ("gate controller")
    """

    PLAIN = "plain"
    RESIDUAL = "residual"
    HIGHWAY = "highway"


@dataclass(frozen=True)
class DeepConfig:
    """input [784] -> stem Dense(width) + act -> `depth` blocks of `width` units -> Dense(classes).

    The blocks' weights are stacked ([depth, width, width]) and applied by one `lax.scan`,
    so the compiled program is the same size at any depth. "A 50-layer network" here is
    one with 50 blocks (52 Dense layers with the stem and the output layer)."""

    depth: int
    connection: Connection
    activation: Activation
    width: int = 50  # the highway paper's MNIST nets were 50 (and 71) units wide
    # Highway: b_T starts negative, so each gate starts mostly shut (T = sigmoid(-2) = 0.12)
    # and the untrained network is close to a copy of the stem's output.
    gate_bias: float = -3.0
    inputs: int = 784
    classes: int = 10

    def build(self, rngs):
        from dlrun.families.ultradeep.models import DeepMLP  # JAX is imported by runs only

        return DeepMLP(self, rngs=rngs)

    def num_params(self) -> int:
        per_block = self.width * self.width + self.width
        gates = 2 if self.connection is Connection.HIGHWAY else 1
        stem = self.inputs * self.width + self.width
        head = self.width * self.classes + self.classes
        return stem + self.depth * gates * per_block + head
