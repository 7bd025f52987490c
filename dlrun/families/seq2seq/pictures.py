"""Pictures of the sequence-to-sequence auto-encoder, saved beside a run record: the probe
words' nearest neighbours in code space (text in a PNG) and the codes of rhyming words
projected on two principal components. matplotlib is imported inside the functions (Agg
through Figure, no pyplot), so commands that draw nothing do not pay for it."""

from pathlib import Path

import numpy as np

from dlrun.output.figures import save_png

# (probe word, its phonemes, the greedy reconstruction, [(neighbour word, phonemes, edit
# distance)], whether the model trained on the probe's pronunciation)
NeighbourRow = tuple[str, tuple[str, ...], tuple[str, ...], list[tuple[str, tuple[str, ...], int]], bool]


def neighbour_lines(rows: list[NeighbourRow]) -> list[str]:
    """The picture's text, line by line."""
    lines = []
    for word, phonemes, said, neighbours, trained_on in rows:
        mark = "exact" if tuple(said) == tuple(phonemes) else "differs"
        seen = "trained on" if trained_on else "never trained on"
        lines.append(f"{word} /{' '.join(phonemes)}/ ({seen})  ->  decoded /{' '.join(said)}/ ({mark})")
        lines += [f"    {n:<16} /{' '.join(p)}/  edit distance {d}" for n, p, d in neighbours]
        lines.append("")
    return lines[:-1]


def save_neighbours(rows: list[NeighbourRow], path: Path, name: str) -> Path:
    """Each probe, its reconstruction and its nearest training words, as monospaced text."""
    from matplotlib.figure import Figure

    lines = neighbour_lines(rows)
    figure = Figure(figsize=(8.0, 0.15 * len(lines) + 0.7))
    figure.text(0.02, 0.98, f"{name}: nearest training words in code space", fontsize=10, fontweight="bold", va="top")
    figure.text(0.02, 0.98 - 0.35 / figure.get_figheight(), "\n".join(lines), family="monospace", fontsize=8, va="top")
    return save_png(figure, path)


def principal_components(x: np.ndarray, k: int = 2) -> np.ndarray:
    """The rows of x [N, D] projected on their first k principal components [N, k]."""
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:k].T


def save_projection(
    codes: np.ndarray, words: list[str], groups: list[str], seen: list[bool], path: Path, title: str
) -> Path:
    """Codes [N, C] on their first two principal components, one colour per group, each point
    labelled; hollow points are words the model never trained on."""
    from matplotlib.figure import Figure

    xy = principal_components(codes.astype(np.float64))
    figure = Figure(figsize=(7.2, 5.6), layout="constrained")
    ax = figure.subplots()
    for c, group in enumerate(dict.fromkeys(groups)):
        for (x, y), word, g, trained in zip(xy, words, groups, seen):
            if g != group:
                continue
            face = f"C{c}" if trained else "white"
            ax.scatter([x], [y], s=28, color=face, edgecolors=f"C{c}", linewidths=1.2)
            ax.annotate(word, (x, y), xytext=(3, 2), textcoords="offset points", fontsize=7, color=f"C{c}")
        ax.scatter([], [], s=28, color=f"C{c}", label=group)
    ax.scatter([], [], s=28, color="white", edgecolors="grey", label="never trained on")
    ax.set_xlabel("principal component 1"), ax.set_ylabel("principal component 2")
    ax.legend(title="rhyme", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_title(title, fontsize=10, fontweight="bold")
    return save_png(figure, path)
