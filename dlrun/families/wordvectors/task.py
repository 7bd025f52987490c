"""Word vectors with word2vec (Mikolov et al. 2013a, b) as a task of the one engine.

The corpus (dlrun.data.text8: the Reuters-21578 bodies, or text8) becomes a stream of word
ids, once per run (`place`):

* the vocabulary is the words of count >= min_count, at most vocab_size of the most
  frequent; rarer words leave the stream, as in word2vec;
* subsampling of frequent words, word2vec.c's formula: a word of relative frequency f
  stays with probability min(1, sqrt(t/f) + t/f) (the paper writes 1 - sqrt(t/f) for the
  discard probability; the code's keeps a little more). It is drawn once, with a fixed
  seed (SUBSAMPLE_SEED), not anew each epoch as word2vec does: the engine's epochs are
  fixed-shape programs over a fixed stream;
* the last HELD_OUT_WORDS words of the corpus (at most 5%) never train: the split reported
  as test, on which the held-out loss is measured; the training split is the first
  `train_size` words of the rest (all of them by default for the Reuters bodies).

A training example is one position of the stream (a center word and its window). The step
draws, with its random key, each center's window size in 1..window (word2vec's "dynamic
window": nearer words weigh more) and the negatives from the unigram distribution raised to
3/4, read off a table of NOISE_TABLE word ids as word2vec.c does: `negatives` noise words
per (center, context) pair for skip-gram, per window for CBOW. Windows stay inside a
sentence (a Reuters wire, or 1,000 words of text8). Skip-gram scores every (center, context)
pair with the center's input vector against the context's output vector; CBOW scores the
mean of the context's input vectors against the center's output vector; both minimise the
negative-sampling loss -log s(u.v) - sum_k log s(-u_k.v), s the logistic sigmoid, averaged
over the pairs (over the windows for CBOW).

The final metrics are measured on the host (`host_metrics`): the analogy questions of
dlrun.data.analogies, answered by 3CosAdd over the whole vocabulary (the word nearest by
cosine to b - a + c, the three question words excluded), on the questions whose four words
are all in the vocabulary, overall, semantic, syntactic and per section; the same questions
on random vectors of the same vocabulary; and the slide's two analogies.
"""

import hashlib
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dlrun.core.task import DataInfo, Task, TaskData
from dlrun.data.analogies import Analogies, is_semantic, load_analogies
from dlrun.data.text8 import Corpus, load_corpus
from dlrun.errors import DataError
from dlrun.families.wordvectors import pictures
from dlrun.families.wordvectors.config import HELD_OUT_WORDS, Architecture, Word2VecConfig

NOISE_TABLE = 2**20  # word ids in the noise table (word2vec.c: 10^8); a power of two (see `noise_words`)
NOISE_POWER = 0.75
SUBSAMPLE_SEED = 0  # the subsampled stream is the same for every run, seed and variant
EVAL_POSITIONS = 20_000  # a split's loss is measured on its first positions, at most this many
EVAL_CHUNK = 1_000  # positions per piece of that measurement (bounds its memory)
EVAL_SEED = 0  # the negatives of the held-out loss are the same for every model
RANDOM_VECTORS_SEED = 0  # the random-embedding baseline of the analogies
# The slide's examples: a : b = c : ?, with the answer the slide gives.
SLIDE_ANALOGIES = (("rome", "italy", "berlin", "germany"), ("hot", "hotter", "big", "bigger"))
PROBES = ("oil", "bank", "january", "france", "profit", "president", "wheat", "computer")


class Stream(NamedTuple):
    """One split of the subsampled corpus: rows are positions (the first leaf)."""

    tokens: np.ndarray  # [N] int32 word ids
    sentence: np.ndarray  # [N] int32: windows do not cross sentences
    noise: np.ndarray  # [NOISE_TABLE] int32: the unigram^0.75 table (the same in every split)
    offsets: np.ndarray  # [2 * window] int32: -window..-1, 1..window


class Vocabulary(NamedTuple):
    """What the host metrics read about a placed corpus."""

    words: tuple[str, ...]  # id -> word, most frequent first
    counts: np.ndarray  # [V]
    analogies: Analogies


# --------------------------------------------------------------------------- the corpus


def vocabulary_size(counts: np.ndarray, config: Word2VecConfig) -> int:
    """Words kept: those of count >= min_count (counts are descending), at most vocab_size."""
    return int(min(np.count_nonzero(counts >= config.min_count), config.vocab_size))


def keep_probability(counts: np.ndarray, t: float) -> np.ndarray:
    """word2vec.c's subsampling: a word of frequency f = count / total stays with
    probability min(1, sqrt(t/f) + t/f); t <= 0 keeps every word."""
    if t <= 0:
        return np.ones(len(counts))
    ratio = t / (counts / counts.sum())
    return np.minimum(1.0, np.sqrt(ratio) + ratio)


def noise_table(counts: np.ndarray, size: int = NOISE_TABLE, power: float = NOISE_POWER) -> np.ndarray:
    """word2vec.c's unigram table: [size] word ids, word i filling a share count_i^power /
    sum_j count_j^power of it (slot k holds the word whose cumulative share passes (k + 0.5) / size)."""
    weights = counts.astype(np.float64) ** power
    cumulative = np.cumsum(weights / weights.sum())
    table = np.searchsorted(cumulative, (np.arange(size) + 0.5) / size, side="right")
    return np.minimum(table, len(counts) - 1).astype(np.int32)


def stream(corpus: Corpus, config: Word2VecConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(tokens, sentence ids, their positions in the corpus, vocabulary size): the corpus
    without its out-of-vocabulary words, subsampled with SUBSAMPLE_SEED."""
    n_vocab = vocabulary_size(corpus.counts, config)
    if n_vocab < 2:
        raise DataError(
            f"{corpus.source}: {n_vocab} word(s) occur at least {config.min_count} times; word vectors need 2"
        )
    sentence = np.repeat(np.arange(len(corpus.offsets) - 1, dtype=np.int32), np.diff(corpus.offsets))
    keep = keep_probability(corpus.counts[:n_vocab], config.subsample)
    known = np.flatnonzero(corpus.tokens < n_vocab)
    tokens = corpus.tokens[known]
    kept = np.random.default_rng(SUBSAMPLE_SEED).random(len(tokens)) < keep[tokens]
    return tokens[kept], sentence[known[kept]], known[kept], n_vocab


def held_out(n: int) -> int:
    """Words at the end of a corpus of n words that never train: 5%, at least 1, at most HELD_OUT_WORDS."""
    return min(HELD_OUT_WORDS, max(1, n // 20))


def windows(split: Stream, idx: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(centers [B], contexts [B, 2W], valid [B, 2W]) of positions idx [B]: a context slot is
    valid when it lies in the split and in the center's sentence."""
    n = split.tokens.shape[0]
    at = idx[:, None] + split.offsets  # [B, 2W]
    inside = (at >= 0) & (at < n)
    at = jnp.clip(at, 0, n - 1)
    valid = inside & (split.sentence[at] == split.sentence[idx][:, None])
    return split.tokens[idx], split.tokens[at], valid


def window_offsets(window: int) -> np.ndarray:
    """[2W] the context slots around a center: -W..-1, 1..W."""
    return np.array([o for o in range(-window, window + 1) if o], np.int32)


def dynamic_window(key: jax.Array, window: int, batch: int) -> jax.Array:
    """[B, 2W]: word2vec's reduced window, each center drawing its size r in 1..W and
    keeping the context words within r of it."""
    reach = jax.random.randint(key, (batch, 1), 1, window + 1)
    return jnp.abs(jnp.asarray(window_offsets(window))) <= reach


# --------------------------------------------------------------------------- the objective


def negative_sampling_loss(positive: jax.Array, negative: jax.Array, negative_mask: jax.Array | None = None):
    """-log s(positive) - sum_k log s(-negative_k) per example: scores positive [...] of the true
    pairs and negative [..., K] of the noise words (a noise word equal to the true one
    counts for nothing when `negative_mask` [..., K] says so, as word2vec.c skips it)."""
    noise = jax.nn.log_sigmoid(-negative)
    if negative_mask is not None:
        noise = noise * negative_mask
    return -jax.nn.log_sigmoid(positive) - noise.sum(-1)


def noise_words(key: jax.Array, noise: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Word ids [shape] drawn uniformly from the noise table, whose size is a power of two:
    one 32-bit random number per draw, masked (an exact uniform draw, half the random bits
    of `jax.random.randint`, which XLA:CPU spends much of a step on)."""
    slots = jax.random.bits(key, shape, jnp.uint32) & jnp.uint32(noise.shape[0] - 1)
    return noise[slots.astype(jnp.int32)]


def objective(exp, model, centers, contexts, valid, noise, key) -> jax.Array:
    """The mean negative-sampling loss over the valid pairs (skip-gram) or over the windows
    with a valid context word (CBOW)."""
    config: Word2VecConfig = exp.model
    inputs, outputs = model.inputs[...], model.outputs[...]
    if config.architecture == Architecture.SKIP_GRAM:
        negatives = noise_words(key, noise, (*contexts.shape, config.negatives))  # [B, 2W, K]
        v = inputs[centers]  # [B, D]
        positive = jnp.einsum("bd,bcd->bc", v, outputs[contexts])
        b, c, k = negatives.shape
        negative = jnp.einsum("bd,bnd->bn", v, outputs[negatives.reshape(b, c * k)]).reshape(b, c, k)
        per_pair = exp.loss(positive, negative, negatives != contexts[..., None])  # [B, 2W]
        weight = valid.astype(jnp.float32)
        return (per_pair * weight).sum() / jnp.maximum(weight.sum(), 1.0)
    negatives = noise_words(key, noise, (centers.shape[0], config.negatives))  # [B, K]
    m = valid.astype(jnp.float32)
    h = jnp.einsum("bc,bcd->bd", m, inputs[contexts]) / jnp.maximum(m.sum(1, keepdims=True), 1.0)  # [B, D]
    positive = jnp.einsum("bd,bd->b", h, outputs[centers])
    negative = jnp.einsum("bd,bkd->bk", h, outputs[negatives])
    per_window = exp.loss(positive, negative, negatives != centers[:, None])  # [B]
    weight = valid.any(axis=1).astype(jnp.float32)
    return (per_window * weight).sum() / jnp.maximum(weight.sum(), 1.0)


# --------------------------------------------------------------------------- the analogies


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def answer_analogies(unit: np.ndarray, abc: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """3CosAdd: for questions abc [Q, 3] of word ids (a : b = c : ?), the id [Q] nearest by
    cosine to b - a + c among the rows of `unit` [V, D] (unit vectors), a, b and c excluded."""
    answers = np.empty(len(abc), np.int64)
    for start in range(0, len(abc), chunk):
        q = abc[start : start + chunk]
        target = unit[q[:, 1]] - unit[q[:, 0]] + unit[q[:, 2]]  # [q, D]
        scores = target @ unit.T  # [q, V]; the target's own norm does not change the order
        rows = np.arange(len(q))[:, None]
        scores[rows, q] = -np.inf
        answers[start : start + len(q)] = scores.argmax(axis=1)
    return answers


def question_ids(analogies: Analogies, words: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(ids [A, 4], which [A]): the questions whose four words are all in the vocabulary, as
    word ids, and their index among all questions."""
    index = {w: i for i, w in enumerate(words)}
    found = [(i, [index.get(w, -1) for w in q]) for i, q in enumerate(analogies.questions)]
    kept = [(i, ids) for i, ids in found if min(ids) >= 0]
    ids = np.array([ids for _, ids in kept], np.int64).reshape(-1, 4)
    return ids, np.array([i for i, _ in kept], np.int64)


def score_analogies(vectors: np.ndarray, words: tuple[str, ...], analogies: Analogies) -> dict[str, float]:
    """Accuracy of 3CosAdd on the answerable questions: overall, semantic, syntactic, per
    section (`analogy_<section>`), and the share of questions answerable (coverage). An
    accuracy over no question is 0 (the coverage says so)."""
    ids, which = question_ids(analogies, words)
    right = answer_analogies(unit_rows(vectors), ids[:, :3]) == ids[:, 3] if len(ids) else np.zeros(0, bool)
    section = np.asarray(analogies.section, np.int64)[which]
    semantic = np.array([is_semantic(analogies.sections[s]) for s in section], bool)

    def share(mask: np.ndarray) -> float:
        return float(right[mask].mean()) if mask.any() else 0.0

    metrics = {
        "analogy_accuracy": share(np.ones(len(right), bool)),
        "analogy_coverage": len(ids) / len(analogies.questions),
        "analogy_answered": float(len(ids)),
        "semantic_accuracy": share(semantic),
        "syntactic_accuracy": share(~semantic),
    }
    for s, name in enumerate(analogies.sections):
        metrics[f"analogy_{name}"] = share(section == s)
    return metrics


def nearest(unit: np.ndarray, words: tuple[str, ...], word: str, k: int) -> list[tuple[str, float]]:
    """The k words nearest to `word` by cosine (itself excluded); [] when it is not in the vocabulary."""
    if word not in words:
        return []
    i = words.index(word)
    scores = unit @ unit[i]
    scores[i] = -np.inf
    top = np.argsort(-scores)[:k]
    return [(words[j], float(scores[j])) for j in top]


def slide_answers(unit: np.ndarray, words: tuple[str, ...]) -> list[tuple[tuple[str, ...], str | None]]:
    """The slide's analogies (a, b, c, expected) and the answer of 3CosAdd (None when a word
    is not in the vocabulary)."""
    index = {w: i for i, w in enumerate(words)}
    answers = []
    for question in SLIDE_ANALOGIES:
        if all(w in index for w in question):
            [got] = answer_analogies(unit, np.array([[index[w] for w in question[:3]]]))
            answers.append((question, words[got]))
        else:
            answers.append((question, None))
    return answers


def capital_pairs(analogies: Analogies, words: tuple[str, ...]) -> list[tuple[str, str]]:
    """(capital, country) pairs of the capital-common-countries section, both in the vocabulary."""
    if "capital-common-countries" not in analogies.sections:
        return []
    s = analogies.sections.index("capital-common-countries")
    known = set(words)
    pairs = dict.fromkeys(
        pair
        for q, sec in zip(analogies.questions, analogies.section)
        if sec == s
        for pair in ((q[0], q[1]), (q[2], q[3]))
        if pair[0] in known and pair[1] in known
    )
    return list(pairs)


# --------------------------------------------------------------------------- the task


class WordVectors(Task):
    """word2vec on a corpus stream (see the module docstring)."""

    name = "word-vectors"
    selection_metric = "loss"  # the progress line shows the held-out loss
    needs_key = True  # window sizes and negatives every step
    diverged_above = 1e3  # the loss starts at (1 + negatives) log 2 = 4.2
    columns = (
        ("analogy_accuracy", "analogy acc"),
        ("semantic_accuracy", "semantic"),
        ("syntactic_accuracy", "syntactic"),
        ("analogy_coverage", "answerable"),
        ("random_analogy_accuracy", "random vectors"),
        ("test_loss", "held-out loss"),
    )

    def __init__(self):
        self._placed: dict[str, Vocabulary] = {}  # digest of a placed stream -> its words
        self._last: tuple | None = None  # (key, TaskData) of the last `place`
        self._random: dict[tuple, float] = {}  # the random-vector baseline of the last vocabulary

    def load(self, exp, data_dir: Path | None) -> tuple[tuple[Corpus, Analogies], DataInfo]:
        corpus, analogies = load_corpus(data_dir), load_analogies(data_dir)
        notices = [n for n in (corpus.notice, analogies.notice) if n]
        source = f"{corpus.source}; {len(analogies.questions):,} analogy questions from {Path(analogies.source).name}"
        digest = hashlib.sha256((corpus.sha256 + analogies.sha256).encode()).hexdigest()
        n = corpus.num_tokens
        info = DataInfo(source, digest, "; ".join(notices) or None, held_out(n), n - held_out(n))
        return (corpus, analogies), info

    def train_rows(self, exp, loaded) -> int:
        return len(self.place(exp, loaded).train.tokens)

    def place(self, exp, loaded) -> TaskData:
        """The subsampled stream: the training positions (of the first train_size words), the
        held-out end of the corpus."""
        corpus, analogies = loaded
        config: Word2VecConfig = exp.model
        key = (corpus.sha256, analogies.sha256, config.min_count, config.vocab_size, config.subsample)
        key += (config.window, exp.train_size)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        tokens, sentence, position, n_vocab = stream(corpus, config)
        cut = corpus.num_tokens - held_out(corpus.num_tokens)
        train_end, cut = np.searchsorted(position, [min(cut, exp.train_size), cut])
        if train_end < 1 or cut == len(tokens):
            raise DataError(
                f"{corpus.source}: {train_end} training and {len(tokens) - cut} held-out words left after the "
                f"vocabulary cut (count >= {config.min_count}) and subsampling; the corpus is too small"
            )
        noise = noise_table(corpus.counts[:n_vocab])
        offsets = window_offsets(config.window)
        data = TaskData(
            train=Stream(tokens[:train_end], sentence[:train_end], noise, offsets),
            eval=Stream(tokens[cut:], sentence[cut:], noise, offsets),
            val=Stream(tokens[:0], sentence[:0], noise, offsets),
        )
        self._placed[stream_digest(data)] = Vocabulary(corpus.words[:n_vocab], corpus.counts[:n_vocab], analogies)
        self._last = (key, data)
        return data

    def batch(self, train: Stream, idx, shard):
        centers, contexts, valid = windows(train, idx)
        return shard(centers), shard(contexts), shard(valid), train.noise

    def loss(self, exp, model, batch, hyper, key):
        centers, contexts, valid, noise = batch
        window_key, noise_key = jax.random.split(key)
        valid = valid & dynamic_window(window_key, contexts.shape[1] // 2, centers.shape[0])
        return objective(exp, model, centers, contexts, valid, noise, noise_key), {}

    def evaluate(self, exp, model, split: Stream):
        """The loss on the split's first EVAL_POSITIONS positions, every context slot of the
        full window, negatives drawn with EVAL_SEED; in pieces of EVAL_CHUNK positions."""
        n = min(split.tokens.shape[0], EVAL_POSITIONS)
        chunk = min(n, EVAL_CHUNK)
        pieces = n // chunk
        key = jax.random.key(EVAL_SEED)

        def piece(i):
            idx = i * chunk + jnp.arange(chunk)
            centers, contexts, valid = windows(split, idx)
            weight = valid.sum() if exp.model.architecture == Architecture.SKIP_GRAM else valid.any(axis=1).sum()
            loss = objective(exp, model, centers, contexts, valid, split.noise, jax.random.fold_in(key, i))
            return loss * weight, weight

        sums, weights = jax.lax.map(piece, jnp.arange(pieces))
        return {"loss": sums.sum() / jnp.maximum(weights.sum(), 1)}

    def final_extras(self, params) -> dict[str, float]:
        return {}

    def vocabulary(self, data: TaskData) -> Vocabulary:
        found = self._placed.get(stream_digest(data))
        if found is None:
            raise DataError("word vectors: these data were not placed by this task (no vocabulary for them)")
        return found

    def random_baseline(self, vocab: Vocabulary, dim: int) -> float:
        """The analogy accuracy of random Gaussian vectors [V, dim] (RANDOM_VECTORS_SEED) of the
        vocabulary, once per vocabulary and size (every seed of a run asks for it)."""
        key = (vocab.words, vocab.analogies.sha256, dim)
        if key not in self._random:
            rng = np.random.default_rng(RANDOM_VECTORS_SEED)
            vectors = rng.standard_normal((len(vocab.words), dim)).astype(np.float32)
            self._random = {key: score_analogies(vectors, vocab.words, vocab.analogies)["analogy_accuracy"]}
        return self._random[key]

    def host_metrics(self, exp, model, data: TaskData) -> dict[str, float]:
        vocab = self.vocabulary(data)
        n = len(vocab.words)
        vectors = np.asarray(model.inputs[...])[:n]
        metrics = score_analogies(vectors, vocab.words, vocab.analogies)
        metrics["random_analogy_accuracy"] = self.random_baseline(vocab, vectors.shape[1])
        metrics["analogy_over_random"] = metrics["analogy_accuracy"] - metrics["random_analogy_accuracy"]
        answers = slide_answers(unit_rows(vectors), vocab.words)
        metrics["slide_analogies_asked"] = float(sum(got is not None for _, got in answers))
        metrics["slide_analogies_right"] = float(sum(got == q[3] for q, got in answers))
        return metrics

    def pictures(self, exp, model, data, out_dir):
        vocab = self.vocabulary(data)
        unit = unit_rows(np.asarray(model.inputs[...])[: len(vocab.words)])
        neighbours = [(w, nearest(unit, vocab.words, w, 8)) for w in PROBES]
        answers = slide_answers(unit, vocab.words)
        made = [
            pictures.save_neighbours(
                neighbours, answers, out_dir / f"{exp.name}-neighbours.png", f"{exp.name}: nearest words by cosine"
            )
        ]
        pairs = capital_pairs(vocab.analogies, vocab.words)
        if len(pairs) >= 2:
            index = {w: i for i, w in enumerate(vocab.words)}
            capitals = unit[[index[c] for c, _ in pairs]]
            countries = unit[[index[c] for _, c in pairs]]
            title = f"{exp.name}: countries and their capitals, PCA of the word vectors"
            made.append(pictures.save_capitals(pairs, capitals, countries, out_dir / f"{exp.name}-capitals.png", title))
        return made


def stream_digest(data: TaskData) -> str:
    """Identifies a placed corpus: its training and held-out positions."""
    digest = hashlib.sha256()
    for split in (data.train, data.eval):
        digest.update(np.asarray(split.tokens).tobytes())
        digest.update(np.asarray(split.sentence).tobytes())
    return digest.hexdigest()


WORD_VECTORS = WordVectors()
