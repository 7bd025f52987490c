"""`dlrun report`: from saved run records, a Markdown report (report.md, with the PNGs it
links to beside it) and one self-contained HTML page (report.html, images embedded) that
can be mailed or opened anywhere. Per lesson: ours vs the lecture, the verdict of each
claim, the learning curves, and any pictures the run saved in its folder."""

import base64
import html
import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from dlrun.output import plots
from dlrun.errors import DlrunError
from dlrun.output.tables import fmt_number

DEFAULT_RUNS = Path("runs")
DEFAULT_COLUMNS = [["test_accuracy", "test acc"], ["train_accuracy", "train acc"], ["test_loss", "test loss"]]
CLAIM_HEADER = ("claim", "evidence", "verdict")
TEXT_COLUMNS = {"variant", "status", "claim", "evidence", "verdict", "lesson"}  # the others are right-aligned numbers
VERDICTS = ("reproduced", "inconclusive", "not reproduced")


@dataclass
class Lesson:
    """One record in the report, with its pictures copied into the report folder."""

    record: dict
    run_id: str
    pictures: list[tuple[str, Path]]  # (caption, path relative to the report folder); curves first


def find_records(paths: list[Path]) -> list[Path]:
    """Record files named directly, inside a run folder, or in run folders at any depth
    below a folder (runs/ holds runs/reproduce/<run>/); each record once, in path order."""
    found: list[Path] = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif (path / "record.json").is_file():
            found.append(path / "record.json")
        elif path.is_dir():
            found.extend(sorted(path.rglob("record.json")))
        else:
            raise DlrunError(f"no run record at {path}")
    if not found:
        raise DlrunError(f"no run records found in {', '.join(map(str, paths))}")
    return list({p.resolve(): p for p in found}.values())


def load_record(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DlrunError(f"cannot read run record {path}: {e}") from None


def write_report(paths: list[Path], out: Path) -> tuple[Path, Path]:
    """Write OUT/report.md (+ OUT/<run id>/*.png) and OUT/report.html; PATHS default to runs/."""
    records = find_records(paths or [DEFAULT_RUNS])
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    try:
        out.mkdir(parents=True, exist_ok=True)
        lessons = [_lesson(path, out) for path in records]
        (out / "report.md").write_text(markdown(lessons, stamp))
        (out / "report.html").write_text(html_page(lessons, stamp, out))
    except OSError as e:
        raise DlrunError(f"cannot write the report to {out}: {e.strerror or e}") from None
    return out / "report.md", out / "report.html"


def _lesson(record_path: Path, out: Path) -> Lesson:
    record, run_dir = load_record(record_path), record_path.parent
    return Lesson(record, run_dir.name, collect_pictures(record, run_dir, out / run_dir.name, out))


def collect_pictures(record: dict, run_dir: Path, dest: Path, out: Path) -> list[tuple[str, Path]]:
    """Copy the run's curves (redrawn from the record when the folder has none, e.g. an
    older run) and every other PNG it saved (filters, samples) into DEST."""
    dest.mkdir(parents=True, exist_ok=True)
    pictures = []
    if (run_dir / plots.CURVES_NAME).is_file():
        _copy(run_dir / plots.CURVES_NAME, dest / plots.CURVES_NAME)
        pictures.append(("learning curves", dest / plots.CURVES_NAME))
    elif plots.save_curves(record, dest) is not None:
        pictures.append(("learning curves", dest / plots.CURVES_NAME))
    for png in family_pictures(run_dir):
        name = png.relative_to(run_dir).as_posix()
        pictures.append((name, _copy(png, dest / name)))
    return [(caption, path.relative_to(out)) for caption, path in pictures]


def family_pictures(run_dir: Path) -> list[Path]:
    """Every PNG a run left in its folder (filters, samples...) except the curves and
    anything in its checkpoints."""
    return [p for p in sorted(run_dir.rglob("*.png"))
            if p != run_dir / plots.CURVES_NAME and "checkpoints" not in p.relative_to(run_dir).parts]


def _copy(picture: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.resolve() != picture.resolve():  # --out may be the run folder itself
        shutil.copyfile(picture, target)
    return target


# --------------------------------------------------------------------------- cells, shared by both formats


def _seeds(record: dict) -> int:
    return len(record["results"][0].get("seeds") or []) if record.get("results") else 0


def result_header(record: dict) -> list[str]:
    """The family's metric columns (record["columns"]), headline first, next to the lecture."""
    (_, headline), *others = record.get("columns") or DEFAULT_COLUMNS
    return ["variant", "lecture", f"dlrun {headline}", "Δ lecture", *(label for _, label in others), "epochs", "wall s", "status"]


def result_rows(record: dict) -> list[list[str]]:
    """One row per variant: ours next to the lecture's number and the difference."""
    (headline, _), *others = record.get("columns") or DEFAULT_COLUMNS
    spread = _seeds(record) > 1  # one seed has no spread to show
    rows = []
    for r in record.get("results") or []:
        ours, lecture = r.get(headline), r.get("reference")
        delta = "—" if ours is None or lecture is None else f"{ours - lecture:+.2f}"
        rows.append([r["variant"], fmt_number(lecture, digits=2), fmt_number(ours, r.get(f"{headline}_std") if spread else None), delta,
                     *(fmt_number(r.get(key)) for key, _ in others), str(r.get("epochs", "—")),
                     f"{r.get('wall_s') or 0:.1f}", r.get("status", "?")])
    return rows


def claim_rows(record: dict) -> list[list[str]]:
    return [[c["claim"]["text"], c["evidence"], c["verdict"]] for c in record.get("claims") or []]


def verdict_counts(lessons: list[Lesson]) -> dict[str, int]:
    verdicts = [c["verdict"] for lesson in lessons for c in lesson.record.get("claims") or []]
    return {v: verdicts.count(v) for v in VERDICTS}


def _title(record: dict) -> str:
    return f"{record.get('command', 'run')} {record.get('name', '?')}"


def _data_line(record: dict) -> str:
    data, seeds = record.get("data") or {}, _seeds(record)
    return (f"{data.get('source', '?')}, {data.get('train_size', 0):,} training / {data.get('test_size', 0):,} test examples, "
            f"{seeds} seed{'s' if seeds != 1 else ''}" + (" (mean ± std)" if seeds > 1 else ""))


def _header_line(lessons: list[Lesson], stamp: str) -> str:
    env = lessons[0].record.get("environment") or {}
    return (f"Written {stamp} from {len(lessons)} run record(s); "
            f"jax {env.get('jax', '?')} on {env.get('device', '?')} ({env.get('backend', '?')}).")


def _summary_line(lessons: list[Lesson]) -> str:
    counts = verdict_counts(lessons)
    total = sum(counts.values())
    if not total:
        return "No claims were checked in these runs."
    return f"{counts['reproduced']} of {total} claims reproduced, " + ", ".join(
        f"{counts[v]} {v}" for v in VERDICTS[1:])


# --------------------------------------------------------------------------- Markdown


def _md_table(header, rows) -> list[str]:
    def cell(column: str, text: str) -> str:
        text = text.replace("|", "\\|")
        return f"**{text}**" if column == "verdict" else text

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if h in TEXT_COLUMNS else "---:" for h in header) + "|"]
    return lines + ["| " + " | ".join(cell(h, c) for h, c in zip(header, row)) + " |" for row in rows]


def record_markdown(lesson: Lesson | dict) -> str:
    """A lesson's section: data, the results table, the claims, the pictures."""
    if isinstance(lesson, dict):
        lesson = Lesson(lesson, Path(lesson.get("run_dir", "run")).name, [])
    record = lesson.record
    lines = [f"## {_title(record)}", "", f"Data: {_data_line(record)}. Record: `{record.get('run_dir', lesson.run_id)}`.", ""]
    if (record.get("data") or {}).get("notice"):
        lines += [f"> notice: {record['data']['notice']}", ""]
    lines += _md_table(result_header(record), result_rows(record))
    if record.get("claims"):
        lines += ["", *_md_table(CLAIM_HEADER, claim_rows(record))]
    for caption, path in lesson.pictures:
        lines += ["", f"![{caption}]({path.as_posix()})", f"*{caption}*"]
    return "\n".join(lines) + "\n"


def markdown(lessons: list[Lesson], stamp: str) -> str:
    lines = ["# dlrun report", "", _header_line(lessons, stamp), "", _summary_line(lessons) + ".", ""]
    summary = [[_title(l.record), c[0], c[2]] for l in lessons for c in claim_rows(l.record)]
    if summary:
        lines += [*_md_table(("lesson", "claim", "verdict"), summary), ""]
    return "\n".join(lines) + "\n" + "\n".join(record_markdown(lesson) for lesson in lessons)


# --------------------------------------------------------------------------- HTML


def _verdict_class(verdict: str) -> str:
    return "v-" + verdict.replace(" ", "-")


def _html_cell(column: str, text: str, note: str | None = None) -> str:
    body = html.escape(text)
    if column == "verdict":
        body = f'<span class="badge {_verdict_class(text)}">{body}</span>'
    elif column == "status":
        body = f'<span class="s-{html.escape(text)}">{body}</span>'
    if note:
        body += f'<div class="note">{html.escape(note)}</div>'
    return f"<td>{body}</td>" if column in TEXT_COLUMNS else f'<td class="num">{body}</td>'


def _html_table(header, rows, notes: dict[str, str] | None = None) -> str:
    """NOTES adds a muted second line under a row's first cell (a variant's description)."""
    head = "".join(f"<th>{html.escape(h)}</th>" if h in TEXT_COLUMNS else f'<th class="num">{html.escape(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(_html_cell(h, c, (notes or {}).get(c) if i == 0 else None) for i, (h, c) in enumerate(zip(header, row))) + "</tr>"
        for row in rows)
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _html_image(path: Path, caption: str, show_caption: bool = True) -> str:
    """The PNG embedded as base64, so report.html is one file that opens anywhere."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    text = f"<figcaption>{html.escape(caption)}</figcaption>" if show_caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">{text}</figure>'


def _html_summary(lessons: list[Lesson]) -> str:
    """Verdict counts as coloured tiles, then every claim with a link to its lesson."""
    counts = verdict_counts(lessons)
    tiles = "".join(f'<div class="tile {_verdict_class(v)}{" zero" if not counts[v] else ""}"><b>{counts[v]}</b>{html.escape(v)}</div>'
                    for v in VERDICTS)
    rows = "".join(
        f'<tr><td><a href="#{html.escape(l.run_id)}">{html.escape(_title(l.record))}</a></td>'
        f"<td>{html.escape(c[0])}</td>{_html_cell('verdict', c[2])}</tr>"
        for l in lessons for c in claim_rows(l.record))
    table = f"<table><thead><tr><th>lesson</th><th>claim</th><th>verdict</th></tr></thead><tbody>{rows}</tbody></table>"
    return f'<div class="tiles">{tiles}</div><p>{html.escape(_summary_line(lessons))}.</p>' + (table if rows else "")


def _html_lesson(lesson: Lesson, out: Path) -> str:
    record = lesson.record
    notes = {name: c.get("description") for name, c in (record.get("configs") or {}).items() if isinstance(c, dict)}
    parts = [f'<section id="{html.escape(lesson.run_id)}"><h2>{html.escape(_title(record))}</h2>',
             f'<p class="meta">{html.escape(_data_line(record))} · run <code>{html.escape(lesson.run_id)}</code></p>']
    if notice := (record.get("data") or {}).get("notice"):
        parts.append(f'<p class="notice">{html.escape(notice)}</p>')
    parts.append(_html_table(result_header(record), result_rows(record), notes))
    if record.get("claims"):
        parts += ["<h3>The lesson's claims</h3>", _html_table(CLAIM_HEADER, claim_rows(record))]
    curves = [(c, p) for c, p in lesson.pictures if p.name == plots.CURVES_NAME]
    others = [(c, p) for c, p in lesson.pictures if p.name != plots.CURVES_NAME]
    parts += [_html_image(out / p, c, show_caption=False) for c, p in curves]  # the figure has its own title
    if others:
        parts.append('<div class="gallery">' + "".join(_html_image(out / p, c) for c, p in others) + "</div>")
    return "\n".join(parts) + "</section>"


def html_page(lessons: list[Lesson], stamp: str, out: Path) -> str:
    body = "\n".join(_html_lesson(lesson, out) for lesson in lessons)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>dlrun report</title><style>{CSS}</style></head><body>"
            f'<h1>dlrun report</h1><p class="meta">{html.escape(_header_line(lessons, stamp))}</p>'
            f"<h2>Summary</h2>{_html_summary(lessons)}\n{body}</body></html>\n")


CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --alt: #f6f8fa; }
body { font: 15px/1.55 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif;
       color: var(--fg); max-width: 1180px; margin: 2rem auto 4rem; padding: 0 1.5rem; }
h1 { font-size: 2rem; margin: 0 0 .2rem; }
h2 { font-size: 1.45rem; margin: 2.8rem 0 .3rem; padding-bottom: .3rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .2rem; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
.meta { color: var(--muted); margin: .2rem 0 1rem; }
code { font: .85em ui-monospace, "DejaVu Sans Mono", monospace; background: var(--alt); padding: .1rem .35rem; border-radius: 4px; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0 1rem; font-size: .92rem; }
th, td { padding: .45rem .7rem; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--alt); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fbfcfd; }
.note { color: var(--muted); font-size: .82rem; }
.badge { display: inline-block; padding: .08rem .65rem; border-radius: 999px; font-weight: 600; font-size: .85rem; white-space: nowrap; }
.v-reproduced { background: #dafbe1; color: #116329; }
.v-not-reproduced { background: #ffebe9; color: #a40e26; }
.v-inconclusive { background: #fff8c5; color: #7d4e00; }
.s-ok { color: #1a7f37; } .s-diverged { color: #cf222e; font-weight: 600; } .s-interrupted { color: #9a6700; font-weight: 600; }
.tiles { display: flex; gap: 1rem; margin: 1rem 0 .5rem; }
.tile { flex: 1; border-radius: 10px; padding: .7rem 1rem; font-weight: 600; }
.tile b { display: block; font-size: 1.9rem; line-height: 1.1; }
.tile.zero { opacity: .45; }
.notice { background: #fff8c5; border-left: 4px solid #d4a72c; padding: .5rem .9rem; font-size: .88rem; border-radius: 4px; }
figure { margin: 1.2rem 0; text-align: center; }
figure img { max-width: 100%; border: 1px solid var(--line); border-radius: 8px; }
figcaption { color: var(--muted); font-size: .85rem; margin-top: .3rem; }
.wide { overflow-x: auto; }  /* a family with many metric columns scrolls instead of squeezing */
td:first-child { min-width: 13rem; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 1.2rem; align-items: start; }
.gallery figure { margin: 0; }
"""
