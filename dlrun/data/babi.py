"""The bAbI question-answering tasks (Weston et al. 2015), 10k-training version: task 1
"single supporting fact" and task 2 "two supporting facts", for Lecture IV's attention
lesson (the end-to-end memory network reads a story and answers a question about it).

A task file is a sequence of numbered lines. A line id of 1 starts a new story; a statement
line is `ID sentence.`; a question line is `ID question?<TAB>answer<TAB>supporting ids`,
where the supporting ids are the line ids of the story's statements the answer rests on:

    1 Mary moved to the bathroom.
    2 John went to the hallway.
    3 Where is Mary? <TAB>bathroom<TAB>1

A question's memory is every statement of its story before it (questions are not memories).
Words are lowercase runs of letters, digits and apostrophes: the full stop and the question
mark are dropped. Each of the two tasks has 10,000 training and 1,000 test questions.

Where the files come from, first match wins:

1. a data dir (the `data_dir` argument, else env `DLRUN_DATA_DIR`) holding the standard
   layout `DIR/tasks_1-20_v1-2/en-10k/qaN_*_{train,test}.txt`, a folder `DIR/en-10k/` (or
   `DIR/babi/en-10k/`), or the distribution's tarball `DIR/tasks_1-20_v1-2.tar.gz`, whose
   `en-10k` members are read without extracting anything to disk. A dir the user named
   must hold the data: dlrun raises instead of quietly using another source.
2. the shared data folder beside the repository (`BABI_FOLDERS`, by default
   `../shared/data/babi`, searched the same way). Set `DLRUN_NO_BABI=1` to skip it.
3. offline fallback: stories generated from a seed by a small simulation of the same world
   (people move between rooms, pick up and drop objects), with a notice.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from dlrun.data import find_data, shared_folder
from dlrun.data.archives import Bounds, read_members
from dlrun.errors import DataError
from dlrun.files import read_bounded

TASKS = {1: "single-supporting-fact", 2: "two-supporting-facts"}  # task number -> its file name's middle
SPLITS = ("train", "test")
EN_10K = "en-10k"
DISTRIBUTION = "tasks_1-20_v1-2"
TARBALL = f"{DISTRIBUTION}.tar.gz"
# Where a data dir may hold the en-10k files, in order.
LAYOUTS = (Path(DISTRIBUTION) / EN_10K, Path(EN_10K), Path("babi") / EN_10K)
# The documented default: the shared data folder beside the repository.
BABI_FOLDERS = shared_folder("babi")
TASK_FILE = re.compile(r"qa(\d+)_[\w-]+_(train|test)\.txt")
WORD = re.compile(r"[\w']+")
NUMBER = re.compile(r"[0-9]+")  # ASCII digits only: int() refuses some of what str.isdigit() accepts

# Bounds on what a file may hold, so that no file can make dlrun allocate without bound:
# the real en-10k files of tasks 1 and 2 are at most 1.8 MB, their longest line 52
# characters, their longest sentence 6 words.
MAX_FILE_MB = 20  # one task file, in MB (10**6 bytes)
MAX_ARCHIVE_MB = 100  # the tarball itself (the real one is 15 MB)
MAX_ARCHIVE_TOTAL_MB = 1_000  # bytes of the members passed over before the wanted ones are found
MAX_ARCHIVE_MEMBERS = 5_000
MAX_LINE_CHARS = 1_000
MAX_SENTENCE_WORDS = 40
MAX_QUESTIONS = 200_000  # per file


class Question(NamedTuple):
    words: tuple[str, ...]
    answer: str
    seen: int  # statements of its story before it: its memory is story.statements[:seen]
    supporting: tuple[int, ...]  # indices into story.statements of the facts the answer rests on


class Story(NamedTuple):
    statements: tuple[tuple[str, ...], ...]
    questions: tuple[Question, ...]


class BabiTask(NamedTuple):
    number: int
    train: list[Story]
    test: list[Story]


class BabiData(NamedTuple):
    """Tasks 1 and 2, each with its train and test stories, and where they came from."""

    tasks: dict[int, BabiTask]
    source: str
    sha256: str  # over the bytes of the task files, tasks and splits in order
    notice: str | None


def count_questions(stories: list[Story]) -> int:
    return sum(len(s.questions) for s in stories)


# --------------------------------------------------------------------------- parsing


def words_of(text: str) -> tuple[str, ...]:
    """`Where is Mary? ` -> ("where", "is", "mary")."""
    return tuple(WORD.findall(text.lower()))


class _StoryBuilder:
    """The story being read: its statements, its questions, and which statement each line id is."""

    def __init__(self):
        self.statements: list[tuple[str, ...]] = []
        self.questions: list[Question] = []
        self.statement_of_line: dict[int, int] = {}

    def story(self) -> Story:
        return Story(tuple(self.statements), tuple(self.questions))


def parse_babi(text: str, where: str) -> list[Story]:
    """Every story of a task file's text; DataError names `where` and the line."""
    stories: list[Story] = []
    story, last_id, questions = _StoryBuilder(), 0, 0
    for lineno, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        at = f"{where}, line {lineno}"
        if len(line) > MAX_LINE_CHARS:
            raise DataError(f"{at}: {len(line):,} characters, over dlrun's limit of {MAX_LINE_CHARS:,}")
        line_id, body = _split_id(line, at)
        if line_id == 1:
            if story.statements or story.questions:
                stories.append(story.story())
            story = _StoryBuilder()
        elif line_id != last_id + 1:
            after = f"after {last_id}" if last_id else "first"
            raise DataError(f"{at}: line id {line_id} {after}; ids count up by one from 1 within a story")
        last_id = line_id
        if "\t" in body:
            story.questions.append(_question(body, story, at))
            questions += 1
            if questions > MAX_QUESTIONS:
                raise DataError(f"{where}: more than {MAX_QUESTIONS:,} questions, over dlrun's limit")
        else:
            story.statement_of_line[line_id] = len(story.statements)
            story.statements.append(_sentence(body, at))
    if story.statements or story.questions:
        stories.append(story.story())
    if not questions:
        raise DataError(f"{where}: no questions (a question line is `ID question?<TAB>answer<TAB>supporting ids`)")
    return stories


def _split_id(line: str, at: str) -> tuple[int, str]:
    head, _, body = line.partition(" ")
    if not NUMBER.fullmatch(head) or int(head) < 1:
        raise DataError(f"{at}: a line starts with its id (1, 2, ...) and a space, not {line[:40]!r}")
    return int(head), body


def _sentence(body: str, at: str) -> tuple[str, ...]:
    words = words_of(body)
    if not words:
        raise DataError(f"{at}: no words in {body[:40]!r}")
    if len(words) > MAX_SENTENCE_WORDS:
        raise DataError(f"{at}: {len(words)} words, over dlrun's limit of {MAX_SENTENCE_WORDS} for one sentence")
    return words


def _question(body: str, story: _StoryBuilder, at: str) -> Question:
    parts = body.split("\t")
    if len(parts) != 3:
        raise DataError(
            f"{at}: a question line is `ID question?<TAB>answer<TAB>supporting ids`; "
            f"found {len(parts) - 1} tab{'s' if len(parts) != 2 else ''}"
        )
    question, answer, supporting = parts
    answer_words = answer.strip().lower().split()
    if len(answer_words) != 1:
        raise DataError(f"{at}: the answer must be one word, got {answer.strip()[:40]!r}")
    ids = supporting.split()
    if not ids or not all(NUMBER.fullmatch(i) for i in ids):
        raise DataError(f"{at}: the supporting facts must be line ids (numbers), got {supporting.strip()[:40]!r}")
    missing = [i for i in ids if int(i) not in story.statement_of_line]
    if missing:
        raise DataError(f"{at}: supporting fact {missing[0]} is not an earlier statement of this story")
    facts = tuple(story.statement_of_line[int(i)] for i in ids)
    return Question(_sentence(question, at), answer_words[0], len(story.statements), facts)


# --------------------------------------------------------------------------- files


def decode(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{where}: not UTF-8 text (byte {err.start:,})") from None


def task_file(folder: Path, number: int, split: str) -> Path:
    """The one `qaN_*_split.txt` in `folder`; DataError when it is missing or not alone."""
    found = sorted(p for p in folder.glob(f"qa{number}_*_{split}.txt") if TASK_FILE.fullmatch(p.name))
    if len(found) != 1:
        problem = "no" if not found else f"{len(found)} files match"
        raise DataError(f"{folder}: {problem} qa{number}_*_{split}.txt (bAbI task {number}, {split} split)")
    return found[0]


def find_babi(folder: Path) -> Path | None:
    """The en-10k folder of `folder` (the layouts of `LAYOUTS`), else its tarball; None when neither."""
    for layout in LAYOUTS:
        if (folder / layout).is_dir():
            return folder / layout
    for tarball in (folder / TARBALL, folder / "babi" / TARBALL):
        if tarball.is_file():
            return tarball
    return None


def read_folder(folder: Path) -> dict[tuple[int, str], tuple[bytes, str]]:
    """{(task, split): (bytes, where)} of the task files in an en-10k folder."""
    files = {}
    for number in TASKS:
        for split in SPLITS:
            path = task_file(folder, number, split)
            files[number, split] = read_bounded(path, MAX_FILE_MB, "a bAbI task file"), str(path)
    return files


def read_tarball(path: Path) -> dict[tuple[int, str], tuple[bytes, str]]:
    """{(task, split): (bytes, where)} of the en-10k task files inside the distribution's
    tarball, read in memory and bounded (`read_members`)."""
    bounds = Bounds(MAX_ARCHIVE_MB, MAX_FILE_MB, MAX_ARCHIVE_TOTAL_MB, MAX_ARCHIVE_MEMBERS)
    files = read_members(path, _member_key, bounds, "a bAbI archive", wanted=len(TASKS) * len(SPLITS))
    missing = [(n, s) for n in TASKS for s in SPLITS if (n, s) not in files]
    if missing:
        number, split = missing[0]
        raise DataError(f"{path}: no {EN_10K}/qa{number}_*_{split}.txt inside (bAbI task {number}, {split} split)")
    return files


def _member_key(member: tarfile.TarInfo) -> tuple[int, str] | None:
    """(task, split) of an en-10k task file member, else None."""
    parts = member.name.split("/")
    match = TASK_FILE.fullmatch(parts[-1])
    if not (match and len(parts) >= 2 and parts[-2] == EN_10K):
        return None
    number, split = int(match.group(1)), match.group(2)
    return (number, split) if number in TASKS and split in SPLITS else None


def read_babi(found: Path) -> BabiData:
    """Tasks 1 and 2 from an en-10k folder or the tarball, parsed."""
    files = read_tarball(found) if found.is_file() else read_folder(found)
    digest = hashlib.sha256()
    tasks = {}
    for number in TASKS:
        splits = []
        for split in SPLITS:
            raw, where = files[number, split]
            digest.update(raw)
            splits.append(parse_babi(decode(raw, where), where))
        tasks[number] = BabiTask(number, *splits)
    return BabiData(tasks, f"bAbI {EN_10K} tasks 1 and 2 in {found}", digest.hexdigest(), None)


def load_babi(data_dir: Path | str | None = None) -> BabiData:
    """Tasks 1 and 2 through the chain of the module docstring, else generated stories."""
    found = find_data(data_dir, find_babi, BABI_FOLDERS, "DLRUN_NO_BABI", _missing)
    return generated_babi() if found is None else read_babi(found)


def _missing(folder: Path) -> str:
    places = ", ".join(str(folder / layout) for layout in LAYOUTS)
    return f"no bAbI {EN_10K} tasks in {folder}: looked for {places} and {folder / TARBALL}"


# --------------------------------------------------------------------------- generated stories

GENERATED_SEED = 0
GENERATED_TRAIN, GENERATED_TEST = 10_000, 1_000  # questions per task and split, as en-10k
PEOPLE = ("Mary", "John", "Sandra", "Daniel")
PLACES = ("bathroom", "hallway", "garden", "office", "kitchen", "bedroom")
OBJECTS = ("football", "apple", "milk")
MOVES = ("moved to", "went to", "journeyed to", "travelled to", "went back to")
TAKES = ("got", "picked up", "grabbed", "took")
DROPS = ("dropped", "discarded", "put down", "left")
STORY_QUESTIONS = 5  # questions per generated story, as in en-10k's task 1


class _World:
    """A generated story as it is told: where each person is, who holds what, and which line
    said so, written out in the bAbI format."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.lines: list[str] = []
        self.place: dict[str, tuple[str, int]] = {}  # person -> (room, line id that said so)
        self.holder: dict[str, tuple[str, int]] = {}  # object -> (person, line id of the pick-up)
        self.dropped: dict[str, tuple[str, tuple[int, ...]]] = {}  # object -> (room, supporting line ids)

    def say(self, text: str) -> int:
        self.lines.append(f"{len(self.lines) + 1} {text}")
        return len(self.lines)

    def move(self) -> None:
        person, room = _pick(self.rng, PEOPLE), _pick(self.rng, PLACES)
        self.place[person] = room, self.say(f"{person} {_pick(self.rng, MOVES)} the {room}.")

    def handle(self) -> None:
        """A located person picks up a free object, or drops one they hold."""
        located = [p for p in PEOPLE if p in self.place]
        if not located:
            return self.move()
        person = _pick(self.rng, tuple(located))
        held = [o for o, (p, _) in self.holder.items() if p == person]
        free = [o for o in OBJECTS if o not in self.holder]
        if not held and not free:
            return self.move()
        if held and (not free or self.rng.random() < 0.5):
            thing = _pick(self.rng, tuple(held))
            room, moved_at = self.place[person]
            said = self.say(f"{person} {_pick(self.rng, DROPS)} the {thing}.")
            del self.holder[thing]
            self.dropped[thing] = room, (said, moved_at)
        else:
            thing = _pick(self.rng, tuple(free))
            self.holder[thing] = person, self.say(f"{person} {_pick(self.rng, TAKES)} the {thing} there.")
            self.dropped.pop(thing, None)

    def where_is_person(self) -> bool:
        located = [p for p in PEOPLE if p in self.place]
        if not located:
            return False
        person = _pick(self.rng, tuple(located))
        room, said = self.place[person]
        self.say(f"Where is {person}? \t{room}\t{said}")
        return True

    def where_is_object(self) -> bool:
        """Where a held object is: its holder's room (the pick-up and the holder's last move);
        a dropped one: where it was dropped (the drop and the move before it)."""
        known = {o: (self.place[p][0], (taken, self.place[p][1])) for o, (p, taken) in self.holder.items()}
        known |= self.dropped
        if not known:
            return False
        thing = _pick(self.rng, tuple(sorted(known)))
        room, supporting = known[thing]
        self.say(f"Where is the {thing}? \t{room}\t{' '.join(map(str, supporting))}")
        return True


def generated_story(rng: np.random.Generator, task: int) -> str:
    """One story of task 1 (two moves before each question) or task 2 (moves, pick-ups and
    drops before each question about an object)."""
    world, asked = _World(rng), 0
    while asked < STORY_QUESTIONS:
        if task == 1:
            world.move()
            world.move()
            asked += world.where_is_person()
            continue
        for _ in range(int(rng.integers(2, 5))):
            if rng.random() < 0.4:
                world.handle()
            else:
                world.move()
        asked += world.where_is_object()
    return "\n".join(world.lines)


def generated_text(task: int, questions: int, seed: int) -> str:
    """Stories of one task, STORY_QUESTIONS questions each, `questions` in all (rounded up)."""
    rng = np.random.default_rng([seed, task])
    stories = [generated_story(rng, task) for _ in range(-(-questions // STORY_QUESTIONS))]
    return "\n".join(stories) + "\n"


def generated_babi(seed: int = GENERATED_SEED, train: int = GENERATED_TRAIN, test: int = GENERATED_TEST) -> BabiData:
    """The offline data: tasks 1 and 2 written in the bAbI format from a seed, and parsed back."""
    digest = hashlib.sha256()
    tasks = {}
    for number in TASKS:
        splits = []
        for offset, (split, size) in enumerate(zip(SPLITS, (train, test))):
            text = generated_text(number, size, seed + 1_000 * offset)  # train and test from distinct streams
            digest.update(text.encode())
            splits.append(parse_babi(text, f"generated task {number} ({split})"))
        tasks[number] = BabiTask(number, *splits)
    notice = (
        f"no bAbI {EN_10K} files found (see --data-dir): using generated stories of the same form, "
        "whose numbers say nothing about bAbI"
    )
    return BabiData(tasks, f"generated bAbI-style stories (seed {seed}, offline fallback)", digest.hexdigest(), notice)


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]
