"""Where programs run: the persistent compilation cache, multi-host start-up, and the
device mesh used for data parallelism when several devices are visible."""

import os
import signal
from pathlib import Path
from typing import Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

_configured = False  # JAX's configuration is the process's: set once, before the first compile


def multi_host() -> bool:
    """Whether jax.distributed is asked for (DLRUN_COORDINATOR and the next two variables)."""
    return bool(os.environ.get("DLRUN_COORDINATOR"))


def cache_dir() -> Path:
    """Per-user cache folder for compiled programs ($XDG_CACHE_HOME/dlrun/jax)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dlrun" / "jax"


def configure() -> None:
    """Once per process, before the first compile: the persistent cache (so a rerun does
    not recompile; DLRUN_NO_CACHE=1 turns it off) and, when asked through the environment,
    multi-host JAX."""
    global _configured
    if _configured:
        return
    _configured = True
    if multi_host():  # e.g. DLRUN_COORDINATOR=host0:1234
        jax.distributed.initialize(
            coordinator_address=os.environ["DLRUN_COORDINATOR"],
            num_processes=int(os.environ["DLRUN_NUM_PROCESSES"]),
            process_id=int(os.environ["DLRUN_PROCESS_ID"]),
        )
        # SIGTERM now goes to JAX's preemption notifier (see `StopAgreement`); Ctrl-C joins it,
        # so that stopping one process stops them all at the same epoch instead of leaving
        # the others waiting in a collective.
        signal.signal(signal.SIGINT, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
    if not os.environ.get("DLRUN_NO_CACHE"):
        jax.config.update("jax_compilation_cache_dir", str(cache_dir()))
        # Cache every program, however fast it compiled: start-up is what a rerun must win.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


class StopAgreement:
    """A multi-host run stops together: after each epoch every process asks, in step, and
    once any process got SIGTERM or Ctrl-C all of them hear yes at the same epoch (JAX's
    preemption service picks the epoch after the furthest one's). One per run: epochs are
    counted over the whole run, since each cohort of a compare starts again at epoch 0.
    Always no without jax.distributed (there SIGTERM and Ctrl-C interrupt at once)."""

    def __init__(self):
        self._epochs = 0

    def reached(self) -> bool:
        if not multi_host():
            return False
        from jax.experimental import multihost_utils

        self._epochs += 1
        return multihost_utils.reached_preemption_sync_point(self._epochs)


def data_mesh() -> Mesh | None:
    """A 1-D mesh over every visible device, or None on a single device."""
    devices = jax.devices()
    return Mesh(np.array(devices), ("data",)) if len(devices) > 1 else None


def _replicated(mesh: Mesh | None) -> NamedSharding | None:
    """A full copy on every device of the mesh (None: the default device)."""
    return NamedSharding(mesh, PartitionSpec()) if mesh else None


def replicate(tree, mesh: Mesh | None):
    """Put arrays on the device(s) once: a full copy on every device of the mesh."""
    return jax.device_put(tree, _replicated(mesh))


def replicated_shapes(tree, mesh: Mesh | None):
    """The shapes and shardings `replicate(tree, mesh)` would give, without arrays: what
    programs are traced against before their inputs exist."""
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=_replicated(mesh)), tree)


def batch_sharder(mesh: Mesh | None, batch_size: int) -> Callable:
    """Inside the compiled step: split each mini-batch [B, ...] across the mesh's devices
    (XLA then all-reduces the gradients). Identity on one device or an uneven batch."""
    if mesh is None or batch_size % mesh.size:
        return lambda x: x
    sharding = NamedSharding(mesh, PartitionSpec("data"))
    return lambda x: jax.lax.with_sharding_constraint(x, sharding)
