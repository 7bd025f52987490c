"""Word vectors (word2vec): reading questions-words.txt, the 3CosAdd scorer on hand-made
vectors, the negative-sampling loss against hand computations, subsampling and the noise
table, windows, the corpus readers (text8, Reuters bodies) and their errors, learning on a
generated corpus with planted structure, and the CLI. The real files are used only by the
tests that name them (skipped when absent)."""

import json
import math
import zipfile
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
from dlrun.core.compiler import Compiler
from dlrun.core.config import Optimizer, resolved
from dlrun.core.trainer import train_cohort
from dlrun.data import analogies as analogies_module
from dlrun.data import text8 as text8_module
from dlrun.data.analogies import builtin_questions, load_analogies, parse_questions, read_questions
from dlrun.data.text8 import body_words, build_corpus, load_corpus, read_text8, text8_corpus
from dlrun.errors import DataError
from dlrun.families.wordvectors import task as wv
from dlrun.families.wordvectors.config import Architecture, Word2VecConfig
from dlrun.families.wordvectors.pictures import pca_2d
from helpers import write_tarball

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_QUESTIONS = SHARED / "word2vec" / "questions-words.txt"
REAL_REUTERS = SHARED / "reuters21578" / "reuters21578.tar.gz"


@pytest.fixture(autouse=True)
def _no_shared_data(monkeypatch):
    """Every test sees only the files it builds, unless it names the real ones itself."""
    monkeypatch.setenv("DLRUN_NO_REUTERS", "1")
    monkeypatch.setenv("DLRUN_NO_ANALOGIES", "1")


def get_experiment(name: str):
    return resolved(registry.get_experiment(name))


# --------------------------------------------------------------------------- questions-words.txt

QUESTIONS_TEXT = """: capital-common-countries
Athens Greece Berlin Germany
Berlin Germany Athens Greece

: gram3-comparative
good better bad worse
: family
king queen man woman
"""


def test_questions_are_parsed_by_section_and_lowercased():
    sections, questions, section = parse_questions(QUESTIONS_TEXT, "q.txt")
    assert sections == ("capital-common-countries", "gram3-comparative", "family")
    assert questions == [
        ("athens", "greece", "berlin", "germany"),
        ("berlin", "germany", "athens", "greece"),
        ("good", "better", "bad", "worse"),
        ("king", "queen", "man", "woman"),
    ]
    assert section == [0, 0, 1, 2]
    assert [analogies_module.is_semantic(s) for s in sections] == [True, False, True]


@pytest.mark.parametrize(
    "text, line, what",
    [
        (": family\nking queen man\n", 2, "four words"),
        (": family\nking queen man woman\nboy girl son daughter extra\n", 3, "four words"),
        ("king queen man woman\n", 1, "before the first"),
        (": family\n:\n", 2, "section line"),
    ],
)
def test_a_malformed_line_names_the_file_and_the_line(tmp_path, text, line, what):
    path = tmp_path / "questions-words.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=rf"{path}, line {line}: .*{what}"):
        read_questions(path)


def test_files_without_questions_or_not_text_are_refused(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text(": family\n\n")
    with pytest.raises(DataError, match="no analogy questions"):
        read_questions(empty)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b": family\n\xff\xfe\x00\n")
    with pytest.raises(DataError, match=r"line 2: not UTF-8"):
        read_questions(binary)


def test_question_file_size_is_bounded(tmp_path, monkeypatch):
    path = tmp_path / "questions-words.txt"
    path.write_text(QUESTIONS_TEXT * 100)
    monkeypatch.setattr(analogies_module, "MAX_FILE_MB", 0.001)
    with pytest.raises(DataError, match="over dlrun's limit"):
        read_questions(path)


def test_question_chain_data_dir_then_word2vec_folder_then_builtin(tmp_path, monkeypatch):
    (tmp_path / "word2vec").mkdir()
    (tmp_path / "word2vec" / "questions-words.txt").write_text(": family\nking queen man woman\n")
    found = load_analogies(tmp_path)
    assert found.questions == (("king", "queen", "man", "woman"),) and found.notice is None
    (tmp_path / "questions-words.txt").write_text(QUESTIONS_TEXT)
    assert len(load_analogies(tmp_path).questions) == 4
    monkeypatch.setenv("DLRUN_DATA_DIR", str(tmp_path))
    assert len(load_analogies().questions) == 4
    monkeypatch.delenv("DLRUN_DATA_DIR")
    fallback = load_analogies(tmp_path / "elsewhere")
    assert fallback.source == "dlrun's built-in list" and "built-in" in fallback.notice


def test_builtin_questions_are_every_ordered_pair_of_pairs():
    builtin = builtin_questions()
    expected = sum(len(p) * (len(p) - 1) for p in analogies_module.BUILTIN_PAIRS.values())
    assert len(builtin.questions) == expected == len(builtin.section)
    assert ("rome", "italy", "berlin", "germany") in builtin.questions
    assert ("hot", "hotter", "big", "bigger") in builtin.questions
    assert all(q[0] != q[2] for q in builtin.questions)


# --------------------------------------------------------------------------- 3CosAdd

WORDS = ("man", "woman", "king", "queen", "apple", "pear")
# Hand-made vectors: a "royal" axis, a "female" axis, a fruit axis; queen = king - man + woman.
VECTORS = np.array(
    [
        [1.0, 0.0, 0.0, 0.2],  # man
        [1.0, 1.0, 0.0, 0.2],  # woman
        [1.0, 0.0, 1.0, 0.2],  # king
        [1.0, 1.0, 1.0, 0.2],  # queen
        [0.0, 0.0, 0.0, 1.0],  # apple
        [0.0, 0.1, 0.0, 1.0],  # pear
    ],
    np.float32,
)


def analogies_of(questions, sections=("family", "gram-fruit")) -> analogies_module.Analogies:
    return analogies_module.Analogies(
        sections, tuple(q for q, _ in questions), tuple(s for _, s in questions), "test", "0", None
    )


def test_3cosadd_finds_the_planted_answer():
    unit = wv.unit_rows(VECTORS)
    [answer] = wv.answer_analogies(unit, np.array([[0, 1, 2]]))  # man : woman = king : ?
    assert WORDS[answer] == "queen"


def test_3cosadd_excludes_the_three_question_words():
    # apple : pear = king : ?  b - a + c is nearest to king itself, which may not be the answer.
    unit = wv.unit_rows(VECTORS)
    target = unit[5] - unit[4] + unit[2]
    assert int(np.argmax(unit @ target)) == 2  # king, were it allowed
    [answer] = wv.answer_analogies(unit, np.array([[4, 5, 2]]))
    assert answer not in (4, 5, 2)
    assert WORDS[answer] == "queen"  # the next nearest: king plus a little of the female axis


def test_scores_by_section_with_coverage():
    questions = [
        (("man", "woman", "king", "queen"), 0),  # right
        (("woman", "man", "queen", "king"), 0),  # right
        (("man", "king", "woman", "queen"), 0),  # right
        (("apple", "pear", "man", "woman"), 1),  # answered: man + (pear - apple) is nearest to woman
        (("apple", "pear", "king", "banana"), 1),  # banana is not in the vocabulary: not asked
    ]
    metrics = wv.score_analogies(VECTORS, WORDS, analogies_of(questions))
    assert metrics["analogy_coverage"] == pytest.approx(4 / 5)
    assert metrics["analogy_answered"] == 4
    assert metrics["semantic_accuracy"] == 1.0 and metrics["analogy_family"] == 1.0
    assert metrics["syntactic_accuracy"] == metrics["analogy_gram-fruit"] == 1.0
    assert metrics["analogy_accuracy"] == 1.0


def test_a_wrong_answer_counts_against_its_section():
    questions = [(("man", "woman", "king", "pear"), 0), (("man", "woman", "king", "queen"), 1)]
    metrics = wv.score_analogies(VECTORS, WORDS, analogies_of(questions))
    assert metrics["semantic_accuracy"] == 0.0 and metrics["syntactic_accuracy"] == 1.0
    assert metrics["analogy_accuracy"] == 0.5


def test_no_answerable_question_gives_zero_accuracy_and_zero_coverage():
    metrics = wv.score_analogies(VECTORS, WORDS, analogies_of([(("a", "b", "c", "d"), 0)]))
    assert metrics["analogy_coverage"] == 0.0 and metrics["analogy_accuracy"] == 0.0


def test_nearest_words_and_capital_pairs():
    unit = wv.unit_rows(VECTORS)
    assert [w for w, _ in wv.nearest(unit, WORDS, "apple", 2)] == ["pear", "man"]
    assert wv.nearest(unit, WORDS, "banana", 3) == []
    questions = analogies_module.Analogies(
        ("capital-common-countries",),
        (("paris", "france", "rome", "italy"), ("rome", "italy", "oslo", "norway")),
        (0, 0),
        "test",
        "0",
        None,
    )
    assert wv.capital_pairs(questions, ("paris", "france", "rome", "italy", "oslo")) == [
        ("paris", "france"),
        ("rome", "italy"),
    ]


def test_pca_2d_keeps_the_main_direction():
    rng = np.random.default_rng(0)
    points = np.outer(np.linspace(-1, 1, 20), [3.0, 4.0, 0.0]) + 0.01 * rng.standard_normal((20, 3))
    xy = pca_2d(points)
    assert xy.shape == (20, 2)
    assert np.corrcoef(xy[:, 0], np.linspace(-1, 1, 20))[0, 1] > 0.99
    assert np.abs(xy[:, 1]).max() < 0.1


# --------------------------------------------------------------------------- the loss


def _log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_negative_sampling_loss_against_a_hand_computation():
    loss = wv.negative_sampling_loss(jnp.array([2.0]), jnp.array([[-1.0, 0.5]]))
    expected = -_log_sigmoid(2.0) - _log_sigmoid(1.0) - _log_sigmoid(-0.5)
    assert float(loss[0]) == pytest.approx(expected, rel=1e-6)
    masked = wv.negative_sampling_loss(jnp.array([2.0]), jnp.array([[-1.0, 0.5]]), jnp.array([[1.0, 0.0]]))
    assert float(masked[0]) == pytest.approx(-_log_sigmoid(2.0) - _log_sigmoid(1.0), rel=1e-6)
    assert float(wv.negative_sampling_loss(jnp.zeros(1), jnp.zeros((1, 5)))[0]) == pytest.approx(6 * math.log(2))


class _Tables(nnx.Module):
    def __init__(self, inputs, outputs):
        self.inputs = nnx.Param(jnp.asarray(inputs, jnp.float32))
        self.outputs = nnx.Param(jnp.asarray(outputs, jnp.float32))


IN = np.array([[0.5, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]])
OUT = np.array([[1.0, 0.0], [0.5, -0.5], [0.0, 2.0], [0.3, 0.3]])


def _exp(architecture: Architecture, negatives: int = 2):
    return replace(
        get_experiment("word2vec-skipgram"),
        model=Word2VecConfig(architecture=architecture, dim=2, window=1, negatives=negatives, vocab_size=4),
    )


def test_skip_gram_objective_against_a_hand_computation():
    """Center 0 with contexts 1 (valid) and 2 (invalid); every noise word is 3."""
    exp = _exp(Architecture.SKIP_GRAM)
    model, noise = _Tables(IN, OUT), jnp.full(8, 3, jnp.int32)
    loss = wv.objective(
        exp, model, jnp.array([0]), jnp.array([[1, 2]]), jnp.array([[True, False]]), noise, jax.random.key(0)
    )
    v = IN[0]
    expected = -_log_sigmoid(v @ OUT[1]) - 2 * _log_sigmoid(-(v @ OUT[3]))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_cbow_objective_against_a_hand_computation():
    """Center 3 predicted from the mean of contexts 0 and 1; noise words are 2."""
    exp = _exp(Architecture.CBOW)
    model, noise = _Tables(IN, OUT), jnp.full(8, 2, jnp.int32)
    loss = wv.objective(
        exp, model, jnp.array([3]), jnp.array([[0, 1]]), jnp.array([[True, True]]), noise, jax.random.key(0)
    )
    h = (IN[0] + IN[1]) / 2
    expected = -_log_sigmoid(h @ OUT[3]) - 2 * _log_sigmoid(-(h @ OUT[2]))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_a_noise_word_equal_to_the_true_word_counts_for_nothing():
    exp = _exp(Architecture.SKIP_GRAM, negatives=3)
    model, noise = _Tables(IN, OUT), jnp.full(8, 1, jnp.int32)  # every noise word is the context word
    loss = wv.objective(
        exp, model, jnp.array([0]), jnp.array([[1, 2]]), jnp.array([[True, False]]), noise, jax.random.key(1)
    )
    assert float(loss) == pytest.approx(-_log_sigmoid(IN[0] @ OUT[1]), rel=1e-5)


# --------------------------------------------------------------------------- corpus to stream


def test_keep_probability_is_word2vec_formula():
    counts = np.array([900, 90, 9, 1])
    keep = wv.keep_probability(counts, 1e-2)
    f = counts / 1000
    assert keep == pytest.approx(np.minimum(1, np.sqrt(0.01 / f) + 0.01 / f))
    assert keep[0] == pytest.approx(math.sqrt(0.01 / 0.9) + 0.01 / 0.9)  # 0.1165
    assert keep[2:].tolist() == [1.0, 1.0]
    assert wv.keep_probability(counts, 0.0).tolist() == [1.0] * 4


def test_noise_table_follows_the_unigram_to_the_three_quarters():
    table = wv.noise_table(np.array([16, 1]), size=9)  # weights 8 and 1
    assert np.bincount(table).tolist() == [8, 1]
    counts = np.array([1000, 300, 50, 5])
    big = wv.noise_table(counts, size=100_000)
    share = np.bincount(big, minlength=4) / len(big)
    expected = counts**0.75 / (counts**0.75).sum()
    assert share == pytest.approx(expected, abs=2e-5)
    assert big.dtype == np.int32 and big.max() == 3


def test_stream_drops_rare_words_and_caps_the_vocabulary(monkeypatch):
    monkeypatch.setattr(text8_module, "MIN_TOKENS", 1)
    corpus = build_corpus([["a", "b", "a", "c"], ["a", "b", "d"]], "test")
    config = Word2VecConfig(min_count=2, subsample=0.0)
    tokens, sentence, position, n_vocab = wv.stream(corpus, config)
    assert corpus.words[:2] == ("a", "b") and n_vocab == 2
    assert tokens.tolist() == [0, 1, 0, 0, 1] and sentence.tolist() == [0, 0, 0, 1, 1]
    assert position.tolist() == [0, 1, 2, 4, 5]
    *_, capped = wv.stream(corpus, replace(config, min_count=1, vocab_size=3))
    assert capped == 3
    with pytest.raises(DataError, match="occur at least 5 times"):
        wv.stream(corpus, replace(config, min_count=5))


def test_subsampling_keeps_each_word_with_its_probability_and_the_same_draw_every_time():
    sentences = [["the"] * 9 + [f"w{i}"] for i in range(2000)]  # "the" is 90% of the words
    corpus = build_corpus(sentences, "test")
    config = Word2VecConfig(min_count=1, subsample=0.01)
    tokens, _, position, n_vocab = wv.stream(corpus, config)
    keep_the = math.sqrt(0.01 / 0.9) + 0.01 / 0.9  # 0.1165; every w_i (f = 0.0005) stays
    assert np.count_nonzero(tokens == 0) == pytest.approx(18_000 * keep_the, rel=0.05)
    assert np.count_nonzero(tokens > 0) == 2000 and n_vocab == 2001
    again = wv.stream(corpus, config)
    assert np.array_equal(again[0], tokens) and np.array_equal(again[2], position)


def test_windows_stay_in_the_split_and_the_sentence():
    split = wv.Stream(
        np.array([10, 11, 12, 13, 14], np.int32),
        np.array([0, 0, 0, 1, 1], np.int32),
        np.zeros(4, np.int32),
        wv.window_offsets(2),
    )
    centers, contexts, valid = wv.windows(jax.tree.map(jnp.asarray, split), jnp.array([0, 2, 3]))
    assert centers.tolist() == [10, 12, 13]
    assert wv.window_offsets(2).tolist() == [-2, -1, 1, 2]
    assert valid.tolist() == [[False, False, True, True], [True, True, False, False], [False, False, True, False]]
    assert contexts[0, 2:].tolist() == [11, 12] and contexts[1, :2].tolist() == [10, 11]


def test_dynamic_window_keeps_between_one_and_all_context_words():
    mask = np.asarray(wv.dynamic_window(jax.random.key(0), 5, 4000))  # [B, 10]
    kept = mask.sum(axis=1)
    assert set(kept.tolist()) == {2, 4, 6, 8, 10}  # r words on each side, r in 1..5
    assert np.all(mask[:, 4] & mask[:, 5])  # the nearest words always count
    assert abs(kept.mean() - 6.0) < 0.2  # E[2r] = 6


# --------------------------------------------------------------------------- corpus files


def text8_bytes(n_words: int = 2500, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    vocab = ["the", "of", "and", "one", "zero", "anarchism", "word", "vector", "skip", "gram"]
    words = [vocab[i] for i in rng.zipf(1.6, n_words) % len(vocab)]
    return (" " + " ".join(words)).encode()  # text8 starts with a space


def test_text8_reader_on_a_generated_file(tmp_path):
    raw = text8_bytes()
    (tmp_path / "text8").write_bytes(raw)
    corpus = text8_corpus(tmp_path / "text8")
    assert corpus.num_tokens == 2500
    assert len(corpus.offsets) == 4 and corpus.offsets.tolist() == [0, 1000, 2000, 2500]  # 1,000-word sentences
    words = raw.decode().split()
    assert [corpus.words[i] for i in corpus.tokens[:20]] == words[:20]
    assert corpus.counts.tolist() == sorted(corpus.counts.tolist(), reverse=True)
    assert corpus.counts.sum() == 2500


def test_text8_zip_gives_the_same_corpus(tmp_path):
    raw = text8_bytes()
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "text8").write_bytes(raw)
    with zipfile.ZipFile(tmp_path / "text8.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("text8", raw)
    assert text8_corpus(tmp_path / "text8.zip").sha256 == text8_corpus(tmp_path / "plain" / "text8").sha256


def test_chunked_reading_cuts_at_spaces(tmp_path, monkeypatch):
    raw = text8_bytes(3000)
    (tmp_path / "text8").write_bytes(raw)
    whole = text8_corpus(tmp_path / "text8")
    monkeypatch.setattr(text8_module, "CHUNK_BYTES", 37)
    pieces = list(text8_module._chunks(raw))
    assert len(pieces) > 100 and all(raw[stop - 1 : stop + 1].count(b" ") >= 1 for _, stop in pieces[:-1])
    assert text8_corpus(tmp_path / "text8").sha256 == whole.sha256


@pytest.mark.parametrize(
    "content, message",
    [
        (b" the quick brown fox\x1f jumps", r"byte 0x1f at offset 20"),
        (b" The quick", r"byte 0x54 at offset 1"),
        (b"\x1f\x8b\x08\x00 gzip", r"byte 0x1f at offset 0"),
        (b" too few words", "needs at least"),
    ],
)
def test_bad_text8_files_give_clear_errors(tmp_path, content, message):
    (tmp_path / "text8").write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_corpus(tmp_path)


def test_bad_text8_zips_give_clear_errors(tmp_path, monkeypatch):
    (tmp_path / "text8.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="text8.zip: not readable"):
        read_text8(tmp_path / "text8.zip")
    with zipfile.ZipFile(tmp_path / "text8.zip", "w") as archive:
        archive.writestr("other.txt", b"hello")
    with pytest.raises(DataError, match="no member named text8"):
        read_text8(tmp_path / "text8.zip")
    with zipfile.ZipFile(tmp_path / "text8.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("text8", b" a" * 5000)
    monkeypatch.setattr(text8_module, "MAX_TEXT8_MB", 0.001)
    with pytest.raises(DataError, match="over the limit"):
        read_text8(tmp_path / "text8.zip")
    (tmp_path / "text8").write_bytes(b" a" * 5000)
    with pytest.raises(DataError, match="over dlrun's limit"):
        read_text8(tmp_path / "text8")


def sgml(bodies: list[str | None]) -> str:
    """Reuters-21578 style wires, with or without topics and bodies."""
    blocks = []
    for i, body in enumerate(bodies):
        text = (
            '<TEXT TYPE="BRIEF">&#2;\n<TITLE>BRIEF</TITLE>\n&#3;</TEXT>'
            if body is None
            else (f"<TEXT>&#2;\n<TITLE>WIRE {i}</TITLE><BODY>{body}\n Reuter\n&#3;</BODY></TEXT>")
        )
        topics = "<D>earn</D>" if i % 2 else ""
        blocks.append(f'<REUTERS NEWID="{i}">\n<TOPICS>{topics}</TOPICS>\n{text}\n</REUTERS>\n')
    return '<!DOCTYPE lewis SYSTEM "lewis.dtd">\n' + "".join(blocks)


def test_reuters_bodies_of_every_wire_with_entities_decoded():
    files = [("reut2-000.sgm", sgml(["Oil prices &lt;rose> 5 pct.", None, "Shell's profit, up."]))]
    assert body_words(files) == [["oil", "prices", "rose", "5", "pct", "reuter"], ["shell's", "profit", "up", "reuter"]]


def test_reuters_corpus_from_a_data_dir_and_the_chain(tmp_path, monkeypatch):
    body = " ".join(["crude oil output rose sharply in march"] * 4)
    write_tarball(tmp_path / "reuters21578.tar.gz", {"reut2-000.sgm": sgml([body] * 5)})
    corpus = load_corpus(tmp_path)
    assert "Reuters-21578 bodies" in corpus.source and len(corpus.offsets) == 6
    assert corpus.num_tokens == 5 * (4 * 7 + 1)
    (tmp_path / "text8").write_bytes(text8_bytes())
    assert load_corpus(tmp_path).source.startswith("text8")  # text8 first when both are there
    (tmp_path / "text8").unlink()
    monkeypatch.setattr(text8_module, "REUTERS_FOLDERS", (tmp_path,))
    monkeypatch.delenv("DLRUN_NO_REUTERS")
    assert "Reuters-21578 bodies" in load_corpus(None).source


def test_no_corpus_says_where_to_put_one(tmp_path):
    with pytest.raises(DataError, match="no corpus in .*text8.zip"):
        load_corpus(tmp_path)
    with pytest.raises(DataError, match="DLRUN_NO_REUTERS is set.*text8.zip.*--data-dir"):
        load_corpus(None)


def test_reuters_files_without_bodies(tmp_path):
    write_tarball(tmp_path / "reuters21578.tar.gz", {"reut2-000.sgm": sgml([None, None])})
    with pytest.raises(DataError, match="no <BODY> text"):
        load_corpus(tmp_path)


# --------------------------------------------------------------------------- learning

PLANTED_PAIRS = 8
LETTERS = "abcdefghijklmnopqrstuvwxyz"  # the planted words are text8-like: lowercase letters only


def planted_corpus(n_sentences: int = 1500, seed: int = 0):
    """Sentences of filler words with planted structure. Pairs: x_i and y_i each appear next
    to the key word k_i (never together), so they share a context that no x_j or y_j has,
    and word2vec should put them close. Analogies: m_i appears with "he" and its topic word
    t_i, f_i with "she" and t_i, so f_i - m_i is about the same direction for every i."""
    rng = np.random.default_rng(seed)
    fillers = [f"w{c}" for c in LETTERS]
    sentences = []
    for _ in range(n_sentences):
        words = [str(w) for w in rng.choice(fillers, 8)]
        i = LETTERS[int(rng.integers(PLANTED_PAIRS))]
        kind = rng.integers(4)
        if kind < 2:
            planted = [f"k{i}", f"{'xy'[kind]}{i}"]
        else:
            planted = ["he" if kind == 2 else "she", f"{'m' if kind == 2 else 'f'}{i}", f"t{i}"]
        at = int(rng.integers(len(words)))
        sentences.append(words[:at] + planted + words[at:])
    return build_corpus(sentences, "planted")


def planted_analogies():
    pairs = [(f"m{c}", f"f{c}") for c in LETTERS[:PLANTED_PAIRS]]
    questions = [(a, b, c, d) for (a, b) in pairs for (c, d) in pairs if a != c]
    return analogies_module.Analogies(("family",), tuple(questions), (0,) * len(questions), "planted", "0", None)


@pytest.fixture(scope="module")
def planted():
    return planted_corpus(), planted_analogies()


def _tiny(architecture: Architecture, **changes):
    base = get_experiment("word2vec-skipgram")
    model = Word2VecConfig(architecture=architecture, dim=16, window=2, min_count=1, subsample=0.0, vocab_size=80)
    return replace(
        base,
        model=model,
        optimizer=Optimizer(base.optimizer.make, 0.01),
        batch_size=128,
        epochs=4,
        **changes,
    )


@pytest.mark.parametrize("architecture", [Architecture.SKIP_GRAM, Architecture.CBOW])
def test_learning_puts_planted_pairs_closer_than_random_pairs(planted, architecture):
    exp = _tiny(architecture)
    [result], [models] = _train(exp, planted)
    loss = [epoch["train_loss"][0] for epoch in result.history]
    assert loss[-1] < loss[0] < 6 * math.log(2) + 1e-3
    vocab = exp.task.vocabulary(exp.task.place(exp, planted))
    unit = wv.unit_rows(np.asarray(models[0].inputs[...])[: len(vocab.words)])
    index = {w: i for i, w in enumerate(vocab.words)}
    x = unit[[index[f"x{c}"] for c in LETTERS[:PLANTED_PAIRS]]]
    y = unit[[index[f"y{c}"] for c in LETTERS[:PLANTED_PAIRS]]]
    similarity = x @ y.T  # [i, j]
    paired = np.diag(similarity).mean()
    unpaired = similarity[~np.eye(PLANTED_PAIRS, dtype=bool)].mean()
    assert paired > unpaired + 0.3, (paired, unpaired)
    final = result.final
    assert final["analogy_coverage"] == [1.0]
    assert final["analogy_accuracy"][0] > final["random_analogy_accuracy"][0] + 0.3, final


def _train(exp, loaded):
    return train_cohort(Compiler(), [exp], loaded, [0])


def test_the_held_out_split_never_trains_and_train_size_cuts_the_stream(planted):
    exp = _tiny(Architecture.SKIP_GRAM, train_size=1000)
    data = exp.task.place(exp, planted)
    n = planted[0].num_tokens
    assert len(data.eval.tokens) == n // 20 and len(data.train.tokens) == 1000
    assert exp.task.train_rows(replace(exp, train_size=10**9), planted) == n - n // 20


def test_host_metrics_need_data_the_task_placed(planted):
    exp = _tiny(Architecture.SKIP_GRAM)
    data = exp.task.place(exp, planted)
    other = data._replace(eval=data.eval._replace(tokens=data.eval.tokens[:-1], sentence=data.eval.sentence[:-1]))
    with pytest.raises(DataError, match="not placed"):
        exp.task.vocabulary(other)


# --------------------------------------------------------------------------- the CLI


def test_the_group_is_registered_and_shown_without_training():
    group = registry.get_group("word-vectors")
    assert set(group.variants) == {"word2vec-skipgram", "word2vec-cbow"}
    result = CliRunner().invoke(app, ["show", "word-vectors"])
    assert result.exit_code == 0, result.output


def test_cli_train_on_generated_text8(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    corpus = planted_corpus(600)
    (data / "text8").write_text(" " + " ".join(corpus.words[i] for i in corpus.tokens))
    (data / "questions-words.txt").write_text(": capital-common-countries\nma fa mb fb\n: gram1-x\nxa ya xb yb\n")
    args = ["train", "word2vec-skipgram", "--epochs", "1", "--batch-size", "64", "--data-dir", str(data), "--json"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["columns"][0] == ["analogy_accuracy", "analogy acc"]
    assert record["data"]["source"].startswith("text8")
    [row] = record["results"]
    assert row["status"] == "ok" and row["analogy_coverage"] == 1.0
    pictures = [Path(p) for p in row["pictures"]]
    assert [p.name for p in pictures] == ["word2vec-skipgram-neighbours.png", "word2vec-skipgram-capitals.png"]
    assert all(p.stat().st_size > 5000 for p in pictures)


def test_cli_without_a_corpus_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["train", "word2vec-cbow", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "no corpus for word vectors found" in result.output and "Traceback" not in result.output


# --------------------------------------------------------------------------- the real data


@pytest.mark.skipif(not REAL_QUESTIONS.is_file(), reason="questions-words.txt is not in the shared folder")
def test_real_questions_file_has_mikolovs_19544_questions(monkeypatch):
    monkeypatch.delenv("DLRUN_NO_ANALOGIES")
    found = load_analogies(None)
    assert found.source == str(REAL_QUESTIONS) and found.notice is None
    assert len(found.questions) == 19_544 and len(found.sections) == 14
    semantic = sum(found.semantic(s) for s in found.section)
    assert semantic == 8_869 and len(found.questions) - semantic == 10_675
    assert found.questions[0] == ("athens", "greece", "baghdad", "iraq")


@pytest.mark.skipif(not REAL_REUTERS.is_file(), reason="the Reuters-21578 tarball is not in the shared folder")
def test_real_reuters_bodies(monkeypatch):
    monkeypatch.delenv("DLRUN_NO_REUTERS")
    corpus = load_corpus(None)
    assert len(corpus.offsets) - 1 == 19_043 and corpus.num_tokens == 2_684_982
    assert corpus.words[:5] == ("the", "of", "to", "and", "said")
    assert int(np.count_nonzero(corpus.counts >= 5)) == 16_459
