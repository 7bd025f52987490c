"""A plain JAX loop, as most tutorials write it: a minimal MLP as a list of (W, b), optax,
one jitted train step, and a Python loop over mini-batches sliced from NumPy arrays.
No dlrun code. One jitted step per variant, reused by its seeds."""

import common
import jax
import jax.numpy as jnp
import numpy as np
import optax

ACTIVATIONS = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid}
OPTIMIZERS = {
    "sgd": lambda lr: optax.sgd(lr),
    "momentum": lambda lr: optax.sgd(lr, momentum=0.9),
    "adagrad": optax.adagrad,
    "rmsprop": optax.rmsprop,
    "adam": optax.adam,
}


def init(seed: int, hidden: tuple[int, ...]) -> list:
    sizes = (784, *hidden, 10)
    keys = jax.random.split(jax.random.key(seed), len(sizes) - 1)
    glorot = jax.nn.initializers.glorot_uniform()
    return [(glorot(k, (a, b)), jnp.zeros(b)) for k, a, b in zip(keys, sizes[:-1], sizes[1:])]


def make_fns(variant: common.Variant, tx: optax.GradientTransformation):
    act = ACTIVATIONS[variant.activation]

    def forward(params, x):
        for w, b in params[:-1]:
            x = act(x @ w + b)
        w, b = params[-1]
        return x @ w + b

    def loss_fn(params, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(forward(params, x), y).mean()

    @jax.jit
    def step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def accuracy(params, x, y):
        return jnp.mean(jnp.argmax(forward(params, x), axis=-1) == y)

    return step, accuracy


def train_model(variant, seed, fns, tx, data: common.Data, epochs: int, clock: common.Clock) -> float:
    step, accuracy = fns
    params = init(seed, variant.hidden)
    opt_state = tx.init(params)
    rng = np.random.default_rng(seed)
    steps = len(data.y_train) // common.BATCH
    for _ in range(epochs):
        order = rng.permutation(len(data.y_train))
        for i in range(steps):
            idx = order[i * common.BATCH : (i + 1) * common.BATCH]
            params, opt_state, _ = step(params, opt_state, data.x_train[idx], data.y_train[idx])
        float(accuracy(params, data.x_test, data.y_test))
        clock.epoch_done((variant, seed))
    float(accuracy(params, data.x_train, data.y_train))
    return float(accuracy(params, data.x_test, data.y_test))


def main() -> None:
    args = common.parse_args(__doc__)
    data = common.load_data(args.dataset, args.data_dir)
    data.y_train, data.y_test = data.y_train.astype(np.int32), data.y_test.astype(np.int32)
    workload = common.WORKLOADS[args.workload]
    clock, accs = common.Clock(), []
    for variant in workload.variants:
        tx = OPTIMIZERS[variant.optimizer](variant.lr)
        fns = make_fns(variant, tx)
        for seed in workload.seeds:
            accs.append(train_model(variant, seed, fns, tx, data, args.epochs, clock))
    common.write_result(args, "plain JAX loop", data.sizes(), clock, accs, version=jax.__version__)


if __name__ == "__main__":
    common.main_guard("jax", main)
