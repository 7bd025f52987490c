"""`dlrun runs` and `dlrun show RUN_ID`: the saved runs under runs/ (or --out).

A run id is the name of a run folder (`20261122-231926-488075-dropout`). Runs are found
at any depth below the root, since `make reproduce-all` nests its runs in runs/reproduce/.
A record that cannot be read or is of the wrong shape is listed as "unreadable record:
<reason>", and the other runs are listed as usual. Run ids, paths and every text from a
record are printed as plain text (rich.text.Text, rich.markup.escape), never as markup.
"""

import json
import os
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from dlrun.console import console
from dlrun.errors import ConfigError
from dlrun.output import catalog
from dlrun.output.plots import CURVES_NAME
from dlrun.output.records import RECORD_NAME, BadRecord, load_record, run_dirs
from dlrun.output.report import family_pictures, safe_picture
from dlrun.output.tables import record_tables, status_text
from dlrun.record_format import DEFAULT_COLUMNS, DIVERGED, INTERRUPTED, OK


def started(record: dict, run_dir: Path) -> datetime:
    """When the run began: the record's timestamp, else the folder's modification time."""
    seconds = record.get("started")  # checked by load_record: seconds in a sane range, or absent
    if seconds is None:
        try:
            seconds = run_dir.stat().st_mtime
        except OSError:
            seconds = 0.0
    return datetime.fromtimestamp(seconds, timezone.utc)


def status_summary(record: dict) -> str:
    """ "ok", "1 diverged", "interrupted after 2/3 variants", or both."""
    results = record.get("results") or []
    counts = Counter(r.get("status") for r in results)
    planned = max(len(record.get("configs") or {}), len(results))
    finished = counts[OK] + counts[DIVERGED]
    parts = [f"{counts[DIVERGED]} {DIVERGED}"] if counts[DIVERGED] else []
    if counts[INTERRUPTED] or finished < planned or record.get("complete") is False:
        word = INTERRUPTED if counts[INTERRUPTED] else "unfinished"
        parts.append(f"{word} after {finished}/{planned} variants" if planned > 1 else word)
    return ", ".join(parts) or (OK if results else "empty")


def headline(record: dict) -> tuple[str, str]:
    """(metric key, label) of the family's headline column: test accuracy for the lessons."""
    key, label = (record.get("columns") or DEFAULT_COLUMNS)[0]
    return key, label


def best_result(record: dict) -> dict | None:
    """The variant with the best headline number (lowest for a loss or an error)."""
    key, _ = headline(record)
    scored = [r for r in record.get("results") or [] if isinstance(r.get(key), (int, float))]
    sign = -1 if any(word in key for word in ("loss", "error", "perplexity", "fid")) else 1
    return max(scored, key=lambda r: sign * r[key], default=None)


def summary(run_dir: Path) -> dict:
    """One row of `dlrun runs`; an unreadable record is listed, not fatal."""
    try:
        record = load_record(run_dir / RECORD_NAME)
        status = status_summary(record)
    except BadRecord as e:
        record, status = {}, f"unreadable record: {e.reason}"
    best, (key, label) = best_result(record), headline(record)
    return {
        "run_id": run_dir.name,
        "path": str(run_dir),
        "started": started(record, run_dir).isoformat(timespec="seconds"),
        "command": record.get("command"),
        "name": record.get("name"),
        "data_source": (record.get("data") or {}).get("source"),
        "headline": {"metric": key, "label": label, "value": best and best[key], "variant": best and best["variant"]},
        "variants": len(record.get("results") or []),
        "status": status,
    }


def listing(root: Path) -> list[dict]:
    """Every saved run below ROOT, newest first."""
    return sorted((summary(d) for d in run_dirs(root)), key=lambda s: s["started"], reverse=True)


def print_runs(root: Path, as_json: bool) -> None:
    rows = listing(root)
    if as_json:
        print(json.dumps(rows))
    elif not rows:
        console.print(f"no saved runs under {escape(str(root))}/ (`dlrun train` and `dlrun compare` write them there)")
    else:
        console.print(runs_table(rows, root))


def runs_table(rows: list[dict], root: Path) -> Table:
    table = Table(title=Text(f"saved runs under {root}/ (newest first)"), caption="details: dlrun show RUN_ID")
    for column in ("run id", "date (UTC)", "run", "data", "best", "variant", "status"):
        table.add_column(
            column, justify="right" if column == "best" else "left", no_wrap=column in ("run id", "date (UTC)")
        )
    for r in rows:
        h = r["headline"]
        best = "—" if h["value"] is None else f"{h['value']:.3f} {h['label']}"
        table.add_row(
            Text(r["run_id"]),
            r["started"][:16].replace("T", " "),
            Text(f"{r['command'] or '?'} {r['name'] or '?'}"),
            Text(r["data_source"] or "—"),
            Text(best),
            Text(h["variant"] or "—"),
            status_text(r["status"]),
        )
    return table


def resolve(name: str, root: Path) -> Path | None:
    """A run folder from a path (folder or record.json) or a run id below ROOT; None for a
    name no file system would take (too long, a NUL byte)."""
    try:
        path = Path(name)
        if path.name == RECORD_NAME and os.path.lexists(path) and not path.is_dir():
            return path.parent
        for candidate in (path, root / name):
            if candidate.is_dir() and os.path.lexists(candidate / RECORD_NAME):  # load_record checks what it is
                return candidate
    except (OSError, ValueError):
        return None
    return next((d for d in run_dirs(root) if d.name == name), None)


def show(name: str, root: Path, settings: tuple = ()) -> None:
    """An experiment's or group's config (with `--set` applied); otherwise a saved run's results."""
    try:
        catalog.print_config(name, settings)
        return
    except ConfigError as e:
        if not str(e).startswith("unknown experiment"):  # a bad --set
            raise
        unknown = str(e)
    run_dir = resolve(name, root)
    if run_dir is None:
        message = unknown.replace("unknown experiment or group", "unknown experiment, group or run id")
        raise ConfigError(message.replace("see `dlrun list`", "see `dlrun list` or `dlrun runs`"))
    print_run(run_dir)


def print_run(run_dir: Path) -> None:
    """The run's results and claims tables, as `compare` printed them, and its files."""
    record = load_record(run_dir / RECORD_NAME)
    env = record.get("environment") or {}
    console.print(
        Text.assemble(
            "run ",
            (run_dir.name, "bold"),
            f" · {started(record, run_dir):%Y-%m-%d %H:%M} UTC · "
            f"jax {env.get('jax', '?')} on {env.get('device', '?')} · {status_summary(record)}",
        )
    )
    for part in record_tables(record):
        console.print(part)
    console.print(Text(f"record: {run_dir / RECORD_NAME}"))
    if os.path.lexists(run_dir / CURVES_NAME) and safe_picture(run_dir / CURVES_NAME):
        console.print(Text(f"curves: {run_dir / CURVES_NAME}"))
    if pictures := family_pictures(run_dir):
        console.print(Text("pictures: " + ", ".join(str(p) for p in pictures)))
