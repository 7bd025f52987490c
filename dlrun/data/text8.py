"""Corpora for word vectors: text8, the standard word2vec corpus, or the bodies of the
Reuters-21578 newswires.

text8 is the first 10^8 characters of an English Wikipedia dump, cleaned to lowercase a-z
words separated by single spaces (17,005,207 words, no punctuation, no line breaks;
mattmahoney.net/dc/text8.zip). It has no sentences: as word2vec does, it is cut into
"sentences" of SENTENCE_WORDS words, which windows do not cross.

The Reuters corpus is the text between <BODY> and </BODY> of every wire of the 22 SGML files
(19,043 of the 21,578 wires have a body; with or without topics), SGML entities decoded and
control characters dropped, tokenised as Keras does (lowercase, punctuation but the
apostrophe to spaces, split on spaces: `dlrun.data.reuters.keras_words`): 2.68 million
tokens, 44,555 distinct words. Each wire is one "sentence".

Where the corpus comes from, first match wins:

1. with a data dir (the `data_dir` argument, else env `DLRUN_DATA_DIR`): `DIR/text8`, then
   `DIR/text8.zip` (its member `text8`), the same in `DIR/word2vec/`, then the Reuters-21578
   distribution as `dlrun.data.reuters` finds it in DIR (`reuters21578.tar.gz` or
   `reut2-*.sgm` files in DIR or DIR/reuters21578/). A dir the user named must hold one.
2. the Reuters folders of `dlrun.data.reuters.REUTERS_FOLDERS` (`../shared/data/reuters21578`
   beside the repository; `DLRUN_NO_REUTERS=1` skips them).
3. nothing else: a DataError says where to put the files.

Reads are bounded: text8 and its zip are checked against MAX_TEXT8_MB (the declared size of
the zip member too) before anything is read, and at most MAX_TOKENS words are kept.
"""

from __future__ import annotations

import hashlib
import html
import re
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np

from dlrun.data import find_data
from dlrun.data.reuters import (
    FOLDER,
    REUTERS_FOLDERS,
    SGML_NAME,
    SKIP_REUTERS,
    TARBALL,
    keras_words,
    read_folder,
    read_tarball,
    shared_looked,
)
from dlrun.errors import DataError
from dlrun.files import check_size, read_bounded

TEXT8 = "text8"
TEXT8_ZIP = "text8.zip"
WORD2VEC_FOLDER = "word2vec"
SENTENCE_WORDS = 1_000  # word2vec's MAX_SENTENCE_LENGTH: text8 is cut into sentences of this many words
MAX_TEXT8_MB = 200  # text8 is 100 MB (10**8 bytes), its zip 31 MB
MAX_TOKENS = 50_000_000  # words of a corpus (text8: 17 million)
MIN_TOKENS = 100  # fewer is no corpus
CHUNK_BYTES = 1 << 22  # text8 is split into words a piece of about this many bytes at a time
_BODY = re.compile(r"<BODY>(.*?)</BODY>", re.S)
_CONTROL = str.maketrans({c: " " for c in range(32)})  # &#3; (end of text) and friends become spaces
_NOT_TEXT8 = re.compile(rb"[^a-z \n]")


class Corpus(NamedTuple):
    """A corpus as word ids: word i is `words[i]`, ids ranked by count (0 = most frequent;
    ties in order of first appearance). Sentence s is tokens[offsets[s]:offsets[s+1]]."""

    words: tuple[str, ...]
    counts: np.ndarray  # [types] int64, descending
    tokens: np.ndarray  # [N] int32
    offsets: np.ndarray  # [S + 1] int64
    source: str
    sha256: str  # over the words and the token ids
    notice: str | None

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)


def build_corpus(sentences: list[list[str]], source: str, notice: str | None = None) -> Corpus:
    """Rank the words by count (ties: first appearance) and write the sentences as ids."""
    lengths = np.fromiter((len(s) for s in sentences), np.int64, len(sentences))
    _check_tokens(int(lengths.sum()), source)
    counts = Counter(w for s in sentences for w in s)  # insertion order = first appearance
    words = tuple(sorted(counts, key=counts.__getitem__, reverse=True))  # stable: ties keep it
    ids = {w: i for i, w in enumerate(words)}
    tokens = np.fromiter((ids[w] for s in sentences for w in s), np.int32, int(lengths.sum()))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return _corpus(words, np.array([counts[w] for w in words], np.int64), tokens, offsets, source, notice)


def _check_tokens(total: int, source: str) -> None:
    if total > MAX_TOKENS:
        raise DataError(f"{source}: {total:,} words, over dlrun's limit of {MAX_TOKENS:,}")
    if total < MIN_TOKENS:
        raise DataError(f"{source}: {total:,} words; a corpus for word vectors needs at least {MIN_TOKENS}")


def _corpus(words, counts, tokens, offsets, source: str, notice: str | None) -> Corpus:
    digest = hashlib.sha256("\n".join(words).encode())
    digest.update(tokens.tobytes())
    digest.update(offsets.tobytes())
    return Corpus(tuple(words), counts, tokens, offsets, source, digest.hexdigest(), notice)


# --------------------------------------------------------------------------- text8


def check_text8(raw: bytes, where: str) -> None:
    """text8 is lowercase a-z words separated by spaces (a line break counts as a space);
    DataError at the first other byte, naming its offset."""
    if bad := _NOT_TEXT8.search(raw):
        raise DataError(
            f"{where}: byte {raw[bad.start()]:#04x} at offset {bad.start():,} is not a lowercase letter or a space; "
            "text8 is lowercase a-z words separated by spaces (mattmahoney.net/dc/text8.zip)"
        )


def read_text8(path: Path) -> bytes:
    """The bytes of `DIR/text8` or of the member `text8` of `DIR/text8.zip`, bounded and checked."""
    limit = MAX_TEXT8_MB * 10**6
    check_size(path, MAX_TEXT8_MB, "text8")
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.infolist() if m.filename.rpartition("/")[2] == TEXT8]
                if not members:
                    raise DataError(f"{path}: no member named {TEXT8}; expected mattmahoney.net/dc/text8.zip")
                if members[0].file_size > limit:
                    raise DataError(
                        f"{path}: its {TEXT8} is {members[0].file_size:,} bytes, over the limit of {MAX_TEXT8_MB} MB"
                    )
                with archive.open(members[0]) as f:
                    raw = f.read(limit + 1)
        else:
            raw = read_bounded(path, MAX_TEXT8_MB, "text8")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError) as err:
        raise DataError(f"{path}: not readable ({type(err).__name__}: {err})") from None
    if len(raw) > limit:  # a zip whose header understated its size
        raise DataError(f"{path}: more than {MAX_TEXT8_MB} MB of text, over dlrun's limit")
    check_text8(raw, str(path))
    return raw


def text8_corpus(path: Path) -> Corpus:
    """text8 as word ids in SENTENCE_WORDS-word sentences. Read in chunks cut at spaces, so
    that no list of 17 million strings is ever made."""
    raw, source = read_text8(path), f"text8 {path} ({SENTENCE_WORDS}-word sentences)"
    chunks = list(_chunks(raw))
    counts: Counter[bytes] = Counter()
    for start, stop in chunks:
        counts.update(raw[start:stop].split())  # insertion order = first appearance
    total = sum(counts.values())
    _check_tokens(total, source)
    ranked = sorted(counts, key=counts.__getitem__, reverse=True)  # stable: ties keep first appearance
    ids = {w: i for i, w in enumerate(ranked)}
    tokens = np.empty(total, np.int32)
    at = 0
    for start, stop in chunks:
        part = np.fromiter(map(ids.__getitem__, raw[start:stop].split()), np.int32)
        tokens[at : at + len(part)] = part
        at += len(part)
    offsets = np.append(np.arange(0, total, SENTENCE_WORDS), total).astype(np.int64)
    words = tuple(w.decode("ascii") for w in ranked)
    return _corpus(words, np.array([counts[w] for w in ranked], np.int64), tokens, offsets, source, None)


def _chunks(raw: bytes):
    """(start, stop) of pieces of about CHUNK_BYTES bytes that end at a space or the end."""
    start, size = 0, CHUNK_BYTES
    while start < len(raw):
        stop = min(start + size, len(raw))
        while stop < len(raw) and raw[stop] not in b" \n":
            stop += 1
        yield start, stop
        start = stop


# --------------------------------------------------------------------------- Reuters bodies


def body_words(files: list[tuple[str, str]]) -> list[list[str]]:
    """The words of every wire's <BODY> in the (name, text) SGML files, in file order."""
    return [keras_words(html.unescape(body).translate(_CONTROL)) for _, text in files for body in _BODY.findall(text)]


def reuters_corpus(folder: Path) -> Corpus | None:
    """The Reuters-21578 bodies in `folder` or `folder/reuters21578/` (the tarball, else the
    extracted .sgm files); None when neither is there."""
    for root in (folder, folder / FOLDER):
        if (root / TARBALL).is_file():
            files, where = read_tarball(root / TARBALL), str(root / TARBALL)
        elif root.is_dir() and (sgm := sorted(p for p in root.iterdir() if SGML_NAME.fullmatch(p.name))):
            files, where = read_folder(sgm), f"{root} ({len(sgm)} .sgm files)"
        else:
            continue
        bodies = [words for words in body_words(files) if words]
        if not bodies:
            raise DataError(f"{where}: no <BODY> text in its .sgm files; expected the Reuters-21578 distribution")
        return build_corpus(bodies, f"Reuters-21578 bodies in {where} ({len(bodies):,} wires)")
    return None


# --------------------------------------------------------------------------- the chain


def _text8_in(folder: Path) -> Path | None:
    for root in (folder, folder / WORD2VEC_FOLDER):
        for name in (TEXT8, TEXT8_ZIP):
            if (root / name).is_file():
                return root / name
    return None


def load_corpus(data_dir: Path | str | None = None) -> Corpus:
    """The corpus through the chain of the module docstring."""
    found = find_data(data_dir, _corpus_in, REUTERS_FOLDERS, SKIP_REUTERS, _missing)
    if found is not None:
        return found
    raise DataError(
        f"no corpus for word vectors found ({shared_looked()}): put {TEXT8_ZIP} (mattmahoney.net/dc/text8.zip) or "
        f"{TARBALL} (the UCI Reuters-21578 distribution) in a folder DIR and pass --data-dir DIR "
        "(or set DLRUN_DATA_DIR)"
    )


def _corpus_in(folder: Path) -> Corpus | None:
    """text8 in the folder, else the Reuters bodies."""
    path = _text8_in(folder)
    return text8_corpus(path) if path is not None else reuters_corpus(folder)


def _missing(folder: Path) -> str:
    return (
        f"no corpus in {folder}: looked for {TEXT8} or {TEXT8_ZIP} in {folder} and {folder / WORD2VEC_FOLDER}, "
        f"and for {TARBALL} or reut2-*.sgm files in {folder} and {folder / FOLDER}"
    )
