"""`dlrun list` and `dlrun show NAME`: the registered experiments and groups, for people and
scripts. Reads the declarations only: no JAX is imported."""

import json

from rich.table import Table
from rich.text import Text

from dlrun.console import console
from dlrun.core.config import describe
from dlrun.core.registry import EXPERIMENTS, GROUPS, get_experiment, get_group, load_catalog
from dlrun.core.settings import Setting, with_settings
from dlrun.errors import ConfigError


def listing() -> dict:
    load_catalog()
    return {
        "experiments": [
            {
                "name": e.name,
                "description": e.description,
                "reference": e.reference,
                "dataset": e.dataset.value if e.dataset else None,
            }
            for e in EXPERIMENTS.values()
        ],
        "groups": [
            {
                "name": g.name,
                "description": g.description,
                "variants": list(g.variants),
                "claims": [c.text for c in g.claims],
            }
            for g in GROUPS.values()
        ],
    }


def print_listing() -> None:
    data = listing()
    experiments = Table(title="experiments (dlrun train NAME)")
    for column in ("name", "lecture", "description"):
        experiments.add_column(column, justify="right" if column == "lecture" else "left")
    for e in data["experiments"]:
        ref = f"{e['reference']:.2f}" if e["reference"] is not None else "—"
        experiments.add_row(Text(e["name"]), ref, Text(e["description"]))  # plain text, never markup
    groups = Table(title="compare groups (dlrun compare GROUP)")
    for column in ("group", "variants", "claim"):
        groups.add_column(column)
    for g in data["groups"]:
        groups.add_row(Text(g["name"]), str(len(g["variants"])), Text("; ".join(g["claims"]) or g["description"]))
    console.print(experiments)
    console.print(groups)


def print_config(name: str, settings: tuple[Setting, ...] = ()) -> None:
    """An experiment's resolved settings, or a group's variants and claims (with `--set`,
    each variant's settings as changed)."""
    load_catalog()
    if name in GROUPS and not settings:
        console.print_json(json.dumps(describe(get_group(name))))
        return
    try:
        names = get_group(name).variants if name in GROUPS else (get_experiment(name).name,)
    except ConfigError as e:
        raise ConfigError(str(e).replace("unknown experiment", "unknown experiment or group")) from None
    for variant in names:
        experiment = with_settings(get_experiment(variant), settings)
        config = describe(experiment)
        if hasattr(experiment.model, "num_params"):
            config["model"]["num_params"] = experiment.model.num_params()
        console.print_json(json.dumps(config))
