"""Slot filling: ATIS parsing, <unk>, masking, conlleval-style F1, the generated corpus
needing memory, and the CLI. Runs on the generated corpus; the real ATIS file is used
only by the one test that needs it (skipped when absent)."""

import json
from dataclasses import replace
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from typer.testing import CliRunner

from dlrun.cli import app
from dlrun.core import registry
from dlrun.core.config import EarlyStopping, resolved
from dlrun.core.engine import make_optimizer
from dlrun.core.task import TaskData, training_subset
from dlrun.data import text
from dlrun.data.text import PAD, UNK, Sentence, Sentences, TagSet, build_vocab, pad, parse_atis_line
from dlrun.errors import ConfigError, DataError
from dlrun.families.sequence.config import Cell, FeedForwardConfig, RecurrentConfig
from dlrun.families.sequence.models import context_windows
from dlrun.families.sequence.task import SLOT_FILLING, entity_scores, tag_names
from helpers import one_hyper, train_one


def get_experiment(name: str):
    """A registered tagger experiment, ready to run (its loss and optimizer resolved)."""
    return resolved(registry.get_experiment(name))


REAL_ATIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "atis" / text.TRAIN_FILE
QUICK_TRAIN = 300  # the CLI test's --train-size: the memory test then reuses its programs


@pytest.fixture(autouse=True)
def _no_atis(monkeypatch):
    """Every test runs on the generated corpus unless it names ATIS files itself."""
    monkeypatch.setenv("DLRUN_NO_ATIS", "1")


def atis_lines(sentences: list[Sentence]) -> list[str]:
    return [f"BOS {' '.join(s.words)} EOS\tO {' '.join(s.tags)} {s.intent}" for s in sentences]


def write_atis(folder: Path, n: int, test: int = 0) -> Path:
    """ATIS-format files made from the generated corpus: n training sentences (+ test)."""
    corpus = text.booking_corpus(n_train=n, n_test=max(test, 1))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / text.TRAIN_FILE).write_text("\n".join(atis_lines(corpus.train + corpus.val)) + "\n")
    if test:
        (folder / text.TEST_FILE).write_text("\n".join(atis_lines(corpus.test)))
    return folder / text.TRAIN_FILE


# --------------------------------------------------------------------------- ATIS files


def test_atis_line_drops_bos_eos_and_takes_the_intent():
    line = (
        "BOS flights from new york to boston EOS\t O O O "  # the real file has a space after the tab
        "B-fromloc.city_name I-fromloc.city_name O B-toloc.city_name atis_flight"
    )
    s = parse_atis_line(line, "f", 1)
    assert s.words == ("flights", "from", "new", "york", "to", "boston")
    assert s.tags == ("O", "O", "B-fromloc.city_name", "I-fromloc.city_name", "O", "B-toloc.city_name")
    assert s.intent == "atis_flight"


def test_malformed_atis_line_names_file_and_line(tmp_path):
    path = write_atis(tmp_path, 520)
    lines = path.read_text().splitlines()
    lines[2] = "BOS flights to boston EOS\tO O B-toloc.city_name atis_flight"  # 5 words, 4 tags
    path.write_text("\n".join(lines))
    with pytest.raises(DataError, match=rf"{path}, line 3: 5 words but 4 tags"):
        text.read_atis(path)
    with pytest.raises(DataError, match="line 1: no tab"):
        parse_atis_line("BOS hi EOS O O atis_flight", "f", 1)
    with pytest.raises(DataError, match="expected `BOS words... EOS`"):
        parse_atis_line("hi there\tO O", "f", 1)


def test_data_dir_without_test_file_evaluates_on_validation(tmp_path):
    write_atis(tmp_path / "atis", 600)
    corpus, info = SLOT_FILLING.load(None, tmp_path)
    assert (len(corpus.train), len(corpus.val), corpus.test) == (100, 500, None)
    assert corpus.eval is corpus.val and info.test_size == 500
    assert "validation" in info.notice and "last 500" in info.source


def test_data_dir_with_test_file_and_a_dir_without_atis(tmp_path, monkeypatch):
    write_atis(tmp_path, 600, test=40)  # files directly in the dir also count
    corpus = text.load_corpus(tmp_path)
    assert corpus.eval is corpus.test and len(corpus.test) == 40 and corpus.notice is None
    assert (len(corpus.train), corpus.val) == (600, [])  # the whole training file trains
    monkeypatch.setenv("DLRUN_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="no atis.train.w-intent.iob"):  # a named dir never falls back
        text.load_corpus()


def test_without_atis_the_generated_corpus_is_used_and_said(monkeypatch):
    monkeypatch.setenv("DLRUN_NO_ATIS", "1")  # skips the default folders, which hold the real file here
    corpus, info = SLOT_FILLING.load(None, None)
    assert "generated" in info.source and "no ATIS file" in info.notice
    assert (info.available_train, info.test_size) == (4_478, 893)


@pytest.mark.skipif(not REAL_ATIS.is_file(), reason="the real ATIS file is not in ../shared/data/atis")
def test_real_atis_file(monkeypatch):
    monkeypatch.delenv("DLRUN_NO_ATIS")  # the default folders: ../shared/data/atis
    corpus, info = SLOT_FILLING.load(None, None)
    assert (len(corpus.train), len(corpus.val)) == (4_478, 500) and str(REAL_ATIS) in info.source
    data = SLOT_FILLING.place(get_experiment("atis-bilstm"), corpus)
    assert len(data.eval.tagset.names) == 121 and data.train.tokens.shape == (4_478, 46)
    # 551 word shapes seen twice or more in training, after <pad>, <unk> (604 words before digits read as DIGIT)
    assert data.train.tokens.max() == 552


# --------------------------------------------------------------------------- <unk>


def test_words_seen_once_become_unk():
    train = [
        Sentence(("to", "boston"), ("O", "B-x"), "i"),
        Sentence(("to", "oslo"), ("O", "B-x"), "i"),
        Sentence(("to", "boston"), ("O", "B-x"), "i"),
    ]
    vocab = build_vocab(train, capacity=10)
    assert vocab.words == (PAD, UNK, "to", "boston")  # most frequent first
    assert vocab.encode(("to", "oslo", "tokyo")) == [2, 1, 1]  # seen once, never seen: both <unk>
    assert build_vocab(train, capacity=3).words == (PAD, UNK, "to")  # capacity keeps the most frequent


def test_vocabulary_comes_from_the_training_subset_only():
    exp = replace(get_experiment("atis-lstm"), train_size=QUICK_TRAIN)
    corpus, _ = SLOT_FILLING.load(exp, None)
    data = SLOT_FILLING.place(exp, corpus)
    assert len(data.train.tokens) == QUICK_TRAIN
    unk_rate = lambda split: np.mean(split.tokens[split.mask] == 1)  # noqa: E731
    assert 0 < unk_rate(data.train) < unk_rate(data.eval)  # rarer words are unknown at test time
    assert np.all(data.eval.tokens[~data.eval.mask] == 0)  # <pad> beyond each sentence


def test_digits_read_as_digit_shapes_in_training_and_in_the_vocabulary():
    assert [text.word_shape(w) for w in ("838", "ap57", "2nd", "boston")] == [
        "DIGITDIGITDIGIT",
        "apDIGITDIGIT",
        "DIGITnd",
        "boston",
    ]
    corpus, _ = SLOT_FILLING.load(None, None)
    words = {w for s in corpus.train for w in s.words}
    assert "DIGITnd" in words and not any(c.isdigit() for w in words for c in w)
    raw = text.booking_corpus()
    assert [s.tags for s in corpus.eval] == [s.tags for s in raw.eval]  # the tags are untouched


def test_early_stopping_holds_out_training_sentences_never_the_reported_split():
    exp = replace(get_experiment("atis-lstm"), train_size=400, early_stopping=EarlyStopping(0.1))
    corpus, _ = SLOT_FILLING.load(exp, None)
    data = SLOT_FILLING.place(exp, corpus)
    assert (len(data.train.tokens), len(data.val.tokens), len(data.eval.tokens)) == (360, 40, 893)
    subset = training_subset(len(corpus.train), 400)
    vocab = build_vocab([corpus.train[i] for i in subset[:360]], exp.model.vocab_size)  # the 360 that train
    held_out = pad([corpus.train[i] for i in subset[360:]], vocab, data.val.tagset, data.val.tokens.shape[1])
    np.testing.assert_array_equal(data.val.tokens, held_out.tokens)
    np.testing.assert_array_equal(data.val.tags, held_out.tags)
    assert len(SLOT_FILLING.place(replace(exp, early_stopping=None), corpus).val.tokens) == 0


# --------------------------------------------------------------------------- masking

SMALL = dict(embed=8, hidden=8, vocab_size=20, num_tags=6)


def random_split(seed: int = 0, n: int = 6, length: int = 9) -> Sentences:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, length + 1, n)
    lengths[0] = length  # one full-length sentence
    mask = np.arange(length)[None] < lengths[:, None]  # [N, T]
    tokens = np.where(mask, rng.integers(2, 20, (n, length)), 0).astype(np.int32)
    tags = np.where(mask, rng.integers(0, 6, (n, length)), 0).astype(np.int32)
    return Sentences(tokens, tags, mask, TagSet(("O", "B-a", "I-a", "B-b", "I-b", "B-c")))


def scramble_padding(split: Sentences, seed: int = 1) -> Sentences:
    rng = np.random.default_rng(seed)
    noise = lambda high: rng.integers(1, high, split.tokens.shape).astype(np.int32)  # noqa: E731
    return split._replace(
        tokens=np.where(split.mask, split.tokens, noise(20)), tags=np.where(split.mask, split.tags, noise(6))
    )


def measure_all(exp):
    """(model, split) -> the training loss and metrics, the evaluation metrics and the host
    entity scores; the device part compiled once for every call."""

    @nnx.jit
    def on_device(model, split: Sentences):
        loss, metrics = SLOT_FILLING.loss(exp, model, split, one_hyper(exp), None)
        return {
            "train_loss": loss,
            **{f"train_{k}": v for k, v in metrics.items()},
            **SLOT_FILLING.evaluate(exp, model, split),
        }

    def measure(model, split: Sentences) -> dict[str, float]:
        host = SLOT_FILLING.host_metrics(exp, model, TaskData(split, split, split))
        return {k: float(v) for k, v in on_device(model, split).items()} | host

    return measure


@pytest.mark.parametrize(
    "config",
    [
        FeedForwardConfig(**SMALL),
        RecurrentConfig(Cell.LSTM, **SMALL),
        RecurrentConfig(Cell.ELMAN, window=3, **SMALL),
        RecurrentConfig(Cell.LSTM, bidirectional=True, window=3, **SMALL),
    ],
    ids=["feedforward", "lstm", "elman-window-3", "bilstm-window-3"],
)
def test_padding_changes_neither_loss_nor_metrics(config):
    measure = measure_all(replace(get_experiment("atis-lstm"), model=config))
    model, split = config.build(nnx.Rngs(params=0)), random_split()
    before = measure(model, split)
    assert before == measure(model, scramble_padding(split))  # exactly: padding weighs nothing
    real = split._replace(tokens=split.tokens.copy())
    real.tokens[1, 0] = 19 if real.tokens[1, 0] != 19 else 18  # a real word: the loss must move
    assert measure(model, real)["train_loss"] != before["train_loss"]


def test_bilstm_backward_direction_starts_at_the_last_real_word():
    """Without the lengths, padding would leak into the backward direction: the control."""
    model = RecurrentConfig(Cell.LSTM, bidirectional=True, **SMALL).build(nnx.Rngs(params=0))
    split = random_split()
    scrambled = scramble_padding(split)
    real = split.mask[..., None]  # [N, T, 1]
    logits = nnx.jit(lambda m, tokens, lengths: m(tokens, lengths))  # [N, T, C]
    lengths, full = split.mask.sum(-1), np.full(len(split.mask), split.mask.shape[1])

    def same(n) -> bool:
        a, b = logits(model, split.tokens, n), logits(model, scrambled.tokens, n)
        return bool(jnp.array_equal(jnp.where(real, a, 0), jnp.where(real, b, 0)))

    assert same(lengths)
    assert not same(full)


def test_context_windows_hold_the_neighbours_and_pad_beyond_the_sentence():
    tokens = jnp.array([[5, 6, 7, 9], [8, 4, 3, 3]])  # the first sentence has 3 words: its 9 is padding
    windows = context_windows(tokens, jnp.array([3, 4]), 3)  # [2, 4, 3]
    assert windows.tolist() == [
        [[0, 5, 6], [5, 6, 7], [6, 7, 0], [7, 0, 0]],
        [[0, 8, 4], [8, 4, 3], [4, 3, 3], [3, 3, 0]],
    ]
    assert context_windows(tokens, jnp.array([3, 4]), 1)[..., 0].tolist() == [[5, 6, 7, 0], [8, 4, 3, 3]]
    with pytest.raises(ConfigError, match="odd number of words"):
        RecurrentConfig(Cell.LSTM, window=2)


# --------------------------------------------------------------------------- entity F1


def test_entity_f1_counts_only_whole_spans_of_the_right_type():
    gold = [["B-from", "I-from", "O", "B-to"], ["O", "B-date", "I-date"], ["B-time", "O"], ["O", "O"]]
    pred = [
        ["B-from", "I-from", "O", "B-from"],  # right entity; wrong type
        ["O", "B-date", "O"],  # partial span: wrong
        ["I-time", "O"],  # conlleval: an I- without B- opens the entity: right
        ["B-to", "O"],
    ]  # a spurious entity
    scores = entity_scores(gold, pred)
    # gold entities 4, predicted 5, correct 2: P = 2/5, R = 2/4, F1 = 2PR / (P + R) = 4/9
    assert scores["precision"] == pytest.approx(0.4)
    assert scores["recall"] == pytest.approx(0.5)
    assert scores["f1"] == pytest.approx(4 / 9)
    assert entity_scores(gold, gold)["f1"] == 1.0


def test_tag_ids_map_back_to_names_at_real_words_only():
    split = Sentences(
        np.zeros((2, 3), np.int32),
        np.array([[1, 2, 0], [3, 0, 0]], np.int32),
        np.array([[True, True, False], [True, False, False]]),
        TagSet(("O", "B-a", "I-a", "B-b")),
    )
    assert tag_names(split, split.tags) == [["B-a", "I-a"], ["B-b"]]
    assert tag_names(split, np.array([[9, 1, 1], [0, 2, 2]])) == [["O", "B-a"], ["O"]]  # spare id 9 reads as O


# --------------------------------------------------------------------------- optimizer


def test_clipped_adam_takes_injected_hyperparameters_and_clips():
    exp = get_experiment("atis-lstm")
    tx = make_optimizer(exp)
    params = {"w": jnp.zeros(4)}
    state = SLOT_FILLING.set_learning_rate(SLOT_FILLING.init_optimizer(tx, params), jnp.float32(0.5))
    assert set(state.hyperparams) == {"learning_rate", "max_norm"}
    _, state = tx.update({"w": jnp.full(4, 100.0)}, state, params)  # gradient norm 200
    mu = state.inner_state[1][0].mu["w"]  # Adam's first moment = (1 - 0.9) * clipped gradient
    assert float(jnp.linalg.norm(mu)) / 0.1 == pytest.approx(5.0, rel=1e-5)


# --------------------------------------------------------------------------- the lesson


def test_generated_corpus_is_deterministic_and_cue_dependent():
    a, b = text.booking_corpus(seed=3, n_train=600, n_test=10), text.booking_corpus(seed=3, n_train=600, n_test=10)
    assert a == b and a.sha256 != text.booking_corpus(seed=4, n_train=600, n_test=10).sha256
    roles = {tag for s in a.train for w, tag in zip(s.words, s.tags) if w == "taipei"}
    assert roles == {"B-fromloc.city_name", "B-toloc.city_name"}  # same word, role from the cue
    months = {tag for s in a.train for w, tag in zip(s.words, s.tags) if w == "november"}
    assert months == {"B-arrive_date.month_name", "B-depart_date.month_name"}


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def small_lstm_run(tmp_path_factory) -> Path:
    """The LSTM tagger trained briefly on the generated corpus through the CLI: its run folder."""
    out = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:  # module scope: the autouse fixture has not run yet
        patch.setenv("DLRUN_NO_ATIS", "1")
        done = invoke(
            "train", "atis-lstm", "--train-size", QUICK_TRAIN, "--epochs", 15, "--lr", 0.02, "--out", out, "--json"
        )
    assert done.exit_code == 0, done.output
    return Path(json.loads(done.stdout)["run_dir"])


def test_generated_corpus_needs_memory(small_lstm_run):
    """The same short run: a window-of-one tagger is stuck near a coin flip per slot, the LSTM solves it."""
    exp = replace(get_experiment("atis-feedforward"), train_size=QUICK_TRAIN, epochs=15)
    exp = replace(exp, optimizer=replace(exp.optimizer, learning_rate=0.02))
    corpus, _ = exp.task.load(exp, None)
    feedforward_f1 = train_one(exp, corpus, [0]).final["test_f1"][0]
    [lstm] = json.loads((small_lstm_run / "record.json").read_text())["results"]
    assert lstm["variant"] == "atis-lstm" and lstm["epochs"] == 15
    assert feedforward_f1 < 0.6
    assert lstm["test_f1"] > 0.9, (feedforward_f1, lstm["test_f1"])


def test_cli_compare_slot_filling(tmp_path):
    args = [
        "compare",
        "slot-filling",
        "--epochs",
        "1",
        "--train-size",
        str(QUICK_TRAIN),
        "--json",
        "--out",
        str(tmp_path),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["columns"][0] == ["test_f1", "slot F1"]
    assert record["data"]["train_size"] == QUICK_TRAIN and "generated" in record["data"]["source"]
    assert [r["variant"] for r in record["results"]] == [
        "atis-feedforward",
        "atis-elman",
        "atis-lstm",
        "atis-gru",
        "atis-bilstm",
    ]
    for r in record["results"]:
        assert r["status"] == "ok" and 0.0 <= r["test_f1"] <= 1.0 and r["test_accuracy"] > 0.5
    assert len(record["claims"]) == 2


def test_predict_reads_a_sentence_as_training_read_its_data(small_lstm_run):
    """The small LSTM tagger: the cue word decides the city's slot, a made-up city is listed
    as unknown and tagged from its context, and "42nd" (never seen, but its shape
    "DIGITDIGITnd" is) is read as a day number, not as <unk>."""
    tags_of = {}
    for sentence in ("i want to arrive taipei on november 2nd", "i want to leave zorblax on november 42nd"):
        done = invoke("predict", small_lstm_run, sentence, "--json")
        assert done.exit_code == 0, done.output
        answer = json.loads(done.stdout)
        tags_of[sentence] = answer["rows"], answer["note"]
    arrive_rows, arrive_note = tags_of["i want to arrive taipei on november 2nd"]
    leave_rows, leave_note = tags_of["i want to leave zorblax on november 42nd"]
    assert arrive_rows[4] == arrive_rows[4] | {"word": "taipei", "tag": "B-toloc.city_name"}
    assert leave_rows[4] == leave_rows[4] | {"word": "zorblax", "tag": "B-fromloc.city_name"}
    assert leave_rows[7] == leave_rows[7] | {"word": "42nd", "tag": "B-depart_date.day_number"}
    assert arrive_note is None and leave_note.endswith(f"read as {UNK}: zorblax")


@pytest.mark.parametrize(
    "config",
    [
        FeedForwardConfig(),
        *(RecurrentConfig(cell) for cell in Cell),
        RecurrentConfig(Cell.GRU, window=5),
        RecurrentConfig(Cell.LSTM, bidirectional=True, window=3),
    ],
)
def test_hand_counted_parameters_match_the_built_tagger(config):
    """`num_params` counts by hand (no JAX, for `dlrun show`); the built module must agree."""
    model = nnx.eval_shape(lambda: config.build(nnx.Rngs(params=0)))
    built = sum(int(np.prod(p.shape)) for _, p in nnx.to_flat_state(nnx.state(model, nnx.Param)))
    assert config.num_params() == built
