"""Document classification: a newswire as a binary bag of its words -> one of 46 topics
(Keras's examples/reuters_mlp.py, on Keras's Reuters dataset, dlrun.data.reuters).

The training wires are the first 90% of Keras's 8,982 (`fit(validation_split=0.1)` holds out
the last 10%, which never train); the split reported as test is Keras's 2,246 test wires.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dlrun.core.losses import accuracy
from dlrun.core.task import DataInfo, Task, TaskData
from dlrun.data.reuters import ReutersData, bag_of_words, load_reuters
from dlrun.errors import DataError
from dlrun.families.documents import pictures
from dlrun.families.documents.config import MAX_WORDS, VALIDATION_SPLIT
from dlrun.record_format import DEFAULT_COLUMNS

SHOWN_TOPICS = 8  # the pictures show the most common test topics; the rest are pooled


@dataclass(frozen=True)
class TopicNames:
    """Topic id -> name, for the pictures (empty when the data names none: a Keras npz of
    another size). A static pytree node: it rides along with the arrays through jit."""

    names: tuple[str, ...]

    def of(self, topic: int) -> str:
        return self.names[topic] if topic < len(self.names) else f"topic {topic}"


jax.tree_util.register_static(TopicNames)


class Bags(NamedTuple):
    """A split of the task: each wire's bag of words and topic."""

    bags: np.ndarray  # [N, MAX_WORDS] 0/1, uint8 (training rows) or float32 (the test split)
    labels: np.ndarray  # [N] int32 topic ids
    topics: TopicNames


def trained_wires(n_train: int) -> int:
    """Training wires left once Keras's validation split is held out: int(n * 0.9)."""
    return int(n_train * (1 - VALIDATION_SPLIT))


class DocumentClassification(Task):
    """Bag of words [N, MAX_WORDS] -> topic. Train rows stay uint8 (0/1) on the device."""

    name = "document-classification"
    diverged_above = 1e3  # cross-entropy starts near log(46) = 3.8, square error below 1
    # The share of test wires given the most common training topic (earn): 1.0 when a model
    # has learned nothing but the prior, as square error does here.
    columns = (*DEFAULT_COLUMNS, ("test_majority_share", "majority share"))

    def load(self, exp, data_dir: Path | None) -> tuple[ReutersData, DataInfo]:
        data = load_reuters(data_dir)
        info = DataInfo(data.source, data.sha256, data.notice, data.test.num_wires, trained_wires(data.train.num_wires))
        return data, info

    def train_rows(self, exp, data: ReutersData) -> int:
        return min(exp.train_size, trained_wires(data.train.num_wires))

    def place(self, exp, data: ReutersData) -> TaskData:
        """The first min(train_size, 90%) training wires, in Keras's order; the held-out 10%
        is the validation split only for early stopping; the test wires."""
        if (
            data.train.labels.max(initial=0) >= exp.model.classes
            or data.test.labels.max(initial=0) >= exp.model.classes
        ):
            raise DataError(f"{data.source}: more topics than the {exp.model.classes} outputs of the model")
        n_fit = trained_wires(data.train.num_wires)
        x, y = bag_of_words(data.train, MAX_WORDS), data.train.labels
        n = self.train_rows(exp, data)
        val = slice(n_fit, len(y)) if exp.early_stopping else slice(0, 0)
        x_test = bag_of_words(data.test, MAX_WORDS).astype(np.float32)
        topics = TopicNames(tuple(data.topics))
        return TaskData(
            train=Bags(x[:n], y[:n], topics),
            eval=Bags(x_test, data.test.labels, topics),
            val=Bags(x[val], y[val], topics),
        )

    def batch(self, train: Bags, idx, shard):
        return shard(train.bags[idx].astype(jnp.float32)), shard(train.labels[idx])  # [B, MAX_WORDS], [B]

    def loss(self, exp, model, batch, hyper, key):
        x, y = batch
        logits = model(x, hyper.dropout, key, train=True)  # [B, topics]
        return exp.loss(logits, y), {"accuracy": accuracy(logits, y)}

    def evaluate(self, exp, model, split: Bags):
        logits = model(split.bags.astype(jnp.float32))  # [M, topics]; the train split is uint8
        return {"loss": exp.loss(logits, split.labels), "accuracy": accuracy(logits, split.labels)}

    def host_metrics(self, exp, model, data: TaskData) -> dict[str, float]:
        """Share of test wires predicted as the most common training topic."""
        predicted = predicted_topics(model, data.eval)
        return {"test_majority_share": float(np.mean(predicted == majority_topic(data.train)))}

    def pictures(self, exp, model, data: TaskData, out_dir: Path) -> list[Path]:
        """The test wires' true topics against the predicted ones, for the most common topics."""
        labels, predicted = np.asarray(data.eval.labels), predicted_topics(model, data.eval)
        table = pictures.topic_table(labels, predicted, SHOWN_TOPICS)
        names = [data.eval.topics.of(t) for t in table.topics]
        majority = data.eval.topics.of(majority_topic(data.train))
        path = Path(out_dir) / f"{exp.name}-topics.png"
        return [pictures.save_topics(table, names, majority, float(np.mean(labels == predicted)), path, exp.name)]


def majority_topic(train: Bags) -> int:
    """The most common topic of the training wires (earn on Keras's Reuters)."""
    return int(np.bincount(np.asarray(train.labels)).argmax())


def predicted_topics(model, split: Bags) -> np.ndarray:
    """The model's topic for every wire of a split [N], in inference mode."""
    return np.asarray(jnp.argmax(model(jnp.asarray(split.bags, jnp.float32)), axis=-1))


DOCUMENT_CLASSIFICATION = DocumentClassification()
