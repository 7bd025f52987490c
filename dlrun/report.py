"""`dlrun report`: one Markdown report from saved run records (ours vs the lecture)."""

import json
from datetime import datetime, timezone
from pathlib import Path

from dlrun.errors import DlrunError


def find_records(paths: list[Path]) -> list[Path]:
    """Record files named directly, inside a run folder, or in run folders below a folder."""
    found = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif (path / "record.json").is_file():
            found.append(path / "record.json")
        elif path.is_dir():
            found.extend(sorted(path.glob("*/record.json")))
        else:
            raise DlrunError(f"no run record at {path}")
    if not found:
        raise DlrunError(f"no run records found in {', '.join(map(str, paths))}")
    return found


def load_record(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DlrunError(f"cannot read run record {path}: {e}") from None


def _fmt(value, std=None, digits=3) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f} ± {std:.{digits}f}" if std else f"{value:.{digits}f}"


def record_markdown(record: dict) -> str:
    data = record["data"]
    seeds = len(record["results"][0]["seeds"]) if record["results"] else 0
    lines = [
        f"## {record['command']} {record['name']}", "",
        f"Data: {data['source']}, {data['train_size']:,} training / {data['test_size']:,} test images, "
        f"{seeds} seed(s). Record: `{record['run_dir']}`.", "",
        "| variant | lecture | dlrun test acc | train acc | test loss | epochs | wall s | status |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in record["results"]:
        lines.append(
            f"| {r['variant']} | {_fmt(r['reference'], digits=2)} | {_fmt(r['test_accuracy'], r['test_accuracy_std'])} "
            f"| {_fmt(r['train_accuracy'])} | {_fmt(r['test_loss'])} | {r['epochs']} | {r['wall_s']:.1f} | {r['status']} |"
        )
    if record.get("claims"):
        lines += ["", "| claim | evidence | verdict |", "|---|---|---|"]
        lines += [f"| {c['claim']['text']} | {c['evidence']} | **{c['verdict']}** |" for c in record["claims"]]
    return "\n".join(lines) + "\n"


def write_report(paths: list[Path], out: Path) -> Path:
    records = [load_record(p) for p in find_records(paths)]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    env = records[0].get("environment", {})
    header = (f"# dlrun report\n\nWritten {stamp} from {len(records)} run record(s); "
              f"jax {env.get('jax', '?')} on {env.get('device', '?')} ({env.get('backend', '?')}).\n")
    text = "\n".join([header, *map(record_markdown, records)])
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.md").write_text(text)
    except OSError as e:
        raise DlrunError(f"cannot write the report to {out}: {e.strerror or e}") from None
    return out / "report.md"
