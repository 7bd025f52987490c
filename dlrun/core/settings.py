"""`--set key=value`: change any setting of an experiment from the command line.

A key is a path of field names into the frozen `Experiment` (`model.hidden`,
`optimizer.learning_rate`, `dropout`), or into a task's or optimizer's arguments
(`task.fold`, `optimizer.momentum`). A value is typed by the field it replaces:
numbers, `true`/`false`, enum values (`relu`), widths (`1000x3` = three layers of 1000,
`500-250` = one of 500 then one of 250), `none` where a field may be empty, and names
for whole optimizers and losses (`optimizer=adam`, `loss=mse`). The changed experiment
is named after what changed: `mnist-relu-3layer[dropout=0.5]`, and it has no lecture
number of its own. Imports no JAX.
"""

import dataclasses
import difflib
import enum
import math
import types
import typing
from typing import Any

from dlrun.core.config import LOSSES, OPTIMIZERS, Experiment, Optimizer, Ref
from dlrun.errors import ConfigError

# Fields that name or describe the lesson, not how it trains.
FIXED = ("name", "description", "reference")

Setting = tuple[str, str]  # (key, value as typed)


def parse_setting(text: str) -> Setting:
    """`key=value` -> (key, value), both stripped."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise ConfigError(f"--set takes key=value, got {text!r}")
    return key.strip(), value.strip()


def with_settings(exp: Experiment, settings: tuple[Setting, ...]) -> Experiment:
    """The experiment with every setting applied in order, renamed after them."""
    if not settings:
        return exp
    changed = exp
    for key, value in settings:
        changed = _set(changed, key.split("."), value, key)
    label = ",".join(f"{k}={v}" for k, v in settings)
    return dataclasses.replace(
        changed,
        name=f"{exp.name}[{label}]",
        reference=None,  # the lecture's number belongs to the unchanged lesson
        description=f"{exp.description} (changed: {label})",
    )


def valid_keys(exp: Experiment) -> list[str]:
    """Every key `--set` accepts for this experiment (what an error lists)."""
    keys = []
    for f in dataclasses.fields(exp):
        if f.name in FIXED:
            continue
        value = getattr(exp, f.name)
        keys += [] if _is_composite(f.name, value) else [f.name]
        keys += [f"{f.name}.{sub}" for sub in _sub_keys(value, _field_type(type(exp), f.name))]
    return keys


def _sub_keys(value: Any, annotation: Any) -> list[str]:
    if isinstance(value, Optimizer):
        return ["learning_rate", "lr_decay", *(name for name, _ in value.extra)]
    if isinstance(value, Ref):
        return [name for name, _ in value.kwargs or ()]
    target = value if dataclasses.is_dataclass(value) else _optional_dataclass(annotation)
    if target is None:
        return []
    return [f.name for f in dataclasses.fields(target)]


def _set(thing: Any, path: list[str], value: str, key: str) -> Any:
    """`thing` with the field at `path` replaced by `value` parsed to its type."""
    name, rest = path[0], path[1:]
    if isinstance(thing, Optimizer) and name not in _field_names(thing):
        return _set_optimizer_number(thing, name, rest, value, key)
    if isinstance(thing, Ref):
        return _set_argument(thing, name, rest, value, key)
    if not dataclasses.is_dataclass(thing) or name not in _field_names(thing) or name in FIXED:
        raise ConfigError(f"unknown setting {key!r}; {_choices(thing, key, len(path))}")
    current, annotation = getattr(thing, name), _field_type(type(thing), name)
    if not rest and _is_composite(name, current):
        takes = ", ".join(f"{name}.{sub}" for sub in _sub_keys(current, annotation))
        raise ConfigError(f"{key} is not one value; set its parts: {takes or 'none'}")
    if rest:
        if current is None and (default := _optional_dataclass(annotation)) is not None:
            current = default()  # early_stopping.patience=5 turns early stopping on
        return dataclasses.replace(thing, **{name: _set(current, rest, value, key)})
    return dataclasses.replace(thing, **{name: parse_value(value, current, annotation, key)})


def _choices(thing: Any, key: str, depth_left: int) -> str:
    """The keys valid where `key` went wrong, closest first."""
    prefix = ".".join(key.split(".")[: -depth_left or None])
    if isinstance(thing, Experiment):
        keys = valid_keys(thing)
    elif dataclasses.is_dataclass(thing):
        keys = [f"{prefix}.{f.name}" for f in dataclasses.fields(thing)]
    else:
        return f"{prefix} has no parts to set"
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"{hint}valid keys: {', '.join(keys)}"


def _is_composite(name: str, value: Any) -> bool:
    """A model config or a task: set through its parts (an optimizer or a loss is named whole)."""
    named_whole = isinstance(value, Optimizer) or (name == "loss" and isinstance(value, Ref))
    return not named_whole and (isinstance(value, Ref) or dataclasses.is_dataclass(value))


def _set_optimizer_number(opt: Optimizer, name: str, rest: list[str], value: str, key: str) -> Optimizer:
    extra = dict(opt.extra)
    if rest or name not in extra:
        raise ConfigError(f"unknown setting {key!r}: {opt.name} takes {', '.join(_sub_keys(opt, None))}")
    extra[name] = parse_value(value, float(extra[name]), float, key)
    return dataclasses.replace(opt, extra=tuple(extra.items()))


def _set_argument(ref: Ref, name: str, rest: list[str], value: str, key: str) -> Ref:
    arguments = dict(ref.kwargs or ())
    if rest or name not in arguments:
        takes = ", ".join(arguments) or "no settings"
        raise ConfigError(f"unknown setting {key!r}: {ref.name} takes {takes}")
    arguments[name] = parse_value(value, arguments[name], None, key)
    return dataclasses.replace(ref, kwargs=tuple(arguments.items()))


def parse_value(text: str, current: Any, annotation: Any, key: str) -> Any:
    """`text` as a value of the field's type (the annotation, else the current value's)."""
    kind = _value_kind(current, annotation)
    if text.lower() == "none" and (current is None or _allows_none(annotation)):
        return None
    try:
        return _parse(text, kind)
    except (ValueError, KeyError):
        raise ConfigError(f"{key}={text}: {_expected(kind)}") from None


def _value_kind(current: Any, annotation: Any) -> Any:
    if isinstance(current, bool) or annotation is bool:
        return bool
    for kind in (Optimizer, Ref, enum.Enum, int, float, tuple):
        if isinstance(current, kind):
            return type(current) if kind is enum.Enum else kind
    members = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    for member in members:
        if isinstance(member, type) and issubclass(member, (enum.Enum, int, float, Optimizer)):
            return member
    return None


def _parse_bool(text: str, kind) -> bool:
    return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}[text.lower()]


def _parse_int(text: str, kind) -> int:
    return int(text)


def _parse_float(text: str, kind) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _parse_widths(text: str, kind) -> tuple[int, ...]:
    """`1000x3` -> (1000, 1000, 1000); `500-250` -> (500, 250); `784` -> (784,)."""
    width, times, count = text.lower().partition("x")
    widths = (int(width),) * int(count) if times else tuple(int(w) for w in text.split("-"))
    if not widths or min(widths) < 1:
        raise ValueError(text)
    return widths


def _parse_optimizer(text: str, kind) -> Optimizer:
    return OPTIMIZERS[text.lower()]


def _parse_loss(text: str, kind) -> Ref:
    return LOSSES[text.lower()]


def _parse_enum(text: str, kind: type[enum.Enum]) -> enum.Enum:
    for member in kind:
        if text.lower() in (str(member.value).lower(), member.name.lower()):
            return member
    raise ValueError(text)


def _parse_guess(text: str, kind) -> Any:
    """A value whose field has no type to go by (a task argument that is None): a number
    when it reads as one, else the text."""
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    return text


_PARSERS = {
    bool: _parse_bool,
    int: _parse_int,
    float: _parse_float,
    tuple: _parse_widths,
    Optimizer: _parse_optimizer,
    Ref: _parse_loss,
}


def _parse(text: str, kind) -> Any:
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return _parse_enum(text, kind)
    return _PARSERS.get(kind, _parse_guess)(text, kind)


def _expected(kind: Any) -> str:
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return f"expected one of {', '.join(str(m.value) for m in kind)}"
    return {
        bool: "expected true or false",
        int: "expected an integer",
        float: "expected a finite number",
        tuple: "expected widths such as 500x2 or 500-250",
        Optimizer: f"expected an optimizer: {', '.join(OPTIMIZERS)}",
        Ref: f"expected a loss: {', '.join(LOSSES)}",
    }.get(kind, "not a value this setting takes")


def _field_names(thing: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(thing)}


def _field_type(cls: type, name: str) -> Any:
    return typing.get_type_hints(cls).get(name)


def _optional_dataclass(annotation: Any) -> type | None:
    """X for an annotation `X | None` where X is a dataclass (early_stopping), else None."""
    members = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else ()
    found = [m for m in members if dataclasses.is_dataclass(m)]
    return found[0] if found else None


def _allows_none(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)
