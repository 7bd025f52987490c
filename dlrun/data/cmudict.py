"""Pronunciations for the sequence-to-sequence auto-encoder: the CMU Pronouncing Dictionary
(ARPAbet phonemes), a held-out split by word, and a small generated lexicon for offline runs.

Where the dictionary comes from, first match wins:

1. a data dir (the `data_dir` argument, else env `DLRUN_DATA_DIR`) holding one of
   `FILE_NAMES` (`cmudict`, NLTK's 0.7a file; `cmudict.dict`, cmusphinx's; `cmudict-0.7b`,
   CMU's own) in `DIR` or `DIR/cmudict/`. A dir the user named must hold the file: we raise
   instead of quietly using another source.
2. the folders of `CMUDICT_FOLDERS`, by default `../shared/data/cmudict` beside the
   repository. Set `DLRUN_NO_CMUDICT=1` to skip them.
3. offline fallback: a lexicon generated from a seed (pseudo-words built from syllables,
   plus the probe and rhyme words of `REAL_WORDS`), with a notice.

Both line forms are read: NLTK's `WORD 1 PH1 PH2 ...` (a variant number after the word) and
CMU's `WORD  PH1 PH2 ...` with alternates as `WORD(2)`; `;;;` lines are comments, and so is
the end of a line from ` #` (cmusphinx's `cmudict.dict`). Files are UTF-8, else Latin-1.
Every phoneme must be one of the 39 ARPAbet phonemes of `PHONEMES`, vowels with an optional
stress digit 0, 1 or 2; the lesson strips the digits (`strip_stress`), which leaves 39 symbols.

The split is by word and fixed: a word is held out when a seeded hash of its lower-case
spelling (alternate marks removed) falls in the first `TEST_FRACTION`, so all pronunciations
of a word land on one side, and adding words to the dictionary moves no other word.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from dlrun.data import find_data, shared_folder
from dlrun.errors import DataError
from dlrun.files import read_bounded

FILE_NAMES = ("cmudict", "cmudict.dict", "cmudict-0.7b")
FOLDER = "cmudict"
# The documented default: the shared data folder beside the repository.
CMUDICT_FOLDERS = shared_folder(FOLDER)

# Bounds on what a dictionary file may hold, so that no file can make dlrun allocate without
# bound: NLTK's 0.7a file is 3.8 MB, its longest line 86 characters and its longest
# pronunciation 32 phonemes (133,737 entries).
MAX_FILE_MB = 20  # size of one file, in MB (10**6 bytes)
MAX_LINE_CHARS = 500  # characters in one line
MAX_PHONEMES = 64  # phonemes in one pronunciation

# The 39 ARPAbet phonemes of the dictionary: 15 vowels (which carry a stress digit) and 24 consonants.
VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
CONSONANTS = (
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T", "TH", "V", "W",
    "Y", "Z", "ZH",
)  # fmt: skip
PHONEMES = tuple(sorted(VOWELS + CONSONANTS))
# What a file may write: a consonant, or a vowel with or without its stress digit (the 0.7a
# file has a few bare `UW`).
_VALID = frozenset(CONSONANTS) | frozenset(VOWELS) | frozenset(v + d for v in VOWELS for d in "012")
_UNSTRESSED = {p: p.rstrip("012") for p in _VALID}
_ALTERNATE = re.compile(r"\((\d+)\)$")

# Symbol ids of the lesson (stress stripped): padding, start and end of a sequence, then the phonemes.
PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<s>", "</s>")
SYMBOLS = SPECIALS + PHONEMES
NUM_SYMBOLS = len(SYMBOLS)  # 42
_ID = {p: i for i, p in enumerate(SYMBOLS)}

SPLIT_SEED = 0
TEST_FRACTION = 0.05  # of the words (all their pronunciations) held out
# Pronunciations longer than this are left out of the lesson (37 of 0.7a's 133,737 entries),
# so that every sequence is padded to at most this many phonemes.
MAX_LESSON_PHONEMES = 16
SPELLING_BYTES = 20  # a word's spelling rides along with its ids, for the pictures (truncated)


class Entry(NamedTuple):
    """One line of the dictionary."""

    word: str  # as written, without the alternate mark: `WORD(2)` -> `WORD`
    variant: int  # 1 for the first pronunciation, 2, 3... for alternates
    phonemes: tuple[str, ...]


class Pronunciation(NamedTuple):
    """A distinct phoneme sequence of the lesson (stress stripped) and the words that say it."""

    phonemes: tuple[str, ...]
    words: tuple[str, ...]  # lower case, in file order; homophones share one sequence


class Lexicon(NamedTuple):
    """Pronunciations by split, and where they came from."""

    train: list[Pronunciation]
    test: list[Pronunciation]  # words never seen in training, and no training word's pronunciation
    source: str
    sha256: str
    notice: str | None
    entries: int  # lines read (pronunciations before stripping and merging)


class Pronunciations(NamedTuple):
    """A split or a mini-batch as arrays, every sequence padded to one length T."""

    tokens: np.ndarray  # [N, T] int32 phoneme ids (3..41), PAD (0) beyond the sequence
    lengths: np.ndarray  # [N] int32 phonemes in each sequence (at least 1)
    spelling: np.ndarray  # [N, SPELLING_BYTES] uint8: the first word that says it (Latin-1, zero-padded)


# --------------------------------------------------------------------------- parsing


def parse_line(line: str, path: Path | str, lineno: int, keep_stress: bool = True) -> Entry | None:
    """One dictionary line in either form; None for a blank or comment line. A DataError
    names the file and the line."""
    where = f"{path}, line {lineno}"
    if len(line) > MAX_LINE_CHARS:
        raise DataError(f"{where}: {len(line):,} characters, over dlrun's limit of {MAX_LINE_CHARS} for one line")
    text = line.split(" #", 1)[0].strip()  # cmudict.dict: `word PH ... # comment`
    if not text or text.startswith(";;;"):
        return None
    tokens = text.split()
    word, rest = tokens[0], tokens[1:]
    if rest and rest[0].isdigit():  # NLTK: WORD 1 PH1 PH2 ...
        variant, rest = int(rest[0]), rest[1:]
        word = _ALTERNATE.sub("", word)
    elif mark := _ALTERNATE.search(word):  # CMU: WORD(2)  PH1 PH2 ...
        variant, word = int(mark.group(1)), word[: mark.start()]
    else:
        variant = 1
    if not word:
        raise DataError(f"{where}: no word before the alternate mark in {text[:60]!r}")
    if not rest:
        raise DataError(f"{where}: no phonemes after {word!r}")
    if len(rest) > MAX_PHONEMES:
        raise DataError(f"{where}: {len(rest)} phonemes, over dlrun's limit of {MAX_PHONEMES} for one word")
    if not _VALID.issuperset(rest):
        bad = next(p for p in rest if p not in _VALID)
        raise DataError(f"{where}: {bad[:20]!r} is not an ARPAbet phoneme (in {text[:60]!r})")
    return Entry(word, variant, tuple(rest) if keep_stress else strip_stress(rest))


def strip_stress(phonemes) -> tuple[str, ...]:
    """`AH0`, `AH1`, `AH2` -> `AH`: 39 symbols instead of 84."""
    return tuple([_UNSTRESSED.get(p) or p.rstrip("012") for p in phonemes])


def parse_lexicon(raw: bytes, path: Path | str, keep_stress: bool = True) -> list[Entry]:
    """Every entry of a dictionary file's bytes (UTF-8, else Latin-1)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # CMU's own files; Latin-1 decodes any bytes
    entries = [parse_line(line, path, i, keep_stress) for i, line in enumerate(text.splitlines(), 1)]
    found = [e for e in entries if e is not None]
    if not found:
        raise DataError(f"{path}: no pronunciations (the file is empty or all comments); fill it, or remove it")
    return found


def read_lexicon(path: Path, keep_stress: bool = True) -> list[Entry]:
    return parse_lexicon(read_bounded(path, MAX_FILE_MB, "a dictionary file"), path, keep_stress)


# --------------------------------------------------------------------------- the split


def word_key(word: str) -> str:
    """What the split hashes: the spelling in lower case, without an alternate mark."""
    return _ALTERNATE.sub("", word).lower()


def is_held_out(word: str, seed: int = SPLIT_SEED, fraction: float = TEST_FRACTION) -> bool:
    """Whether the word (all its pronunciations) is in the test split: fixed by the seed."""
    digest = hashlib.sha256(f"{seed}:{word_key(word)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2**64


def split_entries(entries: list[Entry]) -> tuple[list[Pronunciation], list[Pronunciation], int]:
    """(train, test, left out): the distinct stress-stripped sequences of each side. A test
    sequence that some training word also says (a homophone: `their` / `there`) is dropped,
    so every test sequence is new to the model; sequences over MAX_LESSON_PHONEMES are
    left out (their count is the third value)."""
    sides: tuple[dict, dict] = ({}, {})  # phonemes -> words, train then test
    held_out: dict[str, bool] = {}  # by word key: each word is hashed once
    left_out = 0
    for e in entries:
        phonemes = strip_stress(e.phonemes)
        if len(phonemes) > MAX_LESSON_PHONEMES:
            left_out += 1
            continue
        key = word_key(e.word)
        if key not in held_out:
            held_out[key] = is_held_out(key)
        words = sides[held_out[key]].setdefault(phonemes, [])
        if key not in words:
            words.append(key)
    train, test = sides
    as_list = lambda side: [Pronunciation(p, tuple(w)) for p, w in side.items()]  # noqa: E731
    return as_list(train), [p for p in as_list(test) if p.phonemes not in train], left_out


def encode(phonemes) -> list[int]:
    """Stress-stripped phonemes -> symbol ids."""
    return [_ID[p] for p in phonemes]


def decode(ids) -> tuple[str, ...]:
    """Symbol ids -> names (specials as `<s>`, `</s>`, `<pad>`)."""
    return tuple(SYMBOLS[int(i)] if 0 <= int(i) < NUM_SYMBOLS else "?" for i in ids)


def pad(pronunciations: list[Pronunciation], length: int) -> Pronunciations:
    """Ids padded to `length` [N, T], the lengths [N] and the first word's spelling."""
    tokens = np.zeros((len(pronunciations), length), np.int32)
    lengths = np.zeros(len(pronunciations), np.int32)
    spelling = np.zeros((len(pronunciations), SPELLING_BYTES), np.uint8)
    for i, p in enumerate(pronunciations):
        n = len(p.phonemes)
        tokens[i, :n], lengths[i] = encode(p.phonemes), n
        raw = p.words[0].encode("latin-1", "replace")[:SPELLING_BYTES]
        spelling[i, : len(raw)] = np.frombuffer(raw, np.uint8)
    return Pronunciations(tokens, lengths, spelling)


def spelled(spelling: np.ndarray) -> str:
    """A row of `Pronunciations.spelling` back as text."""
    return bytes(spelling).rstrip(b"\0").decode("latin-1")


# --------------------------------------------------------------------------- the chain


def find_file(folder: Path) -> Path | None:
    for root in (folder, folder / FOLDER):
        for name in FILE_NAMES:
            if (root / name).is_file():
                return root / name
    return None


def load_lexicon(data_dir: Path | str | None = None) -> Lexicon:
    """The dictionary through the chain of the module docstring, split; else the generated lexicon."""
    found = find_data(data_dir, find_file, CMUDICT_FOLDERS, "DLRUN_NO_CMUDICT", _missing)
    return generated_lexicon() if found is None else _file_lexicon(found)


def _missing(folder: Path) -> str:
    names = ", ".join(FILE_NAMES)
    return f"no CMU Pronouncing Dictionary in {folder} or {folder / FOLDER} (looked for {names})"


def _file_lexicon(path: Path) -> Lexicon:
    raw = read_bounded(path, MAX_FILE_MB, "a dictionary file")
    entries = parse_lexicon(raw, path, keep_stress=False)
    train, test, _ = split_entries(entries)
    if not train or not test:
        raise DataError(f"{path}: {len(entries)} pronunciations are too few to hold words out (need both splits)")
    source = f"CMU Pronouncing Dictionary {path} ({len(entries):,} entries, stress stripped)"
    return Lexicon(train, test, source, hashlib.sha256(raw).hexdigest(), None, len(entries))


# --------------------------------------------------------------------------- generated lexicon

# Real words with their 0.7a pronunciations (stress stripped, first variant): the probes whose
# neighbours a run lists and the rhyme groups it draws. The generated lexicon holds them too.
RHYMES: dict[str, tuple[tuple[str, str], ...]] = {
    "-at": (
        ("cat", "K AE T"), ("hat", "HH AE T"), ("bat", "B AE T"), ("mat", "M AE T"), ("rat", "R AE T"),
        ("sat", "S AE T"), ("fat", "F AE T"), ("pat", "P AE T"), ("flat", "F L AE T"), ("chat", "CH AE T"),
    ),
    "-ight": (
        ("night", "N AY T"), ("light", "L AY T"), ("right", "R AY T"), ("fight", "F AY T"), ("might", "M AY T"),
        ("sight", "S AY T"), ("kite", "K AY T"), ("bite", "B AY T"), ("bright", "B R AY T"), ("flight", "F L AY T"),
    ),
    "-ation": (
        ("station", "S T EY SH AH N"), ("nation", "N EY SH AH N"), ("creation", "K R IY EY SH AH N"),
        ("relation", "R IY L EY SH AH N"), ("vacation", "V EY K EY SH AH N"), ("location", "L OW K EY SH AH N"),
        ("education", "EH JH AH K EY SH AH N"), ("population", "P AA P Y AH L EY SH AH N"),
    ),
    "-other": (
        ("brother", "B R AH DH ER"), ("mother", "M AH DH ER"), ("other", "AH DH ER"), ("another", "AH N AH DH ER"),
        ("smother", "S M AH DH ER"),
    ),
    "-eaker": (
        ("speaker", "S P IY K ER"), ("seeker", "S IY K ER"), ("weaker", "W IY K ER"), ("sneaker", "S N IY K ER"),
        ("beaker", "B IY K ER"), ("sleeker", "S L IY K ER"),
    ),
}  # fmt: skip
PROBES = ("cat", "night", "station", "brother", "speaker")
REAL_WORDS = {word: tuple(p.split()) for group in RHYMES.values() for word, p in group}

GENERATED_SEED, GENERATED_WORDS = 0, 12_000
_ONSETS = (
    "", "B", "D", "F", "G", "HH", "K", "L", "M", "N", "P", "R", "S", "T", "V", "W", "Z", "SH", "CH", "JH", "TH",
    "S T", "B R", "K L", "P L", "T R", "G R", "F L", "S P", "S K", "D R", "K R",
)  # fmt: skip
_CODAS = ("", "", "T", "D", "K", "N", "M", "S", "Z", "L", "R", "P", "NG", "N T", "S T", "N D", "K S")


def generated_lexicon(seed: int = GENERATED_SEED, n_words: int = GENERATED_WORDS) -> Lexicon:
    """The offline lexicon: pseudo-words of one to three syllables (onset, vowel, coda), one
    in twenty with a second pronunciation that reduces a vowel to AH, and the real words of
    `REAL_WORDS`; split by word like the dictionary."""
    rng = np.random.default_rng(seed)
    entries = [Entry(w, 1, p) for w, p in REAL_WORDS.items()]
    seen = {p for _, _, p in entries}
    while len(seen) < n_words:
        phonemes = tuple(
            p
            for _ in range(int(rng.choice(3, p=(0.35, 0.45, 0.2))) + 1)
            for part in (_pick(rng, _ONSETS), _pick(rng, VOWELS), _pick(rng, _CODAS))
            for p in part.split()
        )
        if phonemes in seen:
            continue
        seen.add(phonemes)
        word = "".join(p.lower() for p in phonemes)
        entries.append(Entry(word, 1, phonemes))
        vowels = [i for i, p in enumerate(phonemes) if p in VOWELS and p != "AH"]
        if len(vowels) > 1 and rng.random() < 0.05:
            i = vowels[int(rng.integers(len(vowels)))]
            entries.append(Entry(word, 2, phonemes[:i] + ("AH",) + phonemes[i + 1 :]))
    digest = hashlib.sha256("\n".join(f"{e.word} {e.variant} {' '.join(e.phonemes)}" for e in entries).encode())
    train, test, _ = split_entries(entries)
    notice = (
        "no CMU Pronouncing Dictionary found (see --data-dir): using a generated lexicon of "
        f"{n_words:,} pseudo-words, whose numbers say nothing about English"
    )
    source = f"generated lexicon (seed {seed}, offline fallback)"
    return Lexicon(train, test, source, digest.hexdigest(), notice, len(entries))


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]
