"""Sentiment analysis (Lecture III, "many to one"): the sentence classifiers as JAX-free
configs, whose `build` makes the Flax NNX module (dlrun.families.sentiment.models), the
task they are trained with (dlrun.families.sentiment.task), and the probe set of negated
sentences every variant is scored on after training."""

from dataclasses import dataclass

from dlrun.core.config import Ref
from dlrun.families.sequence.config import CLIPPED_ADAM, Cell

__all__ = [
    "CLIPPED_ADAM",
    "Cell",
    "SENTIMENT",
    "PROBE",
    "BagOfWordsConfig",
    "ReaderConfig",
    "WordCNNConfig",
    "sentiment_task",
]


def sentiment_task(fold: int | None = None) -> Ref:
    """The sentiment task (dlrun.families.sentiment.task) holding out fold `fold` of ten of
    the polarity data (dlrun.data.polarity.FOLDS); None: the fixed 10% test split (fold 0)."""
    return Ref("dlrun.families.sentiment.task:Sentiment", (("fold", fold),))


SENTIMENT = sentiment_task()

# Fixed sizes: a model config is declared before any data is read, so the embedding table
# has room for any vocabulary up to this size (sentence polarity v1.0: 9,730 ids, words
# seen at least twice in the training split; the generated corpus: 62). Training words
# beyond it would be <unk>; rows a corpus does not use are never trained.
VOCAB_CAPACITY = 12_000
NUM_CLASSES = 2  # negative, positive

# Negation probes, (sentence, label: 1 positive, 0 negative), tokenised like the data
# (lowercase, punctuation split). They come in pairs that share the negation and differ
# in the polar word, so their labels are opposite: a model that adds up word scores
# without order ranks "not good" above "not bad" and gets at most one of each pair right.
PROBE: tuple[tuple[str, int], ...] = (
    ("not good", 0),
    ("not bad", 1),
    ("not good at all", 0),
    ("not bad at all", 1),
    ("i did not like it", 0),
    ("i did not hate it", 1),
    ("i was not impressed", 0),
    ("i was not disappointed", 1),
    ("never funny", 0),
    ("never boring", 1),
    ("it is never interesting", 0),
    ("it is never dull", 1),
    ("the film is not funny", 0),
    ("the film is not boring", 1),
    ("this is not a good movie", 0),
    ("this is not a bad movie", 1),
    ("it does not work", 0),
    ("it does not disappoint", 1),
    ("not a pleasant experience", 0),
    ("not a painful experience", 1),
    ("hardly a masterpiece", 0),
    ("hardly a disaster", 1),
    ("i would not recommend it", 0),
    ("i would not miss it", 1),
    ("it never manages to entertain", 0),
    ("it never fails to entertain", 1),
)


@dataclass(frozen=True)
class BagOfWordsConfig:
    """Mean of the word embeddings -> dense -> softmax: no order, and no interaction
    between words (the logit is a sum of per-word scores divided by the length)."""

    embed: int = 64
    vocab_size: int = VOCAB_CAPACITY
    num_classes: int = NUM_CLASSES

    def build(self, rngs):
        from dlrun.families.sentiment.models import BagOfWords  # JAX is imported by runs only

        return BagOfWords(self, rngs)

    def num_params(self) -> int:
        return self.vocab_size * self.embed + self.embed * self.num_classes + self.num_classes


@dataclass(frozen=True)
class ReaderConfig:
    """embedding -> RNN reading the sentence -> its state after the last real word (both
    directions' final states concatenated when bidirectional) -> dense -> softmax."""

    cell: Cell = Cell.LSTM
    bidirectional: bool = False
    embed: int = 64
    hidden: int = 64
    vocab_size: int = VOCAB_CAPACITY
    num_classes: int = NUM_CLASSES

    def build(self, rngs):
        from dlrun.families.sentiment.models import RecurrentReader  # JAX is imported by runs only

        return RecurrentReader(self, rngs)

    def num_params(self) -> int:
        directions = 2 if self.bidirectional else 1
        h = self.hidden
        rnn = self.cell.gates * (self.embed * h + h * h + h)
        return self.vocab_size * self.embed + directions * (rnn + h * self.num_classes) + self.num_classes


@dataclass(frozen=True)
class WordCNNConfig:
    """Kim (2014) style: embedding -> convolutions over windows of `widths` words (ReLU,
    `maps` feature maps each) -> max over time -> dense -> softmax."""

    embed: int = 64
    widths: tuple[int, ...] = (3, 4, 5)
    maps: int = 50
    vocab_size: int = VOCAB_CAPACITY
    num_classes: int = NUM_CLASSES

    def build(self, rngs):
        from dlrun.families.sentiment.models import WordCNN  # JAX is imported by runs only

        return WordCNN(self, rngs)

    def num_params(self) -> int:
        convs = sum(k * self.embed * self.maps + self.maps for k in self.widths)
        return self.vocab_size * self.embed + convs + len(self.widths) * self.maps * self.num_classes + self.num_classes
