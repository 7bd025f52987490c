"""This machine's float32 matmul rate through XLA: jitted `jnp.dot`, best of several timed
runs, FLOP/s = 2*M*N*K / t. A square 2048^3 product and the MLP's own shapes; with
`--mlp-only`, the MLP's training shapes alone (bench.py runs that pinned to one core, with
XLA's threading off, for the ceiling: cores x one core's rate). With `--bf16`, the same
products with bfloat16 inputs and float32 results, as `--precision bf16` multiplies, beside
the CPU's bf16 flags: whether XLA:CPU turns `avx512_bf16` or AMX into speed."""

import argparse
import functools
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp

MLP_TRAINING = ("batch 100x784x500", "batch 100x500x500")
SHAPES = {  # name: (M, K, N)
    "2048x2048x2048": (2048, 2048, 2048),
    "batch 100x784x500": (100, 784, 500),
    "batch 100x500x500": (100, 500, 500),
    "eval 10000x500x500": (10_000, 500, 500),
}


def flops_per_s(m: int, k: int, n: int, tries: int = 7, dtype=jnp.float32) -> float:
    a = jax.random.uniform(jax.random.key(0), (m, k), dtype)
    b = jax.random.uniform(jax.random.key(1), (k, n), dtype)
    dot = jax.jit(functools.partial(jnp.dot, preferred_element_type=jnp.float32))
    dot(a, b).block_until_ready()
    reps = max(1, int(2e10 // (2 * m * n * k)))  # about 20 GFLOP per timed run
    best = float("inf")
    for _ in range(tries):
        start = time.perf_counter()
        for _ in range(reps):
            out = dot(a, b)
        out.block_until_ready()
        best = min(best, (time.perf_counter() - start) / reps)
    return 2 * m * n * k / best


def bf16_flags() -> list[str]:
    """The CPU's bfloat16 features as /proc/cpuinfo lists them (none where it is absent)."""
    cpuinfo = Path("/proc/cpuinfo")
    flags = set(cpuinfo.read_text().split()) if cpuinfo.exists() else set()
    return sorted(f for f in flags if "bf16" in f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", required=True)
    parser.add_argument("--mlp-only", action="store_true", help="only the MLP's training shapes")
    parser.add_argument("--bf16", action="store_true", help="also bfloat16 inputs (float32 results)")
    args = parser.parse_args()
    names = MLP_TRAINING if args.mlp_only else SHAPES
    measured = {name: flops_per_s(*SHAPES[name]) for name in names}
    result = {
        "flops_per_s": measured,
        "peak_flops_per_s": max(measured.values()),
        "device": str(jax.devices()[0].device_kind),
        "jax": jax.__version__,
    }
    if args.bf16:
        result["bf16_flops_per_s"] = {name: flops_per_s(*SHAPES[name], dtype=jnp.bfloat16) for name in names}
        result["cpu_bf16_flags"] = bf16_flags()
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
