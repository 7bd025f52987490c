"""What a `train` or `compare` command asks for: the experiments, with the command line's
overrides applied and their Refs resolved, the seeds, the data and where records go; and
the same request rebuilt from a saved run to resume it."""

import enum
import glob
import hashlib
import itertools
import math
from dataclasses import dataclass, replace
from pathlib import Path

from dlrun.core.config import Experiment, Group, Precision, describe, resolved
from dlrun.core.registry import get_experiment, get_group
from dlrun.core.settings import Setting, with_settings
from dlrun.data.images import DatasetName
from dlrun.errors import ConfigError, DlrunError
from dlrun.output.records import RECORD_NAME, load_record


@dataclass(frozen=True)
class Overrides:
    """CLI options that replace an experiment's settings (None: keep the declared value)."""

    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    train_size: int | None = None
    dataset: DatasetName | None = None
    settings: tuple[Setting, ...] = ()  # `--set key=value`, applied in order after the options above
    precision: Precision | None = None

    def __post_init__(self):
        """Values given on the command line, checked where they enter (the flag is named)."""
        for flag, value in (
            ("--epochs", self.epochs),
            ("--batch-size", self.batch_size),
            ("--train-size", self.train_size),
        ):
            if value is not None and value < 1:
                raise ConfigError(f"{flag} must be a positive integer, got {value}")
        if self.learning_rate is not None and not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ConfigError(f"--lr must be a positive finite number, got {self.learning_rate}")

    def apply(self, exp: Experiment) -> Experiment:
        plain = (("epochs", self.epochs), ("train_size", self.train_size))
        changes = {k: v for k, v in plain if v is not None}
        if self.dataset is not None and exp.dataset is None:
            raise ConfigError(f"--dataset applies to the image lessons; {exp.name} brings its own data")
        if self.dataset is not None:
            changes["dataset"] = self.dataset
        if self.batch_size is not None and exp.batch_size is not None:  # full batch stays full batch
            changes["batch_size"] = self.batch_size
        if self.learning_rate is not None:
            changes["optimizer"] = replace(exp.optimizer, learning_rate=self.learning_rate)
        if self.precision is not None:
            changes["precision"] = self.precision
        return with_settings(replace(exp, **changes), self.settings)


def dataset_named(text: str | None) -> DatasetName | None:
    """`--dataset TEXT` as a DatasetName (None when not given); an unknown name lists the known."""
    return _member(DatasetName, text, "dataset")


def precision_named(text: str | None) -> Precision | None:
    """`--precision TEXT` as a Precision (None when not given); an unknown one lists the known."""
    return _member(Precision, text, "precision")


def _member(kind: type[enum.Enum], text: str | None, what: str):
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        known = ", ".join(m.value for m in kind)
        raise ConfigError(f"unknown {what} {text!r}; known: {known}") from None


@dataclass(frozen=True)
class RunRequest:
    command: str  # "train" or "compare"
    name: str  # experiment or group name
    experiments: tuple[Experiment, ...]  # resolved (see dlrun.core.config.resolved)
    group: Group | None
    seeds: tuple[int, ...]
    data_dir: Path | None
    out: Path
    overrides: Overrides = Overrides()  # recorded, so --resume rebuilds the same request
    checkpoint_every: int | None = None  # epochs between checkpoints (default: every 30 s)
    resume: Path | None = None  # the run folder to continue
    allow_data_change: bool = False  # resume even though the data's SHA-256 changed
    trials: tuple[tuple[Setting, ...], ...] = ()  # a sweep: each experiment's swept settings
    save_models: bool = True  # keep each variant's trained weights (dlrun evaluate, predict)
    needed: bool = False  # reuse the variants finished under `out` (dlrun.run.reuse)

    def recorded(self) -> dict:
        """What the record keeps to rebuild this request (`resume_request`)."""
        return {
            "command": self.command,
            "name": self.name,
            "seeds": list(self.seeds),
            "overrides": describe(self.overrides),
            "checkpoint_every": self.checkpoint_every,
            "data_dir": str(self.data_dir) if self.data_dir else None,
            "save_models": self.save_models,
        }


def build_request(
    command: str,
    name: str,
    overrides: Overrides,
    seeds: tuple[int, ...],
    data_dir: Path | None,
    out: Path,
    checkpoint_every: int | None = None,
    resume: Path | None = None,
) -> RunRequest:
    """Resolve an experiment (train), a group's variants (compare) or a sweep's trials, with
    the overrides applied. `compare` also takes experiments of your choice, as a comma list
    (no verdict)."""
    if command == "sweep":
        return _sweep_request(name, overrides, seeds, data_dir, out, checkpoint_every, resume)
    if several := [f"{k}={v}" for k, v in overrides.settings if "," in v]:
        raise ConfigError(f"--set {several[0]} lists several values: `dlrun sweep` runs each of them")
    group = get_group(name) if command == "compare" and "," not in name else None
    names = group.variants if group else _comma_list(name)
    experiments = tuple(resolved(overrides.apply(get_experiment(n))) for n in names)
    if group and overrides.settings:  # the variants are renamed after what changed
        group = group.renamed({n: e.name for n, e in zip(names, experiments)})
    return RunRequest(command, name, experiments, group, seeds, data_dir, out, overrides, checkpoint_every, resume)


MAX_TRIALS = 1_000


def sweep_grid(settings: tuple[Setting, ...]) -> list[tuple[Setting, ...]]:
    """`key=v1,v2` settings -> every combination, the first key varying slowest."""
    if not settings:
        raise ConfigError("a sweep needs at least one --set key=v1,v2,...")
    choices = []
    for key, text in settings:
        values = [v.strip() for v in text.split(",")]
        if "" in values or len(set(values)) < len(values):
            raise ConfigError(f"--set {key}={text}: list each value once, separated by commas")
        choices.append([(key, v) for v in values])
    if len({key for key, _ in settings}) < len(settings):
        raise ConfigError("a sweep sets each key once (put every value in one --set key=v1,v2)")
    if math.prod(len(c) for c in choices) > MAX_TRIALS:
        raise ConfigError(f"the grid has more than {MAX_TRIALS:,} trials")
    return list(itertools.product(*choices))


def _sweep_request(name, overrides, seeds, data_dir, out, checkpoint_every, resume) -> RunRequest:
    """Each combination of the swept values is a variant of one comparison (no claims)."""
    base = replace(overrides, settings=()).apply(get_experiment(name))
    trials = tuple(sweep_grid(overrides.settings))
    experiments = tuple(resolved(with_settings(base, trial)) for trial in trials)
    return RunRequest(
        "sweep", name, experiments, None, seeds, data_dir, out, overrides, checkpoint_every, resume, trials=trials
    )


def _comma_list(names: str) -> tuple[str, ...]:
    listed = tuple(n.strip() for n in names.split(",") if n.strip())
    if not listed:
        raise ConfigError(f"no experiment named in {names!r}")
    if repeated := sorted({n for n in listed if listed.count(n) > 1}):
        raise ConfigError(f"{', '.join(repeated)} listed more than once in {names!r}")
    return listed


def resume_request(run_dir: Path, command: str, name: str, given: dict, allow_data_change: bool = False) -> RunRequest:
    """The request a saved run was started with, set to continue in the same folder. The
    command and name typed must be the run's, and an option given again must have the
    value the run was started with: a resume never changes what it continues."""
    record = load_record(run_dir / RECORD_NAME)
    request = saved_request(record, run_dir)
    if (request.command, request.name) != (command, name):
        raise ConfigError(f"{run_dir} is a run of `{request.command} {request.name}`, not `{command} {name}`")
    if record.get("complete"):
        raise DlrunError(f"{run_dir} finished: nothing to resume")
    recorded = {
        **describe(request.overrides),
        "seeds": len(request.seeds),
        "seed": request.seeds[0],
        "data_dir": request.data_dir,
        "checkpoint_every": request.checkpoint_every,
    }
    changed = [
        f"{key} {given[key]} (recorded: {recorded[key]})"
        for key in given
        if given[key] is not None and given[key] != recorded[key]
    ]
    if changed:
        raise ConfigError(f"a resume continues with the run's recorded settings; drop {', '.join(changed)}")
    return replace(request, resume=run_dir, allow_data_change=allow_data_change)


def saved_request(record: dict, run_dir: Path) -> RunRequest:
    """The request a saved run was started with, rebuilt from its record (the catalog's
    experiments with the recorded options and settings applied)."""
    saved = record.get("request")
    if not _resumable(saved):
        raise DlrunError(
            f"{run_dir / RECORD_NAME} records no request to resume or rebuild (written by another program?)"
        )
    o = saved["overrides"]
    settings = tuple((key, value) for key, value in o.get("settings") or ())
    overrides = Overrides(
        o.get("epochs"),
        o.get("batch_size"),
        o.get("learning_rate"),
        o.get("train_size"),
        dataset_named(o.get("dataset")),
        settings,
        precision_named(o.get("precision")),
    )
    data_dir = Path(saved["data_dir"]) if saved.get("data_dir") else None
    request = build_request(
        saved["command"],
        saved["name"],
        overrides,
        tuple(saved["seeds"]),
        data_dir,
        run_dir.parent,
        saved.get("checkpoint_every"),
    )
    return replace(request, save_models=saved.get("save_models") is not False)


def _resumable(saved) -> bool:
    """Whether a record's "request" has what `resume_request` reads, of the right types."""
    if not isinstance(saved, dict) or not isinstance(saved.get("overrides"), dict):
        return False
    seeds, o = saved.get("seeds"), saved["overrides"]
    return (
        saved.get("command") in ("train", "compare", "sweep")
        and isinstance(saved.get("name"), str)
        and isinstance(seeds, list)
        and len(seeds) > 0
        and all(isinstance(s, int) and 0 <= s < 2**31 for s in seeds)
        and all(o.get(k) is None or isinstance(o[k], int) for k in ("epochs", "batch_size", "train_size"))
        and (o.get("learning_rate") is None or isinstance(o["learning_rate"], (int, float)))
        and o.get("dataset") in (None, *(d.value for d in DatasetName))
        and o.get("precision") in (None, *(p.value for p in Precision))
        and _settings_list(o.get("settings"))
        and (saved.get("data_dir") is None or isinstance(saved["data_dir"], str))
        and (saved.get("checkpoint_every") is None or isinstance(saved["checkpoint_every"], int))
        and isinstance(saved.get("save_models", True), bool)
    )


def _settings_list(settings) -> bool:
    """A recorded `--set` list: [[key, value], ...] of strings (absent in older records)."""
    if settings is None:
        return True
    pairs = isinstance(settings, list) and all(isinstance(p, list) and len(p) == 2 for p in settings)
    return pairs and all(isinstance(text, str) for p in settings for text in p)


def find_resumable(out: Path, command: str, name: str) -> Path:
    """The newest run of `command name` under `out` that did not finish."""
    for run_dir in sorted(out.glob(f"*-{glob.escape(folder_label(name))}"), reverse=True):  # names start with the time
        record = load_record(run_dir / RECORD_NAME) if (run_dir / RECORD_NAME).is_file() else {}
        if (record.get("command"), record.get("name")) == (command, name) and not record.get("complete", True):
            return run_dir
    raise DlrunError(f"no unfinished {command} of {name!r} under {out} to resume")


MAX_LABEL = 80  # characters of the run's name in its folder name


def folder_label(name: str) -> str:
    """The run's name as its folder shows it: a long list of experiments is shortened, with
    a hash of the whole that keeps two such runs apart."""
    if len(name) <= MAX_LABEL:
        return name
    return f"{name[: MAX_LABEL - 9]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
