"""Pictures of trained word vectors saved beside a run record: the nearest words of a few
probe words with the slide's analogies, and countries and capitals projected to 2-D (PCA,
NumPy only) with a line from each country to its capital, as in Mikolov et al. 2013b's
figure 2. matplotlib is imported inside the functions (Agg, no pyplot)."""

from pathlib import Path

import numpy as np

from dlrun.output.figures import save_png


def pca_2d(points: np.ndarray) -> np.ndarray:
    """[N, D] -> [N, 2]: the points on their first two principal axes (SVD of the centred
    points; each axis's sign fixed so that its largest coordinate is positive)."""
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    axes = axes * np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])[:, None]
    projected = centred @ axes.T
    if projected.shape[1] < 2:  # a single point or one direction: pad the missing axis
        projected = np.pad(projected, ((0, 0), (0, 2 - projected.shape[1])))
    return projected


def save_neighbours(
    neighbours: list[tuple[str, list[tuple[str, float]]]],
    answers: list[tuple[tuple[str, ...], str | None]],
    path: Path,
    title: str,
) -> Path:
    """A text panel: each probe word and its nearest words with their cosine (or "not in
    the vocabulary"), then each slide analogy a : b = c : ? with the model's answer."""
    from matplotlib.figure import Figure

    lines = []
    for word, near in neighbours:
        listed = ", ".join(f"{w} {s:.2f}" for w, s in near) if near else "(not in the vocabulary)"
        lines.append((word, listed))
    lines.append(("", ""))
    for (a, b, c, expected), got in answers:
        if got is None:
            verdict = "cannot ask: not every word is in the vocabulary"
        else:
            verdict = f"{got}  ({'right' if got == expected else f'the slide: {expected}'})"
        lines.append((f"{a} : {b} = {c} : ?", verdict))
    left = max(len(text) for text, _ in lines) + 3
    width = 0.075 * (left + max(len(text) for _, text in lines)) + 0.6  # inches, for 9-point monospace
    height = 0.3 * len(lines) + 0.8
    figure = Figure(figsize=(max(width, 6.0), height))
    figure.suptitle(title, fontweight="bold", x=0.02, ha="left")
    for i, (name, text) in enumerate(lines):
        y = 1 - (0.6 + 0.3 * (i + 0.5)) / height
        figure.text(0.02, y, name.ljust(left) + text, va="center", ha="left", family="monospace", fontsize=9)
    return save_png(figure, path)


def save_capitals(
    pairs: list[tuple[str, str]], capitals: np.ndarray, countries: np.ndarray, path: Path, title: str
) -> Path:
    """Countries (blue) and capitals (red) [N, D] on the first two principal axes of all of
    them, a grey line from each country to its capital."""
    from matplotlib.figure import Figure

    xy = pca_2d(np.concatenate([countries, capitals]))
    n = len(pairs)
    figure = Figure(figsize=(8, 6.5), layout="constrained")
    ax = figure.subplots()
    for i, (capital, country) in enumerate(pairs):
        ax.plot(xy[[i, n + i], 0], xy[[i, n + i], 1], color="0.7", linewidth=0.8, zorder=1)
        ax.annotate(country, xy[i], fontsize=8, color="tab:blue", xytext=(3, 2), textcoords="offset points")
        ax.annotate(capital, xy[n + i], fontsize=8, color="tab:red", xytext=(3, 2), textcoords="offset points")
    ax.scatter(xy[:n, 0], xy[:n, 1], s=14, color="tab:blue", label="country", zorder=2)
    ax.scatter(xy[n:, 0], xy[n:, 1], s=14, color="tab:red", label="capital", zorder=2)
    ax.set_xlabel("first principal component")
    ax.set_ylabel("second principal component")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title, fontsize=10)
    return save_png(figure, path)
