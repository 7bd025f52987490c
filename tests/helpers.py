"""What tests build from dlrun's public pieces: one experiment trained start to end, one
seed's initial weights, one replica's hyper-parameters; and data archives."""

import io
import tarfile
from pathlib import Path

import jax

from dlrun.core.compiler import Compiler
from dlrun.core.config import Experiment, resolved
from dlrun.core.engine import Hyper, init_inputs, model_graphdef
from dlrun.core.programs import initial_state
from dlrun.core.trainer import VariantResult, train_cohort


def train_one(exp: Experiment, loaded, seeds: list[int], compiler: Compiler | None = None) -> VariantResult:
    """One experiment over its seeds, as one cohort (a fresh compiler unless given one)."""
    [result], _ = train_cohort(compiler or Compiler(), [exp], loaded, seeds)
    return result


def initial_states(exp: Experiment, seeds: list[int]):
    """The initial TrainState [R, ...] of these seeds, as a cohort starts from it."""
    make_state, _ = initial_state(Compiler(), resolved(exp), *init_inputs([exp], seeds))
    return make_state()


def init_params(exp: Experiment, seed: int):
    """One seed's initial (graphdef, params, rest), as training starts from them."""
    state = initial_states(exp, [seed])
    params, rest = jax.tree.map(lambda a: a[0], (state.params, state.rest))
    return model_graphdef(resolved(exp)), params, rest


def one_hyper(exp: Experiment) -> Hyper:
    """One replica's numeric settings (scalars), as the epoch program reads them."""
    return Hyper(*(v[0] for v in Hyper.stack([exp], 1)))


def write_tarball(path: Path, members: dict[str, bytes | str]) -> Path:
    """A gzipped tarball with these members (name -> content; text is Latin-1 encoded, as
    the Reuters-21578 files are)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            raw = content if isinstance(content, bytes) else content.encode("latin-1")
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path
