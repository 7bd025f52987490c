"""Sentiment (Lecture III, many to one): reading the polarity files, the fixed stratified
split and the ten cross-validation folds (the task's `fold` setting), the data chain,
padding-proof models (the LSTM's last real state, the order-blind bag of words), learning
on the generated corpus, the pictures, and the CLI. Runs on the generated corpus;
the real files are used only by the one test that needs them (skipped when absent)."""

import json
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from matplotlib.image import imread
from typer.testing import CliRunner

from dlrun.cli import app
from dlrun.core import registry
from dlrun.core.compiler import Compiler
from dlrun.core.config import resolved
from dlrun.core.settings import with_settings
from dlrun.core.trainer import train_cohort
from dlrun.data import polarity
from dlrun.data.polarity import NEGATIVE, POSITIVE, Lexicon, Review, Reviews, parse_polarity, stratified_split
from dlrun.errors import ConfigError, DataError
from dlrun.families.sentiment import task as sentiment_task
from dlrun.families.sentiment.config import PROBE, BagOfWordsConfig, Cell, ReaderConfig, WordCNNConfig
from dlrun.families.sentiment.config import SENTIMENT as SENTIMENT_REF
from dlrun.families.sentiment.pictures import accuracy_by_length
from dlrun.families.sentiment.task import SENTIMENT
from helpers import write_tarball

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / polarity.FOLDER


@pytest.fixture(autouse=True)
def _no_polarity(monkeypatch):
    """Every test runs on the generated corpus unless it names polarity files itself."""
    monkeypatch.setenv("DLRUN_NO_POLARITY", "1")


def get_experiment(name: str):
    return resolved(registry.get_experiment(name))


def lines(n: int, word: str) -> str:
    return "".join(f"{word} sentence number {i} .\n" for i in range(n))


def write_pair(folder: Path, n: int = 20) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / polarity.POS_FILE).write_text(lines(n, "good"))
    (folder / polarity.NEG_FILE).write_text(lines(n, "bad"))
    return folder


# --------------------------------------------------------------------------- the files


def test_utf8_file_one_sentence_a_line_blank_lines_skipped():
    raw = 'a gorgeous , witty film .\n\n   \nthe rock is destined to be the 21st century\'s new " conan "\n'.encode()
    reviews = parse_polarity(raw * 5, "f.pos", POSITIVE)
    assert len(reviews) == 10
    assert reviews[0] == Review(("a", "gorgeous", ",", "witty", "film", "."), POSITIVE)
    assert reviews[1].words[-3:] == ('"', "conan", '"')


def test_latin1_original_with_dos_line_ends_and_nel():
    """Cornell's files are Latin-1 with byte 0x85 (NEL) inside lines: it is a space, not a line break."""
    raw = "un film tr\xe8s dr\xf4le\x85 vraiment\r\nsecond one\r\n".encode("latin-1") * 5
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    reviews = parse_polarity(raw, "f.neg", NEGATIVE)
    assert len(reviews) == 10  # str.splitlines would have made 15
    assert reviews[0].words == ("un", "film", "très", "drôle", "vraiment")
    assert reviews[1] == Review(("second", "one"), NEGATIVE)


def test_over_long_lines_and_too_few_sentences_name_file_and_line():
    ok = lines(12, "fine").encode()
    with pytest.raises(DataError, match=r"^f\.pos, line 14: more than 200 words"):
        parse_polarity(ok + b"\n" + b"word " * 201, "f.pos", POSITIVE)
    with pytest.raises(DataError, match=r"^f\.pos, line 13: 10,001 characters"):
        parse_polarity(ok + b"x" * 10_001, "f.pos", POSITIVE)
    assert len(parse_polarity(ok + b"word " * 200, "f.pos", POSITIVE)) == 13  # at the limit: fine
    with pytest.raises(DataError, match=r"f\.neg: 3 sentences, need at least 10"):
        parse_polarity(b"a\nb\n\nc\n", "f.neg", NEGATIVE)


def test_files_over_the_size_limit_are_refused_before_reading(tmp_path, monkeypatch):
    write_pair(tmp_path)
    monkeypatch.setattr(polarity, "MAX_FILE_MB", 0.0005)  # 500 bytes
    with pytest.raises(DataError, match=rf"{tmp_path / polarity.POS_FILE}: .* bytes, over dlrun's limit"):
        polarity.load_polarity(tmp_path)


# --------------------------------------------------------------------------- the split


def test_stratified_split_sizes_balance_and_fixed():
    pos = [Review((f"p{i}",), POSITIVE) for i in range(5_331)]
    neg = [Review((f"n{i}",), NEGATIVE) for i in range(5_331)]
    train, test = stratified_split(pos, neg)
    assert (len(train), len(test)) == (polarity.TRAIN_SENTENCES, 1_066)
    assert sum(r.label for r in test) == 533 and sum(r.label for r in train) == 4_798
    assert set(train).isdisjoint(test) and len(set(train) | set(test)) == 10_662
    assert (train, test) == stratified_split(pos, neg)  # fixed: no run seed enters it
    assert 0.4 < np.mean([r.label for r in train[:200]]) < 0.6  # the training order mixes the classes
    small_train, small_test = stratified_split(pos[:25], neg[:15])  # rounded per class
    assert sum(r.label for r in small_test) == 2 and len(small_test) == 4 and len(small_train) == 36


def fixed_split_by_hand(positive: list[Review], negative: list[Review]) -> tuple[list[Review], list[Review]]:
    """The fixed split as it was before folds existed: round(10%) of each class's permutation
    (seeded [0, label]) tests, in file order; the rest train, shuffled with seed [0, 2]."""
    train, test = [], []
    for label, reviews in ((POSITIVE, positive), (NEGATIVE, negative)):
        order = np.random.default_rng([0, label]).permutation(len(reviews))
        n_test = round(len(reviews) * 0.1)
        test += [reviews[i] for i in sorted(order[:n_test])]
        train += [reviews[i] for i in sorted(order[n_test:])]
    return [train[i] for i in np.random.default_rng([0, 2]).permutation(len(train))], test


@pytest.mark.parametrize("sizes", [(5_331, 5_331), (25, 15)])
def test_ten_folds_are_disjoint_cover_every_sentence_and_are_stratified(sizes):
    pos = [Review((f"p{i}",), POSITIVE) for i in range(sizes[0])]
    neg = [Review((f"n{i}",), NEGATIVE) for i in range(sizes[1])]
    corpus = polarity.PolarityCorpus(tuple(pos), tuple(neg), "hand-made", "", None)
    folds = [corpus.split(k) for k in range(polarity.FOLDS)]
    held_out = [set(test) for _, test in folds]
    assert sum(map(len, held_out)) == len(set().union(*held_out)) == sum(sizes)  # disjoint, and cover everything
    for (train, test), tested in zip(folds, held_out):
        assert set(train).isdisjoint(tested) and len(train) + len(test) == sum(sizes)
        for label, n in ((POSITIVE, sizes[0]), (NEGATIVE, sizes[1])):  # each class split like the whole
            assert sum(r.label == label for r in test) in (n // 10, n // 10 + 1)
    # Positives per fold, cut at round(n * k / 10) (half to even): 5,331 -> 533.1 k; 25 -> 2.5 k.
    assert [sum(r.label for r in test) for _, test in folds] == (
        [533, 533, 533, 533, 534, 533, 533, 533, 533, 533] if sizes[0] == 5_331 else [2, 3, 3, 2, 2, 3, 3, 2, 2, 3]
    )
    assert corpus.split(None) == corpus.split(0) == fixed_split_by_hand(pos, neg) == (corpus.train, corpus.test)
    with pytest.raises(ConfigError, match=r"fold must be one of 0\.\.9"):
        corpus.split(10)


def test_fold_is_a_task_setting(monkeypatch):
    """`--set task.fold=K` reaches the task through its Ref; the test split is fold K."""
    assert SENTIMENT_REF.kwargs == (("fold", None),)
    exp = registry.get_experiment("polarity-bow")
    on_fold_3 = resolved(with_settings(exp, (("task.fold", "3"),)))
    assert on_fold_3.task == sentiment_task.Sentiment(fold=3) and on_fold_3.name == "polarity-bow[task.fold=3]"
    corpus, info = on_fold_3.task.load(on_fold_3, None)
    train, test = corpus.split(3)
    assert (info.test_size, info.available_train) == (len(test), len(train)) == (1_066, 9_596)
    placed = on_fold_3.task.place(replace(on_fold_3, train_size=500), corpus)
    expected = polarity.encode(test, placed.train.lexicon)
    np.testing.assert_array_equal(placed.eval.tokens, expected.tokens)
    assert test != corpus.test  # fold 3, not the fixed split (fold 0)
    for bad in (10, -1, "3"):
        with pytest.raises(ConfigError, match="fold must be one of 0..9"):
            sentiment_task.Sentiment(fold=bad)


# --------------------------------------------------------------------------- where data comes from


def test_data_dir_layouts(tmp_path):
    write_pair(tmp_path / "a" / polarity.FOLDER)
    write_pair(tmp_path / "b")
    corpus = polarity.load_polarity(tmp_path / "a")
    assert (len(corpus.train), len(corpus.test)) == (36, 4) and corpus.notice is None
    assert str(tmp_path / "a" / polarity.FOLDER) in corpus.source
    assert polarity.load_polarity(tmp_path / "b").sha256 == corpus.sha256  # same bytes, same digest
    folder = write_pair(tmp_path / "c")
    members = {f"rt-polaritydata/{n}": (folder / n).read_bytes() for n in (polarity.POS_FILE, polarity.NEG_FILE)}
    (tmp_path / "d").mkdir()
    write_tarball(tmp_path / "d" / polarity.ARCHIVE, members)
    from_archive = polarity.load_polarity(tmp_path / "d")
    assert from_archive.train == corpus.train and from_archive.sha256 == corpus.sha256
    assert polarity.ARCHIVE in from_archive.source


def test_bad_data_dirs_and_archives_give_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("DLRUN_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="no rt-polarity.pos and rt-polarity.neg in"):  # a named dir never falls back
        polarity.load_polarity()
    half = tmp_path / "half"
    half.mkdir()
    (half / polarity.POS_FILE).write_text(lines(20, "good"))
    with pytest.raises(DataError, match="rt-polarity.pos but no rt-polarity.neg beside it"):
        polarity.load_polarity(half)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / polarity.ARCHIVE).write_bytes(b"not a tar.gz at all")
    with pytest.raises(DataError, match=r"rt-polaritydata\.tar\.gz: not a readable \.tar\.gz archive"):
        polarity.load_polarity(tmp_path / "broken")
    (tmp_path / "partial").mkdir()
    write_tarball(tmp_path / "partial" / polarity.ARCHIVE, {"rt-polaritydata/rt-polarity.pos": b"x\n" * 20})
    with pytest.raises(DataError, match="no rt-polarity.neg inside"):
        polarity.load_polarity(tmp_path / "partial")
    bad_line = write_pair(tmp_path / "bad")
    (bad_line / polarity.NEG_FILE).write_bytes(lines(20, "bad").encode() + b"w " * 300)
    with pytest.raises(DataError, match=rf"^{bad_line / polarity.NEG_FILE}, line 21: more than 200 words"):
        polarity.load_polarity(bad_line)


def test_without_data_the_generated_corpus_is_used_and_said():
    corpus, info = SENTIMENT.load(None, None)
    assert "generated" in info.source and "no sentence polarity files" in info.notice
    assert (info.available_train, info.test_size) == (polarity.TRAIN_SENTENCES, 1_066)
    assert corpus == polarity.generated_polarity()  # deterministic


def test_generated_corpus_needs_word_order():
    """'A but B' and 'B but A' hold the same words and opposite labels."""
    corpus = polarity.generated_polarity(per_class=300)
    contrasts = [r for r in corpus.train if "but" in r.words]
    assert len(contrasts) > 100
    for r in contrasts[:50]:
        i = r.words.index("but")
        flipped = r.words[i + 1 :] + ("but",) + r.words[:i]
        assert sorted(flipped) == sorted(r.words)  # same bag of words, and B (after "but") now says the opposite


@pytest.mark.skipif(not REAL.is_dir(), reason="the sentence polarity files are not in ../shared/data")
def test_real_files(monkeypatch):
    monkeypatch.delenv("DLRUN_NO_POLARITY")
    corpus, info = SENTIMENT.load(None, None)
    assert str(REAL) in info.source and info.notice is None
    everything = corpus.train + corpus.test
    assert sum(r.label == POSITIVE for r in everything) == 5_331
    assert sum(r.label == NEGATIVE for r in everything) == 5_331
    assert (len(corpus.train), len(corpus.test)) == (9_596, 1_066) and sum(r.label for r in corpus.test) == 533
    data = SENTIMENT.place(get_experiment("polarity-lstm"), corpus)
    assert len(data.train.lexicon.words) == 9_730  # words seen twice in training, <pad>, <unk>
    assert data.train.tokens.shape == (9_596, 59) and data.train.lengths.max() == 59


# --------------------------------------------------------------------------- the models

SMALL = dict(embed=4, vocab_size=12)


def padded(words: list[int], length: int) -> tuple[jax.Array, jax.Array]:
    tokens = np.zeros((1, length), np.int32)
    tokens[0, : len(words)] = words
    return jnp.asarray(tokens), jnp.asarray([len(words)], jnp.int32)


def test_lstm_reads_the_state_after_the_last_real_word():
    model = ReaderConfig(Cell.LSTM, hidden=3, **SMALL).build(nnx.Rngs(params=0))
    sentence = [3, 7, 5, 9]
    by_hand_carry = model.rnn.cell.initialize_carry((1, 4), nnx.Rngs(carry=0))  # zeros
    for word in sentence:  # one LSTM step per real word, nothing else
        by_hand_carry, h = model.rnn.cell(by_hand_carry, model.embed(jnp.asarray([word])))
    by_hand = model.out(h)  # [1, 2]
    for length in (4, 6, 11):
        logits = model(*padded(sentence, length))
        np.testing.assert_allclose(logits, by_hand, rtol=1e-5, atol=1e-6)
    tokens, _ = padded(sentence, 11)
    assert not np.allclose(model(tokens, jnp.asarray([11])), by_hand, atol=1e-4)  # the state after the padding differs


def test_bidirectional_reader_reads_both_ends():
    model = ReaderConfig(Cell.LSTM, bidirectional=True, hidden=3, **SMALL).build(nnx.Rngs(params=0))
    sentence = [2, 8, 4]
    states = []
    for rnn, order in ((model.rnn.forward_rnn, sentence), (model.rnn.backward_rnn, sentence[::-1])):
        carry = rnn.cell.initialize_carry((1, 4), nnx.Rngs(carry=0))
        for word in order:
            carry, h = rnn.cell(carry, model.embed(jnp.asarray([word])))
        states.append(h)
    by_hand = model.out(jnp.concatenate(states, axis=-1))
    for length in (3, 5, 9):
        np.testing.assert_allclose(model(*padded(sentence, length)), by_hand, rtol=1e-5, atol=1e-6)


def test_bag_of_words_is_order_blind_and_the_lstm_is_not():
    sentence, shuffled = [3, 7, 5, 9, 2, 11], [9, 2, 3, 11, 7, 5]
    bow = BagOfWordsConfig(**SMALL).build(nnx.Rngs(params=0))
    np.testing.assert_allclose(bow(*padded(sentence, 8)), bow(*padded(shuffled, 6)), rtol=1e-6, atol=1e-6)
    lstm = ReaderConfig(hidden=3, **SMALL).build(nnx.Rngs(params=0))
    assert not np.allclose(lstm(*padded(sentence, 8)), lstm(*padded(shuffled, 8)), atol=1e-4)


def test_cnn_ignores_padding_but_not_order():
    cnn = WordCNNConfig(widths=(2, 3), maps=5, **SMALL).build(nnx.Rngs(params=0))
    sentence = [3, 7, 5, 9, 2]
    np.testing.assert_allclose(cnn(*padded(sentence, 5)), cnn(*padded(sentence, 12)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        cnn(*padded([4], 1)), cnn(*padded([4], 7)), rtol=1e-6, atol=1e-6
    )  # shorter than a window
    assert not np.allclose(cnn(*padded(sentence, 8)), cnn(*padded(sentence[::-1], 8)), atol=1e-4)


@pytest.mark.parametrize(
    "config",
    [BagOfWordsConfig(), ReaderConfig(), ReaderConfig(bidirectional=True), ReaderConfig(Cell.GRU), WordCNNConfig()],
)
def test_hand_counted_parameters_match_the_built_model(config):
    model = nnx.eval_shape(lambda: config.build(nnx.Rngs(params=0)))
    built = sum(int(np.prod(p.shape)) for _, p in nnx.to_flat_state(nnx.state(model, nnx.Param)))
    assert config.num_params() == built


def test_evaluation_in_chunks_equals_one_pass(monkeypatch):
    exp = get_experiment("polarity-lstm")
    model = ReaderConfig(hidden=3, **SMALL).build(nnx.Rngs(params=0))
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 9, 10).astype(np.int32)
    tokens = np.where(np.arange(9)[None] < lengths[:, None], rng.integers(2, 12, (10, 9)), 0).astype(np.int32)
    split = Reviews(tokens, lengths, rng.integers(0, 2, 10).astype(np.int32), Lexicon(("<pad>", "<unk>")))
    whole = SENTIMENT.evaluate(exp, model, split)
    monkeypatch.setattr(sentiment_task, "EVAL_CHUNK", 4)  # 3 chunks, the last one padded
    chunked = SENTIMENT.evaluate(exp, model, split)
    for k in whole:
        assert float(chunked[k]) == pytest.approx(float(whole[k]), rel=1e-5)


def test_probe_set_comes_in_opposite_pairs():
    labels = [label for _, label in PROBE]
    assert labels == [0, 1] * (len(PROBE) // 2)
    for (a, _), (b, _) in zip(PROBE[::2], PROBE[1::2]):  # same length and the same negation, one word apart
        assert len(a.split()) == len(b.split()) and sum(x != y for x, y in zip(a.split(), b.split())) <= 2


# --------------------------------------------------------------------------- the lesson


def test_learning_on_the_generated_corpus_and_order_matters(tmp_path):
    """A short run on part of the generated corpus: the LSTM reads "A but B" right, the
    bag of words cannot, and only the LSTM gets most of the negation probes. The pictures'
    probabilities give the same answers as the metrics."""
    corpus, _ = SENTIMENT.load(None, None)
    scores = {}
    for name in ("polarity-bow", "polarity-lstm"):
        exp = replace(get_experiment(name), train_size=3_000, epochs=4)
        exp = replace(exp, optimizer=replace(exp.optimizer, learning_rate=0.003))  # traced: same program
        [result], [[model]] = train_cohort(Compiler(), [exp], corpus, [0])
        final = result.final
        scores[name] = final["test_accuracy"][0], final["probe_accuracy"][0]
        data = exp.task.place(exp, corpus)
        probe = polarity.encode(sentiment_task.probe_reviews(), data.train.lexicon)
        on_probes = np.asarray(sentiment_task.positive_probability(model, probe))
        assert np.mean((on_probes > 0.5) == (probe.labels == POSITIVE)) == pytest.approx(final["probe_accuracy"][0])
        on_test = np.asarray(sentiment_task.positive_probability(model, data.eval))
        assert np.mean((on_test > 0.5) == (data.eval.labels == POSITIVE)) == pytest.approx(final["test_accuracy"][0])
        paths = exp.task.pictures(exp, model, data, tmp_path)
        assert [p.name for p in paths] == [f"{name}-probes.png", f"{name}-by-length.png"]
        assert all(len(np.unique(imread(p)[..., :3].reshape(-1, 3), axis=0)) > 50 for p in paths)  # drawn
    assert 0.55 < scores["polarity-bow"][0] < 0.75, scores  # learns the single clauses, not the contrasts
    assert scores["polarity-lstm"][0] > 0.95, scores
    assert scores["polarity-lstm"][1] > scores["polarity-bow"][1] + 0.2, scores


def test_accuracy_by_length_against_hand_counts():
    lengths = np.arange(1, 11)
    correct = np.array([1, 0, 1, 1, 0, 0, 1, 1, 1, 0], bool)
    # quintiles of 1..10: 1, 2.8, 4.6, 6.4, 8.2, 10 -> cuts at 1, 3, 5, 6, 8, 10 (the last bin closed)
    assert accuracy_by_length(lengths, correct) == [
        (1, 2, 2, 0.5),
        (3, 4, 2, 1.0),
        (5, 5, 1, 0.0),
        (6, 7, 2, 0.5),
        (8, 10, 3, pytest.approx(2 / 3)),
    ]
    assert accuracy_by_length(np.full(4, 7), np.array([1, 1, 0, 1], bool)) == [(7, 7, 4, 0.75)]


def test_cli_train_leaves_pictures_the_report_shows(tmp_path):
    args = ["train", "polarity-bow", "--epochs", "1", "--train-size", "300", "--json", "--out", str(tmp_path / "runs")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)["results"]
    pictures = [Path(p) for p in row["pictures"]]
    assert [p.name for p in pictures] == ["polarity-bow-probes.png", "polarity-bow-by-length.png"]
    report = CliRunner().invoke(app, ["report", str(pictures[0].parent), "--out", str(tmp_path / "report")])
    assert report.exit_code == 0, report.output
    text = (tmp_path / "report" / "report.md").read_text()
    assert all(f"({p.parent.name}/{p.name})" in text for p in pictures)


@pytest.mark.slow  # the whole group through the CLI; learning itself is checked above in seconds
def test_cli_compare_sentiment(tmp_path):
    args = ["compare", "sentiment", "--epochs", "1", "--train-size", "300", "--json", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert [c[0] for c in record["columns"]] == ["test_accuracy", "train_accuracy", "test_loss", "probe_accuracy"]
    assert record["data"]["train_size"] == 300 and "generated" in record["data"]["source"]
    assert [r["variant"] for r in record["results"]] == [
        "polarity-bow",
        "polarity-lstm",
        "polarity-bilstm",
        "polarity-cnn",
    ]
    for r in record["results"]:
        assert r["status"] == "ok" and 0.0 <= r["probe_accuracy"] <= 1.0 and 0.0 <= r["test_accuracy"] <= 1.0
    assert len(record["claims"]) == 6
