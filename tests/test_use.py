"""Using what a run trained, and exploring beyond the catalog: saved models, `evaluate`,
`predict`, `--set`, `sweep`, `--needed` and the TensorBoard events, through the command
line on the bundled MNIST sample at tiny sizes."""

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from dlrun.cli import app
from dlrun.core.settings import parse_setting
from dlrun.output.records import load_record
from dlrun.output.sweeps import near_best

TINY = ("--epochs", "2", "--train-size", "300")


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def record_of(output: str) -> dict:
    return json.loads(output)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One small run of two seeds, with its saved model and events."""
    out = tmp_path_factory.mktemp("runs")
    result = invoke("train", "mnist-relu-3layer", *TINY, "--seeds", "2", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    return Path(record_of(result.stdout)["run_dir"])


def test_a_run_keeps_its_model_and_evaluate_measures_the_same_numbers(trained):
    record = load_record(trained / "record.json")
    [result] = record["results"]
    assert result["model"] == "models/000" and (trained / "models/000").is_dir()
    done = invoke("evaluate", trained, "--json")
    assert done.exit_code == 0, done.output
    [measured] = record_of(done.stdout)["results"]
    assert measured["test_accuracy"] == pytest.approx(result["test_accuracy"], abs=1e-6)
    assert measured["test_loss"] == pytest.approx(result["test_loss"], rel=1e-5)
    noisy = record_of(invoke("evaluate", trained, "--test-noise", "1.0", "--json").stdout)["results"][0]
    assert noisy["test_accuracy"] < measured["test_accuracy"] - 0.1  # noise hurts a model trained clean


def test_predict_a_test_image_and_an_image_file(trained, tmp_path):
    done = invoke("predict", trained, "--index", "0", "--json")
    assert done.exit_code == 0, done.output
    answer = record_of(done.stdout)
    probabilities = [row["probability"] for row in answer["rows"]]
    assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
    assert 0.0 < sum(probabilities) <= 1.0 + 1e-6
    assert answer["note"].startswith("its label: ")
    picture = Image.new("L", (90, 140), 255)  # a dark stroke on white, any size: inverted and fitted
    picture.paste(0, (40, 10, 50, 130))
    picture.save(tmp_path / "one.png")
    done = invoke("predict", trained, tmp_path / "one.png")
    assert done.exit_code == 0, done.output
    assert "inverted" in done.output and "probability" in done.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope-variant", "x.png"], "has no variant 'nope-variant'"),
        (["{tmp}/missing.png"], "cannot read"),
        (["{tmp}/bad.png"], "not an image dlrun can read"),
        ([], "predict takes RUN"),
    ],
)
def test_predict_bad_input_is_one_clear_line(trained, tmp_path, args, message):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG but not really")
    done = invoke("predict", trained, *(a.format(tmp=tmp_path) for a in args))
    assert done.exit_code != 0
    assert message in done.output and "Traceback" not in done.output


def test_a_damaged_or_missing_model_is_one_clear_line(trained, tmp_path):
    copy = tmp_path / trained.name
    shutil.copytree(trained, copy)
    for path in (copy / "models/000").iterdir():
        if path.is_file():
            path.write_bytes(b"garbage")
    done = invoke("evaluate", copy)
    assert done.exit_code == 1 and "cannot be read" in done.output and "Traceback" not in done.output
    shutil.rmtree(copy / "models")
    done = invoke("predict", copy, "--index", "1")
    assert done.exit_code == 1 and "no saved model" in done.output


def test_no_save_model_keeps_no_weights_and_says_so(tmp_path):
    done = invoke("train", "mnist-relu-3layer", *TINY, "--no-save-model", "--out", tmp_path, "--json")
    run_dir = Path(record_of(done.stdout)["run_dir"])
    assert not (run_dir / "models").exists()
    done = invoke("evaluate", run_dir)
    assert done.exit_code == 1 and "has no saved model" in done.output


def test_predict_says_when_a_family_makes_no_predictions(tmp_path):
    done = invoke("train", "xor-mlp", "--epochs", "1", "--out", tmp_path, "--json")
    assert done.exit_code == 0, done.output
    run_dir = Path(record_of(done.stdout)["run_dir"])
    done = invoke("predict", run_dir, "0 1")
    assert done.exit_code == 2 and "makes no predictions" in done.output


def test_events_hold_the_records_numbers(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    record = load_record(trained / "record.json")
    history = record["history"]["mnist-relu-3layer"]
    for k, seed in enumerate((0, 1)):
        [folder] = (trained / "events").glob(f"000-*/seed_{seed}")
        events = EventAccumulator(str(folder))
        events.Reload()
        steps = [(s.step, s.value) for s in events.Scalars("test_accuracy")]
        assert steps == [(e + 1, pytest.approx(epoch["test_accuracy"][k], abs=1e-6)) for e, epoch in enumerate(history)]
        [final] = events.Scalars("final/test_accuracy")
        assert final.value == pytest.approx(record["final_per_seed"]["mnist-relu-3layer"]["test_accuracy"][k])
        [config] = events.Tensors("config/text_summary")
        assert b'"hidden": [' in config.tensor_proto.string_val[0]  # the resolved config, as text


def test_set_renames_the_variant_and_show_prints_the_changed_config(tmp_path):
    done = invoke("show", "mnist-relu-3layer", "--set", "model.hidden=32", "--set", "optimizer=adam")
    assert done.exit_code == 0, done.output
    config = json.loads(done.stdout)
    assert config["model"]["hidden"] == [32] and config["optimizer"]["make"] == "optax.adam"
    assert config["model"]["num_params"] == 784 * 32 + 32 + 32 * 10 + 10
    done = invoke("train", "mnist-relu-3layer", *TINY, "--set", "model.hidden=32", "--out", tmp_path, "--json")
    [result] = record_of(done.stdout)["results"]
    assert result["variant"] == "mnist-relu-3layer[model.hidden=32]" and result["reference"] is None
    bad = invoke("train", "mnist-relu-3layer", "--set", "model.hiden=32", "--out", tmp_path)
    assert bad.exit_code == 2 and "did you mean model.hidden?" in bad.output


def test_a_learning_rate_sweep_compiles_once_and_marks_the_best(tmp_path):
    done = invoke(
        "sweep", "mnist-relu-3layer", "--set", "optimizer.learning_rate=0.001,0.1,1", *TINY, "--seeds", "2",
        "--out", tmp_path, "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    summary = record_of(done.stdout)
    assert summary["structures_compiled"] == 1  # the rate is a traced number: one training program
    run_dir = Path(summary["run_dir"])
    record = load_record(run_dir / "record.json")
    assert record["sweep"]["keys"] == ["optimizer.learning_rate"]
    accuracy = {r["variant"]: r["test_accuracy"] for r in record["results"]}
    best = max(accuracy, key=accuracy.get)
    assert best in near_best(record) and best.endswith("=0.1]")  # 0.001 barely moves in 2 epochs
    assert accuracy[best] > accuracy["mnist-relu-3layer[optimizer.learning_rate=0.001]"] + 0.2
    assert (run_dir / "sweep.png").stat().st_size > 1000
    shown = invoke("show", run_dir.name, "--out", tmp_path)
    assert "≈ best" in shown.output


def test_sweep_dry_run_lists_the_trials_and_trains_nothing(tmp_path):
    done = invoke(
        "sweep", "mnist-relu-3layer", "--set", "dropout=0,0.5", "--set", "model.activation=relu,tanh",
        "--dry-run", "--out", tmp_path,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "4 to train" in done.output and "dropout=0.5,model.activation=tanh" in done.output
    assert not any(tmp_path.iterdir())
    several = invoke("train", "mnist-relu-3layer", "--set", "dropout=0,0.5", "--out", tmp_path)
    assert several.exit_code == 2 and "dlrun sweep" in several.output


def test_needed_reuses_finished_variants_and_trains_only_the_new_one(tmp_path):
    first = invoke("compare", "mnist-relu-3layer,mnist-sigmoid-3layer", *TINY, "--out", tmp_path, "--needed", "--json")
    assert first.exit_code == 0, first.output
    again = invoke("compare", "mnist-relu-3layer,mnist-sigmoid-3layer", *TINY, "--out", tmp_path, "--needed", "--json")
    assert record_of(again.stdout)["run_dir"] == record_of(first.stdout)["run_dir"]  # nothing trained, no new run
    assert len(list(tmp_path.iterdir())) == 1
    more = invoke(
        "compare", "mnist-relu-3layer,mnist-sigmoid-3layer,mnist-relu-3layer-adam", *TINY, "--out", tmp_path,
        "--needed", "--json",
    )  # fmt: skip
    record = load_record(Path(record_of(more.stdout)["run_dir"]) / "record.json")
    reused = {r["variant"]: r["reused_from"] for r in record["results"]}
    earlier = Path(record_of(first.stdout)["run_dir"]).name
    assert reused == {"mnist-relu-3layer": earlier, "mnist-sigmoid-3layer": earlier, "mnist-relu-3layer-adam": None}
    old = {r["variant"]: r["test_accuracy"] for r in record_of(first.stdout)["results"]}
    assert all(r["test_accuracy"] == old[r["variant"]] for r in record["results"] if r["reused_from"])
    assert record["structures_compiled"] == 1  # only the Adam variant was compiled and trained
    other_epochs = invoke("train", "mnist-relu-3layer", "--epochs", "1", "--train-size", "300", "--out", tmp_path,
                          "--needed", "--json")  # fmt: skip
    assert record_of(other_epochs.stdout)["results"][0].get("reused_from") is None


def test_the_report_shows_the_run_that_finished_an_interrupted_one(tmp_path):
    from dlrun.output.report import write_report

    def run(name: str, started: float, complete: bool):
        folder = tmp_path / "runs" / name
        folder.mkdir(parents=True)
        record = {"command": "compare", "name": "losses", "data": {}, "results": [], "complete": complete,
                  "started": started}  # fmt: skip
        (folder / "record.json").write_text(json.dumps(record))

    run("20261201-000000-000000-losses", 1.0, complete=False)
    run("20261201-000100-000000-losses", 2.0, complete=True)
    markdown, _ = write_report([tmp_path / "runs"], tmp_path / "report")
    text = markdown.read_text()
    assert "20261201-000100-000000-losses" in text and "20261201-000000-000000-losses" not in text


def test_parse_setting_splits_at_the_first_equals_sign():
    assert parse_setting("task.name = a=b ") == ("task.name", "a=b")
    assert parse_setting("optimizer.learning_rate=1e-3") == ("optimizer.learning_rate", "1e-3")
