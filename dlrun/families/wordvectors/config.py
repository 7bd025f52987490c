"""Word vectors (Lecture IV), JAX-free: word2vec's two architectures as a model config whose
`build` makes the Flax NNX module (dlrun.families.wordvectors.models), and the task and loss a
declaration names (dlrun.families.wordvectors.task).

The corpus settings live in the model config too (window, minimum count, subsampling,
vocabulary size): they decide the training examples, and a model config is declared before
any data is read, so the embedding tables have room for VOCAB_CAPACITY words whatever the
corpus (the Reuters bodies keep 16,459 words of count >= 5; text8 keeps its 30,000 most
frequent, as word2vec's compute-accuracy restricts its vocabulary).
"""

import enum
from dataclasses import dataclass

from dlrun.core.config import Ref

WORD_VECTORS = Ref("dlrun.families.wordvectors.task:WORD_VECTORS")
NEGATIVE_SAMPLING = Ref("dlrun.families.wordvectors.task:negative_sampling_loss")

VOCAB_CAPACITY = 30_000
HELD_OUT_WORDS = 50_000  # words at the end of the corpus that never train (at most 5% of it)
REUTERS_WORDS = 2_684_982  # the Reuters-21578 bodies (dlrun.data.text8)
REUTERS_TRAIN_WORDS = REUTERS_WORDS - HELD_OUT_WORDS  # all the Reuters words that train


class Architecture(enum.Enum):
    """Mikolov et al. 2013a: skip-gram predicts each context word from the center word;
    CBOW (continuous bag of words) predicts the center word from the mean of its context."""

    SKIP_GRAM = "skip-gram"
    CBOW = "cbow"


@dataclass(frozen=True)
class Word2VecConfig:
    """Two embedding tables [vocab_size, dim]: the input vectors (the word vectors, uniform in
    +-0.5/dim as word2vec) and the output vectors (zeros, as word2vec)."""

    architecture: Architecture = Architecture.SKIP_GRAM
    dim: int = 100
    window: int = 5  # context words on each side; each center draws its own window in 1..window
    negatives: int = 5  # noise words per positive, from the unigram distribution to the 3/4
    min_count: int = 5  # rarer words are dropped from the corpus
    subsample: float = 1e-4  # t of word2vec's subsampling: keep a word with p = sqrt(t/f) + t/f
    vocab_size: int = VOCAB_CAPACITY  # the most frequent words of count >= min_count, at most this many

    def build(self, rngs):
        from dlrun.families.wordvectors.models import Word2Vec  # JAX is imported by runs only

        return Word2Vec(self, rngs)

    def num_params(self) -> int:
        return 2 * self.vocab_size * self.dim
