"""Learning curves as a PNG beside each run record: train/test accuracy and loss per
epoch, one colour per variant, the mean over seeds with a min-max band, and the
lecture's number as a dotted line in the variant's colour.

Everything is read from the record dict, so `dlrun report` can redraw the curves of an
old run. matplotlib is imported only here, inside the functions that draw: `dlrun list`
and the training commands must not pay for it before they have results to show.
"""

import warnings
from pathlib import Path

import numpy as np

from dlrun.console import notice

CURVES_NAME = "curves.png"
DPI = 110
# (metric in the history, row, column): accuracy on top, loss below; train left, test right.
PANELS = (("train_accuracy", 0, 0), ("test_accuracy", 0, 1), ("train_loss", 1, 0), ("test_loss", 1, 1))
STYLE = {
    "font.size": 10, "axes.titlesize": 11, "axes.titleweight": "bold", "axes.labelsize": 10,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.alpha": 0.3, "grid.linewidth": 0.6, "legend.fontsize": 9, "legend.frameon": False,
}


def save_curves(record: dict, run_dir: Path) -> Path | None:
    """Draw the curves into RUN_DIR/curves.png. Never raises: the record is already on
    disk, and a plotting problem (a missing font, a full disk) must not lose the run."""
    try:
        return write_curves(record, Path(run_dir) / CURVES_NAME)
    except Exception as e:  # noqa: BLE001 - any failure here is only worth a notice
        notice(f"learning curves not saved ({type(e).__name__}: {e}); the run record is complete")
        return None


def write_curves(record: dict, path: Path) -> Path | None:
    """Draw and save the figure; None when the record has no per-epoch metrics to draw."""
    history = {v: h for v, h in (record.get("history") or {}).items() if h}
    if not any(_series(h, metric) is not None for h in history.values() for metric, *_ in PANELS):
        return None
    import matplotlib

    with matplotlib.rc_context(STYLE):
        figure = _figure(record, history)
        figure.savefig(path, dpi=DPI, facecolor="white")
    return path


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


def _figure(record: dict, history: dict[str, list[dict]]):
    from matplotlib.figure import Figure

    rows_of_legend = -(-(len(history) + 1) // _legend_columns(history))
    figure = Figure(figsize=(11, 6.8 + 0.25 * rows_of_legend), layout="constrained")
    axes = figure.subplots(2, 2, sharex=True, sharey="row")
    colours = _colours(len(history))
    status = {r["variant"]: r.get("status", "ok") for r in record.get("results", [])}
    reference = {r["variant"]: r.get("reference") for r in record.get("results", [])}
    marks: list[tuple] = []
    handles = [_draw_variant(axes, history[v], colours[i], reference.get(v), status.get(v, "ok"), v, marks)
               for i, v in enumerate(history)]
    _finish_axes(axes, max(map(len, history.values())), [h for v, h in history.items() if status.get(v) != "diverged"])
    _mark_divergence(marks)
    if any(reference.get(v) is not None for v in history):
        handles.append(axes[0, 1].plot([], [], ls=":", lw=1.6, color="0.35", label="the lecture's number")[0])
    figure.legend(handles=handles, loc="outside lower center", ncol=_legend_columns(history),
                  title=_legend_title(record, history))
    figure.suptitle(_title(record), fontsize=13, fontweight="bold")
    return figure


def _draw_variant(axes, history: list[dict], colour, reference: float | None, status: str, variant: str,
                  marks: list[tuple]):
    """Mean line, min-max band, a cross where a diverged run stopped, the dotted reference."""
    line = None
    for metric, row, column in PANELS:
        values = _series(history, metric)
        if values is None:
            continue
        ax, epochs = axes[row, column], np.arange(1, len(values) + 1)
        with warnings.catch_warnings():  # an epoch where every seed diverged is all-NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, low, high = np.nanmean(values, 1), np.nanmin(values, 1), np.nanmax(values, 1)
        line = ax.plot(epochs, mean, color=colour, lw=2, marker="o" if len(epochs) <= 40 else None, ms=3.5)[0]
        if values.shape[1] > 1:
            ax.fill_between(epochs, low, high, color=colour, alpha=0.18, lw=0)
        if status == "diverged" and np.isfinite(mean).any():
            last = np.flatnonzero(np.isfinite(mean))[-1]
            marks.append((ax, epochs[last], mean[last], colour))
        if metric == "test_accuracy" and reference is not None:
            ax.axhline(reference, color=colour, ls=":", lw=1.6)
    if line is not None:
        line.set_label(variant if status == "ok" else f"{variant} ({status})")
    return line if line is not None else axes[0, 0].plot([], [], color=colour, label=variant)[0]


def _finish_axes(axes, epochs: int, ok: list[list[dict]]) -> None:
    from matplotlib.ticker import MaxNLocator

    axes[0, 0].set_title("train")
    axes[0, 1].set_title("test")
    axes[0, 0].set_ylabel("accuracy")
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    axes[0, 0].xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if epochs <= 3:  # a short run: a little room around whole epochs
        axes[0, 0].set_xlim(0.5, epochs + 0.5)
    low, high = axes[0, 0].get_ylim()
    axes[0, 0].set_ylim(max(low, 0.0), min(high, 1.005))  # accuracy lives in [0, 1]
    losses = [_series(h, m) for h in ok for m in ("train_loss", "test_loss")]
    _scale_loss(axes[1], np.concatenate([v.ravel() for v in losses if v is not None] or [np.array([np.nan])]))


def _mark_divergence(marks: list[tuple]) -> None:
    """A cross where a diverged run's curve ends, held inside the axes even when the last
    finite loss is far above the capped top, so it is always seen."""
    for ax, epoch, value, colour in marks:
        low, high = ax.get_ylim()
        ax.plot(epoch, min(max(value, low), high), marker="X", ms=11, color=colour, mec="white", clip_on=False, zorder=5)


def _scale_loss(row, ok_losses: np.ndarray) -> None:
    """Log scale: square error (~0.09) and cross-entropy (~2.3) share the row. A run that
    exploded before diverging would stretch the axis over decades, so the top is capped
    near what the healthy runs reached."""
    ok_losses = ok_losses[np.isfinite(ok_losses)]
    drawn = [np.asarray(line.get_ydata(), float) for ax in row for line in ax.get_lines()]
    all_positive = all((y[np.isfinite(y)] > 0).all() for y in drawn)
    ax = row[0]  # the row shares its y axis: setting one sets both
    if all_positive:
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # 0.1 0.2 0.5 1 2, not just powers of 10
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("loss (log scale)" if all_positive else "loss")
    if ok_losses.size and ax.get_ylim()[1] > 20 * ok_losses.max():
        ax.set_ylim(top=20 * ok_losses.max())


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
    return f"{data.get('source', '?')} · {data.get('train_size', 0):,} train / {data.get('test_size', 0):,} test · {spread}"


def _title(record: dict) -> str:
    return f"{record.get('command', 'run')} {record.get('name', '')}: learning curves"
