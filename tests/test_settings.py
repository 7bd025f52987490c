"""`--set` and sweep grids, without training: typed values, renamed variants, and errors
that list what is valid. Also the sweep's "within noise of the best" marking."""

import pytest

from dlrun.core.config import ADAM, EarlyStopping, Group, Optimizer
from dlrun.core.registry import get_experiment, get_group
from dlrun.core.settings import parse_setting, valid_keys, with_settings
from dlrun.errors import ConfigError
from dlrun.families.mlp.config import Activation
from dlrun.output.sweeps import near_best
from dlrun.run.request import sweep_grid


def settings(*texts: str):
    return tuple(parse_setting(t) for t in texts)


def test_the_issue_example_reaches_nested_fields_with_typed_values():
    base = get_experiment("mnist-relu-3layer")
    exp = with_settings(
        base,
        settings(
            "model.hidden=1000x3",
            "model.activation=tanh",
            "optimizer=adam",
            "optimizer.learning_rate=3e-4",
            "dropout=0.5",
            "batch_size=32",
        ),
    )
    assert exp.model.hidden == (1000, 1000, 1000)
    assert exp.model.activation is Activation.TANH
    assert exp.optimizer == Optimizer(ADAM.make, 3e-4)
    assert (exp.dropout, exp.batch_size) == (0.5, 32)
    assert exp.reference is None and base.reference == 0.96  # the lecture's number is the unchanged lesson's
    assert exp.name == (
        "mnist-relu-3layer[model.hidden=1000x3,model.activation=tanh,optimizer=adam,"
        "optimizer.learning_rate=3e-4,dropout=0.5,batch_size=32]"
    )


def test_widths_none_and_nested_optional_settings():
    base = get_experiment("mnist-relu-3layer")
    assert with_settings(base, settings("model.hidden=500-250")).model.hidden == (500, 250)
    assert with_settings(base, settings("batch_size=none")).batch_size is None  # full batch
    assert with_settings(base, settings("early_stopping.patience=5")).early_stopping == EarlyStopping(patience=5)
    assert with_settings(base, settings("optimizer.momentum=0.9")).optimizer.extra == (("momentum", 0.9),)
    attack = with_settings(get_experiment("mnist-adversarial"), settings("task.epsilon=0.2"))
    assert attack.task.kwargs == (("epsilon", 0.2),)


@pytest.mark.parametrize(
    "text, message",
    [
        ("model.hiden=3", "did you mean model.hidden?"),
        ("dropuot=0.5", "did you mean dropout?"),
        ("model.activation=swish", "expected one of sigmoid, relu"),
        ("optimizer=nadam", "expected an optimizer: sgd, momentum, adagrad, rmsprop, adam"),
        ("optimizer.b1=0.5", "sgd takes learning_rate, lr_decay, momentum"),
        ("model=wide", "set its parts: model.hidden, model.activation"),
        ("dropout=lots", "expected a finite number"),
        ("epochs=2.5", "expected an integer"),
        ("model.hidden=0x3", "expected widths"),
        ("name=other", "valid keys:"),
        ("task.epsilon=1", "takes no settings"),
    ],
)
def test_a_wrong_key_or_value_names_what_is_valid(text, message):
    with pytest.raises(ConfigError, match=message.replace("?", r"\?")):
        with_settings(get_experiment("mnist-relu-3layer"), settings(text))


def test_malformed_set_option():
    for text in ("dropout", "=0.5", "dropout="):
        with pytest.raises(ConfigError, match="key=value"):
            parse_setting(text)


def test_valid_keys_are_the_leaves_one_can_set():
    keys = valid_keys(get_experiment("mnist-relu-3layer"))
    assert {"model.hidden", "optimizer", "optimizer.learning_rate", "optimizer.momentum", "dropout"} <= set(keys)
    assert "model" not in keys and "name" not in keys and "task" not in keys


def test_a_renamed_group_keeps_its_claims_about_the_renamed_variants():
    group = get_group("losses")
    names = {v: f"{v}[dropout=0.1]" for v in group.variants}
    renamed = group.renamed(names)
    assert renamed.variants == tuple(names.values())
    assert [(c.better, c.worse) for c in renamed.claims] == [(names[c.better], names[c.worse]) for c in group.claims]
    assert isinstance(renamed, Group)


def test_sweep_grid_is_every_combination_first_key_slowest():
    grid = sweep_grid(settings("optimizer.learning_rate=0.01,0.1", "dropout=0,0.5"))
    assert grid == [
        (("optimizer.learning_rate", "0.01"), ("dropout", "0")),
        (("optimizer.learning_rate", "0.01"), ("dropout", "0.5")),
        (("optimizer.learning_rate", "0.1"), ("dropout", "0")),
        (("optimizer.learning_rate", "0.1"), ("dropout", "0.5")),
    ]
    for bad in (("dropout=0.1,0.1",), ("dropout=0.1,",), ("dropout=0.1", "dropout=0.2"), ()):
        with pytest.raises(ConfigError):
            sweep_grid(settings(*bad))


def test_near_best_is_within_one_std_of_the_difference():
    def row(name, mean, std):
        return {"variant": name, "status": "ok", "test_accuracy": mean, "test_accuracy_std": std}

    record = {
        "results": [row("a", 0.90, 0.03), row("b", 0.86, 0.04), row("c", 0.84, 0.02), row("d", 0.5, 0.0)],
        "sweep": {"keys": ["k"], "values": {}},
    }
    # best a: b is 0.04 below, within hypot(0.03, 0.04) = 0.05; c is 0.06 below, beyond hypot(0.03, 0.02) = 0.036
    assert near_best(record) == {"a", "b"}
    record["columns"] = [["test_recon", "recon"]]  # smaller is better
    record["results"] = [{"variant": v, "status": "ok", "test_recon": m} for v, m in (("x", 10.0), ("y", 12.0))]
    assert near_best(record) == {"x"}
