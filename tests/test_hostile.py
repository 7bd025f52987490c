"""What a careless or hostile user types or leaves on disk: paths that look like Rich
markup, resumes of the wrong thing or of changed data, damaged checkpoints, concurrent
resumes, long names, and failures before training. One clear line each, no traceback,
nothing half-written or left behind."""

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from dlrun.cli import app
from dlrun.run import runner
from dlrun.run.request import folder_label

QUICK = ["--epochs", "2", "--train-size", "200"]


def run_cli(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def one_line_error(result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def write_idx(folder: Path, n_train: int = 300, n_test: int = 100, seed: int = 0) -> None:
    """Four raw IDX files of random digits: a small MNIST in its standard form."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(
            (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (n, 28, 28)) + images.tobytes()
        )
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(
            (2049).to_bytes(4, "big") + n.to_bytes(4, "big") + labels.tobytes()
        )


# --------------------------------------------------------------------------- markup


def test_paths_that_look_like_markup_are_printed_as_they_are(tmp_path):
    out = tmp_path / "o[/]ut"
    result = run_cli("train", "mnist-relu-3layer", *QUICK, "--out", str(out))
    assert result.exit_code == 0, result.output
    (run_dir,) = out.iterdir()
    assert f"record: {run_dir}/record.json" in result.output.replace("\n", "")


def test_a_bracketed_out_folder_is_named_not_eaten(tmp_path):
    (tmp_path / "runs").mkdir()  # a folder the eaten name would point to
    out = tmp_path / "runs[draft]"
    result = run_cli("train", "mnist-relu-3layer", *QUICK, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "runs[draft]" in result.output and list((tmp_path / "runs").iterdir()) == []


def test_a_data_dir_that_looks_like_markup_gets_a_clean_error(tmp_path):
    data_dir = tmp_path / "x[/]y"
    one_line_error(run_cli("train", "mnist-relu-3layer", "--data-dir", str(data_dir)), 1, str(data_dir))
    one_line_error(run_cli("train", "mnist-relu-3layer", env={"DLRUN_DATA_DIR": "/tmp/[/]"}), 1, "/tmp/[/]")


def test_npz_errors_keep_the_array_names(tmp_path):
    x = np.zeros((600, 28, 28), np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=np.zeros(500, np.uint8), x_test=x[:10], y_test=np.zeros(10))
    result = run_cli("train", "mnist-relu-3layer", "--data-dir", str(tmp_path))
    one_line_error(result, 1, "mnist.npz[x_train] has 600 images but", "mnist.npz[y_train] has 500 labels")


# --------------------------------------------------------------------------- resume


def interrupted_run(tmp_path: Path, monkeypatch, *options: str, hint: list | None = None) -> Path:
    """A `compare` of two variants stopped (Ctrl-C) during the second one's second epoch;
    `hint` gets the command it printed to continue."""
    record_epoch, calls = runner.Cohort._record, {"n": 0}

    def stop_in_the_second_variant(self, epoch, metrics, best_epoch):
        calls["n"] += 1
        if calls["n"] == 5:  # after the second variant's epoch-0 checkpoint
            raise KeyboardInterrupt
        return record_epoch(self, epoch, metrics, best_epoch)

    monkeypatch.setattr(runner.Cohort, "_record", stop_in_the_second_variant)
    result = run_cli(
        "compare",
        "mnist-relu-3layer,mnist-relu-3layer-adam",
        "--epochs",
        "3",
        "--train-size",
        "200",
        "--checkpoint-every",
        "1",
        "--out",
        str(tmp_path),
        *options,
    )
    monkeypatch.undo()
    assert result.exit_code == 130, result.output
    (run_dir,) = [p for p in tmp_path.iterdir() if (p / "record.json").is_file()]
    if hint is not None:
        hint += [line.split("to continue: ", 1)[1] for line in result.output.splitlines() if "to continue: " in line]
    return run_dir


NAMES = "mnist-relu-3layer,mnist-relu-3layer-adam"


def test_a_resume_refuses_changed_data_unless_told(tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_idx(data / "mnist")
    run_dir = interrupted_run(tmp_path / "runs", monkeypatch, "--data-dir", str(data))
    write_idx(data / "mnist", seed=1)  # the data changes between the stop and the resume
    one_line_error(
        run_cli("compare", NAMES, "--resume-from", str(run_dir)), 1, "the data changed", "--allow-data-change"
    )
    assert json.loads((run_dir / "record.json").read_text())["complete"] is False  # untouched
    result = run_cli("compare", NAMES, "--resume-from", str(run_dir), "--allow-data-change")
    assert result.exit_code == 0, result.output


def test_a_resume_refuses_another_lesson_and_changed_options(tmp_path, monkeypatch):
    run_dir = interrupted_run(tmp_path, monkeypatch)
    one_line_error(run_cli("train", "mnist-relu-3layer", "--resume-from", str(run_dir)), 2, "is a run of `compare")
    for option, value in (("--epochs", "5"), ("--seeds", "2"), ("--lr", "0.5")):
        result = run_cli("compare", NAMES, "--resume-from", str(run_dir), option, value)
        one_line_error(result, 2, "recorded settings", value)
    one_line_error(run_cli("compare", NAMES, "--resume-from", ""), 2, "--resume-from needs a run id")
    same = run_cli("compare", NAMES, "--resume-from", str(run_dir), "--epochs", "3")  # the recorded value is fine
    assert same.exit_code == 0, same.output


def test_times_and_counts_accumulate_over_a_resume_and_a_finished_run_is_not_resumed(tmp_path, monkeypatch):
    run_dir = interrupted_run(tmp_path, monkeypatch)
    first = json.loads((run_dir / "record.json").read_text())
    assert run_cli("compare", NAMES, "--resume", "--out", str(tmp_path)).exit_code == 0
    final = json.loads((run_dir / "record.json").read_text())
    assert final["complete"] and final["started"] == first["started"]
    assert final["wall_s"] > first["wall_s"]
    assert final["structures_compiled"] >= first["structures_compiled"] + 1
    one_line_error(run_cli("compare", NAMES, "--resume-from", str(run_dir)), 1, "finished: nothing to resume")
    assert json.loads((run_dir / "record.json").read_text()) == final


def test_a_damaged_checkpoint_is_skipped_with_a_notice(tmp_path, monkeypatch):
    run_dir = interrupted_run(tmp_path, monkeypatch)
    folder = run_dir / "checkpoints" / "mnist-relu-3layer-adam"
    (folder / "epoch_foo.json").write_text("{}")  # a stray file: not one of ours
    for file in (folder / "epoch_0").rglob("*"):
        if file.is_file():
            file.write_bytes(b"garbage")
    result = run_cli("compare", NAMES, "--resume-from", str(run_dir), "--json")
    assert result.exit_code == 0, result.output
    assert "cannot be read" in result.stderr and "restart from epoch 0" in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.splitlines()) < 40
    assert [r["status"] for r in json.loads(result.stdout)["results"]] == ["ok", "ok"]


def test_a_second_resume_of_the_same_run_says_it_is_running(tmp_path, monkeypatch):
    run_dir = interrupted_run(tmp_path, monkeypatch)
    holder = subprocess.Popen(  # holds the run's lock, as a running resume does
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); f.write('4242'); f.flush();"
            "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
            str(run_dir / ".lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        one_line_error(run_cli("compare", NAMES, "--resume-from", str(run_dir)), 1, "already running (pid 4242)")
    finally:
        holder.kill()
    assert run_cli("compare", NAMES, "--resume-from", str(run_dir)).exit_code == 0


def test_the_hint_to_continue_is_shell_quoted(tmp_path, monkeypatch):
    hint = []
    run_dir = interrupted_run(tmp_path / "my runs", monkeypatch, hint=hint)
    (command,) = hint
    assert shlex.split(command) == ["dlrun", "compare", NAMES, "--resume-from", str(run_dir)]


# --------------------------------------------------------------------------- names, folders, files


def test_a_long_list_of_experiments_gets_a_short_folder_name():
    names = ",".join(
        [
            "mnist-relu-3layer",
            "mnist-relu-3layer-adam",
            "mnist-relu-3layer-momentum",
            "mnist-relu-3layer-adagrad",
            "mnist-relu-3layer-rmsprop",
            "mnist-relu-3layer-lr-decay",
            "mnist-relu-3layer-weight-decay",
            "mnist-leaky-relu-3layer",
            "mnist-maxout-3layer",
            "mnist-relu-thin-tall",
            "mnist-relu-fat-short",
        ]
    )
    label = folder_label(names)  # a file name may have at most 255 bytes
    assert len(names) > 255 and len(label) < 120 and label.startswith(names[:60])
    assert folder_label(names.replace("fat", "FAT")) != label  # a hash of the whole keeps two such runs apart
    assert folder_label("mnist-relu-3layer") == "mnist-relu-3layer"


def test_a_run_that_fails_before_training_leaves_no_folder(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("set-up failed")

    monkeypatch.setattr(runner, "set_up", broken)
    result = run_cli("train", "mnist-relu-3layer", *QUICK, "--out", str(tmp_path))
    one_line_error(result, 1, "internal error: RuntimeError: set-up failed")
    assert not any(tmp_path.rglob("record.json"))


def test_the_record_is_as_readable_as_the_pictures(tmp_path):
    previous = os.umask(0o022)
    try:
        assert run_cli("train", "mnist-relu-3layer", *QUICK, "--out", str(tmp_path)).exit_code == 0
    finally:
        os.umask(previous)
    (run_dir,) = tmp_path.iterdir()
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (run_dir / "record.json", run_dir / "curves.png")}
    assert modes == {"record.json": 0o644, "curves.png": 0o644}


def test_show_of_a_name_no_file_system_takes_is_an_unknown_name():
    result = run_cli("show", "x" * 300)
    one_line_error(result, 2, "unknown experiment, group or run id")


def test_a_record_without_a_request_cannot_be_resumed_and_says_why(tmp_path, monkeypatch):
    run_dir = interrupted_run(tmp_path, monkeypatch)
    record = json.loads((run_dir / "record.json").read_text())
    del record["request"]
    (run_dir / "record.json").write_text(json.dumps(record))
    one_line_error(run_cli("compare", NAMES, "--resume-from", str(run_dir)), 1, "records no request to resume")


def test_a_full_disk_during_a_checkpoint_is_one_line_and_leaves_no_temporary_folder(tmp_path, monkeypatch):
    import errno

    from dlrun.core import checkpoints

    real = checkpoints._orbax_alone

    class FullDisk:
        """orbax writing a checkpoint until the disk is full: its commit fails and leaves its
        temporary folder behind."""

        def __init__(self):
            self.real = real()

        def save(self, path, state):
            self.path = Path(path)
            self.real.save(path, state)

        def wait_until_finished(self):
            self.real.wait_until_finished()
            (self.path.parent / f"{self.path.name}.orbax-checkpoint-tmp-1234").mkdir()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoints, "_orbax_alone", FullDisk)
    result = run_cli("train", "mnist-relu-3layer", *QUICK, "--checkpoint-every", "1", "--out", str(tmp_path))
    one_line_error(result, 1, "could not write the checkpoint", "No space left on device")
    assert not list(tmp_path.rglob("*orbax-checkpoint-tmp*")) and not list(tmp_path.rglob("epoch_0"))
