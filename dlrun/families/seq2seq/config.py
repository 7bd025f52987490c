"""The sequence-to-sequence auto-encoder (Lecture IV) as a JAX-free config, whose `build`
makes the Flax NNX module (dlrun.families.seq2seq.models), and the task it is trained with
(dlrun.families.seq2seq.task), named for declarations."""

from dataclasses import dataclass

from dlrun.core.config import Ref
from dlrun.data.cmudict import NUM_SYMBOLS
from dlrun.families.sequence.config import CLIPPED_ADAM, MASKED_CROSS_ENTROPY, Cell

__all__ = ["AUTOENCODING", "CLIPPED_ADAM", "MASKED_CROSS_ENTROPY", "Cell", "Seq2SeqConfig"]

AUTOENCODING = Ref("dlrun.families.seq2seq.task:PRONUNCIATION_AUTOENCODING")


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Phoneme embedding -> encoder RNN; its last real state -> code (tanh, `code` units) ->
    the decoder RNN's initial state; the decoder reads <s> + the phonemes and predicts the
    phonemes + </s>. One embedding table serves the encoder and the decoder."""

    cell: Cell = Cell.GRU
    embed: int = 32
    hidden: int = 128
    code: int = 64
    vocab_size: int = NUM_SYMBOLS  # <pad>, <s>, </s> and the 39 phonemes (stress stripped)

    def build(self, rngs):
        from dlrun.families.seq2seq.models import Seq2SeqAutoEncoder  # JAX is imported by runs only

        return Seq2SeqAutoEncoder(self, rngs)

    def num_params(self) -> int:
        h = self.hidden
        rnn = self.cell.gates * (self.embed * h + h * h + h)
        bridges = (h * self.code + self.code) + (self.code * h + h)  # state -> code -> decoder state
        return self.vocab_size * self.embed + 2 * rnn + bridges + h * self.vocab_size + self.vocab_size
