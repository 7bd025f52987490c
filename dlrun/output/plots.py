"""Learning curves as a PNG beside each run record: per epoch, one row of panels per
measured quantity (accuracy, loss, or a family's own), train on the left and test on the
right; one colour per variant, the mean over seeds with a min-max band, and the
lecture's number as a dotted line in the variant's colour.

Everything is read from the record dict, so `dlrun report` can redraw the curves of an
old run. matplotlib is imported only inside the functions that draw, or in the background
while a run trains: `dlrun list` must not pay for it, nor a run's results table wait for it.
"""

import threading
import warnings
from pathlib import Path

import numpy as np

from dlrun.console import notice
from dlrun.output.figures import save_png
from dlrun.output.sweeps import save_sweep_plot
from dlrun.record_format import DEFAULT_COLUMNS, DIVERGED, OK

CURVES_NAME = "curves.png"
SPLITS = ("train", "test")  # the panel columns; "val_*" is early stopping's bookkeeping
MAX_ROWS = 4
# The figure's layout, in inches: panels of PANEL_IN height, the suptitle and column
# titles above, tick labels and "epoch" below, then the legend (title + its rows).
WIDTH_IN, PANEL_IN, TOP_IN, AXIS_IN, LEFT_IN, RIGHT_IN = 11.0, 2.75, 0.75, 0.5, 0.8, 0.15
LEGEND_IN, LEGEND_ROW_IN = 0.45, 0.22
CORE = ("accuracy", "loss")
STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "legend.fontsize": 9,
    "legend.frameon": False,
}


def _plain(text: str) -> str:
    """Text from a record, shown as written: matplotlib would read "$...$" as mathtext (and
    fail on a bad formula, losing the figure)."""
    return str(text).replace("$", r"\$")


def import_in_background() -> None:
    """Start importing matplotlib on another thread: a run calls this before it compiles
    and trains, so the import (about half a second) overlaps that wait instead of
    delaying the results table."""
    threading.Thread(target=_import_matplotlib, name="import-matplotlib", daemon=True).start()


def _import_matplotlib() -> None:
    try:
        import matplotlib.backends.backend_agg  # noqa: F401 - what savefig draws PNGs with
        import matplotlib.figure  # noqa: F401
    except Exception:  # noqa: BLE001 - save_curves imports again and reports the problem
        pass


def save_curves(record: dict, run_dir: Path) -> Path | None:
    """Draw the curves into RUN_DIR/curves.png (and a sweep's sweep.png). Never raises: the
    record is already on disk, and a plotting problem (a missing font, a full disk) must
    not lose the run."""
    try:
        save_sweep_plot(record, Path(run_dir))
        return write_curves(record, Path(run_dir) / CURVES_NAME)
    except Exception as e:  # noqa: BLE001 - any failure here is only worth a notice
        notice(f"learning curves not saved ({type(e).__name__}: {e}); the results are unaffected")
        return None


def write_curves(record: dict, path: Path) -> Path | None:
    """Draw and save the figure; None when the record has no per-epoch metrics to draw."""
    history = {v: h for v, h in (record.get("history") or {}).items() if h}
    rows = metric_rows(record, history)
    if not rows:
        return None
    import matplotlib

    with matplotlib.rc_context(STYLE):
        figure = _figure(record, history, rows)
        return save_png(figure, path)


def metric_rows(record: dict, history: dict[str, list[dict]]) -> list[str]:
    """The quantities to draw ("accuracy", "loss", ...): those named in the history as
    train_X or test_X, in the order of the record's table columns (headline first), then
    accuracy and loss, then a family's extras (per-layer gradient norms...) up to MAX_ROWS."""
    keys = {key for h in history.values() for epoch in h for key in epoch}
    found = {key.split("_", 1)[1] for key in keys if key.split("_", 1)[0] in SPLITS and "_" in key}
    preferred = [key.split("_", 1)[1] for key, *_ in record.get("columns") or [] if "_" in key]
    ordered = [s for s in dict.fromkeys([*preferred, *CORE]) if s in found] + sorted(found - {*preferred, *CORE})
    return ordered[:MAX_ROWS]


def _series(history: list[dict], metric: str) -> np.ndarray | None:
    """(epochs, seeds) floats; null, NaN and inf (a diverged seed) all become NaN."""
    rows = [epoch.get(metric) for epoch in history]
    if all(r is None for r in rows):
        return None
    rows = [r if isinstance(r, list) else [r] for r in rows]
    values = np.full((len(rows), max(len(r) for r in rows)), np.nan)
    for i, row in enumerate(rows):
        values[i, : len(row)] = [np.nan if v is None else v for v in row]
    values[~np.isfinite(values)] = np.nan
    return values


def _figure(record: dict, history: dict[str, list[dict]], rows: list[str]):
    from matplotlib.figure import Figure

    columns = _legend_columns(history)
    legend_rows = -(-(len(history) + 1) // columns)
    height = TOP_IN + PANEL_IN * len(rows) + AXIS_IN + LEGEND_IN + LEGEND_ROW_IN * legend_rows
    figure = Figure(figsize=(WIDTH_IN, height))
    # Fixed margins in inches: matplotlib's constrained layout would measure every tick
    # label to find them, a fifth of a second per run.
    figure.subplots_adjust(
        left=LEFT_IN / WIDTH_IN,
        right=1 - RIGHT_IN / WIDTH_IN,
        top=1 - TOP_IN / height,
        bottom=(AXIS_IN + LEGEND_IN + LEGEND_ROW_IN * legend_rows) / height,
        wspace=0.06,
        hspace=0.3 / PANEL_IN,
    )
    axes = figure.subplots(len(rows), 2, sharex=True, sharey="row", squeeze=False)
    status = {r["variant"]: r.get("status", OK) for r in record.get("results", [])}
    reference = {r["variant"]: r.get("reference") for r in record.get("results", [])}
    panels = [(f"{split}_{stem}", axes[i, j]) for i, stem in enumerate(rows) for j, split in enumerate(SPLITS)]
    headline = (record.get("columns") or DEFAULT_COLUMNS)[0][0]
    marks: list[tuple] = []
    handles = [
        _draw_variant(panels, history[v], colour, (headline, reference.get(v)), status.get(v, OK), v, marks)
        for v, colour in zip(history, _colours(len(history)))
    ]
    ok = [h for v, h in history.items() if status.get(v) != DIVERGED]
    _finish_axes(axes, rows, max(map(len, history.values())), ok)
    _mark_divergence(marks)
    if any(reference.get(v) is not None for v in history):
        handles.append(axes[0, 1].plot([], [], ls=":", lw=1.6, color="0.35", label="the lecture's number")[0])
    figure.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.1 / height),
        ncol=columns,
        title=_legend_title(record, history),
    )
    figure.suptitle(
        _plain(f"{record.get('command', 'run')} {record.get('name', '')}: learning curves"),
        fontsize=13,
        fontweight="bold",
    )
    return figure


def _draw_variant(
    panels,
    history: list[dict],
    colour,
    reference: tuple[str, float | None],
    status: str,
    variant: str,
    marks: list[tuple],
):
    """Mean line, min-max band, a cross where a diverged run stopped, the dotted reference."""
    line = None
    for metric, ax in panels:
        if (values := _series(history, metric)) is None:
            continue
        epochs = np.arange(1, len(values) + 1)
        with warnings.catch_warnings():  # an epoch where every seed diverged is all-NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, low, high = np.nanmean(values, 1), np.nanmin(values, 1), np.nanmax(values, 1)
        line = ax.plot(epochs, mean, color=colour, lw=2, marker="o" if len(epochs) <= 40 else None, ms=3.5)[0]
        if values.shape[1] > 1:
            ax.fill_between(epochs, low, high, color=colour, alpha=0.18, lw=0)
        if status == DIVERGED and np.isfinite(mean).any():
            last = np.flatnonzero(np.isfinite(mean))[-1]
            marks.append((ax, epochs[last], mean[last], colour))
        if metric == reference[0] and reference[1] is not None:
            ax.axhline(reference[1], color=colour, ls=":", lw=1.6)
    if line is None:  # nothing measured: still in the legend, so the variant is not silently missing
        line = panels[0][1].plot([], [], color=colour)[0]
    line.set_label(_plain(variant if status == OK else f"{variant} ({status})"))
    return line


def _finish_axes(axes, rows: list[str], epochs: int, ok: list[list[dict]]) -> None:
    """Titles and labels; accuracies kept in [0, 1], losses on a log scale."""
    from matplotlib.ticker import MaxNLocator

    for ax, split in zip(axes[0], SPLITS):
        ax.set_title(split)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    axes[0, 0].xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if epochs <= 3:  # a short run: a little room around whole epochs
        axes[0, 0].set_xlim(0.5, epochs + 0.5)
    for row, stem in zip(axes, rows):
        row[0].set_ylabel(_plain(stem.replace("_", " ")))
        if "accuracy" in stem:
            low, high = row[0].get_ylim()
            row[0].set_ylim(max(low, 0.0), min(high, 1.005))
        elif "loss" in stem or "norm" in stem:  # losses, gradient norms: often decades apart
            healthy = [_series(h, f"{split}_{stem}") for h in ok for split in SPLITS]
            _scale_log(row, np.concatenate([v.ravel() for v in healthy if v is not None] or [np.array([np.nan])]))
        for ax, split in zip(row, SPLITS):
            if not ax.get_lines():  # e.g. a quantity only measured on the test set
                ax.text(
                    0.5, 0.5, f"not measured on {split}", ha="center", va="center", color="0.5", transform=ax.transAxes
                )


def _scale_log(row, healthy: np.ndarray) -> None:
    """Log scale when values span a wide range: square error (~0.09) and cross-entropy
    (~2.3) share the loss row; a sigmoid net's first-layer gradient is 1e-5 of a ReLU's. A run that
    exploded before diverging would stretch the axis over decades, so the top is capped
    near what the healthy runs reached."""
    healthy = healthy[np.isfinite(healthy)]
    drawn = np.concatenate([np.asarray(line.get_ydata(), float) for ax in row for line in ax.get_lines()] or [[np.nan]])
    drawn = drawn[np.isfinite(drawn)]
    if not drawn.size or drawn.min() <= 0 or drawn.max() < 5 * drawn.min():  # within a factor 5, linear reads better
        return
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax = row[0]  # the row shares its y axis: setting one sets both
    ax.set_yscale("log")
    ax.set_ylabel(f"{ax.get_ylabel()} (log scale)")
    decades = np.log10(drawn.max() / drawn.min())
    ax.yaxis.set_major_locator(
        LogLocator(subs=(1.0, 2.0, 5.0) if decades < 3 else (1.0,))
    )  # 0.1 0.2 0.5 1 2 when few decades
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    if healthy.size and ax.get_ylim()[1] > 20 * healthy.max():
        ax.set_ylim(top=20 * healthy.max())


def _mark_divergence(marks: list[tuple]) -> None:
    """A cross where a diverged run's curve ends, held inside the axes even when the last
    finite loss is far above the capped top, so it is always seen."""
    for ax, epoch, value, colour in marks:
        low, high = ax.get_ylim()
        ax.plot(
            epoch, min(max(value, low), high), marker="X", ms=11, color=colour, mec="white", clip_on=False, zorder=5
        )


def _colours(n: int) -> list:
    from matplotlib import colormaps

    if n <= 10:
        palette = colormaps["tab10"].colors
    else:  # tab20 pairs a dark and a light shade of each hue: all dark ones first
        palette = colormaps["tab20"].colors[::2] + colormaps["tab20"].colors[1::2]
    return [palette[i % len(palette)] for i in range(n)]


def _legend_columns(history: dict) -> int:
    longest = max((len(v) for v in history), default=10)
    return max(1, min(len(history) + 1, 3 if longest > 30 else 4))


def _legend_title(record: dict, history: dict[str, list[dict]]) -> str:
    """Says what the lines and bands are, and on what data."""
    seeds = max((len(v) for h in history.values() for v in h[0].values() if isinstance(v, list)), default=1)
    spread = f"mean over {seeds} seeds, band from min to max" if seeds > 1 else "1 seed"
    data = record.get("data") or {}
    if not data:
        return spread
    sizes = f"{data.get('train_size') or 0:,} train / {data.get('test_size') or 0:,} test"
    return _plain(f"{data.get('source', '?')} · {sizes} · {spread}")
