"""`make bench`: dlrun against PyTorch (eager and torch.compile), Keras 3 `model.fit` (JAX
backend) and a plain JAX loop, on the same workloads and data, on this machine.

Every measurement is a fresh subprocess (`python benchmarks/contender_X.py --workload W
--epochs N --json OUT`), so wall time includes start-up and compilation. Contenders take
turns (round-robin) and the whole round is repeated; the table keeps each contender's
fastest repeat. dlrun runs twice per round: with an empty JAX cache (XDG_CACHE_HOME=<new
temp dir>), then again on that cache.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import common
import summary
from rich.markup import escape

from dlrun.console import console

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Contender:
    key: str  # row id, also used in the JSON
    label: str
    script: str
    args: tuple[str, ...] = ()
    reuse_cache: bool = False  # run on the cache the previous (cold) dlrun run filled


CONTENDERS = {
    "dlrun": (
        Contender("dlrun-cold", "dlrun (cold cache)", "contender_dlrun.py"),
        Contender("dlrun-cached", "dlrun (cached rerun)", "contender_dlrun.py", reuse_cache=True),
    ),
    "torch": (Contender("torch", "PyTorch eager", "contender_torch.py"),),
    "torch-compile": (Contender("torch-compile", "torch.compile", "contender_torch.py", ("--compile",)),),
    "keras": (Contender("keras", "Keras 3 fit (JAX)", "contender_keras.py"),),
    "jax": (Contender("jax", "plain JAX loop", "contender_jax.py"),),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per training run (>= 2)")
    parser.add_argument("--repeats", type=int, default=2, help="rounds; the table keeps the fastest")
    parser.add_argument(
        "--workloads", default=",".join(common.WORKLOADS), help="comma list of " + ", ".join(common.WORKLOADS)
    )
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help="comma list of " + ", ".join(CONTENDERS))
    parser.add_argument("--timeout", type=float, default=1200, help="seconds before one run counts as failed")
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    parser.add_argument("--quiet-load", type=float, help="before each run, wait for the 1-min load to fall below this")
    parser.add_argument("--quiet-wait", type=float, default=120, help="but wait at most this many seconds")
    args = parser.parse_args()
    args.workloads = args.workloads.split(",")
    args.contenders = args.contenders.split(",")
    for name, known in (("workload", common.WORKLOADS), ("contender", CONTENDERS)):
        unknown = [x for x in getattr(args, name + "s") if x not in known]
        if unknown:
            parser.error(f"unknown {name} {unknown}; known: {', '.join(known)}")
    if args.epochs < 2 or args.repeats < 1:
        parser.error("--epochs must be >= 2 and --repeats >= 1")
    return args


def run_env(cache_home: Path) -> dict:
    """A private cache home per run: JAX (dlrun), Keras and TorchInductor start empty."""
    return dict(
        os.environ,
        XDG_CACHE_HOME=str(cache_home),
        DLRUN_NO_TFDS="1",
        KERAS_BACKEND="jax",
        KERAS_HOME=str(cache_home / "keras"),
        TORCHINDUCTOR_CACHE_DIR=str(cache_home / "inductor"),
    )


def measure(contender: Contender, workload: str, args, cache_home: Path, tmp: Path) -> dict:
    """One fresh process: wall time from spawn to exit, the 1-minute load before it."""
    stem = tmp / f"{contender.key}-{workload}-{time.monotonic_ns()}"
    cmd = [
        sys.executable,
        str(HERE / contender.script),
        "--workload",
        workload,
        "--epochs",
        str(args.epochs),
        "--dataset",
        args.dataset,
        "--data-dir",
        args.data_dir or "",
        "--json",
        f"{stem}.json",
        *contender.args,
    ]
    load1 = wait_for_quiet(args.quiet_load, args.quiet_wait)
    cpu_before = _children_cpu_s()
    start = time.perf_counter()
    with open(f"{stem}.log", "w") as log:
        try:
            rc = subprocess.run(
                cmd, env=run_env(cache_home), stdout=log, stderr=subprocess.STDOUT, timeout=args.timeout
            ).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    wall = time.perf_counter() - start
    cpu = _children_cpu_s() - cpu_before
    result = _read_result(Path(f"{stem}.json"), Path(f"{stem}.log"), rc, args.timeout)
    cache_files = sum(1 for p in (cache_home / "dlrun").rglob("*") if p.is_file())
    return {
        **result,
        "key": contender.key,
        "label": contender.label,
        "workload": workload,
        "wall_s": wall,
        "cpu_s": cpu,
        "load1": load1,
        "dlrun_cache_files": cache_files,
    }


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_quiet(max_load: float | None, max_wait: float) -> float:
    """On a shared machine: wait (up to max_wait s) for the 1-minute load to fall below
    max_load. Returns the load the run starts under."""
    deadline = time.monotonic() + max_wait
    while max_load is not None and os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        time.sleep(5)
    return os.getloadavg()[0]


def _read_result(path: Path, log: Path, rc, timeout: float) -> dict:
    if rc == "timeout":
        return {"status": "failed", "error": f"timed out after {timeout:.0f} s"}
    if path.exists():
        result = json.loads(path.read_text())
        if rc == 0 or result.get("status") == "failed":
            return result
    tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:]
    return {"status": "failed", "error": f"exit {rc}: {tail[0][:200] if tail else 'no output'}"}


def run_rounds(args, tmp: Path) -> list[dict]:
    runs = []
    total = args.repeats * len(args.workloads) * sum(len(CONTENDERS[c]) for c in args.contenders)
    for r in range(args.repeats):
        for workload in args.workloads:
            for key in args.contenders:
                cache_home = Path(tempfile.mkdtemp(prefix="cache-", dir=tmp))
                for contender in CONTENDERS[key]:
                    run = {**measure(contender, workload, args, cache_home, tmp), "repeat": r}
                    runs.append(run)
                    _print_run(run, len(runs), total)
    return runs


def _print_run(run: dict, done: int, total: int) -> None:
    outcome = f"{run['wall_s']:6.1f} s" if run["status"] == "ok" else f"[red]failed[/]: {escape(run['error'])}"
    console.print(f"[{done:>2}/{total}] {run['workload']:<8} {run['label']:<22} {outcome}  (load {run['load1']:.2f})")


def peak(tmp: Path, args, before: dict | None = None) -> dict:
    """The matmul peak, measured before and after the rounds; the higher one counts
    (another process busy on the machine can only make it look lower)."""
    out = tmp / "peak.json"
    load1 = wait_for_quiet(args.quiet_load, args.quiet_wait)
    subprocess.run([sys.executable, str(HERE / "peak.py"), "--json", str(out)], check=True, env=run_env(tmp))
    now = {**json.loads(out.read_text()), "load1": load1}
    if before is None:
        return now
    best = max(before, now, key=lambda p: p["peak_flops_per_s"])
    return {**best, "measurements": [before, now]}


def ceiling(tmp: Path) -> dict:
    """Cores x one core's float32 GEMM rate at the MLP's training shapes: `peak.py
    --mlp-only` pinned to one core with XLA's threading off. Replicas spread one per core
    can reach it; nothing in this workload can do better."""
    out, cores = tmp / "one-core.json", os.cpu_count() or 1
    env = run_env(tmp) | {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}
    command = [sys.executable, str(HERE / "peak.py"), "--mlp-only", "--json", str(out)]
    subprocess.run(["taskset", "-c", "0", *command], check=True, env=env)
    one = json.loads(out.read_text())["flops_per_s"]
    per_core = sum(one.values()) / len(one)
    return {"flops_per_s": cores * per_core, "per_core": one, "cores": cores}


def main() -> None:
    args = parse_args()
    args.dataset, args.data_dir = common.data_choice()
    started = datetime.now().astimezone()
    with tempfile.TemporaryDirectory(prefix="dlrun-bench-") as tmp:
        console.print(f"matmul peak, {args.repeats} round(s) of {args.epochs}-epoch runs, matmul peak again")
        first_peak = peak(Path(tmp), args)
        runs = run_rounds(args, Path(tmp))
        machine = {"peak": peak(Path(tmp), args, first_peak), "ceiling": ceiling(Path(tmp)), **summary.machine()}
    report = summary.build(runs, machine, args, started)
    summary.show(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
        console.print(f"json: {args.json}")
    if args.markdown:
        args.markdown.write_text(summary.markdown(report))
        console.print(f"markdown: {args.markdown}")


if __name__ == "__main__":
    main()
