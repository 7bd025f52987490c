"""The catalog: experiments and compare groups by unique name.

Each module of `experiments/` registers its lesson family on import; a name registered
twice is an error, and an unknown name gets the closest matches. Imports no JAX.
"""

import difflib

from dlrun.core.config import Experiment, Group
from dlrun.errors import ConfigError

EXPERIMENTS: dict[str, Experiment] = {}
GROUPS: dict[str, Group] = {}


def register(experiment: Experiment) -> Experiment:
    if experiment.name in EXPERIMENTS:
        raise ValueError(f"experiment {experiment.name!r} is registered twice")
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def register_group(group: Group) -> Group:
    if group.name in GROUPS:
        raise ValueError(f"compare group {group.name!r} is registered twice")
    unknown = [v for v in group.variants if v not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"group {group.name!r} names unknown experiments {unknown}")
    GROUPS[group.name] = group
    return group


def _lookup(table: dict, name: str, kind: str):
    if name in table:
        return table[name]
    close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see `dlrun list`"
    raise ConfigError(f"unknown {kind} {name!r}{hint}")


def get_experiment(name: str) -> Experiment:
    load_catalog()
    return _lookup(EXPERIMENTS, name, "experiment")


def get_group(name: str) -> Group:
    load_catalog()
    return _lookup(GROUPS, name, "compare group")


def load_catalog() -> None:
    """Import every lesson module once; each registers its experiments on import."""
    import dlrun.experiments  # noqa: F401  (its __init__ imports the lesson modules)
