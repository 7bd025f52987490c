"""The memory network on bAbI: parsing the numbered-line format (story resets, supporting
facts), clear errors for bad files, the tarball and folder layouts, the arrays a question
becomes, position encoding against hand-computed values, attention that sums to 1 over the
story and gives padding nothing, the linear start, the LSTM's reading order, and learning
on generated stories (end to end through the CLI, with the attention picture). The real
files are used only by the test that names them (skipped when absent)."""

import json
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from typer.testing import CliRunner

from dlrun.cli import app
from dlrun.core import registry
from dlrun.core.config import resolved
from dlrun.core.task import Query
from dlrun.data import babi
from dlrun.data.babi import Question, Story, load_babi, parse_babi
from dlrun.errors import ConfigError, DataError
from dlrun.families.memory import task as memory_task
from dlrun.families.memory.config import LSTMReaderConfig, MemoryNetworkConfig
from dlrun.families.memory.models import (
    masked_softmax,
    position_bags,
    position_encoding,
    sentence_vectors,
    story_then_question,
)
from helpers import train_one, write_tarball

REAL_BABI = Path(__file__).resolve().parents[2] / "shared" / "data" / "babi" / "en-10k"


@pytest.fixture(autouse=True)
def _no_shared_babi(monkeypatch):
    """Every test sees only the files it builds, unless it names the real ones itself."""
    monkeypatch.setenv("DLRUN_NO_BABI", "1")


TWO_STORIES = """1 Mary moved to the bathroom.
2 John went to the hallway.
3 Where is Mary? \tbathroom\t1
4 Daniel went back to the hallway.
5 Mary got the football there.
6 Where is the football? \tbathroom\t5 1
1 Sandra journeyed to the garden.
2 Where is Sandra? \tgarden\t1
"""


# --------------------------------------------------------------------------- parsing


def test_stories_reset_at_line_one_and_facts_point_at_statements():
    first, second = parse_babi(TWO_STORIES, "qa.txt")
    assert first.statements == (
        ("mary", "moved", "to", "the", "bathroom"),
        ("john", "went", "to", "the", "hallway"),
        ("daniel", "went", "back", "to", "the", "hallway"),
        ("mary", "got", "the", "football", "there"),
    )
    # Line 5 is the fourth statement (line 3 is a question): its index is 3.
    assert first.questions == (
        Question(("where", "is", "mary"), "bathroom", 2, (0,)),
        Question(("where", "is", "the", "football"), "bathroom", 4, (3, 0)),
    )
    assert second == Story(
        (("sandra", "journeyed", "to", "the", "garden"),), (Question(("where", "is", "sandra"), "garden", 1, (0,)),)
    )


def test_generated_stories_parse_back_with_consistent_facts():
    data = babi.generated_babi(train=100, test=20)
    for number in (1, 2):
        task = data.tasks[number]
        assert babi.count_questions(task.train) == 100 and babi.count_questions(task.test) == 20
        for story in task.train:
            for q in story.questions:
                assert len(q.supporting) == number and all(0 <= i < q.seen for i in q.supporting)
                assert q.answer in story.statements[q.supporting[-1] if number == 1 else q.supporting[1]]
    assert babi.generated_babi(train=100, test=20).sha256 == data.sha256  # fixed by its seed
    assert "generated" in data.source and "generated" in data.notice


@pytest.mark.parametrize(
    "line, problem",
    [
        ("x Mary moved.", "a line starts with its id"),
        ("\u00b2 Mary moved.", "a line starts with its id"),  # a digit to str.isdigit, not to int()
        ("7 Mary moved.", "line id 7 after 2; ids count up by one"),
        ("3 Where is Mary? \tbathroom", "found 1 tab"),
        ("3 Where is Mary? \tthe bathroom\t1", "the answer must be one word"),
        ("3 Where is Mary? \tbathroom\tone", "the supporting facts must be line ids"),
        ("3 Where is Mary? \tbathroom\t", "the supporting facts must be line ids"),
        ("3 Where is Mary? \tbathroom\t\u00b9", "the supporting facts must be line ids"),
        ("3 Where is Mary? \tbathroom\t4", "supporting fact 4 is not an earlier statement"),
        ("3 ...", "no words in"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, line, problem):
    path = tmp_path / "qa1_single-supporting-fact_train.txt"
    path.write_text(f"1 Mary moved to the bathroom.\n2 John went to the hallway.\n{line}\n")
    with pytest.raises(DataError, match=rf"^{path}, line 3: ") as caught:
        parse_babi(path.read_text(), str(path))
    assert problem in str(caught.value) and "\n" not in str(caught.value)


def test_a_question_cannot_point_at_another_question_and_a_file_starts_at_id_1():
    text = "1 Mary moved to the bathroom.\n2 Where is Mary? \tbathroom\t1\n3 Where is Mary? \tbathroom\t2\n"
    with pytest.raises(DataError, match=r"^f, line 3: supporting fact 2 is not an earlier statement"):
        parse_babi(text, "f")
    with pytest.raises(DataError, match=r"^f, line 2: line id 4 first; ids count up by one from 1"):
        parse_babi("\n4 Mary moved to the bathroom.\n", "f")


def test_files_without_questions_or_over_the_bounds_are_refused(tmp_path, monkeypatch):
    with pytest.raises(DataError, match=r"^f: no questions"):
        parse_babi("1 Mary moved to the bathroom.\n", "f")
    with pytest.raises(DataError, match=r"^f, line 1: 1,201 characters, over dlrun's limit of 1,000"):
        parse_babi("1 " + "a" * 1_199 + "\n", "f")
    folder = _write_folder(tmp_path / "en-10k")
    monkeypatch.setattr(babi, "MAX_FILE_MB", 1e-5)  # 10 bytes
    with pytest.raises(DataError, match=r"bytes, over dlrun's limit of 1e-05 MB for a bAbI task file"):
        babi.read_babi(folder)


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    folder = _write_folder(tmp_path / "en-10k")
    (folder / "qa2_two-supporting-facts_test.txt").write_bytes(b"1 Mary \xff moved.\n")
    with pytest.raises(DataError, match=r"qa2_two-supporting-facts_test.txt: not UTF-8 text \(byte 7\)"):
        babi.read_babi(folder)


# --------------------------------------------------------------------------- layouts and the chain


def _task_files() -> dict[str, str]:
    """The four files dlrun reads, small: generated tasks 1 and 2."""
    return {
        f"qa{n}_{babi.TASKS[n]}_{split}.txt": babi.generated_text(n, size, seed)
        for n in babi.TASKS
        for split, size, seed in (("train", 40, 0), ("test", 10, 1))
    }


def _write_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, text in _task_files().items():
        (folder / name).write_text(text)
    return folder


def test_the_standard_layout_and_an_en10k_folder_read_the_same(tmp_path):
    _write_folder(tmp_path / "a" / "tasks_1-20_v1-2" / "en-10k")
    _write_folder(tmp_path / "b" / "en-10k")
    standard, folder = load_babi(tmp_path / "a"), load_babi(tmp_path / "b")
    assert standard.tasks == folder.tasks and standard.sha256 == folder.sha256 and standard.notice is None
    assert str(tmp_path / "a" / "tasks_1-20_v1-2" / "en-10k") in standard.source
    assert babi.count_questions(standard.tasks[2].train) == 40


def test_the_tarball_is_read_in_memory_and_only_its_en10k_members(tmp_path):
    files = _task_files()
    members = {f"tasks_1-20_v1-2/en/{name}": b"1 Not the 10k version.\n" for name in files}  # the 1k files first
    members |= {f"tasks_1-20_v1-2/en-10k/{name}": text.encode() for name, text in files.items()}
    write_tarball(tmp_path / "tasks_1-20_v1-2.tar.gz", members)
    _write_folder(tmp_path / "copy" / "en-10k")
    before = sorted(p.name for p in tmp_path.iterdir())
    from_tarball = load_babi(tmp_path)
    assert from_tarball.tasks == load_babi(tmp_path / "copy").tasks
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing extracted


def test_a_tarball_without_a_task_file_or_not_a_tarball_is_refused(tmp_path):
    files = {f"tasks_1-20_v1-2/en-10k/{n}": t.encode() for n, t in _task_files().items() if "qa2" not in n}
    write_tarball(tmp_path / "tasks_1-20_v1-2.tar.gz", files)
    with pytest.raises(DataError, match=r"no en-10k/qa2_\*_train.txt inside \(bAbI task 2, train split\)"):
        load_babi(tmp_path)
    (tmp_path / "tasks_1-20_v1-2.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(DataError, match=r"tasks_1-20_v1-2.tar.gz: not a readable .tar.gz archive"):
        load_babi(tmp_path)


def test_tarballs_over_the_bounds_are_refused_before_reading(tmp_path, monkeypatch):
    write_tarball(
        tmp_path / "tasks_1-20_v1-2.tar.gz",
        {f"tasks_1-20_v1-2/en-10k/{name}": text.encode() for name, text in _task_files().items()},
    )
    monkeypatch.setattr(babi, "MAX_ARCHIVE_MEMBERS", 2)
    with pytest.raises(DataError, match="more than 2 members, over dlrun's limit for a bAbI archive"):
        load_babi(tmp_path)
    monkeypatch.setattr(babi, "MAX_FILE_MB", 1e-4)  # 100 bytes: every task file is larger
    with pytest.raises(DataError, match=r"en-10k/qa1_single-supporting-fact_train.txt is [0-9,]+ bytes, over dlrun's"):
        load_babi(tmp_path)
    monkeypatch.setattr(babi, "MAX_ARCHIVE_MB", 1e-4)
    with pytest.raises(DataError, match="bytes, over dlrun's limit of 0.0001 MB for a bAbI archive"):
        load_babi(tmp_path)


def test_a_named_folder_must_hold_every_file(tmp_path):
    with pytest.raises(DataError, match=rf"^no bAbI en-10k tasks in {tmp_path}: looked for"):
        load_babi(tmp_path)
    folder = _write_folder(tmp_path / "en-10k")
    (folder / "qa1_single-supporting-fact_test.txt").unlink()
    with pytest.raises(DataError, match=r"en-10k: no qa1_\*_test.txt \(bAbI task 1, test split\)"):
        load_babi(tmp_path)


def test_without_files_the_generated_stories_are_used_and_said():
    data = load_babi()
    assert "generated" in data.source and "generated" in data.notice
    assert [babi.count_questions(data.tasks[n].train) for n in (1, 2)] == [10_000, 10_000]


@pytest.mark.skipif(not REAL_BABI.is_dir(), reason="no bAbI en-10k in ../shared/data/babi")
def test_real_tasks(monkeypatch):
    monkeypatch.delenv("DLRUN_NO_BABI")
    data = load_babi()
    assert data.notice is None
    for number in (1, 2):
        task = data.tasks[number]
        assert (babi.count_questions(task.train), babi.count_questions(task.test)) == (10_000, 1_000)
    first = data.tasks[2].train[0]
    assert first.questions[0] == Question(("where", "is", "the", "football"), "garden", 6, (2, 5))
    assert max(q.seen for s in data.tasks[2].test for q in s.questions) == 88


# --------------------------------------------------------------------------- the arrays


def test_a_question_becomes_its_most_recent_statements_first():
    [story, _] = parse_babi(TWO_STORIES, "qa.txt")
    vocabulary = memory_task.build_vocabulary([story], 48)
    ids = vocabulary.index
    split = memory_task.encode([story], vocabulary, (3, 6, 4, 2))  # a memory of 3 slots
    # The football question: 4 statements before it, the 3 most recent kept, newest first.
    np.testing.assert_array_equal(
        split.memories[1, :, :2],
        [[ids["mary"], ids["got"]], [ids["daniel"], ids["went"]], [ids["john"], ids["went"]]],
    )
    np.testing.assert_array_equal(split.support[1], [0, -1])  # statement 3 is slot 0; statement 0 fell out
    np.testing.assert_array_equal(split.support[0], [1, -1])
    assert split.memories[0, 2].tolist() == [0] * 6  # 2 statements: the third slot is empty
    assert split.answer.tolist() == [ids["bathroom"]] * 2
    unseen = memory_task.encode(
        parse_babi("1 Zed moved to the attic.\n2 Where is Zed? \tattic\t1\n", "t"), vocabulary, (3, 6, 4, 2)
    )
    assert unseen.answer.tolist() == [memory_task.UNK] and unseen.memories[0, 0, 0] == memory_task.UNK


def test_arrays_over_the_bound_are_refused(monkeypatch):
    stories = parse_babi(TWO_STORIES, "qa.txt")
    assert memory_task.array_shape(stories, 50) == (4, 6, 4, 2)  # 4 statements before the football question
    monkeypatch.setattr(memory_task, "MAX_MEMORY_WORDS", 71)  # 3 questions x 4 slots x 6 words = 72
    with pytest.raises(DataError, match="3 questions with 4 statements of 6 words in memory make 72 word slots"):
        memory_task.array_shape(stories, 50)


def test_a_vocabulary_larger_than_the_model_is_refused():
    stories = parse_babi(TWO_STORIES, "qa.txt")
    # 18 distinct words in the two stories (answers included), with <pad> and <unk> 20.
    with pytest.raises(DataError, match="20 words \\(with <pad> and <unk>\\), over the model's room for 10"):
        memory_task.build_vocabulary(stories, 10)


def test_support_hits_on_a_hand_example():
    attention = np.zeros((3, 2, 4))
    attention[0, 0, 1] = attention[0, 1, 2] = 1.0  # reads both of its facts (1, 2)
    attention[1, 0, 1] = attention[1, 1, 1] = 1.0  # reads one of its facts (1, 3) twice
    attention[2, 0, 0] = attention[2, 1, 3] = 1.0  # its one fact (3), on hop 2
    support = np.array([[1, 2], [1, 3], [3, -1]])
    per_hop, read = memory_task.support_hits(attention, support)
    np.testing.assert_allclose(per_hop, [2 / 3, 1.0])  # hop 1 misses the third question's fact
    assert read == pytest.approx(2 / 3)


# --------------------------------------------------------------------------- the models


def test_position_encoding_against_hand_values():
    # J = 4 words, d = 2: l_kj = (1 - j/4) - (k/2)(1 - 2j/4).
    weights = np.asarray(position_encoding(jnp.array([4, 2]), 4, 2))
    np.testing.assert_allclose(weights[0], [[0.5, 0.25], [0.5, 0.5], [0.5, 0.75], [0.5, 1.0]])
    # J = 2: j = 1 gives (1/2) - (k/2) * 0 = 0.5 for both k; j = 2 gives 0 - (k/2)(-1) = k/2; padding 0.
    np.testing.assert_allclose(weights[1], [[0.5, 0.5], [0.5, 1.0], [0.0, 0.0], [0.0, 0.0]])


def test_sentence_vectors_are_the_position_weighted_sums():
    tables = jax.random.normal(jax.random.key(0), (2, 10, 4))
    words = jnp.array([[5, 3, 7, 0, 0], [2, 0, 0, 0, 0]])
    vectors = sentence_vectors(tables, position_bags(words, 10))  # [2, tables, d]
    weights = position_encoding(jnp.array([3, 1]), 5, 4)
    for t in range(2):
        expected = jnp.sum(tables[t][words] * weights, axis=1)
        np.testing.assert_allclose(vectors[:, t], expected, atol=1e-6)
    # One word (J = 1): l_k1 = (1 - 1) - (k/d)(1 - 2) = k/d.
    np.testing.assert_allclose(vectors[1, 0], jnp.arange(1, 5) / 4 * tables[0, 2], atol=1e-6)


def test_masked_softmax_sums_to_one_over_real_entries_and_survives_an_empty_row():
    scores = jnp.array([[1.0, 2.0, 50.0], [3.0, 100.0, -100.0], [1.0, 1.0, 1.0]])
    real = jnp.array([[True, True, False], [True, False, False], [False, False, False]])
    p = np.asarray(masked_softmax(scores, real))
    np.testing.assert_allclose(p[0], [1 / (1 + np.e), np.e / (1 + np.e), 0.0], rtol=1e-6)
    np.testing.assert_array_equal(p[1:], [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    grad = jax.grad(lambda s: jnp.sum(masked_softmax(s, real) * jnp.arange(3.0)))(scores)
    assert np.all(np.isfinite(np.asarray(grad)))


@nnx.jit
def _read(model, memories, question):
    """One compiled program per shape: op by op, the model would compile each of its operations."""
    return model.read(memories, question)


def _questions(n_slots: int):
    """Two questions with 3 and 1 statements, in memories of `n_slots` slots."""
    memories = np.zeros((2, n_slots, 4), np.int32)
    memories[0, :3] = [[5, 6, 7, 0], [8, 6, 9, 2], [5, 6, 3, 0]]
    memories[1, 0] = [8, 6, 4, 0]
    return jnp.asarray(memories), jnp.array([[10, 11, 5], [10, 11, 8]])


@pytest.mark.parametrize("hops", [1, 3])
def test_attention_sums_to_one_over_the_story_and_ignores_padding(hops):
    model = MemoryNetworkConfig(hops=hops, embed=8, memory=6, vocab_size=16).build(nnx.Rngs(params=0))
    logits, attention = _read(model, *_questions(4))
    assert attention.shape == (2, hops, 4)
    np.testing.assert_allclose(attention.sum(axis=-1), 1.0, rtol=1e-6)
    assert np.all(np.asarray(attention[0, :, 3]) == 0.0) and np.all(np.asarray(attention[1, :, 1:]) == 0.0)
    assert np.all(np.asarray(attention[0, :, :3]) > 0.0)
    # More empty slots change nothing: padding is neither read nor attended.
    wider_logits, wider = _read(model, *_questions(6))
    np.testing.assert_allclose(wider_logits, logits, rtol=1e-5)
    np.testing.assert_allclose(wider[:, :, :4], attention, rtol=1e-5)


def test_the_linear_start_attends_without_softmax_until_its_updates_are_done():
    model = MemoryNetworkConfig(hops=1, embed=8, memory=6, linear_start=2, vocab_size=16).build(nnx.Rngs(params=0))
    memories, question = _questions(4)
    _, linear = _read(model, memories, question)
    assert not np.allclose(linear[0, 0, :3].sum(), 1.0) and np.all(np.asarray(linear[:, :, 3]) == 0.0)
    train = nnx.jit(lambda model, m, q: model(m, q, train=True))
    for _ in range(2):  # two training calls: the 2 updates of the linear start
        train(model, memories, question)
    assert int(model.updates[...]) == 2
    _, soft = _read(model, memories, question)
    np.testing.assert_allclose(soft.sum(axis=-1), 1.0, rtol=1e-6)
    # The same weights, only the clock moved: the softmax of the linear phase's scores.
    np.testing.assert_allclose(soft[0, 0, :3], jax.nn.softmax(linear[0, 0, :3]), rtol=1e-5)


def test_the_lstm_reads_the_story_oldest_first_then_the_question():
    memories, question = _questions(3)
    tokens, lengths = story_then_question(memories, question)
    # Slots are newest first: slot 2 is read first; padding goes to the end.
    assert tokens[0].tolist() == [5, 6, 3, 8, 6, 9, 2, 5, 6, 7, 10, 11, 5, 0, 0]
    assert tokens[1].tolist() == [8, 6, 4, 10, 11, 8] + [0] * 9
    assert lengths.tolist() == [13, 6]
    model = LSTMReaderConfig(embed=8, hidden=8, vocab_size=16).build(nnx.Rngs(params=0))
    answer = nnx.jit(lambda model, m, q: model(m, q))
    np.testing.assert_allclose(
        answer(model, *_questions(3)), answer(model, *_questions(5)), rtol=1e-5
    )  # padding is never read


# --------------------------------------------------------------------------- asking a question


def test_a_story_of_ones_own_is_asked_newest_statement_first():
    vocabulary = memory_task.build_vocabulary(parse_babi(TWO_STORIES, "qa.txt"), 48)
    ids = vocabulary.index
    asked = memory_task.asked_story(
        "Mary moved to the bathroom. John went to the hallway.  Where is Mary?", vocabulary, 50
    )
    assert asked.memories.shape == (1, 2, 5)
    assert asked.memories[0, 0].tolist() == [ids[w] for w in ("john", "went", "to", "the", "hallway")]
    assert asked.question[0].tolist() == [ids["where"], ids["is"], ids["mary"]]
    with pytest.raises(ConfigError, match="give a story and a question that ends it"):
        memory_task.asked_story("Mary moved to the bathroom.", vocabulary, 50)


def test_predict_answers_and_says_what_each_hop_read():
    exp = resolved(registry.get_experiment("babi1-memnet-3hop"))
    model = exp.model.build(nnx.Rngs(params=0))
    data = babi.generated_babi(train=50, test=10)
    story = "Mary went to the kitchen. Zed went to the moon. Where is Mary?"
    prediction = exp.task.predict(exp, [model, model], lambda: data, Query(story, None))
    assert prediction.asked == "where is mary? (2 statements)"
    probabilities = [row["probability"] for row in prediction.rows]
    assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
    assert 0 < sum(probabilities) <= 1
    assert "read as <unk>: moon, zed" in prediction.note and prediction.note.count("hop ") == 3
    assert exp.task.predict(exp, [model], lambda: data, Query(None, 3)).note.startswith("its answer: ")
    with pytest.raises(ConfigError, match=r"--index must be in \[0, 9\]"):
        exp.task.predict(exp, [model], lambda: data, Query(None, 10))
    with pytest.raises(ConfigError, match="bAbI task 3 is not read by dlrun"):
        memory_task.BabiQuestionAnswering(3)


# --------------------------------------------------------------------------- learning


def test_cli_learns_generated_task_1_and_draws_the_attention(tmp_path):
    """One supporting fact on generated stories: one hop answers far above chance (1 in 6
    rooms) after 5 short epochs, its hop reads the fact, and the run leaves the picture.
    The linear start is off: 5 epochs of 2,000 questions are fewer updates than it lasts."""
    args = ["train", "babi1-memnet-1hop", "--epochs", "5", "--train-size", "2000", "--lr", "0.01"]
    args += ["--set", "model.linear_start=0"]
    done = CliRunner().invoke(app, [*args, "--out", str(tmp_path), "--json"])
    assert done.exit_code == 0, done.output[-2000:]
    record = json.loads(done.stdout)
    assert "generated" in record["data"]["source"]
    [result] = record["results"]
    assert result["test_accuracy"] > 0.9 and result["hop1_on_fact"] > 0.9, result
    picture = f"{result['variant']}-attention.png"  # the variant is named with its --set
    assert [Path(p).name for p in result["pictures"]] == [picture]
    assert (Path(record["run_dir"]) / picture).stat().st_size > 10_000


@pytest.mark.slow
def test_three_hops_learn_generated_task_2():
    """Two supporting facts on generated stories: 3 hops with the linear start answer far
    above chance and read both facts; 1 hop, which can read only one, stays far below."""
    three = resolved(registry.get_experiment("babi2-memnet-3hop"))
    three = replace(three, train_size=3_000, epochs=15, model=replace(three.model, linear_start=300))
    one = replace(three, name="one-hop", model=replace(three.model, hops=1))
    data, info = three.task.load(three, None)
    assert "generated" in info.source
    results = {exp.name: train_one(exp, data, [0]).final for exp in (three, one)}
    assert results[three.name]["test_accuracy"][0] > 0.75, results
    assert results[three.name]["facts_read"][0] > 0.6, results
    assert results[three.name]["test_accuracy"][0] > results["one-hop"]["test_accuracy"][0] + 0.2, results
