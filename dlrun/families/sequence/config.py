"""Slot filling (Lecture III): the taggers as JAX-free configs, whose `build` makes the Flax
NNX module (dlrun.families.sequence.models), and the task, optimizer and loss they are
trained with, named for declarations (dlrun.families.sequence.task)."""

import enum
from dataclasses import dataclass

from dlrun.core.config import Ref
from dlrun.errors import ConfigError

SLOT_FILLING = Ref("dlrun.families.sequence.task:SLOT_FILLING")
CLIPPED_ADAM = Ref("dlrun.families.sequence.models:clipped_adam")
MASKED_CROSS_ENTROPY = Ref("dlrun.families.sequence.task:masked_cross_entropy")

# Fixed output sizes: a model config is declared before any data is read, so the
# embedding table and the tag layer have room for any corpus up to these sizes (ATIS:
# 636 word ids with words seen once as <unk>, 121 tags; the generated corpus is smaller).
# Rows a corpus does not use are never trained and never predicted after training.
VOCAB_CAPACITY = 1_000
TAG_CAPACITY = 160


class Cell(enum.Enum):
    """The recurrent unit, by the name the lecture uses."""

    ELMAN = "elman"  # h' = tanh(W x + U h + b)
    LSTM = "lstm"
    GRU = "gru"

    @property
    def gates(self) -> int:
        """Input-and-recurrent transforms per step: the cell's weights are gates * (W, U, b)."""
        return {Cell.ELMAN: 1, Cell.LSTM: 4, Cell.GRU: 3}[self]


@dataclass(frozen=True)
class FeedForwardConfig:
    """Window of one word: embedding -> dense -> tags. The same word always gets the same tag."""

    embed: int = 100
    hidden: int = 100
    vocab_size: int = VOCAB_CAPACITY
    num_tags: int = TAG_CAPACITY

    def build(self, rngs):
        from dlrun.families.sequence.models import FeedForwardTagger  # JAX is imported by runs only

        return FeedForwardTagger(self, rngs)

    def num_params(self) -> int:
        dense = self.embed * self.hidden + self.hidden + self.hidden * self.num_tags + self.num_tags
        return self.vocab_size * self.embed + dense


@dataclass(frozen=True)
class RecurrentConfig:
    """context window of embeddings -> RNN (one direction, or both concatenated) -> dense -> tags."""

    cell: Cell = Cell.LSTM
    bidirectional: bool = False
    window: int = 1  # words read at each step, centred on the tagged one (odd)
    embed: int = 100
    hidden: int = 100
    vocab_size: int = VOCAB_CAPACITY
    num_tags: int = TAG_CAPACITY

    def build(self, rngs):
        from dlrun.families.sequence.models import RecurrentTagger  # JAX is imported by runs only

        return RecurrentTagger(self, rngs)

    def __post_init__(self):
        if self.window < 1 or self.window % 2 == 0:
            raise ConfigError(f"the context window is an odd number of words (1, 3, 5...), got {self.window}")

    def num_params(self) -> int:
        directions = 2 if self.bidirectional else 1
        h = self.hidden
        rnn = self.cell.gates * (self.window * self.embed * h + h * h + h)
        return self.vocab_size * self.embed + directions * rnn + directions * h * self.num_tags + self.num_tags
