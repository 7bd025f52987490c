"""A sweep's verdict and picture: which trials are as good as the best within the seeds'
noise, and the headline metric against the swept value (mean ± std over seeds).

Read from the record alone (its "sweep" section: keys and each trial's values), so a
report can redraw an old sweep. Imports no JAX; matplotlib only when drawing."""

import math
from pathlib import Path

from dlrun.output.figures import save_png
from dlrun.output.lessons import higher_is_better
from dlrun.record_format import DEFAULT_COLUMNS, OK

SWEEP_NAME = "sweep.png"


def headline_key(record: dict) -> str:
    return (record.get("columns") or DEFAULT_COLUMNS)[0][0]


def near_best(record: dict) -> set[str]:
    """Trials whose headline mean is within one standard deviation of the difference
    from the best trial's (sqrt(s_best^2 + s^2), the seeds' spread of both); with one
    seed, the best trial alone."""
    key = headline_key(record)
    sign = 1.0 if higher_is_better(key) else -1.0
    scored = [(r["variant"], sign * r[key], r.get(f"{key}_std") or 0.0) for r in _finished(record, key)]
    if not scored:
        return set()
    _, best, best_std = max(scored, key=lambda s: s[1])
    return {name for name, mean, std in scored if best - mean <= math.hypot(best_std, std)}


def _finished(record: dict, key: str) -> list[dict]:
    return [r for r in record.get("results") or [] if r.get("status") == OK and r.get(key) is not None]


def save_sweep_plot(record: dict, run_dir: Path) -> Path | None:
    """sweep.png: the headline metric against the first swept key, one line per value of
    the other keys; the trials within noise of the best are ringed."""
    sweep, key = record.get("sweep"), headline_key(record)
    results = _finished(record, key)
    if not sweep or not results:
        return None
    import matplotlib.figure

    keys, values = sweep["keys"], sweep["values"]
    lines: dict[tuple, list[dict]] = {}
    for r in results:
        lines.setdefault(tuple(values[r["variant"]][1:]), []).append(r)
    numeric = all(_is_float(values[r["variant"]][0]) for r in results)
    good = near_best(record)
    fig = matplotlib.figure.Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for rest, rows in lines.items():
        _draw_line(ax, rows, values, key, numeric, good, ", ".join(f"{k}={v}" for k, v in zip(keys[1:], rest)))
    if numeric and _spans_decades([float(values[r["variant"]][0]) for r in results]):
        ax.set_xscale("log")
    ax.set_xlabel(keys[0].replace("$", r"\$"))
    label = dict(record.get("columns") or DEFAULT_COLUMNS).get(key, key)
    ax.set_ylabel(f"{label} (mean ± std over seeds)".replace("$", r"\$"))
    ax.set_title(f"sweep {record['name']}: ringed = within the seeds' noise of the best".replace("$", r"\$"))
    if len(lines) > 1:
        ax.legend(fontsize=8)
    return save_png(fig, run_dir / SWEEP_NAME)


def _draw_line(ax, rows: list[dict], values: dict, key: str, numeric: bool, good: set[str], label: str) -> None:
    if numeric:
        rows = sorted(rows, key=lambda r: float(values[r["variant"]][0]))
    xs = [values[r["variant"]][0] for r in rows]
    positions = [float(x) for x in xs] if numeric else list(range(len(xs)))
    means = [r[key] for r in rows]
    stds = [r.get(f"{key}_std") or 0.0 for r in rows]
    ax.errorbar(positions, means, yerr=stds, marker="o", capsize=3, label=label.replace("$", r"\$") or None)
    ringed = [(x, m) for x, m, r in zip(positions, means, rows) if r["variant"] in good]
    if ringed:
        ax.scatter(*zip(*ringed), s=180, facecolors="none", edgecolors="tab:green", linewidths=2, zorder=3)
    if not numeric:
        ax.set_xticks(positions, [x.replace("$", r"\$") for x in xs])


def _is_float(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _spans_decades(xs: list[float]) -> bool:
    return min(xs) > 0 and max(xs) / min(xs) >= 100
