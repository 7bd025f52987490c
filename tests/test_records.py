"""Saved run records are read with care: a record of the wrong shape, a link, a FIFO or a
device is reported as unreadable (naming the file and the problem) and never hides the
good runs; pictures are never read through links; two runs of the same name keep their
own pictures in a report; and text from records and paths is printed as written, never
read as Rich markup or Markdown. Hand-made records only: no training here."""

import base64
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from markdown_it import MarkdownIt
from matplotlib.image import imsave
from test_report import ANSI, PNG_MAGIC, invoke, make_record, save

from dlrun.errors import DlrunError
from dlrun.output.records import MAX_RECORD_BYTES, load_record

GOOD = make_record(
    "lr",
    2_000_000_000.0,
    [{"variant": "sane-lr", "status": "ok", "acc": 0.9, "reference": 0.96}],
    claims=[("sane is sane", "reproduced")],
)


def flat(text: str) -> str:
    """Output without colours, with every run of whitespace (line wraps included) as one space."""
    return " ".join(ANSI.sub("", text).split())


def changed(**changes) -> dict:
    return json.loads(json.dumps(dict(GOOD, **changes)))


def with_result(**changes) -> dict:
    record = changed()
    record["results"][0].update(changes)
    return record


def without_variant() -> dict:
    record = changed()
    del record["results"][0]["variant"]
    return record


# (what is wrong, the record's text, a word the reason must contain)
BAD = [
    ("a list", "[]", "record"),
    ("null", "null", "record"),
    ("not JSON", '{"command": "compare", ', "JSON"),
    ("results a string", json.dumps(changed(results="abc")), "results"),
    ("a result without variant", json.dumps(without_variant()), "variant"),
    ("a result that is a number", json.dumps(changed(results=[3])), "results[0]"),
    ("started 1e300", json.dumps(changed(started=1e300)), "started"),
    ("started a string", json.dumps(changed(started="yesterday")), "started"),
    ("accuracy a string", json.dumps(with_result(test_accuracy="0.9")), "test_accuracy"),
    ("accuracy a bool", json.dumps(with_result(test_accuracy=True)), "test_accuracy"),
    ("wall time too large", json.dumps(with_result(wall_s=10**400)), "wall_s"),
    ("reference NaN", json.dumps(with_result(reference=math.nan)), "reference"),
    ("epochs a float", json.dumps(with_result(epochs=2.5)), "epochs"),
    ("status a number", json.dumps(with_result(status=1)), "status"),
    ("no command", json.dumps({k: v for k, v in GOOD.items() if k != "command"}), "command"),
    ("name a number", json.dumps(changed(name=7)), "name"),
    ("data a list", json.dumps(changed(data=[])), "data"),
    ("train size a string", json.dumps(changed(data=dict(GOOD["data"], train_size="100"))), "train_size"),
    ("columns not pairs", json.dumps(changed(columns=[["test_accuracy"]])), "columns[0]"),
    ("a claim without text", json.dumps(changed(claims=[{"claim": {}, "verdict": "x", "evidence": "y"}])), "text"),
    ("a claim a string", json.dumps(changed(claims=["sane"])), "claims[0]"),
    ("history a list", json.dumps(changed(history=[])), "history"),
    ("an epoch of strings", json.dumps(changed(history={"sane-lr": [{"test_accuracy": ["a"]}]})), "history"),
    ("a description a number", json.dumps(changed(configs={"sane-lr": {"description": 3}})), "description"),
    ("nested too deeply", "[" * 100_000 + "]" * 100_000, "JSON"),
    ("a number of 5,000 digits", '{"command": ' + "1" * 5000 + "}", "JSON"),
]


@pytest.mark.parametrize("what, text, word", BAD, ids=[b[0] for b in BAD])
def test_load_record_names_the_file_and_the_problem(tmp_path, what, text, word):
    path = tmp_path / "record.json"
    path.write_text(text)
    with pytest.raises(DlrunError) as caught:
        load_record(path)
    message = str(caught.value)
    assert message.startswith(f"cannot read run record {path}: ") and word in message.split(": ", 1)[1]


def test_a_good_record_and_a_runner_record_without_optional_keys_load(tmp_path):
    save(tmp_path, "good", GOOD)
    assert load_record(tmp_path / "good" / "record.json")["name"] == "lr"
    minimal = {"command": "train", "name": "x", "data": {}, "results": [], "started": 1_790_000_000}
    save(tmp_path, "minimal", minimal)
    assert load_record(tmp_path / "minimal" / "record.json") == minimal


@pytest.mark.parametrize("what, text, word", BAD, ids=[b[0] for b in BAD])
def test_runs_lists_a_bad_record_as_unreadable_and_every_good_one(tmp_path, what, text, word):
    save(tmp_path, "good-run", GOOD)
    (tmp_path / "bad-run").mkdir()
    (tmp_path / "bad-run" / "record.json").write_text(text)
    result = invoke("runs", "--out", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    runs = {r["run_id"]: r for r in json.loads(result.stdout)}
    assert runs["good-run"]["status"] == "ok" and runs["good-run"]["headline"]["value"] == 0.9
    assert runs["bad-run"]["status"].startswith("unreadable record: ") and word in runs["bad-run"]["status"]

    result = invoke("runs", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in ANSI.sub("", result.stdout).splitlines() if "│" in line}
    assert "0.900" in rows["good-run"] and "unreadable record" in rows["bad-run"]


@pytest.mark.parametrize("what, text, word", BAD[:8], ids=[b[0] for b in BAD[:8]])
def test_show_a_bad_record_names_the_file_and_the_problem(tmp_path, what, text, word):
    (tmp_path / "bad-run").mkdir()
    (tmp_path / "bad-run" / "record.json").write_text(text)
    result = invoke("show", "bad-run", "--out", str(tmp_path))
    assert result.exit_code == 1
    err = flat(result.stderr)
    assert err.startswith(f"error: cannot read run record {tmp_path / 'bad-run' / 'record.json'}: ")
    assert word in err and "internal error" not in err and "Traceback" not in result.output


def test_report_skips_a_bad_record_with_a_notice_and_goes_on(tmp_path):
    for run_id, text in [("a-bad", "[]"), ("b-good", json.dumps(GOOD)), ("c-bad", json.dumps(changed(results="x")))]:
        (tmp_path / "runs" / run_id).mkdir(parents=True)
        (tmp_path / "runs" / run_id / "record.json").write_text(text)
    result = invoke("report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    for bad in ("a-bad", "c-bad"):
        assert f"notice: skipped: cannot read run record {tmp_path / 'runs' / bad / 'record.json'}: " in text
    page = (tmp_path / "out" / "report.html").read_text()
    assert "sane is sane" in page and "from 1 run record(s)" in page


def test_report_of_only_bad_records_fails_with_one_line(tmp_path):
    (tmp_path / "runs" / "bad").mkdir(parents=True)
    (tmp_path / "runs" / "bad" / "record.json").write_text("null")
    result = invoke("report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    (line,) = ANSI.sub("", result.stderr).strip().splitlines()
    assert line.startswith("error: no readable run record in ") and "internal error" not in line


# --------------------------------------------------------------------------- links, FIFOs, devices, sizes

RUNS = "import sys; from dlrun.cli import run_command; sys.exit(run_command(sys.argv[1:]))"


def _limit_memory():
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))  # /dev/zero read whole fails fast, not at 5 GB


def runs_json(root: Path) -> dict:
    """`dlrun runs --json` in a process of its own, bounded in time and memory."""
    done = subprocess.run(
        [sys.executable, "-c", RUNS, "runs", "--out", str(root), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_memory,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {r["run_id"]: r for r in json.loads(done.stdout)}


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_record_that_is_a_fifo_a_device_or_a_link_is_unreadable_and_never_read(tmp_path):
    save(tmp_path, "good", GOOD)
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "record.json")  # opening it to read would wait for a writer forever
    (tmp_path / "zero").mkdir()
    (tmp_path / "zero" / "record.json").symlink_to("/dev/zero")
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "record.json").symlink_to(tmp_path / "good" / "record.json")  # even to a good record
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "record.json").mkdir()
    runs = runs_json(tmp_path)
    assert runs["good"]["status"] == "ok"
    assert runs["fifo"]["status"] == "unreadable record: it is a FIFO, not a regular file"
    assert runs["zero"]["status"] == "unreadable record: it is a symbolic link (not followed), not a regular file"
    assert runs["link"]["status"] == runs["zero"]["status"]
    assert runs["dir"]["status"] == "unreadable record: it is a folder, not a regular file"


def test_a_record_above_the_size_bound_is_not_read(tmp_path):
    save(tmp_path, "good", GOOD)
    (tmp_path / "huge").mkdir()
    with open(tmp_path / "huge" / "record.json", "wb") as f:
        f.truncate(MAX_RECORD_BYTES + 1)  # sparse: no disk used
    runs = runs_json(tmp_path)
    assert runs["huge"]["status"].startswith("unreadable record: larger than 50 MB")
    assert runs["good"]["status"] == "ok"


def test_runs_and_report_do_not_follow_linked_folders(tmp_path):
    save(tmp_path / "elsewhere", "outside-run", GOOD)
    save(tmp_path / "runs", "inside-run", GOOD)
    (tmp_path / "runs" / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert list(runs_json(tmp_path / "runs")) == ["inside-run"]
    result = invoke("report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "from 1 run record(s)" in (tmp_path / "out" / "report.md").read_text()
    assert not (tmp_path / "out" / "outside-run").exists()


def test_report_never_reads_a_picture_through_a_link_a_fifo_or_above_the_bound(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"the contents of /etc/hostname, or a key")
    run = save(tmp_path / "runs", "run", GOOD)
    imsave(run / "filters.png", np.random.default_rng(0).random((28, 28)), cmap="gray")
    (run / "leak.png").symlink_to(secret)
    (run / "samples").mkdir()
    (run / "samples" / "leak.png").symlink_to(secret)
    (run / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    imsave(tmp_path / "elsewhere" / "outside.png", np.zeros((4, 4)), cmap="gray")
    os.mkfifo(run / "stuck.png")
    with open(run / "big.png", "wb") as f:
        f.truncate(21 * 2**20)
    if os.path.exists("/etc/hostname"):
        (run / "hostname.png").symlink_to("/etc/hostname")
    done = subprocess.run(
        [sys.executable, "-c", RUNS, "report", str(run), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "out"
    page = (out / "report.html").read_text()
    embedded = [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]
    assert len(embedded) == 2 and all(b[:8] == PNG_MAGIC for b in embedded)  # curves (redrawn) and filters.png
    assert base64.b64encode(secret.read_bytes()).decode() not in page and "leak.png" not in page
    for name in ("leak.png", "samples/leak.png", "stuck.png", "big.png", "hostname.png", "linked/outside.png"):
        assert not (out / "run" / name).exists()
        assert name not in (out / "report.md").read_text()
    text = flat(done.stdout)
    assert f"notice: picture {run / 'leak.png'} skipped: it is a symbolic link (not followed)" in text
    assert f"notice: picture {run / 'stuck.png'} skipped: it is a FIFO" in text
    assert f"notice: picture {run / 'big.png'} skipped: larger than 20 MB" in text


def test_a_linked_curves_png_is_not_copied(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not a picture")
    run = save(tmp_path / "runs", "run", GOOD)
    (run / "curves.png").symlink_to(secret)
    result = invoke("report", str(run), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "data:image/png;base64," not in (tmp_path / "out" / "report.html").read_text()
    assert not os.path.lexists(tmp_path / "out" / "run" / "curves.png")
    result = invoke("show", str(run))
    assert result.exit_code == 0 and "curves:" not in flat(result.stdout)


# --------------------------------------------------------------------------- runs of the same name


def test_two_runs_of_the_same_name_keep_their_own_pictures_and_anchors(tmp_path):
    first = make_record("a", 2_000_000_000.0, [{"variant": "x", "status": "ok", "acc": 0.9, "reference": None}])
    second = make_record("b", 2_000_000_100.0, [{"variant": "y", "status": "ok", "acc": 0.2, "reference": None}])
    save(tmp_path / "one", "run", first)
    save(tmp_path / "two", "run", second)
    for run in ("one", "two"):
        imsave(tmp_path / run / "run" / "filters.png", np.full((8, 8), 0.0 if run == "one" else 1.0), cmap="gray")
    out = tmp_path / "out"
    result = invoke("report", str(tmp_path / "one" / "run"), str(tmp_path / "two" / "run"), "--out", str(out))
    assert result.exit_code == 0, result.output
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (out / "report.md").read_text())
    assert links == ["run/curves.png", "run/filters.png", "run-2/curves.png", "run-2/filters.png"]
    assert (out / "run" / "curves.png").read_bytes() != (out / "run-2" / "curves.png").read_bytes()
    assert (out / "run" / "filters.png").read_bytes() == (tmp_path / "one" / "run" / "filters.png").read_bytes()
    assert (out / "run-2" / "filters.png").read_bytes() == (tmp_path / "two" / "run" / "filters.png").read_bytes()
    page = (out / "report.html").read_text()
    ids = re.findall(r'<section id="([^"]+)"', page)
    assert ids == ["run", "run-2"]
    sections = page.split("<section ")[1:]
    curves = [re.findall(r"base64,([A-Za-z0-9+/=]+)", s)[0] for s in sections]
    assert base64.b64decode(curves[0]) == (out / "run" / "curves.png").read_bytes()
    assert base64.b64decode(curves[1]) == (out / "run-2" / "curves.png").read_bytes()


def test_a_run_folder_named_like_the_report_files_gets_its_own_folder(tmp_path):
    save(tmp_path / "runs", "report.md", GOOD)
    result = invoke("report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "report.md").is_file() and (tmp_path / "out" / "report.md-2" / "curves.png").is_file()


# --------------------------------------------------------------------------- markup


EVIL = make_record(
    "evil[/]",
    2_000_000_000.0,
    [{"variant": "[draft] v[/]", "status": "ok", "acc": 0.9, "reference": 0.5}],
    claims=[("[bold]a[/bold] beats *b* <script>", "reproduced")],
)
EVIL["data"]["source"] = "[red]data[/] | *x* _y_ `z`"
EVIL["data"]["notice"] = "sample [draft] <b>bold</b> [link](http://x)"
EVIL["claims"][0]["evidence"] = "[/] evidence"
EVIL["environment"]["jax"] = "[/]"


def test_runs_and_show_print_markup_in_names_and_paths_as_written(tmp_path):
    root = tmp_path / "runs[draft]"
    save(root, "run[bold]x", EVIL)
    result = invoke("runs", "--out", str(root))
    assert result.exit_code == 0, result.output
    text = ANSI.sub("", result.stdout)
    (row,) = [line for line in text.splitlines() if "run[bold]x" in line]
    assert "compare evil[/]" in row and "[red]data[/]" in row and "[draft] v[/]" in row
    assert "runs[draft]" in flat(result.stdout)

    result = invoke("show", "run[bold]x", "--out", str(root))
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    for literal in ("run run[bold]x", "jax [/]", "compare evil[/]", "[draft] v[/]", "[red]data[/]", "[/] evidence"):
        assert literal in text
    assert "[bold]a[/bold] beats *b* <script>" in text
    assert f"record: {root / 'run[bold]x' / 'record.json'}" in text

    result = invoke("show", str(root / "run[bold]x"))
    assert result.exit_code == 0, result.output


def test_runs_keeps_the_status_colours(tmp_path):
    save(tmp_path, "good", GOOD)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "record.json").write_text("[]")
    from rich.console import Console

    from dlrun.output.runs import listing, runs_table

    console = Console(force_terminal=True, color_system="standard", width=200)
    with console.capture() as captured:
        console.print(runs_table(listing(tmp_path), tmp_path))
    text = captured.get()
    assert "\x1b[32mok" in text  # green
    assert "\x1b[1;31munreadable record" in text  # bold red


def test_markdown_report_shows_names_notices_and_claims_literally(tmp_path):
    save(tmp_path / "runs", "run [1] (x) *y*", EVIL)
    imsave(tmp_path / "runs" / "run [1] (x) *y*" / "a b.png", np.zeros((4, 4)), cmap="gray")
    out = tmp_path / "out"
    result = invoke("report", str(tmp_path / "runs"), "--out", str(out))
    assert result.exit_code == 0, result.output
    source = (out / "report.md").read_text()
    rendered = MarkdownIt("commonmark").enable("table").render(source)
    for literal in (
        "compare evil[/]",
        "[draft] v[/]",
        "[red]data[/] | *x* _y_ `z`",
        "sample [draft] &lt;b&gt;bold&lt;/b&gt; [link](http://x)",
        "[bold]a[/bold] beats *b* &lt;script&gt;",
        "[/] evidence",
    ):
        assert literal in rendered, literal
    assert "<script>" not in rendered and "<b>" not in rendered and 'href="http://x"' not in rendered
    assert "<em>b</em>" not in rendered and "<em>y</em>" not in rendered
    images = re.findall(r'<img src="([^"]+)" alt="([^"]*)"', rendered)
    assert sorted(alt for _, alt in images) == ["a b.png", "learning curves"]
    for src, _ in images:
        assert (out / unquote(src)).is_file()  # the link works, whatever the folder's name


def test_html_report_still_escapes_everything(tmp_path):
    save(tmp_path / "runs", "run<x>", EVIL)
    result = invoke("report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<script>" not in page and "<b>bold" not in page and "run<x>" not in page
    assert "&lt;script&gt;" in page and "<code>run&lt;x&gt;</code>" in page and 'id="run-x"' in page
