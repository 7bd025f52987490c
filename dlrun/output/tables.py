"""Rich tables: dlrun's numbers next to the lecture's, and the verdict of each claim.

Every text from a record (names, variants, data sources, claims, column labels) goes in as
rich.text.Text, never as a markup string: `[/]` or `[draft]` in a name is printed as is."""

from rich.table import Table
from rich.text import Text

from dlrun.output.lessons import changed_settings, gap_lines, lesson_sentence
from dlrun.output.sweeps import near_best
from dlrun.record_format import DEFAULT_COLUMNS, DIVERGED, INCONCLUSIVE, INTERRUPTED, NOT_REPRODUCED, OK, REPRODUCED

VERDICT_STYLE = {REPRODUCED: "bold green", NOT_REPRODUCED: "bold red", INCONCLUSIVE: "bold yellow"}
STATUS_STYLE = {OK: "green", DIVERGED: "bold red", INTERRUPTED: "yellow"}


def status_style(status: str) -> str:
    """A variant's status, or a run's summary of them ("1 diverged", "unreadable record")."""
    if status in STATUS_STYLE:
        return STATUS_STYLE[status]
    return "bold red" if DIVERGED in status or "unreadable" in status else "yellow"


def status_text(status: str) -> Text:
    """A status (or a run's summary of them) in its colour, as plain text."""
    return Text(status, style=status_style(status))


def fmt_number(value: float | None, std: float | None = None, digits: int = 3) -> str:
    """A metric for a table: counts (parameters) as 1,234; the rest with `digits` decimals."""
    if value is None:
        return "—"
    text = f"{value:,.0f}" if abs(value) >= 1000 and float(value).is_integer() else f"{value:.{digits}f}"
    return text if std is None else f"{text} ± {std:.{digits}f}"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _compiled(record: dict) -> str:
    """E.g. "2 structures compiled (5 programs)"; a structure is one training program."""
    structures, programs = record.get("structures_compiled"), record.get("programs_compiled", "?")
    if structures is None:  # a record from before structures were counted
        return f"{programs} program(s) compiled"
    return f"{structures} structure{_plural(structures)} compiled ({programs} program{_plural(programs)})"


def _plural(count) -> str:
    return "" if count == 1 else "s"


def results_table(record: dict) -> Table:
    """One row per variant; diverged runs are marked, never shown as NaN accuracy. RECORD
    is checked (dlrun.output.records); keys a record may lack are read with .get."""
    data = record.get("data") or {}
    results = record.get("results") or []
    seeds = len(results[0].get("seeds") or []) if results else 0
    trained = any("wall_s" in r for r in results)  # else measured only (`dlrun evaluate`)
    sizes = f"{data.get('train_size') or 0:,} train / " if trained else ""
    caption = f"data: {data.get('source') or '?'} · {sizes}{data.get('test_size') or 0:,} test · "
    caption += f"{seeds} seed{'s' if seeds != 1 else ''} (mean ± std)"
    caption += "".join(f" · {option}" for option in changed_settings(record))
    table = Table(
        title=Text(f"{record.get('command', 'run')} {record.get('name', '?')}"),
        caption=Text(caption + (f" · {_compiled(record)}" if trained else "")),
    )
    columns = record.get("columns") or DEFAULT_COLUMNS  # the family's metrics, headline first
    longest = max((len(r["variant"]) for r in results), default=8)
    table.add_column("variant", no_wrap=True, min_width=longest)
    table.add_column("lecture", justify="right", no_wrap=True)
    for _, label in columns:
        table.add_column(Text(label), justify="right", no_wrap=True)
    for label in ("epochs", "wall s", "compile s") if trained else ():
        table.add_column(label, justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    good = near_best(record) if record.get("sweep") else None
    if good is not None:
        table.add_column("≈ best", no_wrap=True)
    for r in results:
        headline, *others = (key for key, _ in columns)
        mark = [] if good is None else [Text("≈ best", style="bold green") if r["variant"] in good else ""]
        table.add_row(
            Text(r["variant"]),
            fmt_number(r.get("reference"), digits=2),
            fmt_number(r.get(headline), r.get(f"{headline}_std") if seeds > 1 else None),
            *(fmt_number(r.get(key)) for key in others),
            *(_timing(r) if trained else ()),
            _status_cell(r),
            *mark,
        )
    return table


def _status_cell(result: dict) -> Text:
    marks = [" · reused"] * bool(result.get("reused_from")) + [" · still improving"] * bool(
        result.get("still_improving")
    )
    return Text.assemble(status_text(result["status"]), *marks)


def record_tables(record: dict) -> list:
    """What a run prints: its results, the lesson in one sentence, the claims' verdicts,
    and why a number differs from the slide's."""
    parts: list = [results_table(record)]
    if sentence := lesson_sentence(record):
        parts.append(Text(sentence, style="bold"))
    if (claims := claims_table(record)) is not None:
        parts.append(claims)
    parts += [Text(f"why: {line}") for line in gap_lines(record)]
    return parts


def _timing(result: dict) -> tuple[str, str, str]:
    epochs = result.get("epochs")
    return "—" if epochs is None else str(epochs), _seconds(result.get("wall_s")), _seconds(result.get("compile_s"))


def claims_table(record: dict) -> Table | None:
    if not record.get("claims"):
        return None
    table = Table(title="the lesson's claims")
    for column in ("claim", "evidence", "verdict"):
        table.add_column(column)
    for c in record["claims"]:
        verdict = c["verdict"]
        table.add_row(
            Text(c["claim"]["text"]), Text(c["evidence"]), Text(verdict, style=VERDICT_STYLE.get(verdict, ""))
        )
    return table
