"""Where programs run: the persistent compilation cache, multi-host start-up, the CPU
devices a run asks for, and how a cohort's replicas are placed on the devices."""

import os
import signal
from pathlib import Path
from typing import Callable, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dlrun.errors import ConfigError

MAX_CPU_DEVICES = 8

_configured = False  # JAX's configuration is the process's: set once, before the first compile


def multi_host() -> bool:
    """Whether jax.distributed is asked for (DLRUN_COORDINATOR and the next two variables)."""
    return bool(os.environ.get("DLRUN_COORDINATOR"))


def cache_dir() -> Path:
    """Per-user cache folder for compiled programs ($XDG_CACHE_HOME/dlrun/jax)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dlrun" / "jax"


def configure(replicas: int = 1) -> None:
    """Once per process, before the first compile: the persistent cache (so a rerun does
    not recompile; DLRUN_NO_CACHE=1 turns it off), multi-host JAX when asked through the
    environment, and the CPU devices for a run whose cohorts train `replicas` replicas each."""
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
    _make_cpu_devices(replicas)
    if not os.environ.get("DLRUN_NO_CACHE"):
        jax.config.update("jax_compilation_cache_dir", str(cache_dir()))
        # Cache every program, however fast it compiled: start-up is what a rerun must win.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def cpu_device_count(replicas: int) -> int:
    """CPU devices for JAX to make: DLRUN_CPU_DEVICES, else the most that divide the
    replicas, one per core this process may use (at most MAX_CPU_DEVICES). Replicas then
    spread over the cores (`placement`); a run whose replicas do not divide keeps one
    device, since a second device slows what runs on the first (docs/benchmark.md)."""
    setting = os.environ.get("DLRUN_CPU_DEVICES")
    if setting:
        if not setting.isdigit() or int(setting) < 1:
            raise ConfigError(f"DLRUN_CPU_DEVICES must be a whole number of at least 1, got {setting!r}")
        return int(setting)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(d for d in range(1, min(cores, MAX_CPU_DEVICES) + 1) if replicas % d == 0)


def _make_cpu_devices(replicas: int) -> None:
    """Set the CPU device count before JAX starts its backends. A count forced through
    XLA_FLAGS is left alone, and each process of a multi-host run keeps one device (its
    mini-batches are split across the processes)."""
    if multi_host() or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    jax.config.update("jax_num_cpu_devices", cpu_device_count(replicas))


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


class Placement(NamedTuple):
    """Where a cohort's arrays live. Replicas (seeds x variants) are independent, so with
    several devices in one process they are spread over as many devices as divide their
    number: each device trains its share and nothing is exchanged until the metrics come
    back. In a multi-host run, or for replicas that do not divide over several GPUs, every
    device holds every replica and each mini-batch is split across them (data parallelism)."""

    mesh: Mesh | None  # None: the default device alone
    spread: bool  # the leading replica axis [R] is split over the mesh

    def put(self, tree, per_replica: bool):
        """Put arrays on the device(s) once: split along the replicas (`per_replica` arrays
        [R, ...] when spread), else a full copy on every device of the mesh."""
        return jax.device_put(tree, self._sharding(per_replica))

    def shapes(self, tree, per_replica: bool):
        """The shapes and shardings `put` would give, without arrays: what programs are traced
        against before their inputs exist."""
        sharding = self._sharding(per_replica)
        return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding), tree)

    def batch_sharder(self, batch_size: int) -> Callable:
        """Inside the compiled step: split each mini-batch [B, ...] across the mesh's devices
        (XLA then all-reduces the gradients). Identity when the replicas are spread, on one
        device, or for an uneven batch."""
        if self.mesh is None or self.spread or batch_size % self.mesh.size:
            return lambda x: x
        sharding = NamedSharding(self.mesh, PartitionSpec("data"))
        return lambda x: jax.lax.with_sharding_constraint(x, sharding)

    def _sharding(self, per_replica: bool) -> NamedSharding | None:
        if self.mesh is None:
            return None
        return NamedSharding(self.mesh, PartitionSpec("replicas" if per_replica and self.spread else None))


def placement(replicas: int) -> Placement:
    """How R replicas are placed on the visible devices (see `Placement`). CPU devices are
    cores (`cpu_device_count`): replicas that do not divide over them stay on one device,
    which then uses every core, since splitting mini-batches across cores, or padding the
    replicas to a multiple, measured slower (docs/benchmark.md)."""
    devices = jax.devices()
    spread_over = max(d for d in range(1, len(devices) + 1) if replicas % d == 0)
    if multi_host() or (spread_over == 1 and devices[0].platform != "cpu" and len(devices) > 1):
        return Placement(Mesh(np.array(devices), ("data",)), False)
    if spread_over == 1:
        return Placement(None, False)
    return Placement(Mesh(np.array(devices[:spread_over]), ("replicas",)), True)
