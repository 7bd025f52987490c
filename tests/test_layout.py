"""The layout's rules, checked: commands that only read never import JAX, Flax or Optax,
and imports flow one way (cli -> run -> families -> core -> data; output reads records)."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("jax", "flax", "optax")

# Run inside a fresh interpreter: the command, then which heavy packages got imported.
PROBE = """
import sys
from dlrun.cli import run_command
code = run_command(sys.argv[1:])
print("IMPORTED", [m for m in ("jax", "flax", "optax") if m in sys.modules], "EXIT", code, file=sys.stderr)
"""


def _record(run_dir: Path) -> None:
    """A small saved run, as `dlrun train` writes it."""
    run_dir.mkdir(parents=True)
    record = {
        "command": "train",
        "name": "mnist-relu-3layer",
        "complete": True,
        "started": 1_790_000_000.0,
        "data": {"source": "synthetic", "train_size": 100, "test_size": 50, "sha256": "0", "notice": None},
        "columns": [["test_accuracy", "test acc"], ["train_accuracy", "train acc"], ["test_loss", "test loss"]],
        "results": [
            {"variant": "mnist-relu-3layer", "status": "ok", "test_accuracy": 0.9, "train_accuracy": 0.95,
             "test_loss": 0.3, "reference": 0.96, "seeds": [0], "epochs": 2, "wall_s": 1.0, "compile_s": 0.5}
        ],
        "claims": [],
        "history": {"mnist-relu-3layer": [{"train_loss": [1.0], "test_accuracy": [0.8]},
                                          {"train_loss": [0.5], "test_accuracy": [0.9]}]},
        "configs": {},
    }  # fmt: skip
    (run_dir / "record.json").write_text(json.dumps(record))


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["list", "--json"],
        ["show", "mnist-relu-9layer"],
        ["show", "atis-bilstm"],
        ["show", "generative"],
        ["runs", "--out", "{runs}"],
        ["show", "20261201-000000-000000-mnist-relu-3layer", "--out", "{runs}"],
        ["report", "{runs}", "--out", "{reports}"],
    ],
)
def test_commands_that_only_read_import_no_jax(tmp_path, args):
    _record(tmp_path / "runs" / "20261201-000000-000000-mnist-relu-3layer")
    args = [a.format(runs=tmp_path / "runs", reports=tmp_path / "reports") for a in args]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert "IMPORTED [] EXIT 0" in done.stderr, done.stderr[-2000:]


def test_a_training_command_does_import_jax(tmp_path):
    """The probe can say yes: `train` does import JAX (else the test above proves nothing)."""
    args = ["train", "mnist-relu-3layer", "--epochs", "1", "--train-size", "100", "--out", str(tmp_path)]
    env = {"DLRUN_NO_TFDS": "1", "PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=300)
    assert "IMPORTED ['jax', 'flax', 'optax'] EXIT 0" in done.stderr, done.stderr[-2000:]


# What each part of dlrun may import from dlrun (the base modules are open to all).
BASE = {"dlrun.errors", "dlrun.console", "dlrun.files", "dlrun.record_format"}
ALLOWED = {
    "dlrun.data": {"dlrun.data"},
    "dlrun.core": {"dlrun.core", "dlrun.data"},
    "dlrun.families": {"dlrun.families", "dlrun.core", "dlrun.data", "dlrun.output.figures"},
    "dlrun.run": {"dlrun.run", "dlrun.core", "dlrun.data", "dlrun.output"},
    "dlrun.output": {"dlrun.output", "dlrun.core.config", "dlrun.core.registry", "dlrun.core.settings"},
    "dlrun.experiments": {"dlrun.experiments", "dlrun.core.config", "dlrun.core.registry", "dlrun.data"},
}


# The registry imports the declarations on the first lookup by name (the catalog is a plugin folder).
EXCEPTIONS = {("dlrun.core.registry", "dlrun.experiments")}


def _modules():
    for path in sorted((ROOT / "dlrun").rglob("*.py")):
        yield ".".join(path.relative_to(ROOT).with_suffix("").parts), path
    for path in sorted((ROOT / "experiments").glob("*.py")):
        yield f"dlrun.experiments.{path.stem}", path


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dlrun"):
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("dlrun")}
    return found


def _allowed(imported: str, rules: set[str]) -> bool:
    def within(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    return (
        imported == "dlrun" or any(within(imported, p) for p in rules | BASE) or any(within(p, imported) for p in rules)
    )


def test_imports_flow_one_way():
    wrong = []
    for module, path in _modules():
        part = next((p for p in ALLOWED if module == p or module.startswith(p + ".")), None)
        if part is None:  # dlrun.cli and the base modules
            continue
        rules = ALLOWED[part]
        if part == "dlrun.experiments":  # declarations read the families' JAX-free configs only
            rules = rules | {
                f"dlrun.families.{p.parent.name}.config" for p in (ROOT / "dlrun" / "families").glob("*/config.py")
            }
        imported = sorted(name for name in _imports(path) if (module, name) not in EXCEPTIONS)
        wrong += [f"{module} imports {name}" for name in imported if not _allowed(name, rules)]
    assert wrong == []
