"""Question answering on bAbI as a task of the one engine: a question's story and the
question -> the one-word answer, classified over the vocabulary.

Batches are `Questions`: the word ids of the M most recent statements before each question
(most recent first), the question's, the answer's, and the memory slots of the supporting
facts, with the vocabulary riding along as static data. The vocabulary is the training
split's words (test words never seen in training are <unk>).

After training, a model that attends (the memory network) is also scored on where it
looked: for each hop, the share of test questions whose most attended statement is a
supporting fact, and `facts_read`, the share whose supporting facts are each the most
attended statement of some hop (two facts need two hops: one hop reads at most one).
"""

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from dlrun.core.losses import accuracy
from dlrun.core.task import DataInfo, Prediction, Query, Task, TaskData, in_chunks, training_subset
from dlrun.data.babi import MAX_SENTENCE_WORDS, TASKS, BabiData, Question, Story, count_questions, load_babi, words_of
from dlrun.errors import ConfigError, DataError
from dlrun.families.memory import pictures
from dlrun.families.memory.models import PAD

UNK = 1
# Bound on the padded arrays (questions x memory slots x words per statement), so that no
# file can make dlrun allocate without bound: en-10k's task 2 needs 10,000 x 50 x 6.
MAX_MEMORY_WORDS = 50_000_000
EVAL_CHUNK = 1_000  # questions per evaluation pass: bounds the memory of a whole-split evaluation
SHOWN_QUESTIONS = 4  # test questions whose attention the picture shows
SHOWN_MIN_STATEMENTS = 6  # ... each with at least this many statements in memory, to be worth reading
SHOWN_ANSWERS = 3  # likeliest answers `dlrun predict` lists
MAX_ASKED_STATEMENTS = 200  # statements a story given to `dlrun predict` may have (the memory keeps the last M)
SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


@dataclass(frozen=True)
class Vocabulary:
    """Words in id order: <pad>, <unk>, then the training words sorted. Registered as a
    static pytree node, so it rides along with the arrays (`Questions`) and the pictures
    can write the statements out."""

    words: tuple[str, ...]

    @functools.cached_property  # built once per vocabulary (not a field: equality and hash ignore it)
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}


# The vocabulary rides along with the padded arrays through jit as static data.
jax.tree_util.register_static(Vocabulary)


class Questions(NamedTuple):
    """A split or a mini-batch of N questions."""

    memories: np.ndarray  # [N, M, L] int32: slot i holds the (i + 1)-th most recent statement, PAD when none
    question: np.ndarray  # [N, Lq] int32
    answer: np.ndarray  # [N] int32
    support: np.ndarray  # [N, S] int32: memory slots of the supporting facts, -1 for none (or beyond the memory)
    vocabulary: Vocabulary


def build_vocabulary(stories: list[Story], capacity: int) -> Vocabulary:
    """Every word of the training stories, questions and answers, sorted, after <pad> and <unk>."""
    seen = {w for s in stories for sentence in s.statements for w in sentence}
    seen |= {w for s in stories for q in s.questions for w in (*q.words, q.answer)}
    words = ("<pad>", "<unk>", *sorted(seen))
    if len(words) > capacity:
        raise DataError(f"{len(words)} words (with <pad> and <unk>), over the model's room for {capacity}")
    return Vocabulary(words)


def _ids(words, index: dict[str, int]) -> list[int]:
    return [index.get(w, UNK) for w in words]


def encode(stories: list[Story], vocabulary: Vocabulary, shape: tuple[int, int, int, int]) -> Questions:
    """Every question of the stories as arrays of `shape` = (memory M, statement length L,
    question length Lq, supporting facts S)."""
    memory, length, q_length, facts = shape
    index = vocabulary.index
    n = count_questions(stories)
    memories = np.zeros((n, memory, length), np.int32)
    question = np.zeros((n, q_length), np.int32)
    answer = np.zeros(n, np.int32)
    support = np.full((n, facts), -1, np.int32)
    row = 0
    for story in stories:
        said = np.zeros((len(story.statements), length), np.int32)  # each statement once
        for i, sentence in enumerate(story.statements):
            said[i, : len(sentence)] = _ids(sentence, index)
        for q in story.questions:
            recent = said[max(0, q.seen - memory) : q.seen][::-1]  # most recent first
            memories[row, : len(recent)] = recent
            question[row, : len(q.words)] = _ids(q.words, index)
            answer[row] = index.get(q.answer, UNK)
            slots = [q.seen - 1 - i for i in q.supporting]
            support[row, : len(slots)] = [s if s < memory else -1 for s in slots]
            row += 1
    return Questions(memories, question, answer, support, vocabulary)


def array_shape(stories: list[Story], memory: int) -> tuple[int, int, int, int]:
    """(M, L, Lq, S) for these stories: at most `memory` slots, as many as the longest memory needs."""
    questions = [q for s in stories for q in s.questions]
    shape = (
        max(1, min(memory, max(q.seen for q in questions))),
        max((len(x) for s in stories for x in s.statements), default=1),
        max(len(q.words) for q in questions),
        max(len(q.supporting) for q in questions),
    )
    if len(questions) * shape[0] * shape[1] > MAX_MEMORY_WORDS:
        raise DataError(
            f"{len(questions):,} questions with {shape[0]} statements of {shape[1]} words in memory make "
            f"{len(questions) * shape[0] * shape[1]:,} word slots, over dlrun's limit of {MAX_MEMORY_WORDS:,}"
        )
    return shape


def select(split: Questions, rows: np.ndarray) -> Questions:
    return Questions(*(a[rows] for a in split[:-1]), split.vocabulary)


# --------------------------------------------------------------------------- compiled pieces


def over_split(fn, model, split: Questions):
    """fn(model, memories, question) over a whole split, EVAL_CHUNK questions at a time
    (padded with empty questions); each output has a leading [N] axis."""
    return in_chunks(fn, model, (split.memories, split.question), EVAL_CHUNK)


def _logits(model, memories, question):
    return model(memories, question)  # [B, V]


def _read(model, memories, question):
    return model.read(memories, question)  # ([B, V], [B, K, M])


@nnx.jit
def attention_of(model, split: Questions):
    """(guesses [N], attention [N, K, M]) of an attending model on a whole split."""
    logits, attention = over_split(_read, model, split)
    return jnp.argmax(logits, axis=-1), attention


def support_hits(attention: np.ndarray, support: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per hop, the share of questions whose most attended slot is a supporting fact [K];
    the share whose supporting facts are each the most attended slot of some hop)."""
    top = attention.argmax(axis=-1)  # [N, K]
    is_fact = (top[:, :, None] == support[:, None, :]) & (support[:, None, :] >= 0)  # [N, K, S]
    per_hop = is_fact.any(axis=2).mean(axis=0)
    read = is_fact.any(axis=1) | (support < 0)  # [N, S]: each fact read by some hop (no fact: nothing to read)
    return per_hop, read.all(axis=1).mean()


def shown_rows(memories: np.ndarray) -> np.ndarray:
    """The questions the picture shows: SHOWN_QUESTIONS spread evenly over those with at
    least SHOWN_MIN_STATEMENTS statements in memory (else the first ones)."""
    real = (memories[:, :, 0] != PAD).sum(axis=1)  # [N] statements in each memory
    eligible = np.flatnonzero(real >= SHOWN_MIN_STATEMENTS)
    if len(eligible) < SHOWN_QUESTIONS:
        return np.arange(min(SHOWN_QUESTIONS, len(real)))
    return eligible[np.linspace(0, len(eligible) - 1, SHOWN_QUESTIONS).astype(int)]


def asked_story(text: str, vocabulary: Vocabulary, memory: int) -> Questions:
    """A story and a question of one's own ("Mary went to the kitchen. Where is Mary?") as
    a split of one question: sentences end at . ? or !, and the last one is the question."""
    sentences = [words_of(s) for s in SENTENCE_END.split(text.strip()) if words_of(s)]
    if not text.strip().endswith("?") or not sentences:
        raise ConfigError('give a story and a question that ends it, e.g. "Mary went to the kitchen. Where is Mary?"')
    statements, question = sentences[:-1], sentences[-1]
    if len(statements) > MAX_ASKED_STATEMENTS or max(map(len, sentences)) > MAX_SENTENCE_WORDS:
        raise ConfigError(f"give at most {MAX_ASKED_STATEMENTS} statements of at most {MAX_SENTENCE_WORDS} words each")
    story = Story(tuple(statements), (Question(question, "", len(statements), ()),))
    shape = (max(1, min(memory, len(statements))), max(map(len, sentences)), len(question), 1)
    return encode([story], vocabulary, shape)


def asked_question(query: Query, test: Questions, memory: int) -> tuple[Questions, str | None]:
    """The question `dlrun predict` asks, as a split of one, and a note: test question
    `query.index` (its answer), or the story of `query.text` (its unknown words)."""
    if query.index is None:
        asked = asked_story(query.text or "", test.vocabulary, memory)
        unknown = sorted({w for w in words_of(query.text or "") if w not in test.vocabulary.index})
        return asked, f"not in the training vocabulary, read as <unk>: {', '.join(unknown)}" if unknown else None
    if not 0 <= query.index < len(test.answer):
        raise ConfigError(f"--index must be in [0, {len(test.answer) - 1}], got {query.index}")
    answer = test.vocabulary.words[int(test.answer[query.index])]
    return select(test, np.array([query.index])), f"its answer: {answer}"


@nnx.jit
def answer_probabilities(model, memories, question):
    return jax.nn.softmax(model(memories, question))  # [B, V]


def hop_reads(model, asked: Questions) -> str:
    """Which statement each hop of an attending model read most, and with what weight."""
    _, attention = attention_of(model, asked)  # [1, K, M]
    lines = []
    for k, weights in enumerate(np.asarray(attention)[0]):
        slot = int(weights.argmax())
        said = " ".join(asked.vocabulary.words[i] for i in np.asarray(asked.memories)[0, slot] if i != PAD)
        lines.append(f"hop {k + 1} read {said!r} ({weights[slot]:.2f})")
    return "; ".join(lines)


# --------------------------------------------------------------------------- the task


class BabiQuestionAnswering(Task):
    """A story's statements and a question -> the answer word, on bAbI task `babi_task`."""

    name = "babi-qa"
    columns = (
        ("test_accuracy", "test acc"),
        ("train_accuracy", "train acc"),
        ("test_loss", "test loss"),
        ("facts_read", "facts read"),
    )

    def __init__(self, babi_task: int):
        if babi_task not in TASKS:
            raise ConfigError(f"bAbI task {babi_task} is not read by dlrun (tasks {', '.join(map(str, TASKS))})")
        self.babi_task = babi_task

    def load(self, exp, data_dir: Path | None) -> tuple[BabiData, DataInfo]:
        """Tasks 1 and 2 together (one load serves every variant of a compare, whatever its task)."""
        data = load_babi(data_dir)
        task = data.tasks[self.babi_task]
        info = DataInfo(data.source, data.sha256, data.notice, count_questions(task.test), count_questions(task.train))
        return data, info

    def train_rows(self, exp, data: BabiData) -> int:
        if exp.early_stopping or exp.dropout or exp.test_noise:
            raise ConfigError(f"{exp.name}: the {self.name} task has no early stopping, dropout or test noise")
        return min(exp.train_size, count_questions(data.tasks[self.babi_task].train))

    def place(self, exp, data: BabiData) -> TaskData:
        """The first `exp.train_size` questions of a fixed shuffle of the training questions,
        and every test question; the vocabulary comes from the training stories."""
        self.train_rows(exp, data)
        task = data.tasks[self.babi_task]
        vocabulary = build_vocabulary(task.train, exp.model.vocab_size)
        shape = array_shape(task.train + task.test, exp.model.memory)
        train = encode(task.train, vocabulary, shape)
        train = select(train, training_subset(len(train.answer), exp.train_size))
        empty = select(train, np.arange(0))  # no early stopping
        return TaskData(train, encode(task.test, vocabulary, shape), empty)

    def loss(self, exp, model, batch: Questions, hyper, key):
        logits = model(batch.memories, batch.question, train=True)  # [B, V]
        return exp.loss(logits, batch.answer), {"accuracy": accuracy(logits, batch.answer)}

    def evaluate(self, exp, model, split: Questions):
        logits = over_split(_logits, model, split)  # [N, V]
        return {"loss": exp.loss(logits, split.answer), "accuracy": accuracy(logits, split.answer)}

    def host_metrics(self, exp, model, data: TaskData) -> dict[str, float]:
        """Where an attending model looked on the test split (none for the LSTM)."""
        if not hasattr(model, "read"):
            return {}
        _, attention = attention_of(model, data.eval)
        per_hop, read = support_hits(np.asarray(attention), np.asarray(data.eval.support))
        return {"facts_read": float(read)} | {f"hop{k + 1}_on_fact": float(v) for k, v in enumerate(per_hop)}

    def pictures(self, exp, model, data: TaskData, out_dir: Path) -> list[Path]:
        """The attention of each hop over the story, for a few test questions."""
        if not hasattr(model, "read"):
            return []
        split: Questions = data.eval
        shown = select(split, shown_rows(np.asarray(split.memories)))
        guesses, attention = (np.asarray(a) for a in attention_of(model, shown))
        panels = [pictures.panel(shown, i, int(guesses[i]), attention[i]) for i in range(len(guesses))]
        title = f"{exp.name}: attention of each hop over the story (bAbI task {self.babi_task})"
        return [pictures.save_attention(panels, out_dir / f"{exp.name}-attention.png", title)]

    def predict(self, exp, models, load, query: Query) -> Prediction:
        """The answer to test question `query.index`, or to a story and question of one's
        own: the likeliest words with their probability averaged over the seeds' models;
        a memory network also says which statement each hop read (its first seed)."""
        asked, note = asked_question(query, self.place(exp, load()).eval, exp.model.memory)
        words = asked.vocabulary.words
        probabilities = np.mean(
            [np.asarray(answer_probabilities(m, asked.memories, asked.question))[0] for m in models], axis=0
        )[: len(words)]  # rows beyond the vocabulary are never trained
        rows = [
            {"answer": words[i], "probability": float(probabilities[i])}
            for i in np.argsort(-probabilities)[:SHOWN_ANSWERS]
        ]
        if hasattr(models[0], "read"):
            note = "; ".join(filter(None, [note, hop_reads(models[0], asked)]))
        question = " ".join(words[i] for i in np.asarray(asked.question)[0] if i != PAD)
        statements = int(np.sum(np.asarray(asked.memories)[0, :, 0] != PAD))
        return Prediction(f"{question}? ({statements} statements)", rows, note)
