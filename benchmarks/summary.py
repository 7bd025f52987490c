"""Turn the raw runs into table rows (fastest repeat per contender and workload), check
the targets, and print both with Rich."""

import os
import platform
from datetime import datetime

import common
from rich.markup import escape
from rich.table import Table

from dlrun.console import console

KEYS = ("dlrun-cold", "dlrun-cached", "torch", "torch-compile", "keras", "jax")


def machine() -> dict:
    model = "unknown CPU"
    if os.path.exists("/proc/cpuinfo"):
        lines = [line for line in open("/proc/cpuinfo") if line.startswith("model name")]
        model = lines[0].split(":", 1)[1].strip() if lines else model
    return {"cpu": model, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def best_rows(runs: list[dict]) -> list[dict]:
    """One row per (workload, contender): its fastest successful repeat, or why it failed."""
    rows = []
    for workload in dict.fromkeys(r["workload"] for r in runs):
        for key in KEYS:
            mine = [r for r in runs if r["workload"] == workload and r["key"] == key]
            ok = [r for r in mine if r["status"] == "ok"]
            if not mine:
                continue
            row = dict(min(ok, key=lambda r: r["wall_s"]) if ok else mine[-1])
            row["walls"] = [round(r["wall_s"], 2) for r in ok]
            row["failed_runs"] = len(mine) - len(ok)
            rows.append(row)
    _add_ratios(rows)
    return rows


def _add_ratios(rows: list[dict]) -> None:
    """ratio = peer wall / dlrun wall on the same workload: > 1 means dlrun was faster."""
    for row in rows:
        for mode in ("cold", "cached"):
            ref = _find(rows, row["workload"], f"dlrun-{mode}")
            ok = row["status"] == "ok" and ref and ref["status"] == "ok"
            row[f"ratio_{mode}"] = row["wall_s"] / ref["wall_s"] if ok else None


def _find(rows: list[dict], workload: str, key: str) -> dict | None:
    return next((r for r in rows if r["workload"] == workload and r["key"] == key), None)


def _speedup_target(rows, workloads, peer, mode, at_least, text) -> dict:
    ratios = {w: (_find(rows, w, peer) or {}).get(f"ratio_{mode}") for w in workloads}
    known = [v for v in ratios.values() if v is not None]
    measured = ", ".join(f"{w} {v:.2f}x" if v is not None else f"{w} n/a" for w, v in ratios.items())
    met = bool(known) and len(known) == len(ratios) and min(known) >= at_least
    return {"target": text, "measured": measured, "met": met}


def _ceiling_line(rows, ceiling: dict) -> dict:
    """dlrun's steady state as a fraction of the ceiling (cores x one core's GEMM rate at
    the model's shapes); reported, not a target."""
    fractions = {}
    for row in rows:
        if row["key"].startswith("dlrun") and row["status"] == "ok" and row.get("flops_per_s"):
            fractions[row["workload"]] = max(
                fractions.get(row["workload"], 0), row["flops_per_s"] / ceiling["flops_per_s"]
            )
    measured = ", ".join(f"{w} {f:.0%}" for w, f in fractions.items())
    return {
        "target": f"dlrun steady state / ceiling ({ceiling['cores']} x one core's GEMM rate at the MLP's shapes, "
        f"{ceiling['flops_per_s'] / 1e9:.0f} GFLOP/s)",
        "measured": measured,
        "met": None,
    }


def targets(rows: list[dict], ceiling: dict) -> list[dict]:
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    compare = [w for w in workloads if common.WORKLOADS[w].kind == "compare"]
    single = [w for w in workloads if common.WORKLOADS[w].kind == "single"]
    checks = []
    if compare:
        checks.append(
            _speedup_target(
                rows, compare, "torch", "cached", 1.5, "compare: dlrun cached >= 1.5x faster than PyTorch eager"
            )
        )
        checks.append(
            _speedup_target(
                rows, compare, "torch", "cold", 1.3, "compare: dlrun cold >= 1.3x faster than PyTorch eager"
            )
        )
    if single:
        checks.append(
            _speedup_target(
                rows, single, "torch", "cold", 1.2, "single runs: dlrun cold >= 1.2x faster than PyTorch eager"
            )
        )
    for peer, name in (("keras", "Keras 3 fit"), ("jax", "the plain JAX loop")):
        if not any(r["key"] == peer for r in rows):  # not among the contenders asked for
            continue
        checks.append(
            _speedup_target(rows, workloads, peer, "cold", 1.0 + 1e-9, f"every workload: dlrun cold faster than {name}")
        )
    checks.append(_ceiling_line(rows, ceiling))
    return checks


def build(runs: list[dict], machine: dict, args, started: datetime) -> dict:
    rows = best_rows(runs)
    loads = [r["load1"] for r in runs]
    data = next((r["data_source"] for r in runs if r.get("data_source")), "?")
    fallback = "" if args.dataset == "fashion_mnist" else f" ({common.FASHION_DIR} missing: MNIST sample fallback)"
    return {
        "date": started.isoformat(timespec="seconds"),
        "machine": machine,
        "epochs": args.epochs,
        "repeats": args.repeats,
        "data": data + fallback,
        "load1_range": [min(loads), max(loads)],
        "rows": rows,
        "targets": targets(rows, machine["ceiling"]),
        "runs": runs,
    }


def _fmt(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def table(report: dict) -> Table:
    m = report["machine"]
    lo, hi = report["load1_range"]
    caption = (
        f"{report['date']} · {m['cpu']}, {m['cores']} cores (JAX device: {m['peak']['device']}) · "
        f"load avg (1 min) {lo:.2f}–{hi:.2f} · "
        f"data: {report['data']} · {report['epochs']} epochs, fastest of {report['repeats']} · "
        f"matmul peak {m['peak']['peak_flops_per_s'] / 1e9:.0f} GFLOP/s"
    )
    t = Table(title="dlrun benchmark (whole-process wall time)", caption=caption, caption_justify="left")
    for name in (
        "contender",
        "workload",
        "wall s",
        "CPU s",
        "compile+1st epoch s",
        "steady epoch s",
        "samples/s",
        "peak MB",
        "test acc",
        "÷ dlrun cold / cached",
    ):
        left = name in ("contender", "workload")
        t.add_column(name, justify="left" if left else "right", no_wrap=left)
    for row in report["rows"]:
        t.add_row(*map(escape, _cells(row)), style=None if row["status"] == "ok" else "red")
    return t


def _cells(row: dict) -> list[str]:
    if row["status"] != "ok":
        return [row["label"], row["workload"], f"failed: {row['error']}", *[""] * 7]
    ratio = (
        "—"
        if row["key"].startswith("dlrun")
        else f"{_fmt(row['ratio_cold'], '.2f')} / {_fmt(row['ratio_cached'], '.2f')}"
    )
    return [
        row["label"],
        row["workload"],
        f"{row['wall_s']:.1f}",
        f"{row['cpu_s']:.1f}",
        _fmt(row["first_s"], ".1f"),
        _fmt(row["steady_epoch_s"], ".2f"),
        _fmt(row["samples_per_s"], ",.0f"),
        f"{row['peak_rss_mb']:,.0f}",
        f"{row['test_acc']:.3f}",
        ratio,
    ]


def markdown(report: dict) -> str:
    """The same table and target lines as Markdown (for the README)."""
    t = table(report)
    head = [c.header for c in t.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i < 2 else "---:" for i in range(len(head))) + "|"]
    for row in report["rows"]:
        lines.append("| " + " | ".join(_cells(row)) + " |")
    lines += ["", t.caption, ""]
    lines += [f"- **{_verdict(c['met'])}**: {c['target']}: {c['measured']}" for c in report["targets"]]
    return "\n".join(lines) + "\n"


def show(report: dict) -> None:
    console.print(table(report))
    for check in report["targets"]:
        style = {"met": "green", "not met": "red"}.get(_verdict(check["met"]), "bold")
        console.print(
            f"[{style}]{_verdict(check['met']):>8}[/]  {escape(check['target'])}: {escape(check['measured'])}"
        )


def _verdict(met: bool | None) -> str:
    return "measured" if met is None else "met" if met else "not met"
