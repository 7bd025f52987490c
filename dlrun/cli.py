"""The command line: parses options, maps strings to objects, dispatches. Nothing else."""

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from dlrun import catalog, runner
from dlrun import report as report_module
from dlrun.config import get_experiment, get_group
from dlrun.console import console, error, to_stderr
from dlrun.data import DatasetName
from dlrun.errors import ConfigError, DlrunError
from dlrun.tables import claims_table, results_table

app = typer.Typer(
    help="Reproduce the classic deep-learning lessons as named, runnable experiments.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)

Epochs = Annotated[Optional[int], typer.Option(help="Epochs (default: the experiment's).")]
Seeds = Annotated[int, typer.Option("--seeds", help="Independent seeds, reported as mean ± std.")]
Seed = Annotated[int, typer.Option(help="First seed; seeds are SEED, SEED+1, ...")]
BatchSize = Annotated[Optional[int], typer.Option(help="Mini-batch size (full-batch variants keep full batch).")]
Lr = Annotated[Optional[float], typer.Option("--lr", help="Learning rate (default: the experiment's).")]
TrainSize = Annotated[Optional[int], typer.Option(help="Training examples used (default 10,000).")]
DataDir = Annotated[Optional[Path], typer.Option(help="Local dataset folder (also env DLRUN_DATA_DIR).")]
Out = Annotated[Path, typer.Option(help="Where run records are written.")]
Json = Annotated[bool, typer.Option("--json", help="Print the result record as JSON on stdout, nothing else.")]
Dataset = Annotated[Optional[str], typer.Option(help="Dataset: mnist or fashion_mnist (default: the experiment's).")]


def handle_errors(command):
    """A DlrunError becomes one red line and exit 2 (bad input) or 1; DLRUN_DEBUG=1 re-raises."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DlrunError as e:
            if os.environ.get("DLRUN_DEBUG"):
                raise
            error(str(e))
            raise typer.Exit(2 if isinstance(e, ConfigError) else 1) from None
        except KeyboardInterrupt:
            error("interrupted")
            raise typer.Exit(130) from None

    return wrapper


@app.command("list")
@handle_errors
def list_(as_json: Json = False) -> None:
    """Every experiment and compare group, with the lecture's number."""
    if as_json:
        print(json.dumps(catalog.listing()))
    else:
        catalog.print_listing()


@app.command()
@handle_errors
def show(name: str) -> None:
    """The full resolved configuration of an experiment or compare group."""
    catalog.print_config(name)


@app.command()
@handle_errors
def train(name: str, epochs: Epochs = None, seeds: Seeds = 1, seed: Seed = 0, batch_size: BatchSize = None,
          lr: Lr = None, train_size: TrainSize = None, data_dir: DataDir = None, out: Out = Path("runs"),
          dataset: Dataset = None, as_json: Json = False) -> None:
    """Train one experiment and print its results next to the lecture's."""
    overrides = _overrides(epochs, batch_size, lr, train_size, dataset)
    _run("train", name, (overrides.apply(get_experiment(name)),), None, seeds, seed, data_dir, out, as_json)


@app.command()
@handle_errors
def compare(group: str, epochs: Epochs = None, seeds: Seeds = 1, seed: Seed = 0, batch_size: BatchSize = None,
            lr: Lr = None, train_size: TrainSize = None, data_dir: DataDir = None, out: Out = Path("runs"),
            dataset: Dataset = None, as_json: Json = False) -> None:
    """Run every variant of a lesson and print one comparison table with a verdict."""
    overrides = _overrides(epochs, batch_size, lr, train_size, dataset)
    lesson = get_group(group)
    experiments = tuple(overrides.apply(get_experiment(v)) for v in lesson.variants)
    _run("compare", group, experiments, lesson, seeds, seed, data_dir, out, as_json)


@app.command()
@handle_errors
def report(runs: Annotated[list[Path], typer.Argument(help="Run folders, record files, or folders of runs.")],
           out: Annotated[Path, typer.Option(help="Folder for report.md.")] = Path("reports")) -> None:
    """Build a Markdown report (ours vs the lecture) from saved run records."""
    console.print(f"report: {report_module.write_report(runs, out)}")


def _overrides(epochs, batch_size, lr, train_size, dataset) -> runner.Overrides:
    for flag, value in (("--epochs", epochs), ("--batch-size", batch_size), ("--train-size", train_size)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be a positive integer, got {value}")
    if lr is not None and not lr > 0:
        raise ConfigError(f"--lr must be positive, got {lr}")
    try:
        data = DatasetName(dataset) if dataset else None
    except ValueError:
        raise ConfigError(f"unknown dataset {dataset!r}; known: {', '.join(d.value for d in DatasetName)}") from None
    return runner.Overrides(epochs, batch_size, lr, train_size, data)


def _run(command, name, experiments, group, seeds, seed, data_dir, out, as_json) -> None:
    if seeds < 1:
        raise ConfigError(f"--seeds must be a positive integer, got {seeds}")
    if as_json:
        to_stderr()
    request = runner.RunRequest(command, name, experiments, group, tuple(range(seed, seed + seeds)), data_dir, out)
    record = runner.run(request)
    console.print(results_table(record))
    if (claims := claims_table(record)) is not None:
        console.print(claims)
    console.print(f"record: {record['run_dir']}/record.json")
    if as_json:
        print(json.dumps(runner.public_summary(record)))
    statuses = {r["status"] for r in record["results"]}
    if "interrupted" in statuses:
        raise typer.Exit(130)
    if command == "train" and "diverged" in statuses:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console-script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
