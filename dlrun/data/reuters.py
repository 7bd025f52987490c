"""Reuters newswire topics: Keras's `reuters` dataset (11,228 wires, 46 topics), built from
the UCI Reuters-21578 distribution as Keras built it in 2015, or read from Keras's file.

Where the data comes from, first match wins:

1. a data dir (the `data_dir` argument, else env `DLRUN_DATA_DIR`) holding, in `DIR` or
   `DIR/reuters21578/`, the distribution's tarball `reuters21578.tar.gz` or its extracted
   `reut2-*.sgm` files; else Keras's own `DIR/reuters.npz` (pickled object arrays: read
   only when its SHA-256 is that of the file Keras downloads, `KERAS_NPZ_SHA256`; dlrun
   never unpickles an unknown file). A dir the user named must hold the data.
2. the folders of `REUTERS_FOLDERS`, by default `../shared/data/reuters21578` beside the
   repository. Set `DLRUN_NO_REUTERS=1` to skip them.
3. nothing else: no download (dlrun runs offline), so a DataError says where to put the file.

The construction (`parse_sgml`, `build_wires`, `keras_split`) is Keras's `make_reuters_dataset`
and `reuters.load_data`, and it reproduces Keras's dataset exactly but for the order of
words with equal counts (Keras ranked ties in Python 2 dict order, unreproducible; here they
keep the order of first appearance). Checked on the real distribution: 11,228 wires, 46
topics numbered as Keras's `get_label_names`, y_train[:10] = [3, 4, 3, 4, 4, 4, 4, 3, 3, 16],
813 `earn` wires among the 2,246 test wires, and training sequences as long as Keras's
(x_train[0] 87 ids, x_train[1] 56, x_train[11] 59, the longest 2,376, the mean 145.54).
What it takes, each a quirk of the Keras scan that these numbers depend on:

* a wire counts when its <TOPICS> is not empty, labelled with its first topic;
* its text is the text after the next `<BODY>` tag in the file, up to the next `</`: a wire
  without a body (989 "BRIEF" wires with topics) takes the body of a later wire, and when no
  body follows in its file, Keras's `find` returns -1 and the "body" is its own topic tags
  from the 6th character on (one wire in the distribution: `earn` reads "rn");
* bodies stay as they are in the SGML: entities are not decoded, so `&lt;` gives the word
  "lt" and the end-of-text mark `&#3;` the word "3" (Keras's ninth most frequent word);
* topics with fewer than 15 wires are dropped, with their wires; the kept topics are
  numbered in order of first appearance, the files read in sorted name order;
* Keras's tokenizer: lower case, the characters of `KERAS_FILTERS` become spaces, split on
  spaces; words ranked by count (1 = most frequent), then shifted by `INDEX_FROM` = 3 after
  the start mark 1 (2 = out of vocabulary, 0 = padding);
* `RandomState(113)` shuffles wires and labels alike; the first int(11,228 x 0.8) = 8,982
  train, the remaining 2,246 test.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np

from dlrun.data import find_data, shared_folder, skipped
from dlrun.data.archives import Bounds, read_members
from dlrun.errors import DataError
from dlrun.files import check_size

TARBALL = "reuters21578.tar.gz"
FOLDER = "reuters21578"
NPZ = "reuters.npz"
SGML_NAME = re.compile(r"reut2-\d+\.sgm")
# The documented default: the shared data folder beside the repository.
REUTERS_FOLDERS = shared_folder(FOLDER)
SKIP_REUTERS = "DLRUN_NO_REUTERS"
# SHA-256 of the reuters.npz that Keras downloads (keras/src/datasets/reuters.py, `file_hash`).
KERAS_NPZ_SHA256 = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"

# Topic id -> name, as keras.datasets.reuters.get_label_names() lists them (the npz has no names).
KERAS_TOPICS = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
    "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
    "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi", "iron-steel",
    "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)  # fmt: skip

# Keras's reuters.load_data defaults, and its make_reuters_dataset's topic threshold.
SEED, TEST_SPLIT = 113, 0.2
START, OOV, INDEX_FROM = 1, 2, 3
MIN_WIRES_PER_TOPIC = 15
# keras.preprocessing.text's default filters: punctuation but the apostrophe, tab, newline.
KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_TO_SPACES = str.maketrans(KERAS_FILTERS, " " * len(KERAS_FILTERS))

# Bounds on what is read, far above the real distribution (22 .sgm files of at most 1.6 MB,
# 27 MB in all; 31 members in an 8 MB tarball; Keras's reuters.npz is 2.1 MB), so that no
# file can make dlrun read or decompress without bound.
MAX_MEMBERS = 200  # members of a tarball, or .sgm files in a folder
MAX_FILE_MB = 20  # one .sgm file, in MB (10**6 bytes)
MAX_TOTAL_MB = 200  # all members of a tarball together, as declared in its headers
MAX_ARCHIVE_MB = 100  # the tarball or the npz file itself
MAX_WIRES = 100_000  # Reuters-21578 has 21,578
MAX_WORDS = 20_000_000  # word ids of all wires together (the real data: 1.6 million)


class Wires(NamedTuple):
    """Wires as Keras's word-id sequences (START first, then word rank + INDEX_FROM; no
    vocabulary cut yet) and topic labels, stored flat: wire i is words[offsets[i]:offsets[i+1]]."""

    words: np.ndarray  # [total] int32
    offsets: np.ndarray  # [N + 1] int64
    labels: np.ndarray  # [N] int32, topic ids

    @property
    def num_wires(self) -> int:
        return len(self.labels)

    def sequence(self, i: int) -> list[int]:
        return self.words[self.offsets[i] : self.offsets[i + 1]].tolist()

    def subset(self, start: int, stop: int) -> Wires:
        """Wires start..stop-1, in order."""
        o = self.offsets[start : stop + 1]
        return Wires(self.words[o[0] : o[-1]], o - o[0], self.labels[start:stop])

    def take(self, order: np.ndarray) -> Wires:
        """The wires in `order` (indices)."""
        lengths = np.diff(self.offsets)[order]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        # Word j of the result comes from its wire's start there, shifted by its place in the wire.
        starts = np.repeat(self.offsets[:-1][order] - offsets[:-1], lengths)
        return Wires(self.words[starts + np.arange(offsets[-1])], offsets, self.labels[order])

    @classmethod
    def of(cls, sequences: list[list[int]], labels) -> Wires:
        lengths = np.fromiter((len(s) for s in sequences), np.int64, len(sequences))
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        words = np.fromiter((w for s in sequences for w in s), np.int32, int(offsets[-1]))
        return cls(words, offsets, np.asarray(labels, np.int32).reshape(-1))


class ReutersData(NamedTuple):
    train: Wires  # Keras's x_train / y_train: 8,982 wires
    test: Wires  # 2,246 wires
    topics: tuple[str, ...]  # topic id -> name
    source: str
    sha256: str  # over the arrays, train then test
    notice: str | None


# --------------------------------------------------------------------------- the SGML files


def parse_sgml(text: str) -> list[tuple[str, str]]:
    """(first topic, body) of every wire whose <TOPICS> is not empty, in file order, with the
    semantics of Keras's string scan (see the module docstring: borrowed bodies, raw entities)."""
    wires = []
    for match in re.finditer("<TOPICS>", text):
        start = match.end()
        topics = text[start : _find(text, "</", start)]
        if not topics:
            continue
        topic = topics.replace("<D>", "").replace("</D>", "")
        body_at = text.find("<BODY>", start)
        # Keras: s[s.find("<BODY>") + 6:] with s starting at `start`; find = -1 gives start + 5.
        body_start = start + 5 if body_at < 0 else body_at + len("<BODY>")
        wires.append((topic, text[body_start : _find(text, "</", body_start)]))
    return wires


def _find(text: str, tag: str, start: int) -> int:
    """Where `tag` is from `start` on; Python's -1 when absent, as the Keras scan sliced with
    it (s[:-1]: all but the last character)."""
    at = text.find(tag, start)
    return at if at >= 0 else len(text) - 1


def keras_words(text: str) -> list[str]:
    """keras.preprocessing.text.text_to_word_sequence with its defaults."""
    return [w for w in text.lower().translate(_TO_SPACES).split(" ") if w]


def build_wires(wires: list[tuple[str, str]]) -> tuple[list[list[int]], list[int], tuple[str, ...]]:
    """Keras's make_reuters_dataset: keep topics with at least MIN_WIRES_PER_TOPIC wires,
    number them by first appearance, rank words by count (1 = most frequent; ties by first
    appearance). Returns the word-rank sequences, the labels and the topic names."""
    counts = Counter(topic for topic, _ in wires)
    kept = [(t, b) for t, b in wires if counts[t] >= MIN_WIRES_PER_TOPIC]
    topic_ids: dict[str, int] = {}
    labels = [topic_ids.setdefault(t, len(topic_ids)) for t, _ in kept]
    texts = [keras_words(b) for _, b in kept]
    word_counts = Counter(w for words in texts for w in words)  # insertion order = first appearance
    ranked = sorted(word_counts, key=word_counts.__getitem__, reverse=True)  # stable: ties keep it
    rank = {w: i for i, w in enumerate(ranked, 1)}
    return [[rank[w] for w in words] for words in texts], labels, tuple(topic_ids)


def keras_split(sequences: list, labels, seed: int = SEED, test_split: float = TEST_SPLIT) -> tuple[Wires, Wires]:
    """Keras's reuters.load_data: shuffle with RandomState(seed), prepend START, shift the word
    ranks by INDEX_FROM; the first int(N * (1 - test_split)) train."""
    wires = Wires.of([[START - INDEX_FROM, *s] for s in sequences], labels)  # START once shifted
    wires = wires._replace(words=wires.words + INDEX_FROM)
    order = np.arange(wires.num_wires)
    np.random.RandomState(seed).shuffle(order)
    shuffled = wires.take(order)
    cut = int(shuffled.num_wires * (1 - test_split))
    return shuffled.subset(0, cut), shuffled.subset(cut, shuffled.num_wires)


def bag_of_words(wires: Wires, num_words: int = 1000) -> np.ndarray:
    """[N, num_words] uint8: Keras's `Tokenizer(num_words).sequences_to_matrix(x, mode="binary")`
    of `load_data(num_words=...)`'s sequences, where every id >= num_words became OOV (2).
    Column 1 (START) is set for every wire, column 2 when a word is out of the vocabulary,
    columns 4..num_words-1 for the num_words - 4 most frequent words; 0 and 3 stay empty."""
    words = np.where(wires.words < num_words, wires.words, OOV)
    rows = np.repeat(np.arange(wires.num_wires), np.diff(wires.offsets))
    matrix = np.zeros((wires.num_wires, num_words), np.uint8)
    matrix[rows, words] = 1
    return matrix


def majority_rate(labels: np.ndarray) -> float:
    """Share of the most common label: the accuracy of always guessing it."""
    return float(np.bincount(labels).max() / len(labels)) if len(labels) else 0.0


# --------------------------------------------------------------------------- reading files


def read_tarball(path: Path) -> list[tuple[str, str]]:
    """The .sgm files of a Reuters-21578 tarball, (name, text) sorted by name, read in
    memory and bounded (`read_members`); DataError names the file."""
    bounds = Bounds(MAX_ARCHIVE_MB, MAX_FILE_MB, MAX_TOTAL_MB, MAX_MEMBERS)
    found = read_members(path, _sgml_member, bounds, "a Reuters tarball")
    if not found:
        raise DataError(f"{path}: no reut2-*.sgm files inside; expected the UCI Reuters-21578 distribution")
    return sorted((name, raw.decode("latin-1")) for name, (raw, _) in found.items())


def _sgml_member(member: tarfile.TarInfo) -> str | None:
    name = member.name.rpartition("/")[2]
    return name if SGML_NAME.fullmatch(name) else None


def read_folder(files: list[Path]) -> list[tuple[str, str]]:
    """Extracted .sgm files, (name, text) sorted by name."""
    if len(files) > MAX_MEMBERS:
        raise DataError(f"{files[0].parent}: more than {MAX_MEMBERS} .sgm files, over dlrun's limit")
    found = []
    for path in files:
        check_size(path, MAX_FILE_MB, "a Reuters .sgm file")
        try:
            with path.open("rb") as f:
                found.append((path.name, f.read(MAX_FILE_MB * 10**6 + 1).decode("latin-1")))
        except OSError as err:
            raise DataError(f"cannot read {path}: {err}") from None
    return sorted(found)


def from_sgml(files: list[tuple[str, str]], where: str) -> ReutersData:
    """Keras's dataset from the (name, text) of the .sgm files."""
    wires = [w for name, text in files for w in parse_sgml(text)]
    if len(wires) > MAX_WIRES:
        raise DataError(f"{where}: {len(wires):,} wires, over dlrun's limit of {MAX_WIRES:,}")
    sequences, labels, topics = build_wires(wires)
    if len(set(labels)) < 2 or len(labels) < 10:
        raise DataError(
            f"{where}: {len(labels)} wires in {len(set(labels))} topics with at least {MIN_WIRES_PER_TOPIC} wires "
            "each; need 2 topics and 10 wires (is it the Reuters-21578 distribution?)"
        )
    if sum(len(s) for s in sequences) > MAX_WORDS:
        raise DataError(f"{where}: more than {MAX_WORDS:,} words in all, over dlrun's limit")
    train, test = keras_split(sequences, labels)
    return ReutersData(
        train, test, topics, f"Reuters-21578 SGML in {where} (Keras's construction)", _digest(train, test), None
    )


def from_npz(path: Path) -> ReutersData:
    """Keras's reuters.npz (x: object array of word-rank lists, y: topic ids), only when it is
    the file Keras downloads; any other npz that needs unpickling is refused."""
    check_size(path, MAX_ARCHIVE_MB, "Keras's reuters.npz")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {path}: {err}") from None
    if not raw.startswith(b"PK"):
        raise DataError(f"{path}: not an .npz archive (no zip header)")
    digest = hashlib.sha256(raw).hexdigest()
    known = digest == KERAS_NPZ_SHA256
    try:
        with np.load(io.BytesIO(raw), allow_pickle=known) as archive:
            if not {"x", "y"} <= set(archive.files):
                raise DataError(f"{path}: no arrays x and y; not Keras's reuters.npz")
            xs, ys = archive["x"], archive["y"]
    except ValueError as err:  # numpy: "Object arrays cannot be loaded when allow_pickle=False"
        if "allow_pickle" not in str(err):
            raise DataError(f"{path}: not a readable .npz archive ({err})") from None
        raise DataError(
            f"{path}: holds pickled object arrays and is not Keras's reuters.npz (its SHA-256 is {digest}, "
            f"Keras's is {KERAS_NPZ_SHA256}); dlrun never unpickles an unknown file. Use the Reuters-21578 "
            f"tarball ({TARBALL}) instead"
        ) from None
    except (OSError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{path}: not a readable .npz archive ({err})") from None
    if not known:
        raise DataError(f"{path}: not Keras's reuters.npz (SHA-256 {digest}); use {TARBALL} instead")
    sequences = [list(map(int, x)) for x in xs]
    train, test = keras_split(sequences, np.asarray(ys, np.int32))
    topics = KERAS_TOPICS if len(set(ys.tolist())) == len(KERAS_TOPICS) else ()
    return ReutersData(train, test, topics, f"Keras's reuters.npz {path}", _digest(train, test), None)


def _digest(train: Wires, test: Wires) -> str:
    digest = hashlib.sha256()
    for wires in (train, test):
        for array in wires:
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------- the chain


def _find_in(folder: Path) -> ReutersData | None:
    """The data in `folder` or `folder/reuters21578/`: a tarball, extracted .sgm files, then
    Keras's npz in `folder`; None when there is none."""
    for root in (folder, folder / FOLDER):
        if (root / TARBALL).is_file():
            return from_sgml(read_tarball(root / TARBALL), str(root / TARBALL))
        if root.is_dir():
            files = sorted(p for p in root.iterdir() if SGML_NAME.fullmatch(p.name) and p.is_file())
            if files:
                return from_sgml(read_folder(files), f"{root} ({len(files)} .sgm files)")
    if (folder / NPZ).is_file():
        return from_npz(folder / NPZ)
    return None


def load_reuters(data_dir: Path | str | None = None) -> ReutersData:
    """Keras's Reuters dataset through the chain of the module docstring."""
    found = find_data(data_dir, _find_in, REUTERS_FOLDERS, SKIP_REUTERS, _missing)
    if found is not None:
        return found
    raise DataError(
        f"no Reuters data found ({shared_looked()}): put {TARBALL}, the UCI Reuters-21578 distribution "
        f"(archive.ics.uci.edu, dataset 137), in a folder DIR or DIR/{FOLDER}/ and pass --data-dir DIR "
        "(or set DLRUN_DATA_DIR)"
    )


def _missing(folder: Path) -> str:
    return (
        f"no Reuters data in {folder}: looked for {TARBALL} or reut2-*.sgm files in {folder} "
        f"and {folder / FOLDER}, and for {folder / NPZ}"
    )


def shared_looked() -> str:
    """Where the shared Reuters folders were searched, for an error message."""
    return f"{SKIP_REUTERS} is set" if skipped(SKIP_REUTERS) else f"looked in {', '.join(map(str, REUTERS_FOLDERS))}"
