"""The sequence-to-sequence auto-encoder: reading the CMU dictionary in both forms, the
bounded reads, the split by word, the encoder's last real state, teacher forcing, the masked
loss, greedy scoring, edit distances, and learning on the generated lexicon (end to end
through the CLI). The real dictionary is used only by the test that needs it (skipped when absent)."""

import json
import math
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
from dlrun.data import cmudict
from dlrun.data.cmudict import BOS, EOS, PAD, Entry, Pronunciation, Pronunciations, parse_lexicon, parse_line
from dlrun.errors import DataError
from dlrun.families.seq2seq.config import Cell, Seq2SeqConfig
from dlrun.families.seq2seq.pictures import neighbour_lines, principal_components
from dlrun.families.seq2seq.task import (
    baseline_accuracy,
    decoder_targets,
    edit_distance,
    exact_accuracy,
    nearest,
    phoneme_accuracy,
    target_mask,
    teacher_inputs,
)

REAL_CMUDICT = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmudict" / "cmudict"


@pytest.fixture(autouse=True)
def _no_cmudict(monkeypatch):
    """Every test runs on the generated lexicon unless it names a dictionary file itself."""
    monkeypatch.setenv("DLRUN_NO_CMUDICT", "1")


NLTK_LINES = """A 1 AH0
A 2 EY1
CAT 1 K AE1 T
READ 1 R EH1 D
READ 2 R IY1 D
"""
CMU_LINES = """;;; # CMUdict  --  Major Version: 0.07
;;; a comment, with odd text: 1 2 3
A  AH0
A(2)  EY1
CAT  K AE1 T
READ  R EH1 D
READ(2)  R IY1 D
"""


# --------------------------------------------------------------------------- parsing


def test_both_dictionary_forms_read_the_same_entries():
    nltk = parse_lexicon(NLTK_LINES.encode(), "nltk")
    cmu = parse_lexicon(CMU_LINES.encode(), "cmu")
    assert nltk == cmu
    assert nltk[1] == Entry("A", 2, ("EY1",))
    assert nltk[4] == Entry("READ", 2, ("R", "IY1", "D"))


def test_comments_blank_lines_and_sphinx_form():
    assert parse_line(";;; comment K AE1 T", "f", 1) is None
    assert parse_line("   ", "f", 2) is None
    # cmusphinx's cmudict.dict: lower case, one space, a trailing comment
    assert parse_line("d'artagnan(2) D AH0 R T AE1 N Y AH0 N # foreign french", "f", 3) == Entry(
        "d'artagnan", 2, ("D", "AH0", "R", "T", "AE1", "N", "Y", "AH0", "N")
    )


def test_stress_is_kept_or_stripped():
    line = "STATION 1 S T EY1 SH AH0 N"
    assert parse_line(line, "f", 1).phonemes == ("S", "T", "EY1", "SH", "AH0", "N")
    assert parse_line(line, "f", 1, keep_stress=False).phonemes == ("S", "T", "EY", "SH", "AH", "N")
    # a bare vowel (0.7a has a few `UW`) is accepted and stays as it is
    assert cmudict.strip_stress(("UW", "UW1", "T")) == ("UW", "UW", "T")
    assert len(cmudict.PHONEMES) == 39 and cmudict.NUM_SYMBOLS == 42


def test_latin1_file_is_read(tmp_path):
    path = tmp_path / "cmudict-0.7b"
    path.write_bytes(";;; caf\xe9 comment\nCAFE  K AE0 F EY1\n".encode("latin-1"))
    assert cmudict.read_lexicon(path) == [Entry("CAFE", 1, ("K", "AE0", "F", "EY1"))]


@pytest.mark.parametrize(
    "line, problem",
    [
        ("CAT 1 K AE1 X9", "'X9' is not an ARPAbet phoneme"),
        ("CAT 1 K AE3 T", "'AE3' is not an ARPAbet phoneme"),
        ("CAT 1", "no phonemes after 'CAT'"),
        ("CAT", "no phonemes after 'CAT'"),
        ("(2)  K AE1 T", "no word before the alternate mark"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, line, problem):
    path = tmp_path / "cmudict"
    path.write_text(f"A 1 AH0\n;;; fine\n{line}\nB 1 B IY1\n")
    with pytest.raises(DataError, match=rf"^{path}, line 3: .*") as caught:
        cmudict.read_lexicon(path)
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_over_long_line_and_word_are_refused(tmp_path):
    path = tmp_path / "cmudict"
    path.write_text("A 1 AH0\nLONG 1 " + "AH0 " * 400 + "\n")
    with pytest.raises(DataError, match=rf"^{path}, line 2: 1,607 characters, over dlrun's limit of 500"):
        cmudict.read_lexicon(path)
    path.write_text("A 1 AH0\nLONG 1 " + "T " * 65 + "\n")
    with pytest.raises(DataError, match=rf"^{path}, line 2: 65 phonemes, over dlrun's limit of 64"):
        cmudict.read_lexicon(path)


def test_oversized_and_empty_files_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "cmudict"
    path.write_text(";;; only comments\n\n")
    with pytest.raises(DataError, match="no pronunciations"):
        cmudict.read_lexicon(path)
    monkeypatch.setattr(cmudict, "MAX_FILE_MB", 1e-5)  # 10 bytes
    path.write_text(NLTK_LINES)
    with pytest.raises(DataError, match=rf"^{path}: {len(NLTK_LINES)} bytes, over dlrun's limit"):
        cmudict.read_lexicon(path)


# --------------------------------------------------------------------------- the chain and the split


def test_data_dir_must_hold_the_dictionary(tmp_path):
    with pytest.raises(DataError, match=f"no CMU Pronouncing Dictionary in {tmp_path}"):
        cmudict.load_lexicon(tmp_path)
    (tmp_path / "cmudict").mkdir()  # DIR/cmudict/cmudict, as the shared folder lays it out
    consonants = cmudict.CONSONANTS
    entries = [f"W{i} 1 {consonants[i % 24]} AH0 {consonants[i // 24]}" for i in range(400)]
    (tmp_path / "cmudict" / "cmudict").write_text("\n".join(entries))
    lexicon = cmudict.load_lexicon(tmp_path)
    assert lexicon.entries == 400 and lexicon.notice is None
    assert str(tmp_path / "cmudict" / "cmudict") in lexicon.source


def test_without_the_dictionary_the_generated_lexicon_is_used_and_said():
    lexicon = cmudict.load_lexicon()
    assert "generated lexicon" in lexicon.source and "generated lexicon" in lexicon.notice
    again = cmudict.generated_lexicon()
    assert again.sha256 == lexicon.sha256 and again.train == lexicon.train  # fixed by its seed
    assert set(cmudict.REAL_WORDS) <= {w for p in lexicon.train + lexicon.test for w in p.words}


def test_split_is_fixed_by_word_and_keeps_alternates_together():
    # Pinned: the split must not move between versions (records compare across runs).
    assert [cmudict.is_held_out(w) for w in ("cat", "night", "station", "brother", "speaker")] == [
        False,
        False,
        False,
        True,
        False,
    ]
    assert cmudict.is_held_out("BROTHER") and cmudict.is_held_out("brother(2)")
    words = [f"word{i}" for i in range(4_000)]
    share = np.mean([cmudict.is_held_out(w) for w in words])
    assert 0.04 < share < 0.06
    held = next(w for w in words if cmudict.is_held_out(w))
    kept = next(w for w in words if not cmudict.is_held_out(w))
    entries = [
        Entry(held, 1, ("K", "AE1", "T")),
        Entry(kept, 1, ("B", "IY1")),
        Entry(held, 2, ("K", "AH0", "T")),  # an alternate: the same side as its word
        Entry(kept, 2, ("B", "IY0")),  # the same sequence once stress is stripped: merged
    ]
    train, test, left_out = cmudict.split_entries(entries)
    assert train == [Pronunciation(("B", "IY"), (kept,))]
    assert test == [Pronunciation(("K", "AE", "T"), (held,)), Pronunciation(("K", "AH", "T"), (held,))]
    assert left_out == 0


def test_homophones_of_training_words_and_long_words_leave_the_test_split():
    held = next(f"w{i}" for i in range(1_000) if cmudict.is_held_out(f"w{i}"))
    kept = next(f"w{i}" for i in range(1_000) if not cmudict.is_held_out(f"w{i}"))
    entries = [
        Entry(kept, 1, ("DH", "EH1", "R")),
        Entry(held, 1, ("DH", "EH1", "R")),  # their / there: a test sequence the model trains on
        Entry(held, 2, ("T",) * (cmudict.MAX_LESSON_PHONEMES + 1)),
    ]
    train, test, left_out = cmudict.split_entries(entries)
    assert train == [Pronunciation(("DH", "EH", "R"), (kept,))] and test == [] and left_out == 1


def test_padding_and_spelling():
    split = cmudict.pad([Pronunciation(("K", "AE", "T"), ("cat",)), Pronunciation(("AH",), ("a",))], 4)
    k, ae, t, ah = cmudict.encode(("K", "AE", "T", "AH"))
    np.testing.assert_array_equal(split.tokens, [[k, ae, t, PAD], [ah, PAD, PAD, PAD]])
    np.testing.assert_array_equal(split.lengths, [3, 1])
    assert cmudict.spelled(split.spelling[0]) == "cat" and cmudict.decode([k, ae, t, EOS]) == ("K", "AE", "T", "</s>")


@pytest.mark.skipif(not REAL_CMUDICT.is_file(), reason="no CMU dictionary in ../shared/data/cmudict")
def test_real_dictionary(monkeypatch):
    monkeypatch.delenv("DLRUN_NO_CMUDICT")
    lexicon = cmudict.load_lexicon()
    assert lexicon.entries == 133_737  # NLTK's 0.7a file
    assert (len(lexicon.train), len(lexicon.test)) == (108_796, 5_091)
    entries = cmudict.read_lexicon(REAL_CMUDICT, keep_stress=False)
    assert cmudict.split_entries(entries)[2] == 37  # pronunciations over 16 phonemes, left out
    first = {}
    for e in entries:
        first.setdefault(e.word.lower(), e.phonemes)
    assert {w: first[w] for w in cmudict.REAL_WORDS} == cmudict.REAL_WORDS  # the probes' pronunciations


# --------------------------------------------------------------------------- the model's pieces


def test_teacher_forcing_shifts_the_targets_right():
    tokens = jnp.array([[5, 6, 7, 0], [8, 0, 0, 0]])
    lengths = jnp.array([3, 1])
    targets = decoder_targets(tokens, lengths)
    np.testing.assert_array_equal(targets, [[5, 6, 7, EOS, PAD], [8, EOS, PAD, PAD, PAD]])
    np.testing.assert_array_equal(teacher_inputs(targets), [[BOS, 5, 6, 7, EOS], [BOS, 8, EOS, PAD, PAD]])
    np.testing.assert_array_equal(target_mask(lengths, 5), [[1, 1, 1, 1, 0], [1, 1, 0, 0, 0]])


def test_masked_loss_against_a_hand_computation():
    exp = resolved(registry.get_experiment("cmudict-gru"))
    logits = jax.random.normal(jax.random.key(0), (2, 5, 42))
    lengths = jnp.array([3, 1])
    targets = decoder_targets(jnp.array([[5, 6, 7, 0], [8, 0, 0, 0]]), lengths)
    loss = exp.loss(logits, targets, target_mask(lengths, 5))
    x = np.asarray(logits, np.float64)
    terms = [
        math.log(np.exp(x[b, t]).sum()) - x[b, t, int(targets[b, t])]
        for b, n in enumerate([3, 1])
        for t in range(n + 1)  # the phonemes and </s>; padding never counts
    ]
    assert len(terms) == 6
    np.testing.assert_allclose(float(loss), np.mean(terms), rtol=1e-5)


def test_greedy_scores_on_a_hand_example():
    tokens = jnp.array([[5, 6, 7, 0], [8, 0, 0, 0], [9, 9, 0, 0]])
    lengths = jnp.array([3, 1, 2])
    targets = decoder_targets(tokens, lengths)
    guess = jnp.array(
        [
            [5, 6, 7, EOS, 11],  # exact (what follows </s> does not count)
            [8, 8, 3, 3, 3],  # the phoneme is right, </s> is missing: not exact
            [9, 4, EOS, 0, 0],  # one of two phonemes right
        ]
    )
    np.testing.assert_allclose(phoneme_accuracy(guess, tokens, lengths), 5 / 6)
    np.testing.assert_allclose(exact_accuracy(guess, targets, lengths), 1 / 3)


@pytest.mark.parametrize(
    "a, b, distance",
    [("K AE T", "HH AE T", 1), ("K AE T", "K AE T", 0), ("", "B IY", 2), ("K AE T", "T AE K", 2), ("S T", "", 2)],
)
def test_edit_distance_on_hand_examples(a, b, distance):
    assert edit_distance(a.split(), b.split()) == distance == edit_distance(b.split(), a.split())
    assert edit_distance("kitten", "sitting") == 3


def test_baseline_predicts_the_most_frequent_phoneme_per_position():
    train = Pronunciations(np.array([[5, 6, 0], [5, 7, 8], [9, 7, 0]]), np.array([2, 3, 2]), np.zeros((3, 1)))
    test = Pronunciations(np.array([[5, 7, 8], [9, 6, 0]]), np.array([3, 2]), np.zeros((2, 1)))
    # per position: 5, 7, 8 -> test hits 3 of 3, then 0 of 2
    assert baseline_accuracy(train, test) == pytest.approx(3 / 5)


def test_nearest_and_principal_components():
    keys = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0], [0.9, 0.1]])
    np.testing.assert_array_equal(nearest(np.array([[1.0, 0.05], [4.0, 4.0]]), keys, 2), [[1, 3], [2, 3]])
    points = np.array([[-2.0, 0.1, 0.0], [2.0, -0.1, 0.0], [0.0, 0.0, 0.0]])
    projected = principal_components(points)
    assert projected.shape == (3, 2) and abs(projected[0, 0]) > 1.9 and abs(projected[2, 0]) < 1e-9


def test_neighbour_lines_say_what_was_decoded():
    rows = [("cat", ("K", "AE", "T"), ("K", "AE", "T"), [("hat", ("HH", "AE", "T"), 1)], False)]
    assert neighbour_lines(rows) == [
        "cat /K AE T/ (never trained on)  ->  decoded /K AE T/ (exact)",
        "    hat              /HH AE T/  edit distance 1",
    ]


@pytest.mark.parametrize("cell", [Cell.GRU, Cell.LSTM])
def test_the_code_ignores_padding(cell):
    """The code is the encoder's state after the last real phoneme: the same word padded
    to two lengths gets the same code, and so the same decoder output."""
    model = Seq2SeqConfig(cell, embed=8, hidden=16, code=4).build(nnx.Rngs(params=0))
    ids = cmudict.encode(("S", "T", "EY", "SH", "AH", "N"))
    short = jnp.array([ids + [PAD] * 1, ids[:3] + [PAD] * 4])
    long = jnp.array([ids + [PAD] * 6, ids[:3] + [PAD] * 9])
    lengths = jnp.array([6, 3])
    np.testing.assert_allclose(model.encode(short, lengths), model.encode(long, lengths), atol=1e-6)
    other = model.encode(jnp.array([ids + [PAD], ids[:3] + [7] * 4]), jnp.array([6, 3]))  # junk after the end
    np.testing.assert_allclose(model.encode(short, lengths), other, atol=1e-6)
    assert not np.allclose(model.encode(short, jnp.array([5, 3]))[0], model.encode(short, lengths)[0])
    steps = 7
    np.testing.assert_array_equal(
        model.generate(model.encode(short, lengths), steps), model.generate(model.encode(long, lengths), steps)
    )


@pytest.mark.parametrize("cell", [Cell.GRU, Cell.LSTM, Cell.ELMAN])
def test_hand_counted_parameters_match_the_built_model(cell):
    config = Seq2SeqConfig(cell, embed=8, hidden=16, code=4)
    params = nnx.state(config.build(nnx.Rngs(params=0)), nnx.Param)
    assert sum(leaf.size for leaf in jax.tree.leaves(params)) == config.num_params()


# --------------------------------------------------------------------------- end to end


def test_cli_learns_on_the_generated_lexicon(tmp_path):
    """Trains the lesson's GRU briefly on the generated lexicon: it reconstructs held-out
    pseudo-words well above the trivial baseline, its code neighbours sound closer than random
    words, and the run leaves its pictures."""
    args = ["train", "cmudict-gru", "--epochs", "8", "--train-size", "2000", "--batch-size", "32"]
    done = CliRunner().invoke(app, [*args, "--out", str(tmp_path), "--json"])
    assert done.exit_code == 0, done.output[-2000:]
    record = json.loads(done.stdout)
    assert "generated lexicon" in record["data"]["source"]
    [result] = record["results"]
    assert result["status"] == "ok"
    assert result["gain_over_baseline"] > 0.3, result
    assert result["test_accuracy"] == pytest.approx(result["baseline_phoneme_accuracy"] + result["gain_over_baseline"])
    assert result["neighbour_distance_gain"] > 1.0, result
    assert 0.0 <= result["test_exact"] <= result["test_accuracy"] <= 1.0
    names = sorted(Path(p).name for p in result.get("pictures", []))
    run_dir = Path(record["run_dir"])
    assert sorted(p.name for p in run_dir.glob("*.png")) == sorted(["curves.png", *names])
    assert names == ["cmudict-gru-neighbours.png", "cmudict-gru-rhymes.png"]
