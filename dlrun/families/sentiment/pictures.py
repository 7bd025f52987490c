"""Pictures of a trained sentence classifier, saved beside a run record: the probability it
gives each negation probe of being positive, and its test accuracy by sentence length.
matplotlib is imported inside the functions (Agg through Figure, no pyplot), so commands
that draw nothing do not pay for it."""

from pathlib import Path

import numpy as np

from dlrun.output.figures import save_png

LENGTH_BINS = 5  # sentence-length bins of about equal counts (quantiles of the test lengths)
POSITIVE_COLOUR, NEGATIVE_COLOUR = "tab:green", "tab:red"


def save_probes(probes: tuple[tuple[str, int], ...], positive: np.ndarray, path: Path, name: str) -> Path:
    """One bar per probe sentence [P], from 0.5 to its P(positive): right of the line reads
    positive. Green bars are positive probes, red negative; a bar on the wrong side is a
    probe the model gets wrong."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    labels = np.array([label for _, label in probes])
    right = int(np.sum((positive > 0.5) == (labels == 1)))
    figure = Figure(figsize=(7.0, 0.24 * len(probes) + 1.2), layout="constrained")
    ax = figure.subplots()
    rows = np.arange(len(probes))
    colours = [POSITIVE_COLOUR if label == 1 else NEGATIVE_COLOUR for label in labels]
    ax.barh(rows, positive - 0.5, left=0.5, color=colours, height=0.7)
    ax.axvline(0.5, color="black", linewidth=0.8)
    ax.set_yticks(rows, [sentence for sentence, _ in probes], fontsize=8)
    ax.invert_yaxis()  # the first probe on top
    ax.set_xlim(0, 1)
    ax.set_xlabel("P(positive)")
    handles = [
        Patch(color=POSITIVE_COLOUR, label="positive probe"),
        Patch(color=NEGATIVE_COLOUR, label="negative probe"),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.set_title(f"{name}: negation probes, {right} of {len(probes)} right", fontsize=10, fontweight="bold")
    return save_png(figure, path)


def accuracy_by_length(
    lengths: np.ndarray, correct: np.ndarray, bins: int = LENGTH_BINS
) -> list[tuple[int, int, int, float]]:
    """(shortest, longest, sentences, accuracy) per bin of sentence length: `bins` bins cut
    at quantiles of the lengths [N] (fewer when lengths repeat), each bin's own accuracy."""
    edges = np.unique(np.quantile(lengths, np.linspace(0, 1, bins + 1)).round().astype(int))
    if len(edges) == 1:  # every sentence is as long: one bin
        edges = np.repeat(edges, 2)
    rows = []
    for i, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        last = i == len(edges) - 2
        inside = (lengths >= low) & ((lengths <= high) if last else (lengths < high))
        if inside.any():
            shortest, longest = int(lengths[inside].min()), int(lengths[inside].max())
            rows.append((shortest, longest, int(inside.sum()), float(correct[inside].mean())))
    return rows


def save_by_length(lengths: np.ndarray, correct: np.ndarray, path: Path, name: str) -> Path:
    """Test accuracy per bin of sentence length (bars, with each bin's count), and the
    overall accuracy as a line."""
    from matplotlib.figure import Figure

    rows = accuracy_by_length(lengths, correct)
    figure = Figure(figsize=(7.4, 3.8), layout="constrained")
    ax = figure.subplots()
    names = [f"{a}-{b}\n({count} sentences)" if a != b else f"{a}\n({count} sentences)" for a, b, count, _ in rows]
    ax.bar(names, [acc for *_, acc in rows], color="tab:blue")
    ax.tick_params(axis="x", labelsize=8)
    ax.axhline(
        float(np.mean(correct)), color="black", linestyle="--", linewidth=0.8, label=f"all: {np.mean(correct):.3f}"
    )
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=0.8, label="a coin: 0.5")
    ax.set_ylim(0, 1)
    ax.set_xlabel("sentence length (words)")
    ax.set_ylabel("test accuracy")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    ax.set_title(f"{name}: test accuracy by sentence length", fontsize=10, fontweight="bold")
    return save_png(figure, path)
