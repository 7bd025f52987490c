"""Document classification (the Reuters ladder): the SGML parsing and Keras's construction
on hand-checkable wires, the bag of words, clear errors for bad files, learning on a
generated tarball, the topic picture and its counts, and, when the real distribution is in
the shared folder, Keras's numbers."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from typer.testing import CliRunner

from dlrun.cli import app
from dlrun.core import registry
from dlrun.core.config import resolved
from dlrun.data import reuters
from dlrun.data.reuters import Wires, bag_of_words, build_wires, keras_split, keras_words, parse_sgml
from dlrun.errors import DataError
from dlrun.families.documents.pictures import topic_table
from dlrun.families.documents.task import DOCUMENT_CLASSIFICATION
from helpers import train_one, write_tarball

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "reuters21578" / reuters.TARBALL


@pytest.fixture(autouse=True)
def _no_shared_reuters(monkeypatch):
    """Every test sees only the files it builds, unless it names the real tarball itself."""
    monkeypatch.setenv("DLRUN_NO_REUTERS", "1")


# --------------------------------------------------------------------------- generated SGML


def sgml_wire(newid: int, topics: list[str] | None, body: str | None) -> str:
    """One <REUTERS> block as the distribution writes it; no body makes a "BRIEF" wire."""
    topic_tags = "".join(f"<D>{t}</D>" for t in topics or [])
    text = (
        f'<TEXT TYPE="BRIEF">&#2;\n******<TITLE>BRIEF {newid}</TITLE>Blah blah blah.\n&#3;\n\n</TEXT>'
        if body is None
        else f"<TEXT>&#2;\n<TITLE>WIRE {newid}</TITLE>\n<DATELINE>    NEW YORK, March 6 - </DATELINE>"
        f"<BODY>{body}\n Reuter\n&#3;</BODY></TEXT>"
    )
    has = "YES" if topics else "NO"
    return (
        f'<REUTERS TOPICS="{has}" LEWISSPLIT="TRAIN" CGISPLIT="TRAINING-SET" OLDID="{newid}" NEWID="{newid}">\n'
        f"<DATE>26-FEB-1987 15:01:01.79</DATE>\n<TOPICS>{topic_tags}</TOPICS>\n"
        f"<PLACES><D>usa</D></PLACES>\n<PEOPLE></PEOPLE>\n<ORGS></ORGS>\n<EXCHANGES></EXCHANGES>\n"
        f"<COMPANIES></COMPANIES>\n<UNKNOWN> \n&#5;&#5;&#5;F\n</UNKNOWN>\n{text}\n</REUTERS>\n"
    )


def sgml_file(wires: list[tuple[list[str] | None, str | None]], first_id: int = 1) -> str:
    blocks = "".join(sgml_wire(first_id + i, topics, body) for i, (topics, body) in enumerate(wires))
    return f'<!DOCTYPE lewis SYSTEM "lewis.dtd">\n{blocks}'


# Four topics, unequal (earn is the majority, 40%), each with words of its own plus common
# words; a rare topic (dropped: fewer than 15 wires) and wires without topics around them.
_TOPIC_WORDS = {
    "earn": "profit net shr cts revs quarter dividend payout record qtr",
    "acq": "acquire merger stake takeover shares bid tender buyout offer holding",
    "crude": "oil barrels opec refinery petroleum crude drilling pipeline output well",
    "grain": "wheat corn harvest tonnes maize farmers export crop bushels soybeans",
}
_SHARES = {"earn": 0.4, "acq": 0.25, "crude": 0.2, "grain": 0.15}
_COMMON = "the of to in said and a mln for vs dlrs it year company march".split()


def generated_wires(n: int = 400, seed: int = 0) -> list[tuple[list[str] | None, str | None]]:
    rng = np.random.default_rng(seed)
    topics = list(_TOPIC_WORDS)
    picks = rng.choice(len(topics), size=n, p=[_SHARES[t] for t in topics])
    wires: list[tuple[list[str] | None, str | None]] = []
    for i, k in enumerate(picks):
        own = _TOPIC_WORDS[topics[k]].split()
        words = [*rng.choice(own, 6), *rng.choice(_COMMON, 10)]
        rng.shuffle(words)
        body = " ".join(words).capitalize() + ", &lt;ABC> said."
        wires.append(([topics[k], "usa-topic"] if i % 7 == 0 else [topics[k]], body))
        if i % 50 == 0:
            wires.append((None, "No topics here, so it never counts."))
            wires.append((["rare"], "a topic seen too rarely"))
    return wires


def generated_files(n: int = 400) -> dict[str, str]:
    wires = generated_wires(n)
    half = len(wires) // 2
    return {
        "README.txt": "Reuters-21578 (generated for the tests)",
        "reut2-001.sgm": sgml_file(wires[half:], first_id=1000),  # out of order: files are read sorted
        "reut2-000.sgm": sgml_file(wires[:half]),
    }


@pytest.fixture(scope="module")
def generated_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reuters")
    write_tarball(folder / reuters.TARBALL, generated_files())
    return folder


# --------------------------------------------------------------------------- parsing


def test_parse_takes_first_topic_skips_wires_without_topics_and_keeps_entities():
    text = sgml_file(
        [
            (["earn", "acq"], "Profit &lt;ABC> rose &amp; fell."),
            (None, "no topics"),
            ([], "empty topics"),
            (["grain"], "Wheat up."),
        ]
    )
    assert parse_sgml(text) == [
        ("earn", "Profit &lt;ABC> rose &amp; fell.\n Reuter\n&#3;"),
        ("grain", "Wheat up.\n Reuter\n&#3;"),
    ]


def test_a_wire_without_body_takes_the_next_body_as_keras_did():
    """Keras's scan looks for the next <BODY> after the topics: a BRIEF wire borrows the
    body of the wire after it; with no body left in the file, find's -1 makes the "body"
    the topic tags from the 6th character on ("<D>earn</D>" reads "rn")."""
    text = sgml_file([(["acq"], None), (None, "Second body."), (["crude"], "Third body."), (["earn"], None)])
    assert parse_sgml(text) == [
        ("acq", "Second body.\n Reuter\n&#3;"),
        ("crude", "Third body.\n Reuter\n&#3;"),
        ("earn", "rn"),
    ]


def test_keras_tokenisation():
    text = "U.S. Gold-Mining Co's &lt;GMC> profit:\n1.5 mln\tDLRS!  Reuter\n&#3;"
    words = "u s gold mining co's lt gmc profit 1 5 mln dlrs reuter 3".split()  # the apostrophe stays
    assert keras_words(text) == words


def test_topics_filtered_and_numbered_by_first_appearance_words_ranked_by_count():
    wires = [("rare", "zebra")] + [("beta", "Beta common")] * 15 + [("alpha", "alpha common common")] * 15
    wires.insert(3, ("alpha", "gamma"))  # alpha has 16 wires; beta appeared first, so beta = 0
    sequences, labels, topics = build_wires(wires)
    assert topics == ("beta", "alpha")
    assert labels == [0, 0, 1] + [0] * 13 + [1] * 15
    # counts: common 15 + 30 = 45, beta 15, alpha 15 (tie: beta seen first), gamma 1; zebra dropped
    assert sequences[0] == [2, 1] and sequences[2] == [4] and sequences[-1] == [3, 1, 1]


def test_split_is_keras_shuffle_start_mark_and_index_shift():
    sequences = [[1], [2, 1], [3], [1, 1, 4], [5]]
    labels = [0, 1, 2, 3, 4]
    train, test = keras_split(sequences, labels)
    # Keras 2016: np.random.seed(113) then shuffle the wires, seed again and shuffle the labels
    xs, ys = np.empty(len(sequences), dtype=object), np.array(labels)
    xs[:] = sequences
    np.random.seed(113)
    np.random.shuffle(xs)
    np.random.seed(113)
    np.random.shuffle(ys)
    expected = [[1, *(w + 3 for w in x)] for x in xs]
    assert train.num_wires == 4 and test.num_wires == 1  # int(5 * 0.8)
    assert [train.sequence(i) for i in range(4)] + [test.sequence(0)] == expected
    assert train.labels.tolist() + test.labels.tolist() == ys.tolist()


def test_bag_of_words_against_a_hand_computed_matrix():
    wires = Wires.of([[1, 4, 5, 1200, 4], [1, 4, 4], [1, 7, 9]], [0, 1, 2])
    expected = np.array(
        [
            [0, 1, 1, 0, 1, 1, 0, 0],  # 1200 is out of the vocabulary: column 2
            [0, 1, 0, 0, 1, 0, 0, 0],  # binary: twice is once
            [0, 1, 1, 0, 0, 0, 0, 1],  # 9 >= 8: column 2
        ],
        np.uint8,
    )
    np.testing.assert_array_equal(bag_of_words(wires, num_words=8), expected)


# --------------------------------------------------------------------------- the chain and errors


def test_tarball_and_extracted_files_give_the_same_dataset(generated_dir, tmp_path):
    from_tar = reuters.load_reuters(generated_dir)
    folder = tmp_path / "reuters21578"
    folder.mkdir()
    for name, text in generated_files().items():
        (folder / name).write_bytes(text.encode("latin-1"))
    from_files = reuters.load_reuters(tmp_path)
    assert from_tar.sha256 == from_files.sha256 and "reuters21578.tar.gz" in from_tar.source
    assert set(from_tar.topics) == set(_TOPIC_WORDS)  # "rare" (8 wires) dropped; second topics ignored
    assert from_tar.topics[0] == generated_wires()[0][0][0]  # numbered by first appearance, files sorted
    n = from_tar.train.num_wires + from_tar.test.num_wires
    assert n == 400 and from_tar.train.num_wires == 320  # int(400 * 0.8)


def test_env_data_dir_is_used(generated_dir, monkeypatch):
    monkeypatch.setenv("DLRUN_DATA_DIR", str(generated_dir))
    assert reuters.load_reuters().sha256 == reuters.load_reuters(generated_dir).sha256


def test_no_data_says_where_to_put_the_file(tmp_path):
    with pytest.raises(DataError, match=r"no Reuters data found \(DLRUN_NO_REUTERS is set\): put reuters21578.tar.gz"):
        reuters.load_reuters()
    with pytest.raises(DataError, match=rf"no Reuters data in {re.escape(str(tmp_path))}: looked for reuters21578"):
        reuters.load_reuters(tmp_path)
    exp = resolved(registry.get_experiment("reuters-relu-ce-adam"))
    with pytest.raises(DataError, match="put reuters21578.tar.gz"):
        exp.task.load(exp, None)


def test_tarball_without_sgml_files(tmp_path):
    path = write_tarball(tmp_path / reuters.TARBALL, {"README.txt": "hello", "reut2-000.txt": "not sgm"})
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}: no reut2-\*.sgm files inside"):
        reuters.load_reuters(tmp_path)


def test_truncated_and_corrupt_tarballs(tmp_path, generated_dir):
    whole = (generated_dir / reuters.TARBALL).read_bytes()
    path = tmp_path / reuters.TARBALL
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}: not a readable .tar.gz archive"):
        reuters.load_reuters(tmp_path)
    path.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4)  # a gzip magic number, then garbage
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}: not a readable .tar.gz archive"):
        reuters.load_reuters(tmp_path)


def test_sgml_that_is_not_reuters(tmp_path):
    write_tarball(tmp_path / reuters.TARBALL, {"reut2-000.sgm": "<html>nothing here</html>"})
    with pytest.raises(DataError, match="0 wires in 0 topics"):
        reuters.load_reuters(tmp_path)


def test_tarball_members_are_bounded(tmp_path, monkeypatch):
    write_tarball(tmp_path / reuters.TARBALL, {f"reut2-00{i}.sgm": "x" * 100 for i in range(3)})
    monkeypatch.setattr(reuters, "MAX_MEMBERS", 2)
    with pytest.raises(DataError, match="more than 2 members"):
        reuters.load_reuters(tmp_path)
    monkeypatch.setattr(reuters, "MAX_MEMBERS", 200)
    monkeypatch.setattr(reuters, "MAX_FILE_MB", 0)
    with pytest.raises(DataError, match="reut2-000.sgm is 100 bytes, over dlrun's limit of 0 MB"):
        reuters.load_reuters(tmp_path)


def test_npz_with_pickled_arrays_is_refused(tmp_path):
    x = np.array([[1, 2, 3], [4, 5]], dtype=object)
    np.savez(tmp_path / reuters.NPZ, x=x, y=np.array([0, 1]))
    with pytest.raises(DataError, match="holds pickled object arrays .* dlrun never unpickles an unknown file"):
        reuters.load_reuters(tmp_path)


def test_npz_that_is_not_keras_file(tmp_path):
    np.savez(tmp_path / reuters.NPZ, a=np.arange(3))
    with pytest.raises(DataError, match="no arrays x and y"):
        reuters.load_reuters(tmp_path)
    (tmp_path / reuters.NPZ).write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not an .npz archive"):
        reuters.load_reuters(tmp_path)


def test_keras_npz_is_read_when_its_hash_is_known(tmp_path, monkeypatch):
    """The file Keras downloads holds word ranks without the shift; pretend ours is it."""
    x = np.empty(5, dtype=object)
    x[:] = [[1], [2, 1], [3], [1, 1, 4], [5]]
    np.savez(tmp_path / reuters.NPZ, x=x, y=np.arange(5))
    digest = hashlib.sha256((tmp_path / reuters.NPZ).read_bytes()).hexdigest()
    monkeypatch.setattr(reuters, "KERAS_NPZ_SHA256", digest)
    data = reuters.load_reuters(tmp_path)
    train, test = keras_split([[1], [2, 1], [3], [1, 1, 4], [5]], np.arange(5))
    assert data.sha256 == reuters._digest(train, test) and "reuters.npz" in data.source


# --------------------------------------------------------------------------- the task


def test_task_trains_on_the_first_90_percent_and_tests_on_the_test_wires(generated_dir):
    exp = resolved(registry.get_experiment("reuters-relu-ce-adam"))
    assert exp.task is DOCUMENT_CLASSIFICATION
    data, info = exp.task.load(exp, generated_dir)
    assert (info.available_train, info.test_size) == (288, 80)  # int(320 * 0.9), 400 - 320
    placed = exp.task.place(exp, data)
    x, y = placed.train.bags, placed.train.labels
    assert x.dtype == np.uint8 and x.shape == (288, 1000) and placed.val.bags.shape == (0, 1000)
    np.testing.assert_array_equal(x, bag_of_words(data.train.subset(0, 288), 1000))
    np.testing.assert_array_equal(y, data.train.labels[:288])
    np.testing.assert_array_equal(placed.eval.bags, bag_of_words(data.test, 1000).astype(np.float32))
    assert sorted(data.topics) == ["acq", "crude", "earn", "grain"]  # the rare topic is dropped
    assert [placed.eval.topics.of(t) for t in range(5)] == [*data.topics, "topic 4"]  # the pictures' names
    capped = exp.task.place(replace(exp, train_size=100), data)
    np.testing.assert_array_equal(capped.train.labels, data.train.labels[:100])  # the first 100, in order
    assert exp.task.train_rows(replace(exp, train_size=100), data) == 100


def test_relu_ce_adam_learns_beyond_the_majority_rate(generated_dir):
    exp = resolved(registry.get_experiment("reuters-relu-ce-adam"))
    data, _ = exp.task.load(exp, generated_dir)
    result = train_one(exp, data, [0])
    majority = reuters.majority_rate(data.test.labels)
    assert 0.3 < majority < 0.5
    assert result.final["test_accuracy"][0] > majority + 0.3, (result.final, majority)
    assert result.final["test_majority_share"][0] < 0.7


def test_topic_table_against_hand_counts():
    labels = np.array([0, 0, 0, 2, 2, 1, 3, 3, 3, 3, 5])  # 3 is the most common, then 0, then 2
    predicted = np.array([0, 3, 0, 2, 3, 3, 3, 3, 3, 1, 5])
    table = topic_table(labels, predicted, shown=2)
    assert table.topics == [3, 0]
    # rows: true 3, 0, other (2, 2, 1, 5); columns: predicted 3, 0, other
    np.testing.assert_array_equal(table.counts, [[3, 0, 1], [1, 2, 0], [2, 0, 2]])
    np.testing.assert_allclose(table.true_share, [4 / 11, 3 / 11, 4 / 11])
    np.testing.assert_allclose(table.predicted_share, [6 / 11, 2 / 11, 3 / 11])
    assert topic_table(labels, predicted, shown=10).topics == [3, 0, 2, 1, 5]  # ties: the lower id first


def test_cli_train_on_generated_tarball_leaves_a_picture_the_report_shows(generated_dir, tmp_path):
    args = ["train", "reuters-sigmoid-mse", "--epochs", "1", "--data-dir", str(generated_dir), "--json"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["data"]["train_size"] == 288 and record["data"]["test_size"] == 80
    assert record["columns"][-1] == ["test_majority_share", "majority share"]
    [row] = record["results"]
    assert row["status"] == "ok" and row["reference"] == 0.36
    [picture] = map(Path, row["pictures"])
    assert picture.name == "reuters-sigmoid-mse-topics.png" and picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(np.unique(imread(picture)[..., :3].reshape(-1, 3), axis=0)) > 50  # drawn, not blank
    report = CliRunner().invoke(app, ["report", str(picture.parent), "--out", str(tmp_path / "report")])
    assert report.exit_code == 0, report.output
    assert f"({picture.parent.name}/{picture.name})" in (tmp_path / "report" / "report.md").read_text()


def test_cli_without_data_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["train", "reuters-sigmoid-mse", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "no Reuters data found" in result.output and "Traceback" not in result.output


# --------------------------------------------------------------------------- the real data

# Keras's x_train[0] (load_data(num_words=10000)), as printed by many tutorials.
KERAS_X_TRAIN_0 = [
    1, 2, 2, 8, 43, 10, 447, 5, 25, 207, 270, 5, 3095, 111, 16, 369, 186, 90, 67, 7, 89, 5, 19, 102, 6, 19, 124, 15,
    90, 67, 84, 22, 482, 26, 7, 48, 4, 49, 8, 864, 39, 209, 154, 6, 151, 6, 83, 11, 15, 22, 155, 11, 15, 7, 48, 9,
    4579, 1005, 504, 6, 258, 6, 272, 11, 15, 22, 134, 44, 11, 15, 16, 8, 197, 1245, 90, 67, 52, 29, 209, 30, 32, 132,
    6, 109, 15, 17, 12,
]  # fmt: skip


@pytest.mark.skipif(not REAL.exists(), reason=f"the Reuters-21578 tarball is not at {REAL}")
def test_real_distribution_gives_keras_dataset():
    data = reuters.load_reuters(REAL.parent)
    assert (data.train.num_wires, data.test.num_wires) == (8_982, 2_246)
    assert data.topics == reuters.KERAS_TOPICS  # 46, numbered as keras.datasets.reuters.get_label_names()
    assert data.train.labels[:10].tolist() == [3, 4, 3, 4, 4, 4, 4, 3, 3, 16]
    assert int(np.sum(data.test.labels == data.topics.index("earn"))) == 813
    assert round(reuters.majority_rate(data.test.labels), 3) == 0.362
    lengths = np.diff(data.train.offsets)
    assert lengths[[0, 1, 11]].tolist() == [87, 56, 59] and lengths.max() == 2376
    assert round(float(lengths.mean()), 6) == 145.539857  # Keras's: every body as Keras read it
    # Word ids agree with Keras's wherever no tie in counts can reorder them (the top 110 words).
    ours = [w if w < 10_000 else 2 for w in data.train.sequence(0)]
    assert all(a == b for a, b in zip(ours, KERAS_X_TRAIN_0) if b <= 110)
    x = bag_of_words(data.train, 1000)
    assert x[:, 1].all() and not x[:, 0].any() and not x[:, 3].any()
