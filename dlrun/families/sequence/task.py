"""Sequence taggers for slot filling, and the task that plugs them into the engine.

Every tagger maps word ids [B, T] and sentence lengths [B] to tag logits [B, T, C].
A feed-forward tagger sees one word at a time (no memory); the recurrent taggers (Elman,
LSTM, GRU, bidirectional LSTM) carry a state along the sentence. Padded positions never
count: the loss and the metrics are masked, and the recurrent layers get the lengths, so
the backward direction of a bidirectional layer starts at each sentence's last real word.
"""

import enum
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from dlrun.errors import DataError
from dlrun.families.mlp.models import dropout
from dlrun.core.task import DataInfo, Task, TaskData, training_subset
from dlrun.data.text import Corpus, Sentences, build_tagset, build_vocab, load_corpus, pad

# Fixed output sizes: a model config is declared before any data is read, so the
# embedding table and the tag layer have room for any corpus up to these sizes (ATIS:
# 636 word ids with words seen once as <unk>, 121 tags; the generated corpus is smaller).
# Rows a corpus does not use are never trained and never predicted after training.
VOCAB_CAPACITY = 1_000
TAG_CAPACITY = 160


# --------------------------------------------------------------------------- optimizer


def clipped_adam(learning_rate, max_norm) -> optax.GradientTransformation:
    """Adam on gradients clipped to a global L2 norm (exploding RNN gradients, Lecture III).
    Both numbers may be traced: the engine injects them with optax.inject_hyperparams."""
    return optax.chain(optax.clip_by_global_norm(max_norm), optax.adam(learning_rate))


# --------------------------------------------------------------------------- models


class Cell(enum.Enum):
    """The recurrent unit, by the name the lecture uses."""

    ELMAN = "elman"  # h' = tanh(W x + U h + b)
    LSTM = "lstm"
    GRU = "gru"

    def build(self, inputs: int, hidden: int, rngs: nnx.Rngs) -> nnx.RNNCellBase:
        make = {Cell.ELMAN: nnx.SimpleCell, Cell.LSTM: nnx.OptimizedLSTMCell, Cell.GRU: nnx.GRUCell}[self]
        return make(inputs, hidden, rngs=rngs)


def count_params(config) -> int:
    """Trainable parameters of a config's model, from shapes only (nothing is allocated)."""
    model = nnx.eval_shape(lambda: config.build(nnx.Rngs(0)))
    return sum(int(np.prod(p.shape)) for _, p in nnx.to_flat_state(nnx.state(model, nnx.Param)))


@dataclass(frozen=True)
class FeedForwardConfig:
    """Window of one word: embedding -> dense -> tags. The same word always gets the same tag."""

    embed: int = 100
    hidden: int = 100
    vocab_size: int = VOCAB_CAPACITY
    num_tags: int = TAG_CAPACITY

    def build(self, rngs: nnx.Rngs) -> "FeedForwardTagger":
        return FeedForwardTagger(self, rngs)

    def num_params(self) -> int:
        return count_params(self)


@dataclass(frozen=True)
class RecurrentConfig:
    """embedding -> RNN (one direction, or both concatenated) -> dense -> tags."""

    cell: Cell = Cell.LSTM
    bidirectional: bool = False
    embed: int = 100
    hidden: int = 100
    vocab_size: int = VOCAB_CAPACITY
    num_tags: int = TAG_CAPACITY

    def build(self, rngs: nnx.Rngs) -> "RecurrentTagger":
        return RecurrentTagger(self, rngs)

    def num_params(self) -> int:
        return count_params(self)


class FeedForwardTagger(nnx.Module):
    def __init__(self, config: FeedForwardConfig, rngs: nnx.Rngs):
        self.embed = nnx.Embed(config.vocab_size, config.embed, rngs=rngs)
        self.hidden = nnx.Linear(config.embed, config.hidden, rngs=rngs)
        self.out = nnx.Linear(config.hidden, config.num_tags, rngs=rngs)

    def __call__(self, tokens, lengths, dropout_rate=0.0, key=None) -> jax.Array:
        del lengths  # each word alone: padding cannot reach a real word
        keys = (None, None) if key is None else jax.random.split(key)
        x = dropout(self.embed(tokens), dropout_rate, keys[0])  # [B, T, E]
        h = dropout(jnp.tanh(self.hidden(x)), dropout_rate, keys[1])  # [B, T, H]
        return self.out(h)  # [B, T, C]


class RecurrentTagger(nnx.Module):
    def __init__(self, config: RecurrentConfig, rngs: nnx.Rngs):
        self.embed = nnx.Embed(config.vocab_size, config.embed, rngs=rngs)
        # rngs=False: the carry starts at zero (passed in), so the layers hold no RNG state.
        rnn = lambda: nnx.RNN(config.cell.build(config.embed, config.hidden, rngs), rngs=False)  # noqa: E731
        self.bidirectional = config.bidirectional
        self.rnn = nnx.Bidirectional(rnn(), rnn(), rngs=False) if config.bidirectional else rnn()
        width = config.hidden * (2 if config.bidirectional else 1)
        self.out = nnx.Linear(width, config.num_tags, rngs=rngs)

    def __call__(self, tokens, lengths, dropout_rate=0.0, key=None) -> jax.Array:
        keys = (None, None) if key is None else jax.random.split(key)
        x = dropout(self.embed(tokens), dropout_rate, keys[0])  # [B, T, E]
        # seq_lengths: the backward RNN reads each sentence from its own last word; the
        # forward one reaches padding only after the real words, whose outputs are final.
        h = self.rnn(x, initial_carry=self._zero_carry(x), seq_lengths=lengths)  # [B, T, H or 2H]
        return self.out(dropout(h, dropout_rate, keys[1]))  # [B, T, C]

    def _zero_carry(self, x: jax.Array):
        """Zeros in each cell's carry structure ([B, H], or (c, h) for the LSTM)."""
        rnns = (self.rnn.forward_rnn, self.rnn.backward_rnn) if self.bidirectional else (self.rnn,)
        carries = tuple(r.cell.initialize_carry(x[:, 0].shape, nnx.Rngs(carry=0)) for r in rnns)
        return carries if self.bidirectional else carries[0]


# --------------------------------------------------------------------------- metrics


def masked_cross_entropy(logits: jax.Array, tags: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean cross-entropy over the real words of the batch; padding weighs nothing."""
    per_word = optax.softmax_cross_entropy_with_integer_labels(logits, tags)  # [B, T]
    return jnp.sum(per_word * mask) / jnp.maximum(jnp.sum(mask), 1)


def token_accuracy(logits: jax.Array, tags: jax.Array, mask: jax.Array) -> jax.Array:
    """Fraction of real words whose arg-max tag is right (O included)."""
    hits = (jnp.argmax(logits, axis=-1) == tags) & mask  # [B, T]
    return jnp.sum(hits) / jnp.maximum(jnp.sum(mask), 1)


def entity_scores(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    """conlleval semantics (seqeval's default mode): an entity counts only when its type
    and its whole span are right; an I- tag without a B- before it opens an entity."""
    # Imported here: seqeval pulls in scikit-learn (~1.5 s), which only slot filling needs.
    from seqeval.metrics import f1_score, precision_score, recall_score

    # zero_division=0: an untrained tagger that predicts no entity scores 0, silently.
    return {name: float(score(gold, predicted, zero_division=0))
            for name, score in (("f1", f1_score), ("precision", precision_score), ("recall", recall_score))}


def lengths_of(mask: jax.Array) -> jax.Array:
    return jnp.sum(mask, axis=-1).astype(jnp.int32)  # [B]


@nnx.jit
def _predict(model, tokens, lengths):
    return jnp.argmax(model(tokens, lengths), axis=-1)  # [N, T] tag ids


def tag_names(split: Sentences, tag_ids: np.ndarray) -> list[list[str]]:
    """Per sentence, the names of `tag_ids` [N, T] at its real words; ids the tag set
    does not have (spare outputs, see TAG_CAPACITY) read as O."""
    names = split.tagset.names
    return [[names[t] if t < len(names) else names[0] for t in row[m]]
            for row, m in zip(np.asarray(tag_ids), np.asarray(split.mask))]


# --------------------------------------------------------------------------- the task


class SlotFilling(Task):
    """Word ids -> one IOB slot tag per word. Batches are `Sentences` ([B, T] ids, tags, mask)."""

    name = "slot-filling"
    selection_metric = "accuracy"  # token accuracy: early stopping runs inside the compiled epoch
    columns = (("test_f1", "slot F1"), ("test_accuracy", "token acc"), ("test_loss", "test loss"))

    def load(self, exp, data_dir: Path | None) -> tuple[Corpus, DataInfo]:
        corpus = load_corpus(data_dir)
        return corpus, DataInfo(corpus.source, corpus.sha256, corpus.notice, len(corpus.eval), len(corpus.train))

    def place(self, exp, corpus: Corpus) -> TaskData:
        """The first `exp.train_size` of a fixed shuffle of the training sentences; the
        vocabulary comes from them alone. Every split is padded to the longest sentence."""
        train = [corpus.train[i] for i in training_subset(len(corpus.train), exp.train_size)]
        vocab = build_vocab(train, exp.model.vocab_size)
        tagset = build_tagset(corpus.train, corpus.val, corpus.test or [])
        if len(tagset.names) > exp.model.num_tags:
            raise DataError(f"{corpus.source}: {len(tagset.names)} slot tags, more than the "
                            f"{exp.model.num_tags} outputs of the taggers")
        length = max(len(s.words) for split in (train, corpus.val, corpus.eval) for s in split)
        return TaskData(*(pad(split, vocab, tagset, length) for split in (train, corpus.eval, corpus.val)))

    def loss(self, exp, model, batch: Sentences, hyper, key):
        logits = model(batch.tokens, lengths_of(batch.mask), hyper.dropout, key)  # [B, T, C]
        return exp.loss(logits, batch.tags, batch.mask), {"accuracy": token_accuracy(logits, batch.tags, batch.mask)}

    def evaluate(self, exp, model, split: Sentences):
        logits = model(split.tokens, lengths_of(split.mask))  # [M, T, C]
        return {"loss": exp.loss(logits, split.tags, split.mask),
                "accuracy": token_accuracy(logits, split.tags, split.mask)}

    def host_metrics(self, exp, model, data: TaskData) -> dict[str, float]:
        """Entity-level slot F1 (and precision, recall) on the split reported as test."""
        split = data.eval
        predicted = _predict(model, jnp.asarray(split.tokens), lengths_of(jnp.asarray(split.mask)))
        scores = entity_scores(tag_names(split, split.tags), tag_names(split, predicted))
        return {f"test_{k}": float(v) for k, v in scores.items()}


SLOT_FILLING = SlotFilling()
