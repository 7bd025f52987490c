"""The HTML page of `dlrun report`: one self-contained file, the PNGs embedded as base64,
so it can be mailed or opened anywhere. Every text from a record is escaped."""

import base64
import html
from pathlib import Path

from dlrun.output import plots
from dlrun.output.report_text import (
    CLAIM_HEADER,
    TEXT_COLUMNS,
    Lesson,
    claim_rows,
    data_line,
    header_line,
    result_header,
    result_rows,
    summary_line,
    title,
    verdict_counts,
)
from dlrun.record_format import VERDICTS


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
        f'<tr><td><a href="#{html.escape(l.run_id)}">{html.escape(title(l.record))}</a></td>'
        f"<td>{html.escape(c[0])}</td>{_html_cell('verdict', c[2])}</tr>"
        for l in lessons for c in claim_rows(l.record))
    table = f"<table><thead><tr><th>lesson</th><th>claim</th><th>verdict</th></tr></thead><tbody>{rows}</tbody></table>"
    return f'<div class="tiles">{tiles}</div><p>{html.escape(summary_line(lessons))}.</p>' + (table if rows else "")


def _html_lesson(lesson: Lesson, out: Path) -> str:
    record = lesson.record
    notes = {name: c.get("description") for name, c in (record.get("configs") or {}).items() if isinstance(c, dict)}
    parts = [f'<section id="{html.escape(lesson.run_id)}"><h2>{html.escape(title(record))}</h2>',
             f'<p class="meta">{html.escape(data_line(record))} · run <code>{html.escape(lesson.run_id)}</code></p>']
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
            f'<h1>dlrun report</h1><p class="meta">{html.escape(header_line(lessons, stamp))}</p>'
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
