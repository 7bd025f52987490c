"""How every PNG dlrun draws is saved (learning curves and the families' pictures alike).
matplotlib is imported by the callers, inside the functions that draw."""

from pathlib import Path

DPI = 110


def save_png(figure, path: Path) -> Path:
    """Write a matplotlib Figure as a PNG on white; returns the path."""
    figure.savefig(path, dpi=DPI, facecolor="white")
    return path
