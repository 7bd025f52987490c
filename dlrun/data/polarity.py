"""The sentence polarity dataset v1.0 (Pang & Lee 2005) for Lecture III's "many to one":
5,331 positive and 5,331 negative movie-review snippets, one a line, in `rt-polarity.pos`
and `rt-polarity.neg` (Cornell's `rt-polaritydata.tar.gz`). The files are already
tokenised and lowercase (punctuation split off, "doesn't" one word); a word is what
`str.split` gives. Cornell's original files are Latin-1, the shared copy is UTF-8: each
file is read as UTF-8, else as Latin-1. Lines end at "\\n" only (a "\\r" before it is
dropped): Cornell's Latin-1 text holds byte 0x85, which Python's `splitlines` would take
for a line break.

Where the data comes from, first match wins:

1. a data dir (the `data_dir` argument, else env `DLRUN_DATA_DIR`) holding the two files
   in `DIR/rt-polaritydata/` or directly in `DIR`, or the archive `DIR/rt-polaritydata.tar.gz`.
   A dir the user named must hold the data: we raise instead of quietly using another source.
2. the shared data folder beside the repository (`POLARITY_FOLDERS`, by default
   `../shared/data`, searched the same way). Set `DLRUN_NO_POLARITY=1` to skip it.
3. offline fallback: a generated corpus of review sentences whose label depends on word
   order (negation, and "X but Y" where Y decides), with a notice.

The test split is a fixed, stratified 10% (seed `SPLIT_SEED`, whatever the run seed): 533
sentences of each class on the real data, so 9,596 train and 1,066 test. Published results
use 10-fold cross-validation: `PolarityCorpus.split(fold)` holds out fold `fold` of `FOLDS`,
cut from the same fixed permutation of each class, so the ten folds are disjoint, together
hold every sentence, and fold 0 is the fixed test split (533 or 534 sentences of each class
per fold on the real data).
"""

from __future__ import annotations

import functools
import hashlib
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from dlrun.data import find_data, shared_folder
from dlrun.data.archives import Bounds, read_members
from dlrun.data.text import build_vocab
from dlrun.errors import ConfigError, DataError
from dlrun.files import read_bounded

POS_FILE, NEG_FILE = "rt-polarity.pos", "rt-polarity.neg"
FOLDER, ARCHIVE = "rt-polaritydata", "rt-polaritydata.tar.gz"
# The documented default: the shared data folder beside the repository.
POLARITY_FOLDERS = shared_folder()
NEGATIVE, POSITIVE = 0, 1  # label ids
SPLIT_SEED = 0  # the test split is the same for every run, seed and variant
FOLDS = 10  # cross-validation folds (Kim 2014 and the papers it compares with use 10)
PER_CLASS = 5_331  # sentences of each class in v1.0 (and in the generated corpus)
TEST_PER_CLASS = round(PER_CLASS / FOLDS)  # 533: the fixed test split is fold 0 (`fold_bounds`)
TRAIN_SENTENCES = 2 * (PER_CLASS - TEST_PER_CLASS)  # 9,596
# Bounds on what a file may hold, so that no file can make dlrun allocate without bound
# (padding makes every sentence as long as the longest): the real files are 0.6 MB each,
# their longest line 59 words and about 300 characters.
MAX_FILE_MB = 20  # one file (or the archive), in MB (10**6 bytes)
MAX_LINE_CHARS = 10_000
MAX_WORDS = 200
MAX_PADDED_SLOTS = 20_000_000  # sentences x longest sentence
MIN_PER_CLASS = 10  # so that every fold of ten holds each class
MAX_ARCHIVE_MEMBERS = 1_000
MAX_ARCHIVE_TOTAL_MB = 100  # declared sizes of the members passed over (the real ones: 1.2 MB)
UNK_ID = 1  # <pad> is 0, <unk> 1 in every vocabulary (dlrun.data.text)


class Review(NamedTuple):
    words: tuple[str, ...]
    label: int  # NEGATIVE or POSITIVE


@dataclass(frozen=True)
class PolarityCorpus:
    """Each class's sentences in file order, and where they came from; the split into
    train and test is made from them (`split`)."""

    positive: tuple[Review, ...]
    negative: tuple[Review, ...]
    source: str
    sha256: str
    notice: str | None

    def split(self, fold: int | None = None) -> tuple[list[Review], list[Review]]:
        """(train, test) holding out fold `fold` of FOLDS; None: the fixed test split (fold 0)."""
        return stratified_split(list(self.positive), list(self.negative), fold or 0)

    @functools.cached_property  # the fixed split, made once (not a field: equality ignores it)
    def fixed_split(self) -> tuple[list[Review], list[Review]]:
        return self.split()

    @property
    def train(self) -> list[Review]:
        return self.fixed_split[0]

    @property
    def test(self) -> list[Review]:
        return self.fixed_split[1]


@dataclass(frozen=True)
class Lexicon:
    """The vocabulary's words in id order (PAD, UNK, ...). The sentiment task registers it
    as a static pytree node, so it rides along with the padded arrays (`Reviews`) and the
    host can encode new sentences (the probe set) with the ids the model was trained on."""

    words: tuple[str, ...]

    @functools.cached_property  # built once per lexicon (not a field: equality and hash ignore it)
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def encode(self, words: tuple[str, ...]) -> list[int]:
        return [self.index.get(w, UNK_ID) for w in words]


def build_lexicon(train: list[Review], capacity: int) -> Lexicon:
    """Words seen at least twice in the training split, most frequent first, at most
    `capacity` ids with <pad> and <unk>; every other word is <unk> (dlrun.data.text.build_vocab)."""
    return Lexicon(build_vocab(train, capacity).words)


class Reviews(NamedTuple):
    """A split or a mini-batch, every sentence padded to one length T."""

    tokens: np.ndarray  # [N, T] int32 word ids, PAD (0) beyond the sentence
    lengths: np.ndarray  # [N] int32 real words per sentence (at least 1)
    labels: np.ndarray  # [N] int32 NEGATIVE / POSITIVE
    lexicon: Lexicon


def encode(reviews: list[Review], lexicon: Lexicon, length: int | None = None) -> Reviews:
    """Ids padded to `length` (default: the longest sentence)."""
    length = max((len(r.words) for r in reviews), default=1) if length is None else length
    tokens = np.zeros((len(reviews), length), np.int32)
    for i, r in enumerate(reviews):
        tokens[i, : len(r.words)] = lexicon.encode(r.words)
    lengths = np.array([len(r.words) for r in reviews], np.int32).reshape(-1)
    labels = np.array([r.label for r in reviews], np.int32).reshape(-1)
    return Reviews(tokens, lengths, labels, lexicon)


# --------------------------------------------------------------------------- the files


def decode(raw: bytes) -> str:
    """UTF-8 (the shared copy), else Latin-1 (Cornell's original), which reads any bytes."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def parse_polarity(raw: bytes, where: str, label: int) -> list[Review]:
    """One sentence per non-blank line; DataError names `where` and the line."""
    reviews = []
    for lineno, line in enumerate(decode(raw).split("\n"), 1):
        if len(line) > MAX_LINE_CHARS:
            raise DataError(
                f"{where}, line {lineno}: {len(line):,} characters, over dlrun's limit of {MAX_LINE_CHARS:,}"
            )
        words = line.lower().split(maxsplit=MAX_WORDS)  # splitting at most this often keeps a long line cheap
        if len(words) > MAX_WORDS:
            raise DataError(
                f"{where}, line {lineno}: more than {MAX_WORDS} words in one sentence, over dlrun's limit "
                "(every sentence is padded to the longest)"
            )
        if words:
            reviews.append(Review(tuple(words), label))
    if len(reviews) < MIN_PER_CLASS:
        raise DataError(f"{where}: {len(reviews)} sentences, need at least {MIN_PER_CLASS}")
    return reviews


def _read_archive(path: Path) -> tuple[tuple[bytes, str], tuple[bytes, str]]:
    """(bytes, where) of the positive and the negative file inside a Cornell-style tar.gz."""
    bounds = Bounds(MAX_FILE_MB, MAX_FILE_MB, MAX_ARCHIVE_TOTAL_MB, MAX_ARCHIVE_MEMBERS)
    found = read_members(path, _pair_member, bounds, "a polarity archive", wanted=2)
    missing = [n for n in (POS_FILE, NEG_FILE) if n not in found]
    if missing:
        raise DataError(f"{path}: no {' or '.join(missing)} inside")
    return found[POS_FILE], found[NEG_FILE]


def _pair_member(member: tarfile.TarInfo) -> str | None:
    name = member.name.rpartition("/")[2]
    return name if name in (POS_FILE, NEG_FILE) else None


def find_polarity(folder: Path) -> tuple[Path, Path] | Path | None:
    """The two files in `folder/rt-polaritydata/` or `folder`, else the archive
    `folder/rt-polaritydata.tar.gz`; None when none is there. Half a pair is an error."""
    for where in (folder / FOLDER, folder):
        pos, neg = where / POS_FILE, where / NEG_FILE
        if pos.is_file() and neg.is_file():
            return pos, neg
        if pos.is_file() != neg.is_file():
            have, lack = (pos, neg) if pos.is_file() else (neg, pos)
            raise DataError(f"{where}: {have.name} but no {lack.name} beside it")
    archive = folder / ARCHIVE
    return archive if archive.is_file() else None


def load_polarity(data_dir: Path | str | None = None) -> PolarityCorpus:
    """The corpus through the chain of the module docstring, else the generated one."""
    found = find_data(data_dir, find_polarity, POLARITY_FOLDERS, "DLRUN_NO_POLARITY", _missing)
    return generated_polarity() if found is None else read_polarity(found)


def _missing(folder: Path) -> str:
    return f"no {POS_FILE} and {NEG_FILE} in {folder} or {folder / FOLDER}, and no {folder / ARCHIVE}"


def read_polarity(found: tuple[Path, Path] | Path) -> PolarityCorpus:
    """The corpus from the two files or the archive, split into train and test."""
    if isinstance(found, tuple):
        (pos_raw, pos_where), (neg_raw, neg_where) = (
            (read_bounded(p, MAX_FILE_MB, "a polarity file"), str(p)) for p in found
        )
        source = f"sentence polarity v1.0 in {found[0].parent}"
    else:
        (pos_raw, pos_where), (neg_raw, neg_where) = _read_archive(found)
        source = f"sentence polarity v1.0 in {found}"
    positive = parse_polarity(pos_raw, pos_where, POSITIVE)
    negative = parse_polarity(neg_raw, neg_where, NEGATIVE)
    longest = max(len(r.words) for r in positive + negative)
    slots = (len(positive) + len(negative)) * longest
    if slots > MAX_PADDED_SLOTS:
        raise DataError(
            f"{pos_where} and {neg_where}: {len(positive) + len(negative):,} sentences padded to the longest "
            f"({longest} words) make {slots:,} word slots, over dlrun's limit of {MAX_PADDED_SLOTS:,}"
        )
    digest = hashlib.sha256(pos_raw)
    digest.update(neg_raw)
    return PolarityCorpus(tuple(positive), tuple(negative), source, digest.hexdigest(), None)


def fold_bounds(n: int) -> list[int]:
    """Where a class of n sentences, in its fixed order, is cut into FOLDS folds: fold k is
    positions bounds[k]:bounds[k + 1], with bounds[k] = round(n * k / FOLDS)."""
    return [round(n * k / FOLDS) for k in range(FOLDS)] + [n]


def stratified_split(
    positive: list[Review], negative: list[Review], fold: int = 0
) -> tuple[list[Review], list[Review]]:
    """(train, test): fold `fold` of each class's fixed permutation (drawn with SPLIT_SEED,
    whatever the run seed) is the test split, in file order; the other folds train, shuffled
    (fixed too), so any prefix of the training split holds both classes."""
    if not 0 <= fold < FOLDS:
        raise ConfigError(f"fold must be one of 0..{FOLDS - 1} (or None: the fixed test split), got {fold}")
    train, test = [], []
    for label, reviews in ((POSITIVE, positive), (NEGATIVE, negative)):
        order = np.random.default_rng([SPLIT_SEED, label]).permutation(len(reviews))
        bounds = fold_bounds(len(reviews))
        held_out = order[bounds[fold] : bounds[fold + 1]]
        kept = np.concatenate([order[: bounds[fold]], order[bounds[fold + 1] :]])
        test += [reviews[i] for i in sorted(held_out)]
        train += [reviews[i] for i in sorted(kept)]
    shuffle = np.random.default_rng([SPLIT_SEED, 2]).permutation(len(train))
    return [train[i] for i in shuffle], test


# --------------------------------------------------------------------------- generated corpus

GENERATED_SEED = 0
_SUBJECTS = (
    "the movie",
    "the film",
    "the plot",
    "the acting",
    "the script",
    "the cast",
    "the ending",
    "the story",
    "the dialogue",
    "this comedy",
    "the soundtrack",
    "the director's work",
)
_VERBS = ("is", "was", "feels", "seems")
_INTENSIFIERS = ("very", "really", "quite", "so", "truly")
_GOOD = ("good", "great", "funny", "moving", "clever", "charming", "fresh", "beautiful", "gripping", "smart")
_BAD = ("bad", "boring", "dull", "awful", "tedious", "flat", "silly", "lifeless", "predictable", "clumsy")
_LIKE = ("like", "love", "enjoy", "admire")
_HATE = ("hate", "dislike", "regret", "resent")
_NEGATORS = ("not", "never")
NEGATION_RATE = 0.3


def generated_polarity(seed: int = GENERATED_SEED, per_class: int = PER_CLASS) -> PolarityCorpus:
    """The offline corpus, as many sentences as v1.0. A sentence is one clause, "A but B"
    (B decides, and A says the opposite), or "A and B" (both agree); 30% of clauses are
    negated ("the plot is not dull"). An order-blind model sees the same words in "A but
    B" and "B but A", whose labels differ."""
    rng = np.random.default_rng(seed)
    positive = [Review(_sentence(rng, POSITIVE), POSITIVE) for _ in range(per_class)]
    negative = [Review(_sentence(rng, NEGATIVE), NEGATIVE) for _ in range(per_class)]
    text = "\n".join(f"{r.label} {' '.join(r.words)}" for r in positive + negative)
    notice = (
        "no sentence polarity files found (see --data-dir): using a generated corpus of review "
        "sentences whose label depends on word order (negation, 'but')"
    )
    return PolarityCorpus(
        tuple(positive),
        tuple(negative),
        f"generated review corpus (seed {seed}, offline fallback)",
        hashlib.sha256(text.encode()).hexdigest(),
        notice,
    )


def _sentence(rng: np.random.Generator, label: int) -> tuple[str, ...]:
    kind = rng.random()
    if kind < 0.4:
        words = _clause(rng, label)
    elif kind < 0.8:
        words = [*_clause(rng, 1 - label), "but", *_clause(rng, label)]
    else:
        words = [*_clause(rng, label), "and", *_clause(rng, label)]
    return tuple(words + (["."] if rng.random() < 0.5 else []))


def _clause(rng: np.random.Generator, polarity: int) -> list[str]:
    """A clause meaning `polarity`: "the plot is [very] clever", "the plot is not dull",
    "i like it", "i do not hate it"."""
    negated = rng.random() < NEGATION_RATE
    said = polarity if not negated else 1 - polarity  # the polar word before the negation
    if rng.random() < 0.25:
        verb = _pick(rng, _LIKE if said == POSITIVE else _HATE)
        return ["i", "do", "not", verb, "it"] if negated else ["i", verb, "it"]
    words = [*_pick(rng, _SUBJECTS).split(), _pick(rng, _VERBS)]
    if negated:
        words.append(_pick(rng, _NEGATORS))
    if rng.random() < 0.3:
        words.append(_pick(rng, _INTENSIFIERS))
    words.append(_pick(rng, _GOOD if said == POSITIVE else _BAD))
    return words


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]
