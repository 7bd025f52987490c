"""The word-analogy questions of Mikolov et al. (2013), `questions-words.txt`: 19,544
questions "a is to b as c is to d" in 14 sections, 5 semantic (capitals, currencies, cities
in states, family) and 9 syntactic (the `gram*` sections: adverbs, opposites, comparatives...).

The file: a line `: section-name` starts a section; every other non-blank line is one
question of four words, "Athens Greece Baghdad Iraq" (the answer is the fourth). Words are
lowercased here, as the evaluation of word2vec's `compute-accuracy` and gensim do.

Where the questions come from, first match wins:

1. with a data dir (the `data_dir` argument, else env `DLRUN_DATA_DIR`):
   `DIR/questions-words.txt`, then `DIR/word2vec/questions-words.txt`;
2. the folders of `ANALOGY_FOLDERS`, by default `../shared/data/word2vec` beside the
   repository (`DLRUN_NO_ANALOGIES=1` skips them);
3. a small built-in list (`BUILTIN_PAIRS`: 7 sections of pairs taken from the file, every
   ordered pair of pairs of a section a question, as the file is made), with a notice.

A malformed file stops with a DataError naming the file and the line.
"""

from __future__ import annotations

import hashlib
from itertools import permutations
from pathlib import Path
from typing import NamedTuple

from dlrun.data import named_data_dir, shared_folder, skipped
from dlrun.errors import DataError
from dlrun.files import read_bounded

QUESTIONS = "questions-words.txt"
FOLDER = "word2vec"
ANALOGY_FOLDERS = shared_folder(FOLDER)
MAX_FILE_MB = 20  # the real file is 0.6 MB
MAX_QUESTIONS = 1_000_000  # the real file has 19,544
SYNTACTIC_PREFIX = "gram"  # Mikolov's syntactic sections are gram1-... to gram9-...

# A few pairs of seven sections of questions-words.txt (lowercased), for when the file is
# not found: each section's questions are every ordered pair of two different pairs.
BUILTIN_PAIRS = {
    "capital-common-countries": (
        ("athens", "greece"), ("beijing", "china"), ("berlin", "germany"), ("cairo", "egypt"),
        ("canberra", "australia"), ("london", "england"), ("madrid", "spain"), ("moscow", "russia"),
        ("ottawa", "canada"), ("paris", "france"), ("rome", "italy"), ("tokyo", "japan"),
    ),
    "currency": (
        ("canada", "dollar"), ("india", "rupee"), ("japan", "yen"), ("korea", "won"), ("mexico", "peso"),
        ("sweden", "krona"), ("usa", "dollar"), ("russia", "ruble"),
    ),
    "family": (
        ("boy", "girl"), ("brother", "sister"), ("father", "mother"), ("he", "she"), ("his", "her"),
        ("husband", "wife"), ("king", "queen"), ("man", "woman"), ("son", "daughter"),
    ),
    "gram3-comparative": (
        ("bad", "worse"), ("big", "bigger"), ("cheap", "cheaper"), ("good", "better"), ("high", "higher"),
        ("hot", "hotter"), ("large", "larger"), ("low", "lower"), ("small", "smaller"), ("strong", "stronger"),
    ),
    "gram6-nationality-adjective": (
        ("china", "chinese"), ("france", "french"), ("germany", "german"), ("italy", "italian"),
        ("japan", "japanese"), ("mexico", "mexican"), ("russia", "russian"), ("spain", "spanish"),
    ),
    "gram7-past-tense": (
        ("decreasing", "decreased"), ("falling", "fell"), ("going", "went"), ("increasing", "increased"),
        ("paying", "paid"), ("saying", "said"), ("selling", "sold"), ("taking", "took"),
    ),
    "gram8-plural": (
        ("building", "buildings"), ("car", "cars"), ("child", "children"), ("computer", "computers"),
        ("dollar", "dollars"), ("machine", "machines"), ("man", "men"), ("road", "roads"),
    ),
}  # fmt: skip


class Analogies(NamedTuple):
    """Questions (a, b, c, d): "a is to b as c is to d", lowercased, in file order."""

    sections: tuple[str, ...]  # section names in file order
    questions: tuple[tuple[str, str, str, str], ...]
    section: tuple[int, ...]  # each question's index into `sections`
    source: str
    sha256: str  # of the file's bytes (of the built-in list's text)
    notice: str | None

    def semantic(self, s: int) -> bool:
        return is_semantic(self.sections[s])


def is_semantic(section: str) -> bool:
    """Mikolov's split: the `gram*` sections are syntactic, the others semantic."""
    return not section.startswith(SYNTACTIC_PREFIX)


def parse_questions(text: str, where: str) -> tuple[tuple[str, ...], list[tuple[str, str, str, str]], list[int]]:
    """(sections, questions, section index of each) of a questions-words file; DataError
    naming `where` and the line for anything else than sections and four-word questions."""
    sections: list[str] = []
    questions: list[tuple[str, str, str, str]] = []
    section: list[int] = []
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(":"):
            name = stripped[1:].strip().lower()
            if not name or len(name.split()) != 1:
                raise DataError(f"{where}, line {n}: a section line is ': name' (one word), got {line[:80]!r}")
            sections.append(name)
            continue
        words = stripped.lower().split()
        if len(words) != 4:
            raise DataError(f"{where}, line {n}: a question is four words 'a b c d', got {line[:80]!r}")
        if not sections:
            raise DataError(f"{where}, line {n}: a question before the first ': section' line")
        if len(questions) >= MAX_QUESTIONS:
            raise DataError(f"{where}: more than {MAX_QUESTIONS:,} questions, over dlrun's limit")
        questions.append((words[0], words[1], words[2], words[3]))
        section.append(len(sections) - 1)
    if not questions:
        raise DataError(f"{where}: no analogy questions (expected ': section' lines and 'a b c d' lines)")
    return tuple(sections), questions, section


def read_questions(path: Path) -> Analogies:
    """A questions-words file, read within MAX_FILE_MB; DataError names the file."""
    raw = read_bounded(path, MAX_FILE_MB, "a questions-words file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(f"{path}, line {line}: not UTF-8 text ({err.reason}); is it questions-words.txt?") from None
    sections, questions, section = parse_questions(text, str(path))
    return Analogies(sections, tuple(questions), tuple(section), str(path), hashlib.sha256(raw).hexdigest(), None)


def builtin_questions() -> Analogies:
    """The built-in list: every ordered pair of two different pairs of each section."""
    sections = tuple(BUILTIN_PAIRS)
    questions, section = [], []
    for s, pairs in enumerate(BUILTIN_PAIRS.values()):
        for (a, b), (c, d) in permutations(pairs, 2):
            questions.append((a, b, c, d))
            section.append(s)
    text = "\n".join(" ".join(q) for q in questions)
    notice = (
        f"no {QUESTIONS} found: scoring on dlrun's {len(questions):,} built-in analogy questions "
        f"({len(sections)} sections) instead of Mikolov's 19,544; put the file in DIR or DIR/{FOLDER}/ "
        "and pass --data-dir DIR"
    )
    return Analogies(
        sections,
        tuple(questions),
        tuple(section),
        "dlrun's built-in list",
        hashlib.sha256(text.encode()).hexdigest(),
        notice,
    )


def load_analogies(data_dir: Path | str | None = None) -> Analogies:
    """The analogy questions through the chain of the module docstring."""
    folder = named_data_dir(data_dir)
    candidates: list[Path] = []
    if folder is not None:
        candidates += [folder / QUESTIONS, folder / FOLDER / QUESTIONS]
    if not skipped("DLRUN_NO_ANALOGIES"):
        candidates += [Path(folder) / QUESTIONS for folder in ANALOGY_FOLDERS]
    for path in candidates:
        if path.is_file():
            return read_questions(path)
    return builtin_questions()
