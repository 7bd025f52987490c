"""The report's content, shared by its two formats (one section per run record: ours vs
the lecture, the claims' verdicts, the pictures), and its Markdown form.

Every text the Markdown embeds from a record or a path is escaped (md_text, md_code,
md_link): a name like `evil[x](y)` or `<b>` is shown as written, never as markup."""

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from dlrun.output.lessons import gap_lines, lesson_sentence, status_label
from dlrun.output.tables import fmt_number
from dlrun.record_format import DEFAULT_COLUMNS, VERDICTS

CLAIM_HEADER = ("claim", "evidence", "verdict")
TEXT_COLUMNS = {"variant", "status", "claim", "evidence", "verdict", "lesson"}  # the others are right-aligned numbers


@dataclass
class Lesson:
    """One record in the report, with its pictures copied into the report folder."""

    record: dict
    run_id: str
    pictures: list[tuple[str, Path]]  # (caption, path relative to the report folder); curves first


MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|&~$])")  # backslash-escaped in text (CommonMark, GitHub)
NEWLINES = re.compile(r"[\r\n]+")


def md_text(text) -> str:
    """TEXT shown literally in Markdown, on one line (fit for a table cell)."""
    return MD_SPECIAL.sub(r"\\\1", NEWLINES.sub(" ", str(text)))


def md_code(text) -> str:
    """TEXT as an inline code span, whatever backticks it holds."""
    text = NEWLINES.sub(" ", str(text))
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"


def md_link(path: Path) -> str:
    """A relative link to PATH, percent-encoded: spaces, brackets and parentheses stay in the link."""
    return quote(path.as_posix())


def unique_names(names: list[str], taken=()) -> list[str]:
    """NAMES made unique (a, a-2, a-3...; case-insensitive, as some file systems are),
    avoiding those in TAKEN."""
    used, unique = {t.casefold() for t in taken}, []
    for name in names:
        candidate, n = name, 1
        while candidate.casefold() in used:
            n += 1
            candidate = f"{name}-{n}"
        used.add(candidate.casefold())
        unique.append(candidate)
    return unique


def _seeds(record: dict) -> int:
    return len(record["results"][0].get("seeds") or []) if record.get("results") else 0


def result_header(record: dict) -> list[str]:
    """The family's metric columns (record["columns"]), headline first, next to the lecture."""
    (_, headline), *others = record.get("columns") or DEFAULT_COLUMNS
    return [
        "variant",
        "lecture",
        f"dlrun {headline}",
        "Δ lecture",
        *(label for _, label in others),
        "epochs",
        "wall s",
        "status",
    ]


def result_rows(record: dict) -> list[list[str]]:
    """One row per variant: ours next to the lecture's number and the difference."""
    (headline, _), *others = record.get("columns") or DEFAULT_COLUMNS
    spread = _seeds(record) > 1  # one seed has no spread to show
    rows = []
    for r in record.get("results") or []:
        ours, lecture = r.get(headline), r.get("reference")
        delta = "—" if ours is None or lecture is None else f"{ours - lecture:+.2f}"
        rows.append(
            [
                r["variant"],
                fmt_number(lecture, digits=2),
                fmt_number(ours, r.get(f"{headline}_std") if spread else None),
                delta,
                *(fmt_number(r.get(key)) for key, _ in others),
                "—" if r.get("epochs") is None else str(r["epochs"]),
                f"{r.get('wall_s') or 0:.1f}",
                status_label(r),
            ]
        )
    return rows


def claim_rows(record: dict) -> list[list[str]]:
    return [[c["claim"]["text"], c["evidence"], c["verdict"]] for c in record.get("claims") or []]


def verdict_counts(lessons: list[Lesson]) -> dict[str, int]:
    verdicts = [c["verdict"] for lesson in lessons for c in lesson.record.get("claims") or []]
    return {v: verdicts.count(v) for v in VERDICTS}


def title(record: dict) -> str:
    return f"{record.get('command', 'run')} {record.get('name', '?')}"


def data_line(record: dict) -> str:
    data, seeds = record.get("data") or {}, _seeds(record)
    return (
        f"{data.get('source') or '?'}, {data.get('train_size') or 0:,} training / "
        f"{data.get('test_size') or 0:,} test examples, "
        f"{seeds} seed{'s' if seeds != 1 else ''}" + (" (mean ± std)" if seeds > 1 else "")
    )


def header_line(lessons: list[Lesson], stamp: str) -> str:
    env = lessons[0].record.get("environment") or {}
    return (
        f"Written {stamp} from {len(lessons)} run record(s); "
        f"jax {env.get('jax', '?')} on {env.get('device', '?')} ({env.get('backend', '?')})."
    )


def summary_line(lessons: list[Lesson]) -> str:
    counts = verdict_counts(lessons)
    total = sum(counts.values())
    if not total:
        return "No claims were checked in these runs."
    return f"{counts['reproduced']} of {total} claims reproduced, " + ", ".join(
        f"{counts[v]} {v}" for v in VERDICTS[1:]
    )


def _md_table(header, rows) -> list[str]:
    def cell(column: str, text: str) -> str:
        text = md_text(text)  # "|" too: it would end the cell
        return f"**{text}**" if column == "verdict" else text

    lines = [
        "| " + " | ".join(map(md_text, header)) + " |",
        "|" + "|".join("---" if h in TEXT_COLUMNS else "---:" for h in header) + "|",
    ]
    return lines + ["| " + " | ".join(cell(h, c) for h, c in zip(header, row)) + " |" for row in rows]


def record_markdown(lesson: Lesson | dict) -> str:
    """A lesson's section: data, the results table, the claims, the pictures."""
    if isinstance(lesson, dict):
        lesson = Lesson(lesson, Path(lesson.get("run_dir") or "run").name, [])
    record = lesson.record
    lines = [
        f"## {md_text(title(record))}",
        "",
        f"Data: {md_text(data_line(record))}. Record: {md_code(record.get('run_dir') or lesson.run_id)}.",
        "",
    ]
    if notice := (record.get("data") or {}).get("notice"):
        lines += [f"> notice: {md_text(notice)}", ""]
    lines += _md_table(result_header(record), result_rows(record))
    if sentence := lesson_sentence(record):
        lines += ["", f"**{md_text(sentence)}**"]
    if record.get("claims"):
        lines += ["", *_md_table(CLAIM_HEADER, claim_rows(record))]
    if why := gap_lines(record):
        lines += ["", *(f"- why: {md_text(line)}" for line in why)]
    for caption, path in lesson.pictures:
        lines += ["", f"![{md_text(caption)}]({md_link(path)})", f"*{md_text(caption)}*"]
    return "\n".join(lines) + "\n"


def markdown(lessons: list[Lesson], stamp: str) -> str:
    lines = ["# dlrun report", "", md_text(header_line(lessons, stamp)), "", summary_line(lessons) + ".", ""]
    summary = [[title(lesson.record), c[0], c[2]] for lesson in lessons for c in claim_rows(lesson.record)]
    if summary:
        lines += [*_md_table(("lesson", "claim", "verdict"), summary), ""]
    return "\n".join(lines) + "\n" + "\n".join(record_markdown(lesson) for lesson in lessons)
