"""Document classification: a newswire as a binary bag of its words -> one of 46 topics
(Keras's examples/reuters_mlp.py, on Keras's Reuters dataset, dlrun.data.reuters).

The training wires are the first 90% of Keras's 8,982 (`fit(validation_split=0.1)` holds out
the last 10%, which never train); the split reported as test is Keras's 2,246 test wires.
"""

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from dlrun.core.losses import accuracy
from dlrun.core.task import DataInfo, Task, TaskData
from dlrun.data.reuters import ReutersData, bag_of_words, load_reuters
from dlrun.errors import DataError
from dlrun.families.documents.config import MAX_WORDS, VALIDATION_SPLIT
from dlrun.record_format import DEFAULT_COLUMNS


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
        return TaskData(train=(x[:n], y[:n]), eval=(x_test, data.test.labels), val=(x[val], y[val]))

    def batch(self, train, idx, shard):
        x, y = train
        return shard(x[idx].astype(jnp.float32)), shard(y[idx])  # [B, MAX_WORDS], [B]

    def loss(self, exp, model, batch, hyper, key):
        x, y = batch
        logits = model(x, hyper.dropout, key, train=True)  # [B, topics]
        return exp.loss(logits, y), {"accuracy": accuracy(logits, y)}

    def evaluate(self, exp, model, split):
        x, y = split
        logits = model(x.astype(jnp.float32))  # [M, topics]; the train split is uint8
        return {"loss": exp.loss(logits, y), "accuracy": accuracy(logits, y)}

    def host_metrics(self, exp, model, data: TaskData) -> dict[str, float]:
        """Share of test wires predicted as the most common training topic."""
        x_test, _ = data.eval
        majority = int(np.bincount(np.asarray(data.train[1])).argmax())
        predicted = np.asarray(jnp.argmax(model(jnp.asarray(x_test)), axis=-1))
        return {"test_majority_share": float(np.mean(predicted == majority))}


DOCUMENT_CLASSIFICATION = DocumentClassification()
