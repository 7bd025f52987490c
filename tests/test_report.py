"""Learning-curve PNGs, `dlrun report` (Markdown + self-contained HTML), `dlrun runs` and
`dlrun show RUN_ID`. One tiny real comparison through the CLI (bundled MNIST sample,
DLRUN_NO_TFDS=1 from conftest.py), plus hand-made records for the cases a short run
cannot produce (a diverged history, every verdict, an interrupted run, family pictures)."""

import base64
import json
import math
import re
import shutil

import numpy as np
import pytest
from matplotlib.image import imread, imsave
from typer.testing import CliRunner

from dlrun.cli import app
from dlrun.output import plots

ANSI = re.compile(r"\x1b\[[0-9;]*m")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TAB10_BLUE, TAB10_ORANGE = (31, 119, 180), (255, 127, 14)  # the first two variants' colours


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def plain(text: str) -> str:
    return ANSI.sub("", text)


def pixels(path) -> np.ndarray:
    """RGB 0-255 integers of a PNG, decoded by matplotlib (fails on a broken file)."""
    return np.rint(imread(path)[..., :3] * 255).astype(int)


def has_colour(image: np.ndarray, rgb: tuple[int, int, int], at_least: int = 50) -> bool:
    return int(np.all(np.abs(image - np.array(rgb)) <= 3, axis=-1).sum()) >= at_least


def assert_real_plot(path) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = pixels(path)
    assert image.shape[0] > 500 and image.shape[1] > 800  # readable at README size
    packed = image[..., 0] * 65536 + image[..., 1] * 256 + image[..., 2]
    assert len(np.unique(packed)) > 50  # not a blank or single-colour canvas
    return image


# --------------------------------------------------------------------------- a real run


@pytest.fixture(scope="module")
def losses_run(tmp_path_factory):
    """`compare losses` for 2 epochs on 300 images and 2 seeds: (run folder, record)."""
    out = tmp_path_factory.mktemp("runs")
    result = invoke("compare", "losses", "--epochs", "2", "--train-size", "300", "--seeds", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    (record_path,) = out.glob("*/record.json")
    return record_path.parent, json.loads(record_path.read_text())


def test_compare_saves_learning_curves_beside_the_record(losses_run):
    run_dir, _ = losses_run
    image = assert_real_plot(run_dir / plots.CURVES_NAME)
    assert has_colour(image, TAB10_BLUE) and has_colour(image, TAB10_ORANGE)  # both variants drawn


@pytest.fixture(scope="module")
def report_dir(losses_run, tmp_path_factory):
    run_dir, _ = losses_run
    out = tmp_path_factory.mktemp("reports")
    result = invoke("report", str(run_dir), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "report.md" in plain(result.stdout) and "report.html" in plain(result.stdout)
    return out


def test_html_report_shows_our_numbers_the_lecture_numbers_and_the_verdict(losses_run, report_dir):
    _, record = losses_run
    page = (report_dir / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page  # inline CSS, one file
    for r in record["results"]:
        assert f"{r['test_accuracy']:.3f} ± {r['test_accuracy_std']:.3f}" in page
        assert f">{r['reference']:.2f}<" in page  # the lecture's number in its own cell
    (claim,) = record["claims"]
    assert claim["claim"]["text"] in page and claim["evidence"] in page
    verdict_class = "v-" + claim["verdict"].replace(" ", "-")
    assert f'<span class="badge {verdict_class}">{claim["verdict"]}</span>' in page


def test_html_report_embeds_the_curves_as_base64_png(report_dir):
    page = (report_dir / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 1
    assert base64.b64decode(images[0])[:8] == PNG_MAGIC
    assert 'src="http' not in page and "<link" not in page  # nothing fetched from elsewhere


def test_markdown_report_links_pictures_that_exist_beside_it(report_dir):
    text = (report_dir / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links and all(link.endswith(plots.CURVES_NAME) for link in links)
    for link in links:
        assert_real_plot(report_dir / link)
    assert "| variant | lecture | dlrun test acc | Δ lecture |" in text


def test_report_includes_pictures_a_family_saved_with_their_file_name(losses_run, tmp_path):
    run_dir, _ = losses_run
    copy = shutil.copytree(run_dir, tmp_path / "runs" / run_dir.name)
    picture = copy / "filters.png"
    imsave(picture, np.random.default_rng(0).random((28, 28)), cmap="gray")
    result = invoke("report", str(copy), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "<figcaption>filters.png</figcaption>" in page
    assert f"({run_dir.name}/filters.png)" in (tmp_path / "out" / "report.md").read_text()
    assert (tmp_path / "out" / run_dir.name / "filters.png").read_bytes() == picture.read_bytes()


def test_report_without_arguments_reads_every_run_under_runs(losses_run, tmp_path, monkeypatch):
    run_dir, _ = losses_run
    shutil.copytree(run_dir, tmp_path / "runs" / "reproduce" / run_dir.name)  # nested, as make reproduce-all does
    monkeypatch.chdir(tmp_path)
    result = invoke("report")
    assert result.exit_code == 0, result.output
    assert "## compare losses" in (tmp_path / "reports" / "report.md").read_text()
    assert "data:image/png;base64," in (tmp_path / "reports" / "report.html").read_text()


def test_runs_lists_the_run_with_its_best_test_accuracy(losses_run):
    run_dir, record = losses_run
    best = max(record["results"], key=lambda r: r["test_accuracy"])
    text = plain(invoke("runs", "--out", str(run_dir.parent)).stdout)
    (row,) = [line for line in text.splitlines() if run_dir.name in line]
    assert "compare losses" in row and f"{best['test_accuracy']:.3f}" in row and "ok" in row


def test_runs_json_is_for_scripts(losses_run):
    run_dir, record = losses_run
    result = invoke("runs", "--out", str(run_dir.parent), "--json")
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)
    best = max(record["results"], key=lambda r: r["test_accuracy"])
    assert run["run_id"] == run_dir.name and run["status"] == "ok"
    assert run["headline"] == {
        "metric": "test_accuracy",
        "label": "test acc",
        "value": best["test_accuracy"],
        "variant": best["variant"],
    }


@pytest.mark.parametrize("how", ["run id", "path"])
def test_show_run_prints_its_results_table_and_claims(losses_run, how):
    run_dir, record = losses_run
    name = run_dir.name if how == "run id" else str(run_dir)
    result = invoke("show", name, "--out", str(run_dir.parent))
    assert result.exit_code == 0, result.output
    text = plain(result.stdout)
    rows = {line.split("│")[1].strip(): line for line in text.splitlines() if line.count("│") >= 3}
    for r in record["results"]:
        assert f"{r['reference']:.2f}" in rows[r["variant"]]
        assert f"{r['test_accuracy']:.3f}" in rows[r["variant"]]
    assert record["claims"][0]["verdict"] in text


def test_show_unknown_name_exits_2_with_one_clear_message(tmp_path):
    result = invoke("show", "no-such-run", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    err = " ".join(plain(result.stderr).split())
    assert err.startswith("error: unknown experiment, group or run id 'no-such-run'") and "dlrun runs" in err


def test_a_plotting_failure_never_loses_the_run(tmp_path, monkeypatch):
    def broken(record, path):
        raise RuntimeError("no fonts here")

    monkeypatch.setattr(plots, "write_curves", broken)
    result = invoke("compare", "losses", "--epochs", "1", "--train-size", "300", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "learning curves not saved" in " ".join(plain(result.output).split())
    (record,) = tmp_path.glob("*/record.json")
    assert len(json.loads(record.read_text())["results"]) == 2
    assert not list(tmp_path.glob("*/*.png"))


# --------------------------------------------------------------------------- hand-made records


def make_record(name: str, started: float, results: list[dict], claims=(), epochs: int = 4) -> dict:
    """A record as the runner writes it; each result gives variant, status, test accuracy
    and reference, and a history that climbs towards it (NaN after a divergence)."""
    history = {}
    for r in results:
        accuracy = [
            None if r["status"] == "diverged" and e >= 2 else r["acc"] * (e + 1) / epochs for e in range(epochs)
        ]
        history[r["variant"]] = [
            {
                "train_accuracy": [a, a],
                "test_accuracy": [a, a and a - 0.01],
                "train_loss": [None if a is None else 2.3 - 2 * a, math.nan if a is None else 2.2 - 2 * a],
                "test_loss": [None, None] if a is None else [2.4 - 2 * a] * 2,
                "best_val_score": [-1.0, -1.0],
            }
            for a in accuracy
        ]
    return {
        "command": "compare",
        "name": name,
        "run_dir": f"runs/{name}",
        "started": started,
        "complete": True,
        "data": {"source": "hand-made <test> data", "train_size": 100, "test_size": 50, "sha256": "0", "notice": None},
        "columns": [["test_accuracy", "test acc"], ["train_accuracy", "train acc"], ["test_loss", "test loss"]],
        "results": [
            {
                "variant": r["variant"],
                "status": r["status"],
                "reference": r.get("reference"),
                "test_accuracy": None if r["status"] == "diverged" else r["acc"],
                "test_accuracy_std": 0.01,
                "train_accuracy": None if r["status"] == "diverged" else r["acc"],
                "test_loss": 0.5,
                "seeds": [0, 1],
                "epochs": epochs,
                "wall_s": 1.0,
                "compile_s": 0.5,
            }
            for r in results
        ],
        "claims": [
            {"claim": {"text": text}, "verdict": verdict, "evidence": f"difference {i}"}
            for i, (text, verdict) in enumerate(claims)
        ],
        "configs": {r["variant"]: {"description": f"about {r['variant']}"} for r in results},
        "environment": {"jax": "0.0", "device": "cpu", "backend": "cpu"},
        "history": history,
    }


def save(root, run_id: str, record: dict):
    (root / run_id).mkdir(parents=True)
    (root / run_id / "record.json").write_text(json.dumps(record))
    return root / run_id


DIVERGED = make_record(
    "lr",
    2_000_000_000.0,
    [
        {"variant": "sane-lr", "status": "ok", "acc": 0.9, "reference": 0.96},
        {"variant": "absurd-lr", "status": "diverged", "acc": 0.3, "reference": None},
    ],
    claims=[("sane beats absurd", "inconclusive")],
)


def test_a_diverged_history_with_nan_and_null_still_plots(tmp_path):
    path = plots.write_curves(json.loads(json.dumps(DIVERGED).replace("NaN", "null")), tmp_path / "a.png")
    image = assert_real_plot(path)
    assert has_colour(image, TAB10_BLUE) and has_colour(image, TAB10_ORANGE)
    record = dict(DIVERGED, history={"absurd-lr": [{"test_accuracy": [math.nan, math.inf]}] * 3})  # nothing finite
    assert pixels(plots.write_curves(record, tmp_path / "b.png")).size  # one row of panels, empty but valid


def test_saving_curves_into_a_missing_folder_is_a_notice_not_an_error(tmp_path, capsys):
    assert plots.save_curves(DIVERGED, tmp_path / "gone") is None
    assert "learning curves not saved" in " ".join(capsys.readouterr().out.split())


def test_html_colours_every_verdict_and_escapes_text(tmp_path):
    record = make_record(
        "many",
        2_000_000_000.0,
        [
            {"variant": "a", "status": "ok", "acc": 0.9, "reference": 0.5},
            {"variant": "b", "status": "ok", "acc": 0.4, "reference": 0.84},
        ],
        claims=[("a beats b", "reproduced"), ("b beats a", "not reproduced"), ("a ties b", "inconclusive")],
    )
    save(tmp_path / "runs", "r1", record)
    result = invoke("report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "report.html").read_text()
    for verdict in ("reproduced", "not-reproduced", "inconclusive"):
        assert f'class="badge v-{verdict}"' in page and f".v-{verdict} {{" in page
    assert "1 of 3 claims reproduced" in page
    assert "hand-made &lt;test&gt; data" in page and "<test>" not in page
    assert ">+0.40<" in page and ">-0.44<" in page  # ours minus the lecture's number


def test_runs_lists_newest_first_with_a_status_summary(tmp_path):
    interrupted = make_record(
        "opt",
        2_100_000_000.0,
        [
            {"variant": "sgd", "status": "ok", "acc": 0.8, "reference": None},
            {"variant": "adam", "status": "interrupted", "acc": 0.85, "reference": None},
        ],
    )
    save(tmp_path, "older-lr", DIVERGED)
    save(tmp_path / "reproduce", "newer-opt", interrupted)
    runs = json.loads(invoke("runs", "--out", str(tmp_path), "--json").stdout)
    assert [r["run_id"] for r in runs] == ["newer-opt", "older-lr"]
    assert runs[0]["status"] == "interrupted after 1/2 variants"
    assert runs[1]["status"] == "1 diverged"
    assert runs[1]["headline"]["value"] == 0.9 and runs[1]["headline"]["variant"] == "sane-lr"


def test_show_a_run_with_a_diverged_variant(tmp_path):
    save(tmp_path, "older-lr", DIVERGED)
    result = invoke("show", "older-lr", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    text = plain(result.stdout)
    assert "diverged" in text and "inconclusive" in text and "0.96" in text


def test_matplotlib_is_imported_only_when_drawing():
    """`dlrun list` and the start of a run must not pay for matplotlib."""
    import subprocess
    import sys

    code = "import sys, dlrun.cli, dlrun.output.plots, dlrun.output.runs; print('matplotlib' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )
