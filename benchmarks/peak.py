"""This machine's float32 matmul rate through XLA: jitted `jnp.dot`, best of several timed
runs, FLOP/s = 2*M*N*K / t. A square 2048^3 product and the MLP's own shapes; with
`--mlp-only`, the MLP's training shapes alone (bench.py runs that pinned to one core, with
XLA's threading off, for the ceiling: cores x one core's rate)."""

import argparse
import json
import time

import jax
import jax.numpy as jnp

MLP_TRAINING = ("batch 100x784x500", "batch 100x500x500")
SHAPES = {  # name: (M, K, N)
    "2048x2048x2048": (2048, 2048, 2048),
    "batch 100x784x500": (100, 784, 500),
    "batch 100x500x500": (100, 500, 500),
    "eval 10000x500x500": (10_000, 500, 500),
}


def flops_per_s(m: int, k: int, n: int, tries: int = 7) -> float:
    a = jax.random.uniform(jax.random.key(0), (m, k), jnp.float32)
    b = jax.random.uniform(jax.random.key(1), (k, n), jnp.float32)
    dot = jax.jit(jnp.dot)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", required=True)
    parser.add_argument("--mlp-only", action="store_true", help="only the MLP's training shapes")
    args = parser.parse_args()
    names = MLP_TRAINING if args.mlp_only else SHAPES
    measured = {name: flops_per_s(*SHAPES[name]) for name in names}
    result = {
        "flops_per_s": measured,
        "peak_flops_per_s": max(measured.values()),
        "device": str(jax.devices()[0].device_kind),
        "jax": jax.__version__,
    }
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
