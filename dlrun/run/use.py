"""`dlrun evaluate` and `dlrun predict`: use the models a run saved.

A run keeps each variant's trained weights (all its seeds) under models/NNN in its folder
(dlrun.run.runner). The model is rebuilt from the record: the catalog's experiment with
the recorded options and `--set` settings, then its weights are read back with orbax."""

import dataclasses
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np
from flax import nnx

from dlrun.console import notice
from dlrun.core.checkpoints import load_weights
from dlrun.core.config import Experiment
from dlrun.core.engine import make_evaluate, make_weights_init, model_graphdef
from dlrun.core.task import Prediction, Query
from dlrun.errors import ConfigError, DlrunError
from dlrun.files import finite_or_none
from dlrun.output.records import RECORD_NAME, load_record
from dlrun.record_format import OK
from dlrun.run.request import Overrides, dataset_named, saved_request


class Trained(NamedTuple):
    """One variant of a saved run, ready to use."""

    run_dir: Path
    record: dict
    experiment: Experiment  # resolved
    weights: tuple  # (params, rest) [K, ...] on the host
    data_dir: Path | None  # where the run read its data


def find_run(run: str, out: Path) -> Path:
    """A run id under `out`, or a run folder."""
    for path in (Path(run), out / run):
        if (path / RECORD_NAME).is_file():
            return path
    raise ConfigError(
        f"no run {run!r} (looked for {run}/{RECORD_NAME} and {out / run}/{RECORD_NAME}); see `dlrun runs`"
    )


def load_trained(run_dir: Path, variant: str | None) -> Trained:
    """The variant's experiment and saved weights (the run's only variant when None)."""
    record = load_record(run_dir / RECORD_NAME)
    results = {r["variant"]: r for r in record["results"]}
    name = variant if variant is not None else _only_variant(run_dir, list(results))
    if name not in results:
        raise ConfigError(f"{run_dir.name} has no variant {name!r}; it has: {', '.join(results) or 'none'}")
    folder = results[name].get("model")
    if not folder:
        raise DlrunError(
            f"{run_dir.name}: {name} has no saved model (status {results[name]['status']}, or --no-save-model)"
        )
    request = saved_request(record, run_dir)
    experiment = next((e for e in request.experiments if e.name == name), None)
    if experiment is None:
        raise DlrunError(f"{name} is no longer in dlrun's catalog as the run recorded it")
    seeds = np.array(results[name]["seeds"], np.int32)
    target = jax.eval_shape(make_weights_init(experiment), seeds)  # (params, rest) [K, ...]
    return Trained(run_dir, record, experiment, load_weights(run_dir / folder, target), request.data_dir)


def _only_variant(run_dir: Path, variants: list[str]) -> str:
    if len(variants) == 1:
        return variants[0]
    listed = ", ".join(variants) or "none"
    raise ConfigError(f"{run_dir.name} has {len(variants)} variants; name one: {listed}")


def models_of(trained: Trained) -> list:
    """One NNX model per seed."""
    graphdef, (params, rest) = model_graphdef(trained.experiment), trained.weights
    k = len(jax.tree.leaves(params)[0])
    return [nnx.merge(graphdef, *jax.tree.map(lambda a, i=i: a[i], (params, rest))) for i in range(k)]


def evaluation_experiment(exp: Experiment, dataset: str | None, test_noise: float | None) -> Experiment:
    """The experiment as evaluated: on another dataset or with a noisy test set."""
    exp = Overrides(dataset=dataset_named(dataset)).apply(exp)  # refuses a lesson with data of its own
    if test_noise is None:
        return exp
    if exp.dataset is None or not 0 <= test_noise <= 10:
        raise ConfigError("--test-noise takes a standard deviation in [0, 10] and applies to the image lessons")
    return dataclasses.replace(exp, test_noise=test_noise)


def evaluate(trained: Trained, data_dir: Path | None, fgsm: float | None) -> dict:
    """The saved models measured on the test split, as a record of one result that the
    results table prints: every column's mean over seeds, the headline's spread."""
    exp = trained.experiment
    loaded, info = exp.task.load(exp, data_dir if data_dir is not None else trained.data_dir)
    if info.notice:
        notice(info.notice)
    data = exp.task.place(exp, loaded)
    per_seed = {"test_accuracy": _attacked(trained, data.eval, fgsm)} if fgsm is not None else _measured(trained, data)
    columns = [[k, label] for k, label in exp.task.columns if k in per_seed]
    headline = columns[0][0] if columns else "test_accuracy"
    result = {k: float(np.mean(v)) for k, v in per_seed.items()}
    result |= {f"{headline}_std": float(np.std(per_seed[headline], ddof=1)) if len(per_seed[headline]) > 1 else 0.0}
    name = exp.name + (f" (FGSM eps {fgsm:g})" if fgsm is not None else "")
    seeds = next(r["seeds"] for r in trained.record["results"] if r["variant"] == trained.experiment.name)
    result |= {"variant": name, "status": OK, "reference": exp.reference, "seeds": seeds}
    data_line = {"source": info.source, "train_size": None, "test_size": info.test_size}
    record = {"command": "evaluate", "name": trained.run_dir.name, "data": data_line, "results": [result]}
    return finite_or_none(record | {"columns": columns, "final_per_seed": {name: per_seed}})


def _measured(trained: Trained, data) -> dict[str, list[float]]:
    """Every seed's test metrics {test_<metric>: [K]}, and the family's host metrics."""
    exp, (params, rest) = trained.experiment, trained.weights
    metrics = jax.device_get(make_evaluate(exp, model_graphdef(exp))(params, rest, data.eval))
    final = {f"test_{k}": np.asarray(v).tolist() for k, v in metrics.items()}
    host = [exp.task.host_metrics(exp, m, data) for m in models_of(trained)]
    return final | {k: [h[k] for h in host] for k in host[0]} if host and host[0] else final


def _attacked(trained: Trained, split, epsilon: float) -> list[float]:
    """Test accuracy of each seed's model on FGSM images made against that model."""
    exp = trained.experiment
    return [exp.task.attacked_accuracy(exp, m, split, epsilon) for m in models_of(trained)]


def predict(trained: Trained, query: Query, data_dir: Path | None) -> Prediction:
    exp = trained.experiment

    def load():
        loaded, _ = exp.task.load(exp, data_dir if data_dir is not None else trained.data_dir)
        return loaded

    return exp.task.predict(exp, models_of(trained), load, query)
