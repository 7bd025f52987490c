"""The command line: parses options, maps strings to objects, dispatches. Nothing else."""

import contextlib
import dataclasses
import functools
import json
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
from rich.markup import escape

from dlrun.console import console, error, output_to_stderr
from dlrun.errors import ConfigError, DlrunError, Terminated
from dlrun.record_format import DIVERGED, INTERRUPTED

app = typer.Typer(
    help="Reproduce the classic deep-learning lessons as named, runnable experiments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Epochs = Annotated[Optional[int], typer.Option(help="Epochs (default: the experiment's).")]
Seeds = Annotated[Optional[int], typer.Option("--seeds", help="Independent seeds, reported as mean ± std (default 1).")]
Seed = Annotated[Optional[int], typer.Option(help="First seed; seeds are SEED, SEED+1, ... (default 0).")]
BatchSize = Annotated[Optional[int], typer.Option(help="Mini-batch size (full-batch variants keep full batch).")]
Lr = Annotated[Optional[float], typer.Option("--lr", help="Learning rate (default: the experiment's).")]
TrainSize = Annotated[Optional[int], typer.Option(help="Training examples used (default 10,000).")]
DataDir = Annotated[Optional[Path], typer.Option(help="Local dataset folder (also env DLRUN_DATA_DIR).")]
Out = Annotated[Path, typer.Option(help="Where run records are written.")]
Json = Annotated[bool, typer.Option("--json", help="Print the result record as JSON on stdout, nothing else.")]
CheckpointEvery = Annotated[Optional[int], typer.Option(help="Checkpoint every N epochs (default: every 30 s).")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue the newest unfinished run of this name.")]
ResumeFrom = Annotated[Optional[str], typer.Option(help="Continue this run (id under --out, or a folder).")]
AllowDataChange = Annotated[
    bool, typer.Option("--allow-data-change", help="Resume even though the data changed since the run started.")
]
Dataset = Annotated[Optional[str], typer.Option(help="Dataset: mnist or fashion_mnist (default: the experiment's).")]
Precision = Annotated[
    Optional[str],
    typer.Option(help="float32 (default) or bf16: bfloat16 matmuls, float32 weights and optimizer state."),
]
Set = Annotated[
    Optional[list[str]],
    typer.Option(
        "--set",
        help="Change a setting: key=value, e.g. model.hidden=1000x3, optimizer=adam, dropout=0.5 "
        "(repeatable; `sweep` takes key=v1,v2,...).",
    ),
]
Needed = Annotated[
    bool, typer.Option("--needed", help="Reuse variants already finished under --out with the same settings.")
]
NoSaveModel = Annotated[
    bool, typer.Option("--no-save-model", help="Do not keep the trained weights (for evaluate/predict).")
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="List what would train, and stop.")]


def _terminate(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def _sigterm_interrupts(enabled: bool):
    """Within the block SIGTERM raises Terminated, handled like Ctrl-C: finished work is
    kept and the run marked interrupted."""
    previous = signal.signal(signal.SIGTERM, _terminate) if enabled else None
    try:
        yield
    finally:
        if enabled:
            signal.signal(signal.SIGTERM, previous)


def handle_errors(command):
    """A DlrunError becomes one red line and exit 2 (bad input) or 1; any other exception
    one line too, unless DLRUN_DEBUG=1 (or --debug) asks for the traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except Terminated:
            error("terminated")
            raise typer.Exit(143) from None
        except KeyboardInterrupt:
            error("interrupted")
            raise typer.Exit(130) from None
        except typer.Exit:
            raise
        except Exception as e:  # noqa: BLE001 - the one place that turns crashes into a line
            if os.environ.get("DLRUN_DEBUG"):
                raise
            message = (
                str(e)
                if isinstance(e, DlrunError)
                else f"internal error: {type(e).__name__}: {e} (DLRUN_DEBUG=1 shows the traceback)"
            )
            error(message)
            raise typer.Exit(2 if isinstance(e, ConfigError) else 1) from None

    return wrapper


@app.callback()
def options(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks (also DLRUN_DEBUG=1).")] = False,
) -> None:
    if debug:
        os.environ["DLRUN_DEBUG"] = "1"


@app.command("list")
@handle_errors
def list_(as_json: Json = False) -> None:
    """Every experiment and compare group, with the lecture's number."""
    from dlrun.output import catalog  # commands that only read never import JAX

    if as_json:
        print(json.dumps(catalog.listing()))
    else:
        catalog.print_listing()


@app.command()
@handle_errors
def show(
    name: Annotated[str, typer.Argument(help="An experiment, a compare group, or a run id (or run folder).")],
    out: Annotated[Path, typer.Option(help="Where run records are (as --out of train/compare).")] = Path("runs"),
    settings: Set = None,
) -> None:
    """An experiment's or group's resolved configuration, or a saved run's results and verdicts."""
    from dlrun.output import runs

    runs.show(name, out, tuple(tuple(pair) for pair in _settings(settings) or ()))


@app.command("runs")
@handle_errors
def runs_(
    out: Annotated[Path, typer.Option(help="Where run records are (as --out of train/compare).")] = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the runs as a JSON list.")] = False,
) -> None:
    """The saved runs, newest first: date, lesson, data, best test accuracy, status."""
    from dlrun.output import runs

    runs.print_runs(out, as_json)


def _training_command(command: str, name_help: str, doc: str):
    """`train` and `compare`: the same options; only what their first argument names differs."""

    def training_command(
        name: Annotated[str, typer.Argument(help=name_help)],
        epochs: Epochs = None,
        seeds: Seeds = None,
        seed: Seed = None,
        batch_size: BatchSize = None,
        lr: Lr = None,
        train_size: TrainSize = None,
        data_dir: DataDir = None,
        out: Out = Path("runs"),
        dataset: Dataset = None,
        precision: Precision = None,
        checkpoint_every: CheckpointEvery = None,
        resume: Resume = False,
        resume_from: ResumeFrom = None,
        allow_data_change: AllowDataChange = False,
        settings: Set = None,
        no_save_model: NoSaveModel = False,
        needed: Needed = False,
        dry_run: DryRun = False,
        as_json: Json = False,
    ) -> None:
        given = dict(
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=lr,
            train_size=train_size,
            dataset=dataset,
            precision=precision,
            seeds=seeds,
            seed=seed,
            data_dir=data_dir,
            checkpoint_every=checkpoint_every,
            settings=_settings(settings),
        )
        resume_dir = _resume_dir(resume, resume_from, out, command, name)
        with output_to_stderr(as_json):
            request = _request(command, name, given, out, resume_dir, allow_data_change)
            request = dataclasses.replace(request, needed=needed, save_models=request.save_models and not no_save_model)
            if dry_run:
                return _list_planned(request)
            record = _train(request)
        if as_json:
            from dlrun.run.records import public_summary

            print(json.dumps(public_summary(record)))
        _exit_for(command, record)

    training_command.__doc__ = doc
    return handle_errors(training_command)


TRAIN_DOC = "Train one experiment and print its results next to the lecture's."
COMPARE_DOC = "Run every variant of a lesson and print one comparison table with a verdict."
SWEEP_DOC = "Train an experiment at every combination of --set key=v1,v2,... and plot the result."
app.command("train")(_training_command("train", "An experiment (see `dlrun list`).", TRAIN_DOC))
app.command("compare")(_training_command("compare", "A compare group, or experiments as a list A,B,C.", COMPARE_DOC))
app.command("sweep")(_training_command("sweep", "An experiment (see `dlrun list`).", SWEEP_DOC))


def _settings(texts: Optional[list[str]]) -> Optional[list[list[str]]]:
    """`--set` options as [[key, value], ...] (as the record keeps them); None when not given."""
    from dlrun.core.settings import parse_setting

    return [list(parse_setting(text)) for text in texts] if texts else None


def _list_planned(request) -> None:
    """`--dry-run`: what the command would train."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"{request.command} {request.name}: {len(request.experiments)} to train"))
    table.add_column("variant", overflow="fold")
    for column in ("seeds", "epochs"):
        table.add_column(column, justify="right")
    for exp in request.experiments:
        table.add_row(Text(exp.name), str(len(request.seeds)), str(exp.epochs))
    console.print(table)


RunId = Annotated[str, typer.Argument(help="A run id under --out (see `dlrun runs`), or a run folder.")]
RunsOut = Annotated[Path, typer.Option("--out", help="Where run records are (as --out of train/compare).")]


@app.command()
@handle_errors
def evaluate(
    run: RunId,
    variant: Annotated[Optional[str], typer.Argument(help="The variant (default: the run's only one).")] = None,
    data_dir: DataDir = None,
    dataset: Dataset = None,
    test_noise: Annotated[Optional[float], typer.Option(help="Std of Gaussian noise on the test pixels.")] = None,
    fgsm: Annotated[Optional[float], typer.Option(help="Attack the test images with FGSM at this epsilon.")] = None,
    out: RunsOut = Path("runs"),
    as_json: Json = False,
) -> None:
    """Measure a saved model on a test set (another dataset, noise or an attack if asked)."""
    from dlrun.output.tables import results_table
    from dlrun.run import use

    with output_to_stderr(as_json):
        trained = use.load_trained(use.find_run(run, out), variant)
        trained = trained._replace(experiment=use.evaluation_experiment(trained.experiment, dataset, test_noise))
        record = use.evaluate(trained, data_dir, fgsm)
    if as_json:
        print(json.dumps(record))
    else:
        console.print(results_table(record))


@app.command()
@handle_errors
def predict(
    run: RunId,
    args: Annotated[Optional[list[str]], typer.Argument(help="[VARIANT] INPUT: an image file, or a sentence.")] = None,
    index: Annotated[Optional[int], typer.Option(help="Predict test example N instead of an INPUT.")] = None,
    data_dir: DataDir = None,
    out: RunsOut = Path("runs"),
    as_json: Json = False,
) -> None:
    """A saved model's answer to one input, with its probabilities (mean over seeds)."""
    from dlrun.core.task import Query
    from dlrun.run import use

    run_dir = use.find_run(run, out)
    variant, text = _variant_and_input(run_dir, args or [], index)
    with output_to_stderr(as_json):
        trained = use.load_trained(run_dir, variant)
        prediction = use.predict(trained, Query(text, index), data_dir)
    if as_json:
        print(json.dumps({"variant": trained.experiment.name, **prediction._asdict()}))
        return
    _print_prediction(trained.experiment.name, prediction)


def _variant_and_input(run_dir: Path, args: list[str], index: Optional[int]) -> tuple[Optional[str], Optional[str]]:
    """PREDICT's arguments: [VARIANT] INPUT, or [VARIANT] with --index."""
    wanted = 0 if index is not None else 1
    if len(args) not in (wanted, wanted + 1):
        what = "[VARIANT] and --index N" if index is not None else "[VARIANT] INPUT (an image file or a sentence)"
        raise ConfigError(f"predict takes RUN {what}")
    variant = args[0] if len(args) > wanted else None
    return variant, None if index is not None else args[-1]


def _print_prediction(variant: str, prediction) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(f"{variant}: {prediction.asked}"))
    columns = list(prediction.rows[0]) if prediction.rows else []
    for column in columns:
        table.add_column(column, justify="right" if column == "probability" else "left")
    for row in prediction.rows:
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else Text(str(v)) for v in row.values()))
    console.print(table)
    if prediction.note:
        console.print(Text(prediction.note))


@app.command()
@handle_errors
def report(
    runs: Annotated[
        Optional[list[Path]],
        typer.Argument(help="Run folders, record files, or folders of runs (default: every run under runs/)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for report.md, report.html and the pictures.")] = Path("reports"),
) -> None:
    """Build a Markdown and a self-contained HTML report (tables, verdicts, curves) from saved runs."""
    from dlrun.output.report import write_report

    markdown, page = write_report(runs or [], out)
    console.print(f"report: {escape(str(markdown))}\nreport: {escape(str(page))}")


def _resume_dir(resume: bool, resume_from: Optional[str], out: Path, command: str, name: str) -> Optional[Path]:
    from dlrun.run.request import find_resumable

    if resume_from is not None:
        if not resume_from.strip():
            raise ConfigError("--resume-from needs a run id or a run folder")
        path = Path(resume_from) if Path(resume_from).is_dir() else out / resume_from
        if not (path / "record.json").is_file():
            raise ConfigError(f"no run {resume_from!r} to resume (looked for {path}/record.json)")
        return path
    return find_resumable(out, command, name) if resume else None


def _request(command: str, name: str, given: dict, out: Path, resume: Optional[Path], allow_data_change: bool):
    """The run asked for: a new one from the options, or the saved run to continue."""
    from dlrun.run.request import Overrides, build_request, dataset_named, precision_named, resume_request

    if resume:
        request = resume_request(resume, command, name, given, allow_data_change)
        console.print(f"resuming {command} {name} in {escape(str(resume))} (with its recorded settings)")
        return request
    seed = 0 if given["seed"] is None else given["seed"]
    seeds = 1 if given["seeds"] is None else given["seeds"]
    _check_seeds(seed, seeds)
    if given["checkpoint_every"] is not None and given["checkpoint_every"] < 1:
        raise ConfigError(f"--checkpoint-every must be a positive integer, got {given['checkpoint_every']}")
    dataset = dataset_named(given["dataset"])
    settings = tuple(tuple(pair) for pair in given["settings"] or ())
    overrides = Overrides(
        given["epochs"],
        given["batch_size"],
        given["learning_rate"],
        given["train_size"],
        dataset,
        settings,
        precision_named(given["precision"]),
    )
    seed_list = tuple(range(seed, seed + seeds))
    return build_request(command, name, overrides, seed_list, given["data_dir"], out, given["checkpoint_every"])


def _train(request) -> dict:
    """Run the request; process 0 then prints the results and draws the curves."""
    import jax

    from dlrun.core.devices import multi_host
    from dlrun.output.plots import save_curves
    from dlrun.run import runner

    with _sigterm_interrupts(not multi_host()):  # multi-host: JAX's preemption service hears it
        record = runner.run(request)
    if jax.process_index() == 0:  # process 0 prints and writes (dlrun.run.runner)
        _print_results(record, multi_host())
        save_curves(record, Path(record["run_dir"]))  # after the table: drawing takes a moment
    return record


def _exit_for(command: str, record: dict) -> None:
    statuses = {r["status"] for r in record["results"]}
    if INTERRUPTED in statuses:
        raise typer.Exit(143 if record["stopped_by"] == "SIGTERM" else 130)
    if command == "train" and DIVERGED in statuses:
        raise typer.Exit(1)


MAX_SEEDS = 1_000  # each seed is a replica in memory; more is a typo, not a study


def _check_seeds(seed: int, seeds: int) -> None:
    """Seeds are PRNG keys of 32 bits: SEED .. SEED+SEEDS-1 must all be in [0, 2**31)."""
    if not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(f"--seeds must be between 1 and {MAX_SEEDS:,}, got {seeds}")
    if seed < 0 or seed + seeds > 2**31:
        raise ConfigError(f"--seed must be in [0, {2**31 - seeds}] for {seeds} seed(s), got {seed}")


def _print_results(record: dict, multi_host: bool) -> None:
    from dlrun.output.tables import record_tables

    for part in record_tables(record):
        console.print(part)
    console.print(f"record: {escape(record['run_dir'])}/record.json")
    if not record["complete"]:
        where = " on every process" if multi_host else ""
        command = shlex.join(["dlrun", record["command"], record["name"], "--resume-from", record["run_dir"]])
        console.print(f"stopped early; to continue{where}: [bold]{escape(command)}[/]", soft_wrap=True)


def run_command(argv: list[str] | None = None) -> int:
    """The command line (`argv`, default sys.argv) run in this process; its exit code."""
    try:
        app(argv)
    except SystemExit as exit_:
        if isinstance(exit_.code, str):
            print(exit_.code, file=sys.stderr)
        return exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 1
    return 0


def exit_now(code: int) -> NoReturn:
    """End the process once everything written is flushed, without the interpreter's
    teardown: it would spend about half a second freeing JAX and XLA objects nobody uses
    again. (Records and checkpoints are closed by then; multi-host runs exit normally so
    that jax.distributed shuts down in step.)"""
    if os.environ.get("DLRUN_COORDINATOR"):
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (`dlrun list | head`), a closed stream
            code = code or 1
    os._exit(code)


def main() -> NoReturn:
    """The `dlrun` command."""
    exit_now(run_command())


if __name__ == "__main__":  # pragma: no cover
    main()
