"""Sentiment as a task of the one engine: a sentence's word ids -> negative or positive.

Batches are `Reviews` (dlrun.data.polarity): padded word ids, lengths and labels, with
the vocabulary riding along as static data. After training, every seed's model is also
scored on the probe set of negated sentences (`PROBE`, dlrun.families.sentiment.config),
encoded with the vocabulary it was trained with.
"""

import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dlrun.core.losses import accuracy
from dlrun.core.task import DataInfo, Task, TaskData, training_subset
from dlrun.data.polarity import Lexicon, PolarityCorpus, Review, Reviews, build_lexicon, encode, load_polarity
from dlrun.families.sentiment.config import PROBE

# The vocabulary rides along with the padded arrays through jit as static data.
jax.tree_util.register_static(Lexicon)

EVAL_CHUNK = 1_024  # sentences per evaluation pass: bounds the memory of a whole-split evaluation


def probe_reviews() -> list[Review]:
    return [Review(tuple(sentence.split()), label) for sentence, label in PROBE]


def logits_in_chunks(model, split: Reviews) -> jax.Array:
    """model(tokens, lengths) for a whole split [N, C], EVAL_CHUNK sentences at a time."""
    n = split.tokens.shape[0]
    if n <= EVAL_CHUNK:
        return model(split.tokens, split.lengths)
    chunks = math.ceil(n / EVAL_CHUNK)
    extra = chunks * EVAL_CHUNK - n  # rows of one <pad> word, dropped afterwards
    tokens = jnp.pad(split.tokens, ((0, extra), (0, 0))).reshape(chunks, EVAL_CHUNK, -1)
    lengths = jnp.pad(split.lengths, (0, extra), constant_values=1).reshape(chunks, EVAL_CHUNK)
    # The weights enter the loop as its (unchanged) carry: NNX refuses variables traced
    # outside a transform inside it (the RNN's own scan), so they cannot be closed over.
    graphdef, state = nnx.split(model)

    def chunk(state, part):
        return state, nnx.merge(graphdef, state)(*part)

    _, logits = jax.lax.scan(chunk, state, (tokens, lengths))  # [chunks, EVAL_CHUNK, C]
    return logits.reshape(chunks * EVAL_CHUNK, -1)[:n]


@nnx.jit
def _predict(model, tokens, lengths):
    return jnp.argmax(model(tokens, lengths), axis=-1)  # [N]


class Sentiment(Task):
    """Word ids of one sentence -> 2 class logits (many to one)."""

    name = "sentiment"
    columns = (
        ("test_accuracy", "test acc"),
        ("train_accuracy", "train acc"),
        ("test_loss", "test loss"),
        ("probe_accuracy", "probe acc"),
    )

    def load(self, exp, data_dir: Path | None) -> tuple[PolarityCorpus, DataInfo]:
        corpus = load_polarity(data_dir)
        return corpus, DataInfo(corpus.source, corpus.sha256, corpus.notice, len(corpus.test), len(corpus.train))

    def place(self, exp, corpus: PolarityCorpus) -> TaskData:
        """The first `exp.train_size` of a fixed shuffle of the training split; the
        vocabulary comes from them alone."""
        train = [corpus.train[i] for i in training_subset(len(corpus.train), exp.train_size)]
        lexicon = build_lexicon(train, exp.model.vocab_size)
        placed = encode(train, lexicon)
        empty = Reviews(placed.tokens[:0], placed.lengths[:0], placed.labels[:0], lexicon)  # no early stopping
        return TaskData(placed, encode(corpus.test, lexicon), empty)

    def train_rows(self, exp, corpus: PolarityCorpus) -> int:  # without encoding anything
        return min(exp.train_size, len(corpus.train))

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


SENTIMENT = Sentiment()
