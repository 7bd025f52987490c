"""Reading saved run records: the one place that finds, reads and checks them (`runs`,
`show`, `report` and `--resume` all read through it).

A record is read only when it is a regular file (never through a symbolic link, never a
FIFO or a device) and at most MAX_RECORD_BYTES long, and it is used only once it matches
the schema below: every key and type the readers rely on is checked here, so the readers
(tables, reports, curves, `runs`) can trust what they get.

Schema (keys not listed are allowed and not checked; "number" is an int or a float,
never a bool, finite, or null where it says so):

- the record is an object; "command" and "name" are strings;
- "data" is an object: "source" and "notice" strings or null, "train_size" and
  "test_size" non-negative integers or null (any of them may be absent);
- "results" is a list of objects, each with a string "variant" and a string "status";
  its metrics (every key named in "columns", the headline's "<key>_std"), "reference",
  "wall_s" and "compile_s" are finite numbers or null; "epochs" a non-negative integer
  or null; "seeds" a list of integers; "pictures" a list of strings; "model" (the saved
  weights' folder) a string of the form models/NNN, or null; "reused_from" and "gap_reason" strings or null;
  "still_improving" true, false or null;
- "started" is a number of seconds since 1970, finite, in [0, LATEST_START] (or null);
- "columns" is a list of [key, label] pairs of strings;
- "claims" is a list of objects: "claim" an object with a string "text", "evidence" and
  "verdict" strings;
- "history" is an object: variant -> list of epochs, each an object of metric -> number,
  null, or a list (one per seed; lists may nest) of them (NaN and infinity allowed: a
  diverged seed);
- "configs" is an object of objects, whose "description" is a string or null;
- "environment", "request" and "final_per_seed" are objects; "complete" is a bool;
  "structures_compiled" and "programs_compiled" non-negative integers; "run_dir" a
  string (each of these may be absent or, except "complete", null);
- "lesson" is a string or null;
- "sweep" (a sweep's record; absent or null otherwise) is an object: "keys" a list of
  strings, "values" an object of variant -> a list of strings, one per key.
"""

import json
import math
import os
import re
import stat
from pathlib import Path

from dlrun.errors import DlrunError
from dlrun.record_format import DEFAULT_COLUMNS

RECORD_NAME = "record.json"
MAX_RECORD_BYTES = 50 * 2**20  # a long comparison's record is a few MB
MAX_PICTURE_BYTES = 20 * 2**20  # a PNG the report copies or embeds: a figure is well under 1 MB
MODEL_FOLDER = re.compile(r"models/\d{3,6}")  # a variant's saved weights, inside its run folder
LATEST_START = 7_258_118_400.0  # 2200-01-01 UTC: a later "started" is not a time a run began


class Refused(Exception):
    """A file that is not read (a link, a FIFO, too large...) or a record of the wrong shape;
    the message is the reason, without the path."""


class BadRecord(DlrunError):
    """A run record that cannot be read or does not match the schema."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"cannot read run record {path}: {reason}")
        self.path, self.reason = path, reason


# --------------------------------------------------------------------------- files


def _kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISLNK, "a symbolic link (not followed)"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def check_regular(path: Path, limit: int) -> os.stat_result:
    """PATH's own status (os.lstat) when it is a regular file, not a link, of at most LIMIT
    bytes; Refused otherwise."""
    try:
        st = os.lstat(path)
    except OSError as e:
        raise Refused(e.strerror or str(e)) from None
    if not stat.S_ISREG(st.st_mode):
        kind = _kind(st.st_mode)
        raise Refused(kind if kind.startswith("not") else f"it is {kind}, not a regular file")
    if st.st_size > limit:
        raise Refused(f"larger than {limit / 2**20:g} MB ({st.st_size:,} bytes)")
    return st


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of PATH, read only when it is a regular file (checked before opening and
    again on the open file, which is opened without following a link and without
    blocking) and at most LIMIT bytes long; Refused otherwise."""
    check_regular(path, limit)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise Refused(e.strerror or str(e)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between the check and the open
            raise Refused("not a regular file")
        chunks, left = [], limit + 1
        while left > 0 and (chunk := os.read(fd, min(left, 2**20))):
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as e:
        raise Refused(e.strerror or str(e)) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise Refused(f"larger than {limit / 2**20:g} MB")
    return data


# --------------------------------------------------------------------------- schema


def _where(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _describe(value) -> str:
    """A value in a reason, short: null, true, 1e+300, "abc", a list, an object."""
    if isinstance(value, (list, dict)):
        return "a list" if isinstance(value, list) else "an object"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value) -> bool:
    """An int or float that a table can format: not a bool, and finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _is_float_like(value) -> bool:
    """A number that converts to a float (NaN and infinity allowed)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _numbers_or_nulls(value) -> bool:
    """A number (NaN and infinity allowed), null, or a list of them, lists nested or not."""
    if isinstance(value, list):
        return all(map(_numbers_or_nulls, value))
    return value is None or _is_float_like(value)


def _require(ok: bool, where: str, expected: str, value) -> None:
    if not ok:
        raise Refused(f'"{where}" must be {expected}, not {_describe(value)}')


def _present(obj: dict, key: str, where: str = "") -> None:
    if key not in obj:
        raise Refused(f'"{_where(where, key)}" is missing')


def _string(obj: dict, key: str, where: str, nullable: bool = True) -> None:
    if key in obj:
        value = obj[key]
        _require(isinstance(value, str) or (nullable and value is None), _where(where, key), "a string", value)


def _object(obj: dict, key: str, where: str = "", nullable: bool = True) -> dict:
    value = obj.get(key)
    if value is None and nullable:
        return {}
    _require(isinstance(value, dict), _where(where, key), "an object", value)
    return value


def _list(obj: dict, key: str, where: str = "") -> list:
    value = obj.get(key)
    if value is None:
        return []
    _require(isinstance(value, list), _where(where, key), "a list", value)
    return value


def _count(obj: dict, key: str, where: str = "") -> None:
    value = obj.get(key)
    ok = value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)
    _require(ok, _where(where, key), "a non-negative integer", value)


def _number(obj: dict, key: str, where: str) -> None:
    value = obj.get(key)
    _require(value is None or _is_number(value), _where(where, key), "a finite number or null", value)


def check_record(record) -> dict:
    """RECORD when it matches the schema (see the module's docstring); Refused, naming the
    first key that does not, otherwise."""
    _require(isinstance(record, dict), "record", "an object", record)
    for key in ("command", "name"):
        _present(record, key)
        _string(record, key, "", nullable=False)
    _present(record, "data")
    data = _object(record, "data", nullable=False)
    for key in ("source", "notice"):
        _string(data, key, "data")
    for key in ("train_size", "test_size"):
        _count(data, key, "data")
    _present(record, "results")
    _require(isinstance(record["results"], list), "results", "a list", record["results"])

    started = record.get("started")
    _require(
        started is None or (_is_number(started) and 0 <= started <= LATEST_START),
        "started",
        f"seconds since 1970 in [0, {LATEST_START:.0f}]",
        started,
    )
    columns = _list(record, "columns")
    for i, pair in enumerate(columns):
        ok = isinstance(pair, list) and len(pair) == 2 and all(isinstance(s, str) for s in pair)
        _require(ok, f"columns[{i}]", "a [key, label] pair of strings", pair)
    keys = [key for key, _ in columns or DEFAULT_COLUMNS]
    numbers = (*keys, f"{keys[0]}_std", "reference", "wall_s", "compile_s")
    for i, result in enumerate(record["results"]):
        where = f"results[{i}]"
        _require(isinstance(result, dict), where, "an object", result)
        for key in ("variant", "status"):
            _present(result, key, where)
            _string(result, key, where, nullable=False)
        for key in numbers:
            _number(result, key, where)
        _count(result, "epochs", where)
        seeds = _list(result, "seeds", where)
        ok = all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
        _require(ok, f"{where}.seeds", "a list of integers", seeds)
        _string(result, "reused_from", where)
        _string(result, "gap_reason", where)
        improving = result.get("still_improving")
        ok = improving is None or isinstance(improving, bool)
        _require(ok, f"{where}.still_improving", "true, false or null", improving)
        model = result.get("model")
        _require(model is None or (isinstance(model, str) and MODEL_FOLDER.fullmatch(model)), f"{where}.model",
                 "a folder models/NNN or null", model)  # fmt: skip
        pictures = _list(result, "pictures", where)
        _require(all(isinstance(p, str) for p in pictures), f"{where}.pictures", "a list of strings", pictures)

    for i, claim in enumerate(_list(record, "claims")):
        where = f"claims[{i}]"
        _require(isinstance(claim, dict), where, "an object", claim)
        inner = _object(claim, "claim", where, nullable=False)
        _present(inner, "text", f"{where}.claim")
        _string(inner, "text", f"{where}.claim", nullable=False)
        for key in ("evidence", "verdict"):
            _present(claim, key, where)
            _string(claim, key, where, nullable=False)

    for variant, epochs in _object(record, "history").items():
        where = f"history.{variant}"
        _require(isinstance(epochs, list), where, "a list of epochs", epochs)
        for e, epoch in enumerate(epochs):
            _require(isinstance(epoch, dict), f"{where}[{e}]", "an object", epoch)
            for metric, value in epoch.items():
                ok = _numbers_or_nulls(value)
                _require(ok, f"{where}[{e}].{metric}", "a number, null or a list of them", value)

    for variant, config in _object(record, "configs").items():
        _require(isinstance(config, dict), f"configs.{variant}", "an object", config)
        _string(config, "description", f"configs.{variant}")
    for key in ("environment", "request", "final_per_seed"):
        _object(record, key)
    if "complete" in record:
        _require(isinstance(record["complete"], bool), "complete", "true or false", record["complete"])
    for key in ("structures_compiled", "programs_compiled"):
        _count(record, key)
    _string(record, "run_dir", "")
    _string(record, "lesson", "")
    _check_sweep(_object(record, "sweep"))
    return record


def _check_sweep(sweep: dict) -> None:
    if not sweep:
        return
    keys = _list(sweep, "keys", "sweep")
    _require(keys and all(isinstance(k, str) for k in keys), "sweep.keys", "a list of strings", keys)
    for variant, values in _object(sweep, "values", "sweep", nullable=False).items():
        ok = isinstance(values, list) and len(values) == len(keys) and all(isinstance(v, str) for v in values)
        _require(ok, f"sweep.values.{variant}", f"a list of {len(keys)} strings", values)


def parse_record(data: bytes) -> dict:
    """A record from the bytes of its file; Refused when it is not JSON or not of the schema."""
    try:
        record = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise Refused("not UTF-8 text") from None
    except ValueError as e:  # JSONDecodeError, or a number of more than 4,300 digits
        raise Refused(f"not valid JSON ({e})") from None
    except RecursionError:
        raise Refused("not valid JSON (nested too deeply)") from None
    try:
        return check_record(record)
    except RecursionError:
        raise Refused("nested too deeply") from None


def load_record(path: Path) -> dict:
    """The record at PATH, read and checked; BadRecord (a DlrunError naming the file and the
    problem) when it cannot be read or does not match the schema."""
    try:
        return parse_record(read_regular(path, MAX_RECORD_BYTES))
    except Refused as e:
        raise BadRecord(path, str(e)) from None


# --------------------------------------------------------------------------- finding them


def run_dirs(root: Path) -> list[Path]:
    """Every folder below ROOT that holds a run record (runs/ holds runs/reproduce/<run>/),
    in path order. ROOT itself may be a link to a folder; links below it are not followed.
    A record.json that is not a regular file is found too (and reported as unreadable)."""
    if not root.is_dir():
        return []
    found = [
        Path(folder)
        for folder, subfolders, files in os.walk(root, followlinks=False)
        if RECORD_NAME in files or RECORD_NAME in subfolders
    ]
    return sorted(found)


def find_records(paths: list[Path]) -> list[Path]:
    """Record files named directly, inside a run folder, or in run folders at any depth
    below a folder; each record once, in path order. A folder named here may be a link;
    links below it are not followed."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            if os.path.lexists(path / RECORD_NAME):
                found.append(path / RECORD_NAME)
            else:
                found.extend(folder / RECORD_NAME for folder in run_dirs(path))
        elif os.path.lexists(path):  # a record file (load_record checks what it is)
            found.append(path)
        else:
            raise DlrunError(f"no run record at {path}")
    if not found:
        raise DlrunError(f"no run records found in {', '.join(map(str, paths))}")
    return list({(os.path.realpath(p.parent), p.name): p for p in found}.values())
