"""Pictures of the generative lessons, saved beside a run record: image grids (samples,
reconstructions, a GAN's progress) and a VAE's 2-D latent space. matplotlib is imported
inside the functions (Agg through Figure, no pyplot), so commands that draw nothing do not
pay for it. Images are [n, 784] arrays of pixel intensities in [0, 1]."""

from pathlib import Path

import numpy as np

from dlrun.output.figures import save_png

SIDE = 28


def mosaic(images: np.ndarray, columns: int, gap: int = 2) -> np.ndarray:
    """[n, 784] -> one [rows * 30 - 2, columns * 30 - 2] image, tiles separated by white
    gaps (1.0) so that the grid reads as separate digits."""
    rows = -(-len(images) // columns)
    step = SIDE + gap
    canvas = np.ones((rows * step - gap, columns * step - gap), np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * step : r * step + SIDE, c * step : c * step + SIDE] = image.reshape(SIDE, SIDE)
    return canvas


def _show(ax, canvas: np.ndarray) -> None:
    ax.imshow(canvas, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")  # white ink, white gaps
    ax.set_xticks([]), ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def save_grid(images: np.ndarray, path: Path, title: str) -> Path:
    """A near-square grid of images."""
    from matplotlib.figure import Figure

    columns = int(np.ceil(np.sqrt(len(images))))
    figure = Figure(figsize=(0.5 * columns + 0.6, 0.5 * columns + 0.9), layout="constrained")
    _show(figure.subplots(), mosaic(np.clip(images, 0, 1), columns))
    figure.suptitle(title, fontsize=10, fontweight="bold")
    return save_png(figure, path)


def save_rows(rows: list[tuple[str, np.ndarray]], path: Path, title: str) -> Path:
    """One labelled row of images per (label, images [n, 784]) pair."""
    from matplotlib.figure import Figure

    columns = max(len(images) for _, images in rows)
    figure = Figure(figsize=(0.75 * columns + 1.8, 0.85 * len(rows) + 0.7), layout="constrained")
    for ax, (label, images) in zip(np.atleast_1d(figure.subplots(len(rows), 1)), rows):
        _show(ax, mosaic(np.clip(images, 0, 1), columns))
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    figure.suptitle(title, fontsize=10, fontweight="bold")
    return save_png(figure, path)


def normal_grid(n: int) -> np.ndarray:
    """An n x n grid of 2-D points at the Gaussian quantiles 1/(2n) ... 1 - 1/(2n) of each
    axis, so equal prior mass lies between neighbours: [n * n, 2], rows from top (high z2)."""
    from statistics import NormalDist

    q = np.array([NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)], np.float32)
    z1, z2 = np.meshgrid(q, q[::-1])
    return np.stack([z1.ravel(), z2.ravel()], axis=-1)


def save_latent(means: np.ndarray, labels: np.ndarray, path: Path, title: str) -> Path:
    """The 2-D posterior means [M, 2] of test images, one colour per digit."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 5.6), layout="constrained")
    ax = figure.subplots()
    colours = [f"C{d}" for d in range(10)]
    for digit in np.unique(labels):
        chosen = labels == digit
        ax.scatter(means[chosen, 0], means[chosen, 1], s=7, alpha=0.75, color=colours[digit % 10], label=str(digit))
    ax.set_xlabel("z1 (mean of q(z|x))"), ax.set_ylabel("z2")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(title="digit", markerscale=2.5, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_title(title, fontsize=10, fontweight="bold")
    return save_png(figure, path)
