"""Where a cold `dlrun` command spends its time: `python benchmarks/startup.py -- train
mnist-relu-3layer --epochs 3` runs the command in this process with an empty compile cache
and prints one row per phase (seconds from the process start, and each phase's own time).

Phases are observed, not changed: the functions below are wrapped with a timer (wrapping
them imports JAX, Flax, Optax and dlrun's runner first, timed as a phase of its own).
"""

import argparse
import functools
import os
import sys
import tempfile
import time

START = time.perf_counter()

PHASES = (  # (label, module, attribute): every call of the attribute counts to the phase
    ("experiments resolved (imports the family's code)", "dlrun.run.request", "build_request"),
    ("data loaded", "dlrun.run.runner", "load_data"),
    ("programs traced", "dlrun.run.runner", "set_up"),
    ("waiting for XLA compiles", "dlrun.core.compiler", "Compiler.settle"),
    ("model weights saved (orbax)", "dlrun.run.runner", "save_weights"),
    ("TensorBoard events written", "dlrun.run.runner", "write_events"),
    ("record written", "dlrun.run.runner", "Run.save"),
    ("learning curves drawn (matplotlib)", "dlrun.output.plots", "save_curves"),
)


TRAINING = "the training command, all phases but resolving"


def timed(totals: dict, label: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[label] = totals.get(label, 0.0) + time.perf_counter() - began

    return wrapper


def observe(totals: dict) -> None:
    """Wrap every phase's function where it is looked up."""
    import importlib

    for label, module_name, attribute in PHASES:
        module = importlib.import_module(module_name)
        owner, _, name = attribute.rpartition(".")
        target = getattr(module, owner) if owner else module
        setattr(target, name, timed(totals, label, getattr(target, name)))
    cli = importlib.import_module("dlrun.cli")
    cli_train = cli._train
    cli._train = timed(totals, TRAINING, cli_train)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the dlrun command, after --")
    args = parser.parse_args()
    command = [c for c in args.command if c != "--"] or ["train", "mnist-relu-3layer", "--epochs", "3"]
    os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="dlrun-startup-"))  # empty: a cold compile
    began = time.perf_counter()
    from dlrun import cli

    imported = time.perf_counter() - began
    totals: dict[str, float] = {}
    began = time.perf_counter()
    observe(totals)
    engine = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as out:
        code = cli.run_command([*command, "--out", out])
    total = time.perf_counter() - START
    print(f"{'phase':<58} {'seconds':>8}", file=sys.stderr)
    print(f"{'import dlrun.cli (Typer, Rich)':<58} {imported:8.2f}", file=sys.stderr)
    print(f"{'import JAX, Flax, Optax and the runner':<58} {engine:8.2f}", file=sys.stderr)
    for label, seconds in totals.items():
        print(f"{label:<58} {seconds:8.2f}", file=sys.stderr)
    others = totals.get(TRAINING, 0.0) - sum(v for k, v in totals.items() if k not in (TRAINING, PHASES[0][0]))
    print(f"{'  of which epochs, evaluation, progress and tables':<58} {others:8.2f}", file=sys.stderr)
    print(f"{'whole process, to exit code ' + str(code):<58} {total:8.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
