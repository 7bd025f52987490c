"""Compiling a run's programs: each traced once, ahead of time, against shapes, and compiled
on background threads while the main thread traces the next program or loads data.

A `Compiler` belongs to one run (the runner makes it): it keeps the run's programs by
what decides them, counts them for the record, and measures the seconds spent tracing
and waiting for XLA, which the tables report as compile time.
"""

import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Callable

import jax

# For programs that run once (the initial weights and optimizer state): XLA's
# optimisation passes would cost about 1 s of compiling on a cold start (the threefry
# generator is large) to save a millisecond of running; the numbers are the same either way.
RUN_ONCE = {"xla_backend_optimization_level": 0}


class Compiler:
    """The programs of one run. XLA compiles with Python's lock released, so compiles run
    on two threads. Nothing runs while any of them compiles: with XLA:CPU running a
    program alongside compiles, the slot-filling taggers' steps deadlocked in the runtime
    (`compare slot-filling --seeds 3`), so calling a program first waits for them all."""

    def __init__(self):
        self._programs: dict[tuple, Any] = {}
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dlrun-compile")
        self._in_flight: list[Future] = []
        self.structures = 0  # training structures compiled (one epoch program each)
        self.trace_s = 0.0  # seconds spent tracing
        self.wait_s = 0.0  # seconds spent waiting for compiles to finish

    @property
    def programs(self) -> int:
        """Every program compiled (epoch, initialisation and evaluation programs)."""
        return len(self._programs)

    def cached(self, key: tuple, build: Callable[[], Any]) -> Any:
        """`build()` once per key (it traces, so its time counts as tracing)."""
        if key not in self._programs:
            start = time.perf_counter()
            self._programs[key] = build()
            self.trace_s += time.perf_counter() - start
        return self._programs[key]

    def aot(self, fn: Callable, *args, donate: tuple[int, ...] = (), options: dict | None = None) -> "Background":
        """Trace `fn` now against `args` (arrays or shapes) and compile it in the background."""
        lowered = jax.jit(fn, donate_argnums=donate).lower(*args)
        compiling = self._threads.submit(lowered.compile, compiler_options=options)
        self._in_flight.append(compiling)
        return Background(self, lowered.out_info, compiling)

    def settle(self) -> None:
        """Wait for every compile in flight (the wait counts as compile time)."""
        if any(not f.done() for f in self._in_flight):
            start = time.perf_counter()
            wait(self._in_flight)
            self.wait_s += time.perf_counter() - start
        self._in_flight.clear()

    @property
    def seconds(self) -> float:
        return self.trace_s + self.wait_s


class Background:
    """A program compiling on a background thread; calling it first waits for every
    compile in flight."""

    def __init__(self, compiler: Compiler, out_shapes, compiling: Future):
        self.out_shapes = out_shapes  # shapes and dtypes of the outputs, known before the compile
        self._compiler, self._compiling = compiler, compiling

    def compiled(self) -> jax.stages.Compiled:
        self._compiler.settle()
        return self._compiling.result()

    @property
    def out_info(self):
        return self.compiled().out_info  # shapes of the outputs, with their device shardings

    def __call__(self, *args):
        return self.compiled()(*args)


def shapes_key(tree) -> tuple:
    """What the shapes of a pytree contribute to a program's key."""
    return jax.tree.structure(tree), tuple((a.shape, a.dtype) for a in jax.tree.leaves(tree))
