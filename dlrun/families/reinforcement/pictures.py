"""Pictures of the reinforcement-learning lesson, saved beside a run record. matplotlib is
imported inside the functions (Agg through Figure, no pyplot), so commands that draw
nothing do not pay for it."""

from pathlib import Path

import numpy as np

from dlrun.output.figures import save_png

SMOOTHING = 100  # episodes in the moving average, as many as gym's "solved" criterion averages


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of each value and the up to `window - 1` before it: [N] -> [N]."""
    sums = np.cumsum(np.concatenate([[0.0], values]))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def save_episode_returns(returns: np.ndarray, first: int, solved: float, path: Path, title: str) -> Path:
    """Each training episode's return (dots) against its number, their moving average
    (line) and the solved level (dashed)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.0, 4.2), layout="constrained")
    ax = figure.subplots()
    episodes = first + np.arange(len(returns))
    ax.plot(episodes, returns, ".", ms=2.5, alpha=0.35, color="tab:blue", label="one training episode")
    if len(returns):
        ax.plot(
            episodes,
            moving_average(returns, SMOOTHING),
            color="tab:blue",
            lw=2,
            label=f"mean of the last {SMOOTHING}",
        )
    ax.axhline(solved, color="tab:green", ls="--", lw=1.4, label=f"solved ({solved:g})")
    ax.set_xlabel("training episode")
    ax.set_ylabel("return (steps the pole stayed up)")
    ax.set_ylim(0, 520)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", frameon=False, fontsize=9)
    figure.suptitle(title, fontsize=10, fontweight="bold")
    return save_png(figure, path)
