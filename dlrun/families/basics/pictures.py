"""The vanishing-gradient lesson's picture: per-layer gradient norms at initialisation and
after training. matplotlib is imported inside the function (Agg through Figure, no pyplot)."""

from pathlib import Path

import numpy as np

from dlrun.output.figures import save_png


def log10_ratio(norms: np.ndarray) -> float:
    """log10(|g_1| / |g_L|): 0 when the first layer gets as much gradient as the last,
    -3 when it gets a thousand times less."""
    return float(np.log10(norms[0]) - np.log10(norms[-1]))


def plot_grad_norms(title: str, init: np.ndarray, trained: np.ndarray, probe: int, path: Path) -> Path:
    """Per-layer kernel-gradient norm [L] on a log scale, at init and after training, as
    measured on `probe` training images."""
    from matplotlib.figure import Figure  # lazily: only runs that draw pay for matplotlib
    from matplotlib.ticker import NullLocator

    figure = Figure(figsize=(6.4, 4.2))  # fixed margins: a constrained layout took ~1 s per PNG
    ax = figure.subplots(gridspec_kw=dict(left=0.13, right=0.97, bottom=0.12, top=0.87))
    layers = np.arange(1, len(init) + 1)
    ax.semilogy(layers, init, "o-", lw=2, label="at initialisation")
    ax.semilogy(layers, trained, "s--", lw=2, label="after training")
    both = np.concatenate([init, trained])
    # At least 1e-6..10, so the sigmoid and ReLU pictures share a scale and a flat ReLU
    # profile is not stretched to look steep.
    ax.set_ylim(min(1e-6, both.min() / 2), max(10.0, both.max() * 2))
    ratios = f"$10^{{{log10_ratio(init):.1f}}}$ at init, $10^{{{log10_ratio(trained):.1f}}}$ trained"
    ax.set(
        xlabel="layer (1 = input side)",
        ylabel=f"‖∂loss/∂kernel‖ on {probe:,} train images",
        xticks=layers,
        title=f"{title}\nlayer 1 / layer {len(init)} gradient norm: {ratios}",
    )
    ax.title.set_fontsize(10)
    ax.yaxis.set_minor_locator(NullLocator())  # 8 decades of minor ticks cost ~0.5 s to draw
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, loc="lower right")  # both profiles leave that corner empty
    return save_png(figure, path)
