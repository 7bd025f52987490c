"""The HTML page of `dlrun report`: one self-contained file, the PNGs embedded as base64,
so it can be mailed or opened anywhere. Every text from a record is escaped."""

import base64
import html
import re
from pathlib import Path

from dlrun.console import notice
from dlrun.output import plots
from dlrun.output.lessons import gap_lines, lesson_sentence
from dlrun.output.records import MAX_PICTURE_BYTES, Refused, read_regular
from dlrun.output.report_css import CSS
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
    unique_names,
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
    head = "".join(
        f"<th>{html.escape(h)}</th>" if h in TEXT_COLUMNS else f'<th class="num">{html.escape(h)}</th>' for h in header
    )
    body = "".join(
        "<tr>"
        + "".join(
            _html_cell(h, c, (notes or {}).get(c) if i == 0 else None) for i, (h, c) in enumerate(zip(header, row))
        )
        + "</tr>"
        for row in rows
    )
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _anchors(lessons: list[Lesson]) -> list[str]:
    """One HTML id per lesson, from its run id: letters, digits, "-", "_" and "." only, and
    unique even when two runs in different folders have the same name."""
    return unique_names([re.sub(r"[^A-Za-z0-9_.-]+", "-", lesson.run_id).strip("-") or "run" for lesson in lessons])


def _html_image(path: Path, caption: str, show_caption: bool = True) -> str:
    """The PNG embedded as base64, so report.html is one file that opens anywhere (read only
    when it is a regular file of at most MAX_PICTURE_BYTES; else left out with a notice)."""
    try:
        data = base64.b64encode(read_regular(path, MAX_PICTURE_BYTES)).decode("ascii")
    except Refused as e:
        notice(f"picture {path} not embedded: {e}")
        return ""
    text = f"<figcaption>{html.escape(caption)}</figcaption>" if show_caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">{text}</figure>'


def _html_summary(lessons: list[Lesson], anchors: list[str]) -> str:
    """Verdict counts as coloured tiles, then every claim with a link to its lesson."""
    counts = verdict_counts(lessons)
    tiles = "".join(
        f'<div class="tile {_verdict_class(v)}{"" if counts[v] else " zero"}"><b>{counts[v]}</b>{html.escape(v)}</div>'
        for v in VERDICTS
    )
    rows = "".join(
        f'<tr><td><a href="#{anchor}">{html.escape(title(lesson.record))}</a></td>'
        f"<td>{html.escape(c[0])}</td>{_html_cell('verdict', c[2])}</tr>"
        for lesson, anchor in zip(lessons, anchors)
        for c in claim_rows(lesson.record)
    )
    table = f"<table><thead><tr><th>lesson</th><th>claim</th><th>verdict</th></tr></thead><tbody>{rows}</tbody></table>"
    return f'<div class="tiles">{tiles}</div><p>{html.escape(summary_line(lessons))}.</p>' + (table if rows else "")


def _html_lesson(lesson: Lesson, anchor: str, out: Path) -> str:
    record = lesson.record
    notes = {name: c.get("description") for name, c in (record.get("configs") or {}).items() if isinstance(c, dict)}
    parts = [
        f'<section id="{anchor}"><h2>{html.escape(title(record))}</h2>',
        f'<p class="meta">{html.escape(data_line(record))} · run <code>{html.escape(lesson.run_id)}</code></p>',
    ]
    if data_notice := (record.get("data") or {}).get("notice"):
        parts.append(f'<p class="notice">{html.escape(data_notice)}</p>')
    parts.append(_html_table(result_header(record), result_rows(record), notes))
    if sentence := lesson_sentence(record):
        parts.append(f'<p class="lesson">{html.escape(sentence)}</p>')
    if record.get("claims"):
        parts += ["<h3>The lesson's claims</h3>", _html_table(CLAIM_HEADER, claim_rows(record))]
    if why := gap_lines(record):
        parts.append('<ul class="why">' + "".join(f"<li>why: {html.escape(line)}</li>" for line in why) + "</ul>")
    curves = [(c, p) for c, p in lesson.pictures if p.name == plots.CURVES_NAME]
    others = [(c, p) for c, p in lesson.pictures if p.name != plots.CURVES_NAME]
    parts += [_html_image(out / p, c, show_caption=False) for c, p in curves]  # the figure has its own title
    if others:
        parts.append('<div class="gallery">' + "".join(_html_image(out / p, c) for c, p in others) + "</div>")
    return "\n".join(parts) + "</section>"


def html_page(lessons: list[Lesson], stamp: str, out: Path) -> str:
    anchors = _anchors(lessons)
    body = "\n".join(_html_lesson(lesson, anchor, out) for lesson, anchor in zip(lessons, anchors))
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>dlrun report</title><style>{CSS}</style></head><body>"
        f'<h1>dlrun report</h1><p class="meta">{html.escape(header_line(lessons, stamp))}</p>'
        f"<h2>Summary</h2>{_html_summary(lessons, anchors)}\n{body}</body></html>\n"
    )
