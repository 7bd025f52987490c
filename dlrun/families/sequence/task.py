"""Slot filling as a task of the one engine: word ids -> one IOB slot tag per word.

Padded positions never count: the loss and the metrics are masked. Entity F1 (conlleval
semantics, with seqeval) is measured on the host after training.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from dlrun.core.task import DataInfo, Prediction, Query, Task, TaskData
from dlrun.data.text import (
    MAX_WORDS,
    OUTSIDE,
    UNK,
    Corpus,
    Sentence,
    Sentences,
    TagSet,
    Vocab,
    build_tagset,
    build_vocab,
    load_corpus,
    pad,
    with_word_shapes,
    word_shape,
)
from dlrun.errors import ConfigError, DataError
from dlrun.families.mlp.task import training_split

# The tag names ride along with the padded arrays (Sentences) through jit as static data.
jax.tree_util.register_static(TagSet)


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
    return {
        name: float(score(gold, predicted, zero_division=0))
        for name, score in (("f1", f1_score), ("precision", precision_score), ("recall", recall_score))
    }


def lengths_of(mask: jax.Array) -> jax.Array:
    return jnp.sum(mask, axis=-1).astype(jnp.int32)  # [B]


@nnx.jit
def _predict(model, tokens, lengths):
    return jnp.argmax(model(tokens, lengths), axis=-1)  # [N, T] tag ids


def tag_names(split: Sentences, tag_ids: np.ndarray) -> list[list[str]]:
    """Per sentence, the names of `tag_ids` [N, T] at its real words; ids the tag set
    does not have (spare outputs, see TAG_CAPACITY) read as O."""
    names = split.tagset.names
    return [
        [names[t] if t < len(names) else names[0] for t in row[m]]
        for row, m in zip(np.asarray(tag_ids), np.asarray(split.mask))
    ]


# --------------------------------------------------------------------------- the task


class SlotFilling(Task):
    """Word ids -> one IOB slot tag per word. Batches are `Sentences` ([B, T] ids, tags, mask)."""

    name = "slot-filling"
    selection_metric = "accuracy"  # token accuracy: early stopping runs inside the compiled epoch
    columns = (("test_f1", "slot F1"), ("test_accuracy", "token acc"), ("test_loss", "test loss"))

    def load(self, exp, data_dir: Path | None) -> tuple[Corpus, DataInfo]:
        """The corpus with its words as the taggers read them (`word_shape`; `predict` reads a
        sentence the same way)."""
        corpus = with_word_shapes(load_corpus(data_dir))
        return corpus, DataInfo(corpus.source, corpus.sha256, corpus.notice, len(corpus.eval), len(corpus.train))

    def place(self, exp, corpus: Corpus) -> TaskData:
        """The first `exp.train_size` of a fixed shuffle of the training sentences, less the
        last `validation_fraction` of them when early stopping holds them out (never the
        split reported as test); the vocabulary comes from the sentences that train. Every
        split is padded to the longest sentence."""
        train, held_out, vocab, tagset = self._training_data(exp, corpus)
        splits = (train, corpus.eval, held_out)
        length = max(len(s.words) for split in splits for s in split)
        return TaskData(*(pad(split, vocab, tagset, length) for split in splits))

    @staticmethod
    def _training_data(exp, corpus: Corpus) -> tuple[list[Sentence], list[Sentence], Vocab, TagSet]:
        """The sentences that train, those held out for early stopping, and the words and
        tags the taggers know."""
        fit_rows, held_out_rows = training_split(exp, len(corpus.train))
        train = [corpus.train[i] for i in fit_rows]
        vocab = build_vocab(train, exp.model.vocab_size)
        tagset = build_tagset(corpus.train, corpus.val, corpus.test or [])
        if len(tagset.names) > exp.model.num_tags:
            raise DataError(
                f"{corpus.source}: {len(tagset.names)} slot tags, more than the "
                f"{exp.model.num_tags} outputs of the taggers"
            )
        return train, [corpus.train[i] for i in held_out_rows], vocab, tagset

    def loss(self, exp, model, batch: Sentences, hyper, key):
        logits = model(batch.tokens, lengths_of(batch.mask), hyper.dropout, key)  # [B, T, C]
        return exp.loss(logits, batch.tags, batch.mask), {"accuracy": token_accuracy(logits, batch.tags, batch.mask)}

    def evaluate(self, exp, model, split: Sentences):
        logits = model(split.tokens, lengths_of(split.mask))  # [M, T, C]
        return {
            "loss": exp.loss(logits, split.tags, split.mask),
            "accuracy": token_accuracy(logits, split.tags, split.mask),
        }

    def host_metrics(self, exp, model, data: TaskData) -> dict[str, float]:
        """Entity-level slot F1 (and precision, recall) on the split reported as test."""
        split = data.eval
        predicted = _predict(model, jnp.asarray(split.tokens), lengths_of(jnp.asarray(split.mask)))
        scores = entity_scores(tag_names(split, split.tags), tag_names(split, predicted))
        return {f"test_{k}": float(v) for k, v in scores.items()}

    def predict(self, exp, models, load, query: Query) -> Prediction:
        """The IOB tag of each word of a sentence (lowercased, split on spaces, as ATIS is
        written; digits read as DIGIT, as in training), with its probability averaged over
        the seeds' models."""
        if query.text is None:
            raise ConfigError("slot filling tags a sentence: give one in quotes, not --index")
        words = tuple(query.text.lower().split())
        if not 0 < len(words) <= MAX_WORDS:
            raise ConfigError(f"give a sentence of 1 to {MAX_WORDS} words")
        *_, vocab, tagset = self._training_data(exp, load())
        shaped = tuple(map(word_shape, words))
        split = pad([Sentence(shaped, (OUTSIDE,) * len(words), "")], vocab, tagset, len(words))
        lengths = np.array([len(words)], np.int32)
        probabilities = np.mean([np.asarray(jax.nn.softmax(m(split.tokens, lengths)))[0] for m in models], axis=0)
        tag_ids = probabilities.argmax(-1)  # [T]
        [tags] = tag_names(split, tag_ids[None])
        unknown = [w for w, i in zip(words, split.tokens[0]) if i == vocab.encode((UNK,))[0]]
        rows = [
            {"word": w, "tag": t, "probability": float(probabilities[i, tag_ids[i]])}
            for i, (w, t) in enumerate(zip(words, tags))
        ]
        note = f"not in the training vocabulary, read as {UNK}: {', '.join(unknown)}" if unknown else None
        return Prediction(" ".join(words), rows, note)


SLOT_FILLING = SlotFilling()
