"""Image classification: images -> one of C classes, the task of the Lecture II MLPs and
the base of the other image families (vision, basics, generative)."""

from pathlib import Path

import jax
import numpy as np

from dlrun.core.losses import accuracy
from dlrun.core.task import DataInfo, Prediction, Query, Task, TaskData, training_subset
from dlrun.errors import ConfigError


def unit_pixels(x):
    """uint8 pixels (how images are stored, on the host and the device) -> float32 in
    [0, 1]; arrays that are floats already (the test split, attacked images) unchanged."""
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x


class Classification(Task):
    """Images -> one of C classes. Train images stay uint8 on the device, [N, 784]."""

    name = "classification"
    # Cross-entropy starts near log(10) = 2.3 and MSE is below 1: a loss above 1,000 means
    # the weights have exploded even while it is still a finite number.
    diverged_above = 1e3

    def load(self, exp, data_dir):
        from dlrun.data.images import load_images

        images = load_images(exp.dataset, data_dir)
        info = DataInfo(images.source, images.sha256, images.notice, len(images.y_test), len(images.y_train))
        return images, info

    def place(self, exp, images) -> TaskData:
        return place_images(exp, images)

    def train_rows(self, exp, images) -> int:  # without placing the images
        return len(training_split(exp, len(images.y_train))[0])

    def batch(self, train, idx, shard):
        x, y = train
        return shard(unit_pixels(x[idx])), shard(y[idx])  # [B, 784], [B]

    def loss(self, exp, model, batch, hyper, key):
        x, y = batch
        logits = model(x, hyper.dropout, key, train=True)  # [B, classes]
        return exp.loss(logits, y), {"accuracy": accuracy(logits, y)}

    def evaluate(self, exp, model, split):
        x, y = split
        logits = model(unit_pixels(x))  # [M, classes]; the train split is uint8
        return {"loss": exp.loss(logits, y), "accuracy": accuracy(logits, y)}

    def attacked_accuracy(self, exp, model, split, epsilon: float) -> float:
        from dlrun.families.vision.task import attacked_accuracy  # the attack lives with its lesson

        if not 0 <= epsilon <= 1:
            raise ConfigError(f"--fgsm takes an epsilon in [0, 1] (pixel units), got {epsilon}")
        x, y = split
        return attacked_accuracy(model, exp.loss, np.asarray(unit_pixels(x)), np.asarray(y), epsilon)

    def predict(self, exp, models, load, query: Query) -> Prediction:
        """The top 3 classes of an image file (any size, made 28 x 28 grey) or of test
        image `query.index`, with their probability averaged over the seeds' models."""
        from dlrun.data.images import CLASS_NAMES, read_picture

        names = CLASS_NAMES[exp.dataset]
        if query.index is None:
            pixels, inverted = read_picture(Path(query.text))
            x, asked = pixels.reshape(1, -1), query.text
            note = "light background: inverted to MNIST's light strokes on black" if inverted else None
        else:
            x_test, y_test = self.place(exp, load()).eval
            if not 0 <= query.index < len(y_test):
                raise ConfigError(f"--index must be in [0, {len(y_test) - 1}], got {query.index}")
            x, asked = x_test[query.index : query.index + 1], f"test image {query.index}"
            note = f"its label: {names[int(y_test[query.index])]}"
        probabilities = np.mean([np.asarray(jax.nn.softmax(m(x))[0]) for m in models], axis=0)  # [classes]
        top = np.argsort(-probabilities)[:3]
        rows = [{"class": names[c], "probability": float(probabilities[c])} for c in top]
        return Prediction(asked, rows, note)


NOISE_SEED = 1234  # the noisy test set is the same for every run, seed and variant


def training_split(exp, n_available: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the training subset that train, and the last `validation_fraction` of it
    held out for early stopping."""
    idx = training_subset(n_available, exp.train_size)
    n_val = int(len(idx) * exp.early_stopping.validation_fraction) if exp.early_stopping else 0
    return idx[: len(idx) - n_val], idx[len(idx) - n_val :]


def place_images(exp, images) -> TaskData:
    """Train [N, 784] uint8; test [M, 784] float32 in [0, 1] (+ noise for the noisy test
    set); validation rows held out for early stopping (`training_split`)."""
    train_idx, val_idx = training_split(exp, len(images.y_train))
    x_test = unit_pixels(images.x_test.reshape(len(images.x_test), -1))
    if exp.test_noise:  # the lecture's np.random.normal(x_test): each pixel ~ N(pixel, std)
        x_test = x_test + np.random.default_rng(NOISE_SEED).normal(0, exp.test_noise, x_test.shape)
    flat = images.x_train.reshape(len(images.x_train), -1)  # [N, 784] uint8
    labels = images.y_train.astype(np.int32)
    return TaskData(
        train=(flat[train_idx], labels[train_idx]),
        eval=(x_test.astype(np.float32), images.y_test.astype(np.int32)),
        val=(flat[val_idx], labels[val_idx]),
    )


CLASSIFICATION = Classification()
