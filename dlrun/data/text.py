"""Text data for slot filling: ATIS files, vocabularies, a generated booking corpus, padding.

Where ATIS comes from, first match wins:

1. a data dir (the `data_dir` argument, else env `DLRUN_DATA_DIR`) holding
   `atis.train.w-intent.iob` (and optionally `atis.test.w-intent.iob`) in `DIR/atis/` or
   directly in `DIR`. A dir the user named must hold the file: we raise instead of
   quietly using another source.
2. the folders of `ATIS_FOLDERS`, by default `../shared/data/atis` beside the repository
   (where this workplace keeps the real training file). Set `DLRUN_NO_ATIS=1` to skip them.
3. offline fallback: a ticket-booking corpus generated from a seed, in the lecture's spirit
   ("arrive Taipei on November 2nd" vs "leave Taipei on November 2nd"), with a notice.

With a test file, every training sentence trains and results are on the test split. Without
one, the last `VALIDATION_SENTENCES` training sentences are held out and reported as "test".
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from dlrun.data import find_data, shared_folder
from dlrun.errors import DataError
from dlrun.files import read_bounded

TRAIN_FILE, TEST_FILE = "atis.train.w-intent.iob", "atis.test.w-intent.iob"
# The documented default: the shared data folder beside the repository.
ATIS_FOLDERS = shared_folder("atis")
VALIDATION_SENTENCES = 500
# Bounds on what an ATIS-format file may hold, so that no file can make dlrun allocate
# without bound (padding makes every sentence as long as the longest): the real ATIS
# training file is 0.9 MB, its longest sentence 46 words, and all its splits padded
# together about 270,000 word slots.
MAX_WORDS = 200  # words in one sentence, BOS and EOS not counted
MAX_FILE_MB = 20  # size of one file, in MB (10**6 bytes)
MAX_PADDED_SLOTS = 20_000_000  # sentences x longest sentence, all splits: 180 MB of padded arrays
PAD, UNK = "<pad>", "<unk>"  # ids 0 and 1 of every vocabulary
OUTSIDE = "O"  # tag id 0; padded positions carry it too (they are masked anyway)


class Sentence(NamedTuple):
    words: tuple[str, ...]  # without BOS / EOS
    tags: tuple[str, ...]  # IOB slot tags, one per word
    intent: str


class Corpus(NamedTuple):
    """Sentences by split, and where they came from."""

    train: list[Sentence]
    val: list[Sentence]  # without a test file, the last VALIDATION_SENTENCES of the training file; else empty
    test: list[Sentence] | None  # None: no test file, the validation split stands in
    source: str
    sha256: str
    notice: str | None

    @property
    def eval(self) -> list[Sentence]:
        return self.val if self.test is None else self.test


@dataclass(frozen=True)
class TagSet:
    """The tag names, id order. The slot-filling task registers it as a static pytree node
    (no arrays), so it rides along with the padded arrays through device placement and
    jit, and the host can turn ids back into names for entity F1."""

    names: tuple[str, ...]


class Sentences(NamedTuple):
    """A split or a mini-batch, every sentence padded to one length T."""

    tokens: np.ndarray  # [N, T] int32 word ids, PAD (0) beyond the sentence
    tags: np.ndarray  # [N, T] int32 tag ids, OUTSIDE (0) beyond the sentence
    mask: np.ndarray  # [N, T] bool, True on real words
    tagset: TagSet


# --------------------------------------------------------------------------- ATIS files


def parse_atis_line(line: str, path: Path | str, lineno: int) -> Sentence:
    """`BOS w1 .. wn EOS<TAB>O t1 .. tn intent`: the tag under EOS is the intent."""
    where = f"{path}, line {lineno}"
    if "\t" not in line:
        raise DataError(f"{where}: no tab between the words and the tags")
    text, labels = line.split("\t", 1)
    limit = MAX_WORDS + 2  # BOS and EOS; splitting at most this often keeps a huge line cheap
    words, tags = text.split(maxsplit=limit), labels.split(maxsplit=limit)
    for side, items in (("words", words), ("tags", tags)):
        if len(items) > limit:
            raise DataError(
                f"{where}: more than {MAX_WORDS} {side} in one sentence, over dlrun's limit "
                "(every sentence is padded to the longest)"
            )
    if len(words) != len(tags):
        raise DataError(f"{where}: {len(words)} words but {len(tags)} tags")
    if len(words) < 3 or words[0] != "BOS" or words[-1] != "EOS":
        raise DataError(f"{where}: expected `BOS words... EOS`, got {text.strip()[:60]!r}")
    return Sentence(tuple(words[1:-1]), tuple(tags[1:-1]), tags[-1])


def read_atis(path: Path) -> list[Sentence]:
    """Every non-blank line of an ATIS `.iob` file; DataError names the file and line."""
    return _parse_atis(read_bounded(path, MAX_FILE_MB, "an ATIS file"), path)


def _parse_atis(raw: bytes, path: Path) -> list[Sentence]:
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise DataError(f"cannot read {path}: {e}") from None
    sentences = [parse_atis_line(line, path, i) for i, line in enumerate(lines, 1) if line.strip()]
    if len(sentences) <= VALIDATION_SENTENCES and path.name == TRAIN_FILE:
        raise DataError(f"{path}: {len(sentences)} sentences, need more than {VALIDATION_SENTENCES}")
    if not sentences:
        raise DataError(f"{path}: no sentences (the file is empty or blank); fill it, or remove it")
    return sentences


def _find_train_file(folder: Path) -> Path | None:
    for candidate in (folder / "atis" / TRAIN_FILE, folder / TRAIN_FILE):
        if candidate.is_file():
            return candidate
    return None


def load_corpus(data_dir: Path | str | None = None) -> Corpus:
    """ATIS through the chain of the module docstring, else the generated corpus."""
    found = find_data(data_dir, _find_train_file, ATIS_FOLDERS, "DLRUN_NO_ATIS", _missing)
    return booking_corpus() if found is None else _atis_corpus(found)


def _missing(folder: Path) -> str:
    return f"no {TRAIN_FILE} in {folder} or {folder / 'atis'}"


def _atis_corpus(train_path: Path) -> Corpus:
    raw = read_bounded(train_path, MAX_FILE_MB, "an ATIS file")
    sentences = _parse_atis(raw, train_path)
    digest = hashlib.sha256(raw)
    test_path = train_path.with_name(TEST_FILE)
    if test_path.is_file():  # the whole training file trains; results are on the test split
        raw = read_bounded(test_path, MAX_FILE_MB, "an ATIS file")
        test = _parse_atis(raw, test_path)
        digest.update(raw)
        _check_padded_size(sentences + test, f"{train_path} and {test_path}")
        return Corpus(sentences, [], test, f"ATIS files in {train_path.parent}", digest.hexdigest(), None)
    train, val = sentences[:-VALIDATION_SENTENCES], sentences[-VALIDATION_SENTENCES:]
    _check_padded_size(sentences + val, str(train_path))
    held_out = f"the last {VALIDATION_SENTENCES} training sentences"
    notice = f"no {TEST_FILE} beside {train_path}: results are on the validation split ({held_out}, never trained on)"
    return Corpus(train, val, None, f"ATIS train file {train_path} (test = {held_out})", digest.hexdigest(), notice)


def _check_padded_size(sentences: list[Sentence], files: str) -> None:
    """Every split is padded to the longest sentence of all (validation twice when it stands in
    for the test split): refuse corpora whose padded arrays would exceed MAX_PADDED_SLOTS."""
    longest = max(len(s.words) for s in sentences)
    slots = len(sentences) * longest
    if slots > MAX_PADDED_SLOTS:
        raise DataError(
            f"{files}: {len(sentences):,} sentences padded to the longest ({longest} words) make {slots:,} "
            f"word slots, over dlrun's limit of {MAX_PADDED_SLOTS:,}"
        )


# --------------------------------------------------------------------------- vocabularies


class Vocab(NamedTuple):
    words: tuple[str, ...]  # id order: PAD, UNK, then the kept words

    def encode(self, words: tuple[str, ...]) -> list[int]:
        index = _index(self.words)
        return [index.get(w, 1) for w in words]  # 1 = UNK


@functools.cache  # a vocabulary encodes every sentence of a split: build its index once
def _index(words: tuple[str, ...]) -> dict[str, int]:
    return {w: i for i, w in enumerate(words)}


def build_vocab(sentences: list[Sentence], capacity: int, min_count: int = 2) -> Vocab:
    """Words seen at least `min_count` times in training, most frequent first, at most
    `capacity` ids in all. Words seen once are ALWAYS <unk> (not with some probability):
    their occurrences are what teaches the <unk> embedding, so at test time an unseen
    word (a city never booked in training) gets a trained vector, and the choice is
    deterministic. Training words beyond the capacity are <unk> too."""
    counts = Counter(w for s in sentences for w in s.words)
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return Vocab((PAD, UNK, *kept[: capacity - 2]))


def word_shape(word: str) -> str:
    """Each digit as DIGIT (Mesnil et al. 2015): "838" -> "DIGITDIGITDIGIT". Flight numbers,
    times and dates then share a few shapes that training sees often, instead of hundreds
    of numbers seen once, which would all be <unk>."""
    return "".join("DIGIT" if c.isdigit() else c for c in word)


def with_word_shapes(corpus: Corpus) -> Corpus:
    """The corpus with every word replaced by its `word_shape` (tags unchanged)."""
    shaped = lambda split: [s._replace(words=tuple(map(word_shape, s.words))) for s in split]  # noqa: E731
    return corpus._replace(
        train=shaped(corpus.train), val=shaped(corpus.val), test=None if corpus.test is None else shaped(corpus.test)
    )


def build_tagset(*splits: list[Sentence]) -> TagSet:
    """Every tag of every split (a slot type absent from training is still a gold entity),
    OUTSIDE first so that padding carries id 0."""
    tags = {t for split in splits for s in split for t in s.tags} - {OUTSIDE}
    return TagSet((OUTSIDE, *sorted(tags)))


def pad(sentences: list[Sentence], vocab: Vocab, tagset: TagSet, length: int) -> Sentences:
    """Ids padded to `length`; the mask marks the real words."""
    tag_ids = _index(tagset.names)
    tokens = np.zeros((len(sentences), length), np.int32)  # [N, T]
    tags = np.zeros((len(sentences), length), np.int32)  # [N, T]
    mask = np.zeros((len(sentences), length), bool)  # [N, T]
    for i, s in enumerate(sentences):
        n = len(s.words)
        tokens[i, :n] = vocab.encode(s.words)
        tags[i, :n] = [tag_ids[t] for t in s.tags]
        mask[i, :n] = True
    return Sentences(tokens, tags, mask, tagset)


# --------------------------------------------------------------------------- generated corpus

# Same sizes as ATIS (4,978 training sentences, 893 test), so a run looks the same.
BOOKING_SEED, BOOKING_TRAIN, BOOKING_TEST = 0, 4_978, 893
_ARRIVE = ("arrive", "land", "reach", "fly into", "get into", "come back to")
_LEAVE = ("leave", "depart", "quit", "fly out of", "get out of", "head away from")
_PREFIXES = ("i want to", "i would like to", "i need to", "please help me", "can i", "we plan to", "")
# Neutral words between the cue and the slot: the cue is several steps back, so a tagger
# needs memory, and the filler itself says nothing about the direction.
_FILLERS = (
    "as planned",
    "with my family",
    "together with two friends",
    "for the conference",
    "early",
    "hopefully",
    "if possible",
    "with a window seat",
    "on a cheap ticket",
    "again",
)
_CITIES = (
    "taipei",
    "tokyo",
    "boston",
    "denver",
    "new york",
    "san francisco",
    "los angeles",
    "hong kong",
    "kaohsiung",
    "seoul",
    "osaka",
    "paris",
    "london",
    "berlin",
    "rome",
    "madrid",
    "chicago",
    "seattle",
    "atlanta",
    "dallas",
    "miami",
    "salt lake city",
    "las vegas",
    "toronto",
    "sydney",
    "bangkok",
    "singapore",
    "manila",
    "hanoi",
    "delhi",
    "cairo",
    "lima",
    "oslo",
    "vienna",
    "prague",
    "dublin",
    "lisbon",
    "athens",
    "zurich",
    "helsinki",
    "reykjavik",
    "tainan",
)
_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_DAYS = tuple(f"{d}{'th' if 10 < d < 14 else {1: 'st', 2: 'nd', 3: 'rd'}.get(d % 10, 'th')}" for d in range(1, 32))


def booking_corpus(seed: int = BOOKING_SEED, n_train: int = BOOKING_TRAIN, n_test: int = BOOKING_TEST) -> Corpus:
    """The offline corpus: the same city, date and time words are origin/departure after
    "leave" but destination/arrival after "arrive"; a window-of-one tagger cannot know."""
    rng = np.random.default_rng(seed)
    sentences = [_booking_sentence(rng) for _ in range(n_train + n_test)]
    digest = hashlib.sha256("\n".join(" ".join(s.words) + "\t" + " ".join(s.tags) for s in sentences).encode())
    train, test = sentences[:n_train], sentences[n_train:]
    notice = (
        "no ATIS file found (see --data-dir): using the generated ticket-booking corpus, "
        "where slots depend on an earlier cue word"
    )
    return Corpus(
        train[:-VALIDATION_SENTENCES],
        train[-VALIDATION_SENTENCES:],
        test,
        f"generated booking corpus (seed {seed}, offline fallback)",
        digest.hexdigest(),
        notice,
    )


def _booking_sentence(rng: np.random.Generator) -> Sentence:
    """One or two legs; a two-leg sentence takes the other direction second."""
    words: list[str] = []
    tags: list[str] = []
    _phrase(words, tags, _pick(rng, _PREFIXES), None)
    arriving = bool(rng.integers(2))
    _append_leg(rng, words, tags, arriving)
    if rng.random() < 0.3:
        _phrase(words, tags, "and then", None)
        _append_leg(rng, words, tags, not arriving)
    return Sentence(tuple(words), tuple(tags), "atis_flight")


def _append_leg(rng: np.random.Generator, words: list[str], tags: list[str], arriving: bool) -> None:
    """cue [fillers] CITY on MONTH DAY [at TIME]; appends single words with their tags."""
    place, date, time = (
        ("toloc", "arrive_date", "arrive_time") if arriving else ("fromloc", "depart_date", "depart_time")
    )
    _phrase(words, tags, _pick(rng, _ARRIVE if arriving else _LEAVE), None)
    for _ in range(int(rng.integers(0, 3))):
        _phrase(words, tags, _pick(rng, _FILLERS), None)
    _phrase(words, tags, _city(rng), f"{place}.city_name")
    _phrase(words, tags, "on", None)
    _phrase(words, tags, _pick(rng, _MONTHS), f"{date}.month_name")
    _phrase(words, tags, _pick(rng, _DAYS), f"{date}.day_number")
    if rng.random() < 0.4:
        _phrase(words, tags, "at", None)
        hour = int(rng.integers(1, 13))
        _phrase(words, tags, f"{hour} {'am' if rng.random() < 0.5 else 'pm'}", f"{time}.time")


_CITY_WEIGHTS = 1.0 / np.arange(1, len(_CITIES) + 1)  # Zipf-like: a few cities are common
_SYLLABLES = ("ka", "lo", "mi", "ran", "tu", "be", "sho", "vel", "da", "nor", "qui", "zen")


def _city(rng: np.random.Generator) -> str:
    """A known city, or (1 in 25) a made-up one seen only once: in training such words
    become <unk>, which teaches the tagger to read an unknown city from its context."""
    if rng.random() < 0.04:
        return "".join(_pick(rng, _SYLLABLES) for _ in range(int(rng.integers(3, 5))))
    return _CITIES[int(rng.choice(len(_CITIES), p=_CITY_WEIGHTS / _CITY_WEIGHTS.sum()))]


def _phrase(words: list[str], tags: list[str], text: str, slot: str | None) -> None:
    """Append each word of `text`; a slot gets B- on its first word and I- after."""
    for i, word in enumerate(text.split()):
        words.append(word)
        tags.append(OUTSIDE if slot is None else f"{'B' if i == 0 else 'I'}-{slot}")


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]
