"""PyTorch on CPU, as a careful user writes it: tensors in memory, index slicing per
mini-batch (no DataLoader), one model after another. `--compile` wraps each model in
`torch.compile` (default mode; the optimizer step stays eager)."""

import common
import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}


def build(variant: common.Variant, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    sizes = (784, *variant.hidden, 10)
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        linear = nn.Linear(n_in, n_out)
        nn.init.xavier_uniform_(linear.weight)  # Glorot uniform, as Keras and dlrun
        nn.init.zeros_(linear.bias)
        layers += [linear, ACTIVATIONS[variant.activation]()]
    return nn.Sequential(*layers[:-1])  # logits out


def optimizer(variant: common.Variant, params) -> torch.optim.Optimizer:
    """The optax defaults dlrun uses, where PyTorch's differ (Adagrad, RMSprop)."""
    lr = variant.lr
    return {
        "sgd": lambda: torch.optim.SGD(params, lr=lr),
        "momentum": lambda: torch.optim.SGD(params, lr=lr, momentum=0.9),
        "adagrad": lambda: torch.optim.Adagrad(params, lr=lr, initial_accumulator_value=0.1, eps=1e-7),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-8),
        "adam": lambda: torch.optim.Adam(params, lr=lr),
    }[variant.optimizer]()


@torch.no_grad()
def accuracy(forward, x: torch.Tensor, y: torch.Tensor) -> float:
    return (forward(x).argmax(dim=1) == y).float().mean().item()


def train_model(forward, opt, data: dict, epochs: int, seed: int, clock: common.Clock, unit) -> float:
    """Mini-batches of 100 in a fresh order each epoch, a test pass after each epoch,
    then the final evaluation on the training and test sets (as dlrun does)."""
    x, y = data["x_train"], data["y_train"]
    generator = torch.Generator().manual_seed(seed)
    steps = len(y) // common.BATCH
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for i in range(steps):
            idx = order[i * common.BATCH : (i + 1) * common.BATCH]
            loss = F.cross_entropy(forward(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        accuracy(forward, data["x_test"], data["y_test"])
        clock.epoch_done(unit)
    accuracy(forward, x, y)
    return accuracy(forward, data["x_test"], data["y_test"])


def main() -> None:
    args = common.parse_args(__doc__, lambda p: p.add_argument("--compile", action="store_true"))
    data = common.load_data(args.dataset, args.data_dir)
    tensors = {k: torch.from_numpy(getattr(data, k)) for k in ("x_train", "y_train", "x_test", "y_test")}
    workload = common.WORKLOADS[args.workload]
    clock, accs = common.Clock(), []
    for variant in workload.variants:
        for seed in workload.seeds:
            model = build(variant, seed)
            forward = torch.compile(model) if args.compile else model
            opt = optimizer(variant, list(model.parameters()))
            accs.append(train_model(forward, opt, tensors, args.epochs, seed, clock, (variant, seed)))
    name = "torch.compile" if args.compile else "pytorch eager"
    common.write_result(
        args, name, data.sizes(), clock, accs, threads=torch.get_num_threads(), version=torch.__version__
    )


if __name__ == "__main__":
    common.main_guard("torch", main)
