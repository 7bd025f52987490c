"""Pictures of a trained ultra-deep network, saved beside a run record: test accuracy with
each block deleted (the ensemble view), and a highway network's mean gate per block
(which layers it decided to use). matplotlib is imported inside the functions (Agg
through Figure, no pyplot), so commands that draw nothing do not pay for it."""

from pathlib import Path

import numpy as np

from dlrun.output.figures import save_png

CHANCE = 0.1  # ten digit classes


def save_lesions(intact: float, lesioned: np.ndarray, path: Path, title: str) -> Path:
    """Test accuracy with block i deleted [L], against the intact network's and chance."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.8))  # fixed margins: a constrained layout costs ~1 s per PNG
    ax = figure.subplots(gridspec_kw=dict(left=0.11, right=0.97, bottom=0.13, top=0.86))
    blocks = np.arange(1, len(lesioned) + 1)
    ax.plot(blocks, lesioned, "o-", ms=3, lw=1.5, label="one block deleted")
    ax.axhline(intact, color="C2", ls="--", lw=1.2, label=f"intact: {intact:.3f}")
    ax.axhline(CHANCE, color="grey", ls=":", lw=1.2, label="chance")
    ax.set(
        xlabel="deleted block (1 = input side)",
        ylabel="test accuracy",
        ylim=(0.0, 1.02),
        title=f"{title}\nmean over deletions {lesioned.mean():.3f}, worst {lesioned.min():.3f}",
    )
    ax.title.set_fontsize(10)
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, loc="center right", fontsize=8)  # intact nets sit high, broken ones near chance
    return save_png(figure, path)


def save_gates(gates: np.ndarray, path: Path, title: str) -> Path:
    """Mean transform gate T per block [L]: near 0 the block copies its input (unused),
    near 1 it replaces it with its own transform."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.8))
    ax = figure.subplots(gridspec_kw=dict(left=0.11, right=0.97, bottom=0.13, top=0.86))
    blocks = np.arange(1, len(gates) + 1)
    ax.bar(blocks, gates, width=0.8, color="C1")
    ax.set(
        xlabel="block (1 = input side)",
        ylabel="mean transform gate T on test images",
        ylim=(0.0, max(0.5, float(gates.max()) * 1.1)),
        title=f"{title}\nwhich layers the network uses (T = 0: the block copies its input)",
    )
    ax.title.set_fontsize(10)
    ax.grid(True, axis="y", alpha=0.3)
    return save_png(figure, path)
