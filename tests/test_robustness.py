"""Runs that survive faults and bad input: resume, signals, unwritable or full disks,
divergence inside a comparison, debug tracebacks; and the scale-out paths (several
devices, the persistent compilation cache), each checked in a fresh process."""

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dlrun import files
from dlrun.cli import app
from dlrun.core import checkpoints
from dlrun.core import trainer as train_module
from dlrun.core.config import resolved
from dlrun.core.registry import get_experiment
from dlrun.run import runner
from dlrun.run.request import Overrides, RunRequest, build_request, find_resumable, resume_request

DLRUN = [sys.executable, "-m", "dlrun.cli"]
SMALL = Overrides(epochs=4, train_size=600)


def run_cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_resume_ends_with_the_numbers_of_an_uninterrupted_run(tmp_path, monkeypatch):
    full = runner.run(build_request("compare", "regularization", SMALL, (0, 1), None, tmp_path / "a"))
    record_epoch, calls = train_module._record_epoch, {"n": 0}

    def interrupt_on_the_sixth_epoch_record(*args):
        calls["n"] += 1
        if calls["n"] == 6:  # second variant, second epoch: after its epoch-0 checkpoint
            raise KeyboardInterrupt
        return record_epoch(*args)

    monkeypatch.setattr(train_module, "_record_epoch", interrupt_on_the_sixth_epoch_record)
    out = tmp_path / "b"
    part = runner.run(build_request("compare", "regularization", SMALL, (0, 1), None, out, checkpoint_every=1))
    assert [r["status"] for r in part["results"]] == ["ok", "interrupted"] and not part["complete"]
    monkeypatch.setattr(train_module, "_record_epoch", record_epoch)
    resumed = runner.run(
        resume_request(find_resumable(out, "compare", "regularization"), "compare", "regularization", {})
    )
    assert resumed["complete"] and resumed["run_dir"] == part["run_dir"]
    for a, b in zip(full["results"], resumed["results"]):
        assert (a["variant"], a["epochs"], a["status"]) == (b["variant"], b["epochs"], b["status"])
        assert a["test_accuracy"] == b["test_accuracy"] and a["test_loss"] == b["test_loss"]
    assert not (Path(part["run_dir"]) / "checkpoints" / "mnist-relu-3layer-weight-decay").exists()


def test_resume_without_an_unfinished_run_is_a_clear_error(tmp_path):
    result = run_cli("train", "mnist-relu-3layer", "--resume", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "no unfinished train of 'mnist-relu-3layer'" in result.output and "Traceback" not in result.output


def test_sigterm_keeps_finished_epochs_and_exits_143(tmp_path):
    env = dict(os.environ, DLRUN_NO_TFDS="1", XDG_CACHE_HOME=str(tmp_path / "cache"))
    args = [
        "train",
        "mnist-relu-3layer",
        "--epochs",
        "10000",
        "--train-size",
        "300",
        "--batch-size",
        "100",
        "--checkpoint-every",
        "1",
        "--out",
        str(tmp_path),
    ]
    process = subprocess.Popen(DLRUN + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not list(tmp_path.glob("*/checkpoints/*/epoch_*.json")) and time.time() < deadline:
        time.sleep(0.2)  # training is under way once the first checkpoint is complete
    process.send_signal(signal.SIGTERM)  # whenever it lands (an epoch, a write), the outcome is the same
    assert process.wait(timeout=60) == 143
    record = json.loads(next(tmp_path.glob("*/record.json")).read_text())
    (result,) = record["results"]
    assert result["status"] == "interrupted" and result["epochs"] >= 1 and not record["complete"]
    assert not list(tmp_path.rglob("*.tmp"))  # nothing half-written


class SigtermDuringAWrite:
    """Sends this process SIGTERM at a chosen point inside a write in the run folder: just
    before a file named `target` is renamed into place (a record or checkpoint marker), or
    while orbax writes a checkpoint's state. Deterministic, where a polling loop is not."""

    def __init__(self, monkeypatch, target: str, nth: int = 1):
        self.target, self.nth, self.seen, self.sent = target, nth, 0, False
        replace, orbax_alone = os.replace, checkpoints._orbax_alone

        def replace_after_sigterm(src, dst, **kwargs):
            self._maybe_send(Path(dst).name)
            return replace(src, dst, **kwargs)

        class OrbaxSentDuringItsWrite:
            def __init__(inner):
                inner.real = orbax_alone()

            def save(inner, *args, **kwargs):
                inner.real.save(*args, **kwargs)
                self._maybe_send("orbax state")  # orbax's own temporary folder exists now

            def wait_until_finished(inner):
                inner.real.wait_until_finished()

        monkeypatch.setattr(os, "replace", replace_after_sigterm)
        monkeypatch.setattr(checkpoints, "_orbax_alone", OrbaxSentDuringItsWrite)

    def _maybe_send(self, name: str) -> None:
        if not self.sent and name.startswith(self.target):
            self.seen += 1
            if self.seen == self.nth:
                self.sent = True
                os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.parametrize(
    "target, nth",
    [
        ("orbax state", 1),  # the first checkpoint's state, while orbax writes it
        ("epoch_0.json", 1),  # the first checkpoint's marker
        ("record.json", 2),  # the record rewritten after the first variant
    ],
)
def test_sigterm_during_a_write_completes_the_write_then_stops(tmp_path, monkeypatch, target, nth):
    hook = SigtermDuringAWrite(monkeypatch, target, nth)
    names = "mnist-relu-3layer,mnist-relu-3layer-adam"
    result = run_cli(
        "compare", names, "--epochs", "3", "--train-size", "300", "--checkpoint-every", "1", "--out", str(tmp_path)
    )
    assert hook.sent and result.exit_code == 143, result.output
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("*orbax-checkpoint-tmp*"))
    (run_dir,) = tmp_path.iterdir()
    record = json.loads((run_dir / "record.json").read_text())
    assert not record["complete"]
    for marker in run_dir.glob("checkpoints/*/epoch_*.json"):  # every checkpoint left is whole
        assert json.loads(marker.read_text())["epoch"] == 0 and marker.with_suffix("").is_dir()
    monkeypatch.undo()
    resumed = run_cli("compare", names, "--resume", "--out", str(tmp_path), "--json")
    assert resumed.exit_code == 0, resumed.output
    assert [r["status"] for r in json.loads(resumed.stdout)["results"]] == ["ok", "ok"]


def test_unwritable_out_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli(
        "train", "mnist-relu-3layer", "--epochs", "1", "--train-size", "200", "--out", str(blocker / "runs")
    )
    assert result.exit_code == 1
    assert "cannot create the run folder" in result.output and "Traceback" not in result.output


def test_disk_full_while_writing_a_record_is_reported_and_leaves_no_partial_file(tmp_path, monkeypatch):
    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", disk_full)
    result = run_cli("train", "mnist-relu-3layer", "--epochs", "1", "--train-size", "200", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "No space left on device" in result.output and "Traceback" not in result.output
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("record.json"))


def test_a_diverging_variant_leaves_the_others_of_a_comparison_intact(tmp_path):
    from dataclasses import replace

    sane = resolved(replace(get_experiment("mnist-relu-3layer"), epochs=2, train_size=500))
    wild = replace(sane, name="wild", optimizer=replace(sane.optimizer, learning_rate=1e6))
    request = RunRequest("compare", "mixed", (wild, sane), None, (0,), None, tmp_path)
    record = runner.run(request)
    by_name = {r["variant"]: r for r in record["results"]}
    assert by_name["wild"]["status"] == "diverged" and by_name["wild"]["test_accuracy"] is None
    assert by_name["mnist-relu-3layer"]["status"] == "ok" and by_name["mnist-relu-3layer"]["test_accuracy"] > 0.5
    alone = runner.run(RunRequest("train", "sane", (sane,), None, (0,), None, tmp_path))
    assert alone["results"][0]["test_accuracy"] == by_name["mnist-relu-3layer"]["test_accuracy"]


def test_internal_errors_are_one_line_unless_debug(tmp_path, monkeypatch):
    def broken(request):
        raise RuntimeError("boom")

    monkeypatch.setattr(runner, "run", broken)
    quiet = run_cli("train", "mnist-relu-3layer", "--out", str(tmp_path))
    assert quiet.exit_code == 1 and "internal error: RuntimeError: boom" in quiet.output
    assert "Traceback" not in quiet.output
    loud = run_cli("--debug", "train", "mnist-relu-3layer", "--out", str(tmp_path))
    assert isinstance(loud.exception, RuntimeError)


@pytest.mark.parametrize("content, message", [(None, "does not exist"), (b"", "")])
def test_bad_data_dir_is_a_clear_error(tmp_path, content, message):
    data_dir = tmp_path / "data"
    if content is not None:
        (data_dir / "mnist").mkdir(parents=True)
        (data_dir / "mnist" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 12)
    result = run_cli("train", "mnist-relu-3layer", "--epochs", "1", "--data-dir", str(data_dir), "--out", str(tmp_path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert str(data_dir) in result.output and message in result.output


def _dlrun_json(args: list[str], env: dict) -> dict:
    return _dlrun_json_together([(args, env)])[0]


def _dlrun_json_together(runs: list[tuple[list[str], dict]]) -> list[dict]:
    """`dlrun ... --json` for each (args, env), all at once: each process spends most of
    its time importing and compiling on one core."""
    started = [
        subprocess.Popen(DLRUN + args + ["--json"], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for args, env in runs
    ]
    outputs = [p.communicate(timeout=300) for p in started]
    for p, (_, err) in zip(started, outputs):
        assert p.returncode == 0, err
    return [json.loads(out) for out, _ in outputs]


@pytest.mark.parametrize(
    "name, train_size",
    [
        ("mnist-relu-3layer-noisy-dropout", "800"),  # Loop.SCAN, with dropout keys
        pytest.param("mnist-cnn", "400", marks=pytest.mark.slow),  # Loop.STEPS: start, step and finish apart
    ],
)
def test_four_devices_match_the_single_device_run(tmp_path, name, train_size):
    """Two seeds, one per device, over the two CPU devices a 2-core CPU gets
    (DLRUN_CPU_DEVICES=2) and over two of four forced in XLA_FLAGS, against one device."""
    args = ["train", name, "--epochs", "2", "--train-size", train_size, "--seeds", "2", "--out", str(tmp_path)]
    env = dict(os.environ, DLRUN_NO_TFDS="1", DLRUN_NO_CACHE="1")
    settings = (
        (1, {"DLRUN_CPU_DEVICES": "1"}),
        (2, {"DLRUN_CPU_DEVICES": "2"}),
        (4, {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}),
    )
    runs = _dlrun_json_together([(args, env | extra) for _, extra in settings])
    for (devices, _), run in zip(settings, runs):
        record = json.loads((Path(run["run_dir"]) / "record.json").read_text())
        assert record["environment"]["device_count"] == devices
        for key in ("test_accuracy", "train_accuracy", "test_loss"):
            assert run["results"][0][key] == pytest.approx(runs[0]["results"][0][key], abs=1e-4)


def test_a_second_run_loads_its_programs_from_the_persistent_cache(tmp_path):
    env = dict(os.environ, DLRUN_NO_TFDS="1", XDG_CACHE_HOME=str(tmp_path / "xdg"))
    args = ["train", "mnist-relu-3layer", "--epochs", "1", "--train-size", "300", "--out", str(tmp_path)]
    cache = tmp_path / "xdg" / "dlrun" / "jax"
    _dlrun_json(args, env)
    entries = sorted(p.name for p in cache.iterdir())
    assert any("epoch" in name or "jit" in name for name in entries)
    _dlrun_json(args, env)
    assert sorted(p.name for p in cache.iterdir()) == entries  # nothing new compiled


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _start_two_processes(args: list[str], env: dict) -> list[subprocess.Popen]:
    hosts = dict(DLRUN_COORDINATOR=f"localhost:{_free_port()}", DLRUN_NUM_PROCESSES="2")
    return [
        subprocess.Popen(
            DLRUN + args,
            env=env | hosts | {"DLRUN_PROCESS_ID": str(i)},
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in (0, 1)
    ]


def test_two_processes_train_as_one_multi_host_run(tmp_path):
    """jax.distributed over two local processes (Gloo): the mesh spans both processes'
    devices, the numbers match one process, and process 0 alone prints and writes."""
    args = [
        "train",
        "mnist-relu-3layer",
        "--epochs",
        "2",
        "--train-size",
        "600",
        "--seeds",
        "2",
        "--checkpoint-every",
        "1",
        "--out",
        str(tmp_path / "runs"),
        "--json",
    ]
    env = dict(os.environ, DLRUN_NO_TFDS="1", DLRUN_NO_CACHE="1")
    processes = _start_two_processes(args, env)
    one = _dlrun_json(args[:-3] + ["--out", str(tmp_path / "one")], env)  # while the two run
    (out0, err0), (out1, err1) = (p.communicate(timeout=300) for p in processes)
    assert [p.returncode for p in processes] == [0, 0], err0 + err1
    first, second = json.loads(out0), json.loads(out1)  # stdout carries the JSON alone
    record = json.loads((Path(first["run_dir"]) / "record.json").read_text())
    assert record["environment"]["device_count"] == 2
    # Gradients summed across processes in another order: a few test images may flip (each moves
    # the mean accuracy of 2 seeds on 1,000 images by 0.0005).
    for key, tolerance in (("test_accuracy", 3e-3), ("train_accuracy", 3e-3), ("test_loss", 2e-3)):
        assert first["results"][0][key] == pytest.approx(one["results"][0][key], abs=tolerance)
        assert second["results"][0][key] == first["results"][0][key]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [Path(first["run_dir"]).name]
    assert second["run_dir"] is None and "process 1 of 2" in err1 and "test acc" not in err1
    assert "test acc" in err0  # the table, on stderr with --json


@pytest.mark.slow  # two processes training until a signal: about 45 s
def test_sigterm_to_one_process_stops_every_process_after_the_same_epoch(tmp_path):
    """JAX's preemption service: SIGTERM to process 1 alone stops both processes after one
    epoch they agree on (no process is left waiting in a collective), process 0 checkpoints
    that epoch, and resuming on both continues from it to the end."""
    runs, env = tmp_path / "runs", dict(os.environ, DLRUN_NO_TFDS="1", DLRUN_NO_CACHE="1")
    args = [
        "train",
        "mnist-relu-3layer",
        "--epochs",
        "60",
        "--train-size",
        "300",
        "--seeds",
        "2",
        "--checkpoint-every",
        "1",
        "--out",
        str(runs),
    ]
    processes = _start_two_processes(args, env)
    deadline = time.time() + 120
    while not list(runs.glob("*/checkpoints/*/epoch_*.json")) and time.time() < deadline:
        time.sleep(0.2)  # training is under way once the first checkpoint is complete
    processes[1].send_signal(signal.SIGTERM)
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [143, 143], outputs
    assert "--resume-from" in outputs[0][0]  # process 0 says how to continue
    (run_dir,) = runs.iterdir()
    stopped = json.loads((run_dir / "record.json").read_text())
    (result,) = stopped["results"]
    assert result["status"] == "interrupted" and 1 <= result["epochs"] < 60
    markers = list(run_dir.glob("checkpoints/*/epoch_*.json"))
    assert [m.name for m in markers] == [f"epoch_{result['epochs'] - 1}.json"]  # the epoch both stopped after

    resumed = _start_two_processes(["train", "mnist-relu-3layer", "--resume-from", str(run_dir), "--json"], env)
    (out0, err0), (_, err1) = (p.communicate(timeout=300) for p in resumed)
    assert [p.returncode for p in resumed] == [0, 0], err0 + err1
    (final,) = json.loads(out0)["results"]
    history = json.loads((run_dir / "record.json").read_text())["history"]["mnist-relu-3layer"]
    assert final["status"] == "ok" and final["epochs"] == len(history) == 60
    assert history[: result["epochs"]] == stopped["history"]["mnist-relu-3layer"]  # kept, not retrained
    assert final["test_accuracy"] > 0.75  # and it went on learning
