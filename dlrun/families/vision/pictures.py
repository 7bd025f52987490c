"""Pictures of trained networks saved beside a run record: a CNN's first-layer filters and
FGSM adversarial examples. matplotlib is imported inside the functions (Agg, no pyplot),
so commands that draw nothing do not pay for it."""

from pathlib import Path

import numpy as np

from dlrun.output.figures import save_png


def _grid(n: int) -> tuple[int, int]:
    """Rows and columns of a near-square grid of n panels."""
    columns = int(np.ceil(np.sqrt(n)))
    return -(-n // columns), columns


def save_filters(filters: np.ndarray, digit: np.ndarray, response: np.ndarray, path: Path, title: str) -> Path:
    """Left: the first convolution's kernels [k, k, 1, F], each on its own symmetric colour
    scale (red positive, blue negative). Right: the F feature maps [H', W', F] they make of
    one test digit [784], so the pattern each filter detects can be seen."""
    from matplotlib.figure import Figure

    count = filters.shape[-1]
    rows, columns = _grid(count)
    figure = Figure(figsize=(2 * columns + 2.5, rows + 0.8), layout="constrained")
    left, middle, right = figure.subfigures(1, 3, width_ratios=(columns, 2, columns))
    for axes, images, cmap in ((left, filters[:, :, 0, :], "RdBu_r"), (right, response, "gray")):
        for i, ax in enumerate(axes.subplots(rows, columns, squeeze=False).flat):
            ax.set_axis_off()
            if i < count:
                image = images[:, :, i]
                limit = np.abs(image).max() or 1.0
                ax.imshow(image, cmap=cmap, vmin=-limit if cmap == "RdBu_r" else 0, vmax=limit, interpolation="nearest")
    digit_ax = middle.subplots()
    digit_ax.imshow(digit.reshape(28, 28), cmap="gray_r")
    digit_ax.set_axis_off()
    left.suptitle(f"{count} first-layer filters ({filters.shape[0]}x{filters.shape[1]})")
    middle.suptitle("test digit")
    right.suptitle("their ReLU responses to it")
    figure.suptitle(f"{title}: what the first convolution learned", fontweight="bold")
    return save_png(figure, path)


def save_adversarial(
    x: np.ndarray,
    x_adv: np.ndarray,
    y: np.ndarray,
    pred: np.ndarray,
    pred_adv: np.ndarray,
    epsilon: float,
    path: Path,
    title: str,
) -> Path:
    """One column per test digit [n, 784]: the original with its prediction, the
    perturbation x_adv - x (+-epsilon), and the adversarial image with its prediction."""
    from matplotlib.figure import Figure

    n = len(y)
    figure = Figure(figsize=(1.5 * n + 0.8, 5.2), layout="constrained")
    axes = figure.subplots(3, n, squeeze=False)
    for i in range(n):
        panels = (
            (x[i], "gray_r", 0, 1, f"{pred[i]}"),
            (x_adv[i] - x[i], "RdBu_r", -epsilon, epsilon, ""),
            (x_adv[i], "gray_r", 0, 1, f"{pred_adv[i]}"),
        )
        for row, (image, cmap, low, high, label) in enumerate(panels):
            ax = axes[row, i]
            ax.imshow(image.reshape(28, 28), cmap=cmap, vmin=low, vmax=high, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if label:  # red: the network's answer is wrong
                ax.set_title(f"says {label}", color="black" if int(label) == y[i] else "red", fontsize=10)
    for row, name in enumerate(("original", f"perturbation\n(±{epsilon:g})", "adversarial")):
        axes[row, 0].set_ylabel(name)
    figure.suptitle(
        f"{title}: fast gradient sign, epsilon {epsilon:g} (labels: {' '.join(map(str, y))})", fontweight="bold"
    )
    return save_png(figure, path)
