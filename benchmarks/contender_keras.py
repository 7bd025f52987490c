"""Keras 3 `model.fit` with the JAX backend: a Sequential MLP per model, compiled with the
optimizer, validated on the test set after each epoch (as dlrun reports test accuracy
per epoch), then evaluated on the training and test sets."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import common  # noqa: E402
import keras  # noqa: E402

OPTIMIZERS = {
    "sgd": lambda lr: keras.optimizers.SGD(lr),
    "momentum": lambda lr: keras.optimizers.SGD(lr, momentum=0.9),
    "adagrad": lambda lr: keras.optimizers.Adagrad(lr),
    "rmsprop": lambda lr: keras.optimizers.RMSprop(lr, rho=0.9),
    "adam": lambda lr: keras.optimizers.Adam(lr),
}


class EpochTimer(keras.callbacks.Callback):
    def __init__(self, clock: common.Clock, unit):
        super().__init__()
        self.clock, self.unit = clock, unit

    def on_epoch_end(self, epoch, logs=None):  # after the epoch's validation pass
        self.clock.epoch_done(self.unit)


def build(variant: common.Variant, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    hidden = [keras.layers.Dense(h, activation=variant.activation) for h in variant.hidden]  # Glorot uniform
    model = keras.Sequential([keras.Input((784,)), *hidden, keras.layers.Dense(10)])
    model.compile(
        optimizer=OPTIMIZERS[variant.optimizer](variant.lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def train_model(variant, seed, data: common.Data, epochs: int, clock: common.Clock) -> float:
    model = build(variant, seed)
    model.fit(
        data.x_train,
        data.y_train,
        batch_size=common.BATCH,
        epochs=epochs,
        shuffle=True,
        verbose=0,
        validation_data=(data.x_test, data.y_test),
        callbacks=[EpochTimer(clock, (variant, seed))],
    )
    model.evaluate(data.x_train, data.y_train, batch_size=1000, verbose=0)
    return model.evaluate(data.x_test, data.y_test, batch_size=1000, verbose=0, return_dict=True)["accuracy"]


def main() -> None:
    args = common.parse_args(__doc__)
    data = common.load_data(args.dataset, args.data_dir)
    workload = common.WORKLOADS[args.workload]
    clock = common.Clock()
    accs = [train_model(v, s, data, args.epochs, clock) for v in workload.variants for s in workload.seeds]
    common.write_result(
        args, "keras model.fit", data.sizes(), clock, accs, backend=keras.backend.backend(), version=keras.__version__
    )


if __name__ == "__main__":
    common.main_guard("keras", main)
