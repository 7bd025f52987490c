"""`dlrun report`: from saved run records, a Markdown report (report.md, with the PNGs it
links to beside it) and one self-contained HTML page (report.html, images embedded) that
can be mailed or opened anywhere. Per lesson: ours vs the lecture, the verdict of each
claim, the learning curves, and any pictures the run saved in its folder."""

import shutil
from datetime import datetime, timezone
from pathlib import Path

from dlrun.errors import DlrunError
from dlrun.output import plots
from dlrun.output.records import find_records, load_record
from dlrun.output.report_html import html_page
from dlrun.output.report_text import Lesson, markdown

DEFAULT_RUNS = Path("runs")


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
    return [
        p
        for p in sorted(run_dir.rglob("*.png"))
        if p != run_dir / plots.CURVES_NAME and "checkpoints" not in p.relative_to(run_dir).parts
    ]


def _copy(picture: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.resolve() != picture.resolve():  # --out may be the run folder itself
        shutil.copyfile(picture, target)
    return target
