"""Sentiment as a task of the one engine: a sentence's word ids -> negative or positive.

Batches are `Reviews` (dlrun.data.polarity): padded word ids, lengths and labels, with
the vocabulary riding along as static data. After training, every seed's model is also
scored on the probe set of negated sentences (`PROBE`, dlrun.families.sentiment.config),
encoded with the vocabulary it was trained with.
"""

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dlrun.core.losses import accuracy
from dlrun.core.task import DataInfo, Task, TaskData, in_chunks, training_subset
from dlrun.data.polarity import (
    FOLDS,
    POSITIVE,
    Lexicon,
    PolarityCorpus,
    Review,
    Reviews,
    build_lexicon,
    encode,
    load_polarity,
)
from dlrun.errors import ConfigError
from dlrun.families.sentiment import pictures
from dlrun.families.sentiment.config import PROBE

# The vocabulary rides along with the padded arrays through jit as static data.
jax.tree_util.register_static(Lexicon)

EVAL_CHUNK = 1_024  # sentences per evaluation pass: bounds the memory of a whole-split evaluation


def probe_reviews() -> list[Review]:
    return [Review(tuple(sentence.split()), label) for sentence, label in PROBE]


def logits_in_chunks(model, split: Reviews) -> jax.Array:
    """model(tokens, lengths) for a whole split [N, C], EVAL_CHUNK sentences at a time (the
    padding rows are one <pad> word long)."""
    return in_chunks(_logits, model, (split.tokens, split.lengths), EVAL_CHUNK, fill=(0, 1))


def _logits(model, tokens, lengths):
    return model(tokens, lengths)  # [B, C]


@nnx.jit
def _predict(model, tokens, lengths):
    return jnp.argmax(model(tokens, lengths), axis=-1)  # [N]


@dataclass(frozen=True)  # hashable by value: the task is part of the compiled program's key
class Sentiment(Task):
    """Word ids of one sentence -> 2 class logits (many to one), tested on fold `fold` of
    ten of the corpus (None: the fixed 10% test split, which is fold 0)."""

    fold: int | None = None
    name = "sentiment"
    columns = (
        ("test_accuracy", "test acc"),
        ("train_accuracy", "train acc"),
        ("test_loss", "test loss"),
        ("probe_accuracy", "probe acc"),
    )

    def __post_init__(self):
        if self.fold is not None and not (isinstance(self.fold, int) and 0 <= self.fold < FOLDS):
            raise ConfigError(f"fold must be one of 0..{FOLDS - 1} (or None: the fixed test split), got {self.fold!r}")

    def load(self, exp, data_dir: Path | None) -> tuple[PolarityCorpus, DataInfo]:
        """The whole corpus, split by `place`: the tasks of other folds share one load (and
        its sizes, which differ from fold to fold by at most one sentence of each class)."""
        corpus = load_polarity(data_dir)
        train, test = corpus.split(self.fold)
        return corpus, DataInfo(corpus.source, corpus.sha256, corpus.notice, len(test), len(train))

    def place(self, exp, corpus: PolarityCorpus) -> TaskData:
        """The first `exp.train_size` of a fixed shuffle of the other folds; the vocabulary
        comes from them alone; the task's fold is the test split."""
        available, test = corpus.split(self.fold)
        train = [available[i] for i in training_subset(len(available), exp.train_size)]
        lexicon = build_lexicon(train, exp.model.vocab_size)
        placed = encode(train, lexicon)
        empty = Reviews(placed.tokens[:0], placed.lengths[:0], placed.labels[:0], lexicon)  # no early stopping
        return TaskData(placed, encode(test, lexicon), empty)

    def train_rows(self, exp, corpus: PolarityCorpus) -> int:  # without encoding anything
        return min(exp.train_size, len(corpus.split(self.fold)[0]))

    def loss(self, exp, model, batch: Reviews, hyper, key):
        logits = model(batch.tokens, batch.lengths, hyper.dropout, key)  # [B, C]
        return exp.loss(logits, batch.labels), {"accuracy": accuracy(logits, batch.labels)}

    def evaluate(self, exp, model, split: Reviews):
        logits = logits_in_chunks(model, split)  # [N, C]
        return {"loss": exp.loss(logits, split.labels), "accuracy": accuracy(logits, split.labels)}

    def host_metrics(self, exp, model, data: TaskData) -> dict[str, float]:
        """Accuracy on the probe set of negated sentences, in the training vocabulary."""
        probe = encode(probe_reviews(), data.train.lexicon)
        predicted = np.asarray(_predict(model, jnp.asarray(probe.tokens), jnp.asarray(probe.lengths)))
        return {"probe_accuracy": float(np.mean(predicted == probe.labels))}

    def pictures(self, exp, model, data: TaskData, out_dir: Path) -> list[Path]:
        """The probes' P(positive), and test accuracy by sentence length."""
        probe = encode(probe_reviews(), data.train.lexicon)
        on_probes = np.asarray(positive_probability(model, probe))
        on_test = np.asarray(positive_probability(model, data.eval))
        correct = (on_test > 0.5) == (data.eval.labels == POSITIVE)
        return [
            pictures.save_probes(PROBE, on_probes, Path(out_dir) / f"{exp.name}-probes.png", exp.name),
            pictures.save_by_length(data.eval.lengths, correct, Path(out_dir) / f"{exp.name}-by-length.png", exp.name),
        ]


@nnx.jit
def positive_probability(model, split: Reviews) -> jax.Array:
    """P(positive) of every sentence of a split [N], in inference mode."""
    return jax.nn.softmax(logits_in_chunks(model, split), axis=-1)[:, POSITIVE]


SENTIMENT = Sentiment()
