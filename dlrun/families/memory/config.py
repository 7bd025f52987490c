"""Reading comprehension on bAbI (Lecture IV, "attention-based model"): the end-to-end memory
network and the LSTM reader as JAX-free configs, whose `build` makes the Flax NNX module
(dlrun.families.memory.models), and the task they are trained with
(dlrun.families.memory.task), named for declarations."""

from dataclasses import dataclass

from dlrun.core.config import Ref
from dlrun.families.sequence.config import CLIPPED_ADAM

__all__ = ["CLIPPED_ADAM", "LSTMReaderConfig", "MemoryNetworkConfig", "babi_task"]

# Fixed sizes: a model config is declared before any data is read, so the embedding tables
# have room for any vocabulary up to this size (bAbI task 2: 33 words in training, with
# <pad> and <unk> 35; task 1 and the generated stories as many or fewer). Unused rows are
# never trained.
VOCAB_CAPACITY = 48
# Sukhbaatar et al. 2015 keep the 50 most recent statements of a story as the memory; the
# LSTM reads the same statements, so both models see the same text.
MEMORY_SIZE = 50


def babi_task(number: int) -> Ref:
    """Question answering on bAbI task `number` (dlrun.families.memory.task)."""
    return Ref("dlrun.families.memory.task:BabiQuestionAnswering", (("babi_task", number),))


@dataclass(frozen=True)
class MemoryNetworkConfig:
    """End-to-end memory network (Sukhbaatar et al. 2015) with adjacent weight tying: hops + 1
    embedding tables E_0..E_K; hop k reads the memory with E_(k-1) (its keys) and E_k (its
    values); E_0 also embeds the question and E_K^T is the answer layer. A sentence is the
    position-encoded sum of its word vectors, plus a learned vector for its age (temporal
    encoding: slot i is the i-th most recent statement).

    `linear_start`: for the first this many training updates the hops weigh the statements
    by their raw scores instead of a softmax of them (the paper's "linear start", which
    it ends when the validation loss stops falling; here after a fixed number of updates,
    counted in the model's state). Without it, task 2 sat near 0.37 test accuracy for 17 to
    more than 40 epochs, depending on the seed, before the hops learned to chain two facts."""

    hops: int = 3
    embed: int = 20  # the paper's d for bAbI
    memory: int = MEMORY_SIZE
    temporal: bool = True
    linear_start: int = 0  # training updates; 0: softmax from the start
    vocab_size: int = VOCAB_CAPACITY

    def build(self, rngs):
        from dlrun.families.memory.models import MemoryNetwork  # JAX is imported by runs only

        return MemoryNetwork(self, rngs)

    def num_params(self) -> int:
        tables = (self.hops + 1) * self.vocab_size * self.embed
        return tables + ((self.hops + 1) * self.memory * self.embed if self.temporal else 0)


@dataclass(frozen=True)
class LSTMReaderConfig:
    """The "no attention" baseline (Weston et al. 2015's LSTM): one LSTM reads the story's
    words in order and then the question's; its state after the last word -> dense -> answer."""

    embed: int = 32
    hidden: int = 64
    memory: int = MEMORY_SIZE
    vocab_size: int = VOCAB_CAPACITY

    def build(self, rngs):
        from dlrun.families.memory.models import LSTMReader  # JAX is imported by runs only

        return LSTMReader(self, rngs)

    def num_params(self) -> int:
        h = self.hidden
        lstm = 4 * (self.embed * h + h * h + h)
        return self.vocab_size * self.embed + lstm + h * self.vocab_size + self.vocab_size
