"""Pictures of a trained topic classifier, saved beside a run record: which topic it gives
the test wires of each true topic (a confusion table of the most common topics, the rest
pooled as "other"), and how the shares of the predicted topics compare with the true ones.
Square error shows its lesson here: one column, the majority topic, takes nearly every
wire. matplotlib is imported inside the functions (Agg through Figure, no pyplot), so
commands that draw nothing do not pay for it."""

from pathlib import Path
from typing import NamedTuple

import numpy as np

from dlrun.output.figures import save_png

OTHER = "other"


class TopicTable(NamedTuple):
    """Test wires counted by (true, predicted) topic, for the `topics` shown and one row and
    column more that pools every other topic."""

    topics: list[int]  # the shown topic ids, most common true topic first
    counts: np.ndarray  # [K + 1, K + 1] int: rows true topic, columns predicted topic

    @property
    def true_share(self) -> np.ndarray:  # [K + 1]
        return self.counts.sum(axis=1) / self.counts.sum()

    @property
    def predicted_share(self) -> np.ndarray:  # [K + 1]
        return self.counts.sum(axis=0) / self.counts.sum()


def topic_table(labels: np.ndarray, predicted: np.ndarray, shown: int) -> TopicTable:
    """The `shown` most common true topics of labels [N] (ties: the lower id first), and
    the counts of (true, predicted) with every other topic pooled in the last row and column."""
    frequency = np.bincount(labels)
    topics = [int(t) for t in np.argsort(-frequency, kind="stable")[:shown] if frequency[t] > 0]
    position = {t: i for i, t in enumerate(topics)}
    pooled = len(topics)

    def rows(ids: np.ndarray) -> np.ndarray:
        return np.array([position.get(int(t), pooled) for t in ids], dtype=np.int64)

    counts = np.zeros((pooled + 1, pooled + 1), np.int64)
    np.add.at(counts, (rows(labels), rows(predicted)), 1)
    return TopicTable(topics, counts)


def save_topics(table: TopicTable, names: list[str], majority: str, accuracy: float, path: Path, title: str) -> Path:
    """Left: each true topic's wires spread over the predicted topics (row shares, in %).
    Right: the share of test wires of each topic, true and predicted. `names` name the
    shown topics, `majority` the most common training topic."""
    from matplotlib.figure import Figure

    labels = [*names, OTHER]
    per_row = table.counts / np.maximum(table.counts.sum(axis=1, keepdims=True), 1)
    figure = Figure(figsize=(11.0, 4.8), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=(1.25, 1))
    left.imshow(per_row, cmap="Blues", vmin=0, vmax=1)
    for (i, j), share in np.ndenumerate(per_row):
        if share >= 0.005:
            colour = "white" if share > 0.6 else "black"
            left.text(j, i, f"{100 * share:.0f}", ha="center", va="center", fontsize=7, color=colour)
    ticks = np.arange(len(labels))
    left.set_xticks(ticks, labels, rotation=45, ha="right", fontsize=8)
    left.set_yticks(ticks, labels, fontsize=8)
    left.set_xlabel("predicted topic"), left.set_ylabel("true topic")
    left.set_title("% of each true topic's test wires given each topic", fontsize=9)
    height = 0.4
    right.barh(ticks - height / 2, table.true_share, height, label="true", color="tab:grey")
    right.barh(ticks + height / 2, table.predicted_share, height, label="predicted", color="tab:blue")
    right.set_yticks(ticks, labels, fontsize=8)
    right.invert_yaxis()  # the same order as the table
    right.set_xlim(0, 1)
    right.set_xlabel("share of the test wires")
    right.legend(loc="lower right", fontsize=8)
    right.set_title("topics, true and predicted", fontsize=9)
    index = labels.index(majority) if majority in labels else None
    given = f"; {majority} given to {table.predicted_share[index]:.0%} of them" if index is not None else ""
    figure.suptitle(
        f"{title}: {int(table.counts.sum()):,} test wires, accuracy {accuracy:.3f}{given}", fontweight="bold"
    )
    figure.text(0.01, 0.01, f"{OTHER}: every less common topic, pooled", fontsize=8, color="grey")
    return save_png(figure, path)
