"""Pictures of a trained memory network, saved beside a run record: the attention of each
hop over a story's statements for a few test questions ("which sentence it read").
matplotlib is imported inside the functions (Agg through Figure, no pyplot), so commands
that draw nothing do not pay for it."""

from pathlib import Path
from typing import NamedTuple

import numpy as np

from dlrun.output.figures import save_png

SHOWN_WEIGHT = 0.05  # weights at least this large are written in their cell


class Panel(NamedTuple):
    """One test question as the picture shows it: the story oldest first."""

    statements: list[str]
    question: str
    answer: str
    guess: str
    weights: np.ndarray  # [K, n]: hop k's attention on each statement, oldest first
    supporting: list[bool]  # [n]: whether the statement is a supporting fact


def panel(split, row: int, guess: int, attention: np.ndarray) -> Panel:
    """Question `row` of a `Questions` split, with the model's guess (a word id) and its
    attention [K, M] (slot 0 the most recent statement)."""
    words = split.vocabulary.words
    slots = np.asarray(split.memories[row])  # [M, L]
    real = int(np.sum(slots[:, 0] != 0))
    say = lambda ids: " ".join(words[i] for i in ids if i != 0)  # noqa: E731
    facts = set(int(s) for s in np.asarray(split.support[row]) if s >= 0)
    order = range(real - 1, -1, -1)  # oldest first
    return Panel(
        statements=[say(slots[i]) for i in order],
        question=say(np.asarray(split.question[row])) + "?",
        answer=words[int(split.answer[row])],
        guess=words[guess],
        weights=np.asarray(attention)[:, :real][:, ::-1],
        supporting=[i in facts for i in order],
    )


def save_attention(panels: list[Panel], path: Path, title: str) -> Path:
    """One heat map per question: a row per statement (supporting facts starred), a column
    per hop, darker where the hop puts more weight."""
    from matplotlib.figure import Figure

    longest = max(len(p.statements) for p in panels)
    columns = min(2, len(panels))
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(6.2 * columns, (0.28 * longest + 1.3) * rows + 0.6), layout="constrained")
    for ax, p in zip(figure.subplots(rows, columns, squeeze=False).flat, panels):
        _draw(ax, p)
    for ax in figure.axes[len(panels) :]:
        ax.set_axis_off()
    figure.suptitle(f"{title}\n(* supporting fact)", fontsize=10, fontweight="bold")
    return save_png(figure, path)


def _draw(ax, p: Panel) -> None:
    hops, n = p.weights.shape
    ax.imshow(p.weights.T, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    for (k, i), w in np.ndenumerate(p.weights):
        if w >= SHOWN_WEIGHT:
            ax.text(k, i, f"{w:.2f}", ha="center", va="center", fontsize=7, color="white" if w > 0.6 else "black")
    ax.set_yticks(range(n), [("* " if fact else "") + s for s, fact in zip(p.statements, p.supporting)], fontsize=7)
    ax.set_xticks(range(hops), [f"hop {k + 1}" for k in range(hops)], fontsize=8)
    mark = "right" if p.guess == p.answer else "wrong"
    ax.set_title(f"{p.question}  answer: {p.answer}, says: {p.guess} ({mark})", fontsize=8)
