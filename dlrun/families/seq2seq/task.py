"""The sequence-to-sequence auto-encoder as a task of the one engine: a pronunciation in,
the same pronunciation out, through one code vector.

Training minimises the cross-entropy of the teacher-forced decoder over the real target
positions (the phonemes and </s>; padding weighs nothing). Evaluation decodes greedily
from the code alone and scores the reconstruction:

* `accuracy`: phoneme accuracy, per position over the real phonemes (the headline);
* `exact`: the share of sequences reconstructed exactly, </s> in its place included.

After training, on the host: the trivial baseline (the most frequent training phoneme at
each position), and whether the code space puts similar pronunciations together: the mean
phoneme edit distance between held-out words and their nearest training word in code space,
against random training words, and against the code neighbours of an untrained encoder.
"""

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dlrun.core.compiler import RUN_ONCE
from dlrun.core.task import DataInfo, Task, TaskData, training_subset
from dlrun.data.cmudict import (
    BOS,
    EOS,
    PROBES,
    REAL_WORDS,
    RHYMES,
    Lexicon,
    Pronunciation,
    Pronunciations,
    encode,
    load_lexicon,
    pad,
    spelled,
)
from dlrun.data.cmudict import decode as symbol_names
from dlrun.errors import ConfigError
from dlrun.families.seq2seq import pictures
from dlrun.families.sequence.task import token_accuracy

NEIGHBOUR_PROBES = 1_000  # held-out words whose code neighbours are measured (a fixed sample)
PROBE_SEED = 0  # which held-out words, and which random training words they are compared with
UNTRAINED_SEED = 0  # the untrained encoder the trained one is compared with
CHUNK = 2_048  # rows encoded or decoded at once on the host: one compiled program for any split size
SHOWN_NEIGHBOURS = 5


# --------------------------------------------------------------------------- sequences


def decoder_targets(tokens: jax.Array, lengths: jax.Array) -> jax.Array:
    """What the decoder must say: phonemes [B, T] + </s> at each length -> [B, T + 1]."""
    padded = jnp.pad(tokens, ((0, 0), (0, 1)))
    return jnp.where(jnp.arange(padded.shape[1])[None] == lengths[:, None], EOS, padded)


def teacher_inputs(targets: jax.Array) -> jax.Array:
    """Teacher forcing: the decoder reads <s> and then the true targets, one step behind."""
    start = jnp.full((targets.shape[0], 1), BOS, targets.dtype)
    return jnp.concatenate([start, targets[:, :-1]], axis=1)


def target_mask(lengths: jax.Array, steps: int) -> jax.Array:
    """[B, steps]: True at the real target positions, the phonemes and the </s> after them."""
    return jnp.arange(steps)[None] <= lengths[:, None]


def phoneme_accuracy(guess: jax.Array, tokens: jax.Array, lengths: jax.Array) -> jax.Array:
    """Share of the real phonemes [B, T] the guess [B, >= T] has right, position by position."""
    real = jnp.arange(tokens.shape[1])[None] < lengths[:, None]
    hits = (guess[:, : tokens.shape[1]] == tokens) & real
    return jnp.sum(hits) / jnp.maximum(jnp.sum(real), 1)


def exact_accuracy(guess: jax.Array, targets: jax.Array, lengths: jax.Array) -> jax.Array:
    """Share of sequences whose guess [B, T + 1] says every phoneme and then </s>."""
    wrong = (guess != targets) & target_mask(lengths, targets.shape[1])
    return jnp.mean(~jnp.any(wrong, axis=1))


def edit_distance(a, b) -> int:
    """Levenshtein distance between two phoneme sequences (insert, delete, substitute: 1 each)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def baseline_accuracy(train: Pronunciations, test: Pronunciations) -> float:
    """The trivial predictor's phoneme accuracy on `test`: at each position, the phoneme most
    frequent there among the training sequences long enough (generous: it is told the length)."""
    steps = train.tokens.shape[1]
    real = np.arange(steps)[None] < train.lengths[:, None]
    counts = np.zeros((steps, int(train.tokens.max()) + 1), np.int64)
    np.add.at(counts, (np.broadcast_to(np.arange(steps), real.shape)[real], train.tokens[real]), 1)
    guess = counts.argmax(axis=1)  # [T]
    width = min(steps, test.tokens.shape[1])
    test_real = np.arange(test.tokens.shape[1])[None] < test.lengths[:, None]
    hits = (test.tokens[:, :width] == guess[None, :width]) & test_real[:, :width]
    return float(hits.sum() / max(test_real.sum(), 1))


# --------------------------------------------------------------------------- host programs


@nnx.jit
def _codes(model, tokens, lengths):
    return model.encode(tokens, lengths)  # [CHUNK, C]


@nnx.jit(static_argnums=3)
def _reconstruct(model, tokens, lengths, steps: int):
    return model.generate(model.encode(tokens, lengths), steps)  # [CHUNK, steps]


def _chunked(fn, model, tokens: np.ndarray, lengths: np.ndarray, *extra) -> np.ndarray:
    """`fn` over rows in chunks of CHUNK (the last one padded with one-phoneme rows)."""
    parts = []
    for start in range(0, len(tokens), CHUNK):
        t, n = tokens[start : start + CHUNK], lengths[start : start + CHUNK]
        rows = len(t)
        t = np.pad(t, ((0, CHUNK - rows), (0, 0)))
        n = np.pad(n, (0, CHUNK - rows), constant_values=1)
        parts.append(np.asarray(fn(model, jnp.asarray(t), jnp.asarray(n), *extra))[:rows])
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def codes_of(model, split: Pronunciations) -> np.ndarray:
    return _chunked(_codes, model, np.asarray(split.tokens), np.asarray(split.lengths))


def reconstructions(model, split: Pronunciations) -> np.ndarray:
    """Greedy reconstructions [N, T + 1] (ids; </s> ends them)."""
    tokens = np.asarray(split.tokens)
    return _chunked(_reconstruct, model, tokens, np.asarray(split.lengths), tokens.shape[1] + 1)


def nearest(queries: np.ndarray, keys: np.ndarray, k: int = 1) -> np.ndarray:
    """Indices [Q, k] of the k nearest keys [N, C] to each query [Q, C], Euclidean, nearest first."""
    key_norms = np.sum(keys**2, axis=1)
    found = []
    for start in range(0, len(queries), 256):
        q = queries[start : start + 256]
        d = key_norms[None] - 2.0 * q @ keys.T  # + |q|^2, the same along each row
        top = np.argpartition(d, k - 1, axis=1)[:, :k] if k < keys.shape[0] else np.argsort(d, axis=1)
        order = np.take_along_axis(d, top, axis=1).argsort(axis=1)
        found.append(np.take_along_axis(top, order, axis=1))
    return np.concatenate(found)


def phonemes_at(split: Pronunciations, i: int) -> tuple[int, ...]:
    return tuple(int(x) for x in split.tokens[i, : split.lengths[i]])


def mean_neighbour_distance(train_codes, probe_codes, train: Pronunciations, probes: Pronunciations) -> float:
    """Mean edit distance between each probe and its nearest training sequence in code space."""
    neighbours = nearest(probe_codes, train_codes)[:, 0]
    return float(
        np.mean([edit_distance(phonemes_at(probes, i), phonemes_at(train, j)) for i, j in enumerate(neighbours)])
    )


def probe_sample(test: Pronunciations) -> Pronunciations:
    """A fixed sample of NEIGHBOUR_PROBES held-out sequences (all when there are fewer)."""
    chosen = np.sort(np.random.default_rng(PROBE_SEED).permutation(len(test.lengths))[:NEIGHBOUR_PROBES])
    return Pronunciations(*(np.asarray(a)[chosen] for a in test))


def untrained_twin(exp, model):
    """The model as initialised from UNTRAINED_SEED, the same for every seed of a run."""
    return nnx.merge(nnx.graphdef(model), _untrained_state(exp.model))


@functools.cache  # one per model config and process: every seed's host metrics compare with it
def _untrained_state(config) -> nnx.State:
    """Made in one compiled program: built eagerly, each initialiser would be a small compile
    of its own (8 s in all on a cold start)."""
    init = jax.jit(lambda: nnx.state(config.build(nnx.Rngs(params=UNTRAINED_SEED))), compiler_options=RUN_ONCE)
    return jax.device_get(init())


def as_split(words: list[str]) -> Pronunciations:
    """Real words of REAL_WORDS (the probes, the rhyme groups) as a padded split."""
    return pad([Pronunciation(REAL_WORDS[w], (w,)) for w in words], max(len(REAL_WORDS[w]) for w in words))


# --------------------------------------------------------------------------- the task


class PronunciationAutoEncoding(Task):
    """Phoneme ids -> code -> the same phoneme ids. Batches are `Pronunciations`."""

    name = "seq2seq-autoencoder"
    selection_metric = "accuracy"  # greedy phoneme accuracy, shown in the progress lines
    columns = (
        ("test_accuracy", "test phoneme acc"),
        ("test_exact", "exact"),
        ("baseline_phoneme_accuracy", "baseline"),
        ("neighbour_edit_distance", "nbr edits"),
        ("untrained_neighbour_edit_distance", "untrained nbr"),
        ("random_edit_distance", "random edits"),
    )

    def load(self, exp, data_dir: Path | None) -> tuple[Lexicon, DataInfo]:
        lexicon = load_lexicon(data_dir)
        return lexicon, DataInfo(lexicon.source, lexicon.sha256, lexicon.notice, len(lexicon.test), len(lexicon.train))

    def train_rows(self, exp, lexicon: Lexicon) -> int:  # the runner's early check of the settings
        if exp.early_stopping or exp.dropout or exp.test_noise:
            raise ConfigError(f"{exp.name}: the {self.name} task has no early stopping, dropout or test noise")
        return min(exp.train_size, len(lexicon.train))

    def place(self, exp, lexicon: Lexicon) -> TaskData:
        """The first `exp.train_size` of a fixed shuffle of the training sequences, and every
        held-out one; padded to the longest of them. No validation split."""
        self.train_rows(exp, lexicon)
        train = [lexicon.train[i] for i in training_subset(len(lexicon.train), exp.train_size)]
        length = max(len(p.phonemes) for split in (train, lexicon.test) for p in split)
        return TaskData(pad(train, length), pad(lexicon.test, length), pad([], length))

    def loss(self, exp, model, batch: Pronunciations, hyper, key):
        targets = decoder_targets(batch.tokens, batch.lengths)  # [B, T + 1]
        mask = target_mask(batch.lengths, targets.shape[1])
        logits = model(batch.tokens, batch.lengths, teacher_inputs(targets))  # [B, T + 1, V]
        return exp.loss(logits, targets, mask), {"teacher_forced_accuracy": token_accuracy(logits, targets, mask)}

    def evaluate(self, exp, model, split: Pronunciations):
        targets = decoder_targets(split.tokens, split.lengths)
        mask = target_mask(split.lengths, targets.shape[1])
        code = model.encode(split.tokens, split.lengths)
        guess = model.generate(code, targets.shape[1])  # [M, T + 1], greedy, from the code alone
        return {
            "loss": exp.loss(model.teacher_forced(code, teacher_inputs(targets)), targets, mask),
            "accuracy": phoneme_accuracy(guess, split.tokens, split.lengths),
            "exact": exact_accuracy(guess, targets, split.lengths),
        }

    def host_metrics(self, exp, model, data: TaskData) -> dict[str, float]:
        """The trivial baseline, and the edit distances that say whether code neighbours sound alike."""
        train, test = (Pronunciations(*(np.asarray(a) for a in split)) for split in (data.train, data.eval))
        baseline = baseline_accuracy(train, test)
        guess = reconstructions(model, test)
        accuracy = float(phoneme_accuracy(jnp.asarray(guess), jnp.asarray(test.tokens), jnp.asarray(test.lengths)))
        probes = probe_sample(test)
        trained = mean_neighbour_distance(codes_of(model, train), codes_of(model, probes), train, probes)
        untrained_model = untrained_twin(exp, model)
        untrained = mean_neighbour_distance(
            codes_of(untrained_model, train), codes_of(untrained_model, probes), train, probes
        )
        partners = np.random.default_rng(PROBE_SEED).integers(len(train.lengths), size=len(probes.lengths))
        random = float(
            np.mean([edit_distance(phonemes_at(probes, i), phonemes_at(train, j)) for i, j in enumerate(partners)])
        )
        return {
            "baseline_phoneme_accuracy": baseline,
            "gain_over_baseline": accuracy - baseline,
            "neighbour_edit_distance": trained,
            "random_edit_distance": random,
            "untrained_neighbour_edit_distance": untrained,
            "neighbour_distance_gain": random - trained,
            "gain_over_untrained": untrained - trained,
        }

    def pictures(self, exp, model, data: TaskData, out_dir: Path) -> list[Path]:
        train = Pronunciations(*(np.asarray(a) for a in data.train))
        return [self._neighbour_picture(exp, model, train, out_dir), self._rhyme_picture(exp, model, train, out_dir)]

    @staticmethod
    def _neighbour_picture(exp, model, train: Pronunciations, out_dir: Path) -> Path:
        """Each probe word, its reconstruction and its nearest training words in code space
        (its own pronunciation excluded)."""
        probes = as_split(list(PROBES))
        probe_codes, train_codes = codes_of(model, probes), codes_of(model, train)
        guesses = reconstructions(model, probes)
        trained_on = {phonemes_at(train, i) for i in range(len(train.lengths))}
        found = nearest(probe_codes, train_codes, SHOWN_NEIGHBOURS + 1)
        rows = []
        for i, word in enumerate(PROBES):
            own = tuple(encode(REAL_WORDS[word]))
            guess = [int(g) for g in guesses[i]]
            said = symbol_names(guess[: guess.index(EOS)] if EOS in guess else guess)
            neighbours = [
                (
                    spelled(train.spelling[j]),
                    symbol_names(phonemes_at(train, j)),
                    edit_distance(own, phonemes_at(train, j)),
                )
                for j in found[i]
                if phonemes_at(train, j) != own
            ][:SHOWN_NEIGHBOURS]
            rows.append((word, REAL_WORDS[word], said, neighbours, own in trained_on))
        return pictures.save_neighbours(rows, out_dir / f"{exp.name}-neighbours.png", exp.name)

    @staticmethod
    def _rhyme_picture(exp, model, train: Pronunciations, out_dir: Path) -> Path:
        """The codes of the rhyme groups, projected on their first two principal components;
        words whose pronunciation the model never trained on are drawn hollow."""
        words = [w for group in RHYMES.values() for w, _ in group]
        codes = codes_of(model, as_split(words))
        groups = [name for name, group in RHYMES.items() for _ in group]
        trained_on = {phonemes_at(train, i) for i in range(len(train.lengths))}
        seen = [tuple(encode(REAL_WORDS[w])) in trained_on for w in words]
        title = f"{exp.name}: codes of rhyming words (PCA)"
        return pictures.save_projection(codes, words, groups, seen, out_dir / f"{exp.name}-rhymes.png", title)


PRONUNCIATION_AUTOENCODING = PronunciationAutoEncoding()
