"""`dlrun report`: from saved run records, a Markdown report (report.md, with the PNGs it
links to beside it) and one self-contained HTML page (report.html, images embedded) that
can be mailed or opened anywhere. Per lesson: ours vs the lecture, the verdict of each
claim, the learning curves, and any pictures the run saved in its folder.

A record that cannot be read is skipped with a notice. Pictures are copied only when they
are regular files (never through a link, never a FIFO or a device) of at most
MAX_PICTURE_BYTES; each lesson gets a folder of its own in the report folder, even when
two runs in different places have the same folder name."""

import os
import stat
from datetime import datetime, timezone
from pathlib import Path

from dlrun.console import notice
from dlrun.errors import DlrunError
from dlrun.output import plots
from dlrun.output.records import MAX_PICTURE_BYTES, Refused, check_regular, find_records, load_record, read_regular
from dlrun.output.report_html import html_page
from dlrun.output.report_text import Lesson, markdown, unique_names

DEFAULT_RUNS = Path("runs")
REPORT_FILES = frozenset({"report.md", "report.html"})  # no lesson folder may take these names


def write_report(paths: list[Path], out: Path) -> tuple[Path, Path]:
    """Write OUT/report.md (+ OUT/<run id>/*.png) and OUT/report.html; PATHS default to runs/."""
    paths = paths or [DEFAULT_RUNS]
    records = []
    for path in find_records(paths):
        try:
            records.append((path, load_record(path)))
        except DlrunError as e:
            notice(f"skipped: {e}")
    if not records:
        raise DlrunError(f"no readable run record in {', '.join(map(str, paths))} (see the notices above)")
    records = [(path, record) for path, record in records if not _superseded(record, records)]
    run_ids = [_folder_name(path.parent) for path, _ in records]
    folders = unique_names(run_ids, taken=REPORT_FILES)  # two runs of the same name from different places
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    try:
        out.mkdir(parents=True, exist_ok=True)
        lessons = [
            Lesson(record, run_id, collect_pictures(record, path.parent, out / folder, out))
            for (path, record), run_id, folder in zip(records, run_ids, folders)
        ]
        (out / "report.md").write_text(markdown(lessons, stamp))
        (out / "report.html").write_text(html_page(lessons, stamp, out))
    except OSError as e:
        raise DlrunError(f"cannot write the report to {out}: {e.strerror or e}") from None
    return out / "report.md", out / "report.html"


def _superseded(record: dict, records: list[tuple[Path, dict]]) -> bool:
    """An unfinished run that a later run of the same command finished (`--needed` after an
    interrupt): the report shows the finished one only."""
    if record.get("complete") is not False:
        return False
    same = (record["command"], record["name"])
    return any(
        (other["command"], other["name"]) == same
        and other.get("complete")
        and (other.get("started") or 0) > (record.get("started") or 0)
        for _, other in records
    )


def _folder_name(run_dir: Path) -> str:
    """The run folder's name ("." and ".." resolved: `report record.json` names the current folder)."""
    return Path(os.path.abspath(run_dir)).name or "run"


def collect_pictures(record: dict, run_dir: Path, dest: Path, out: Path) -> list[tuple[str, Path]]:
    """Copy the run's curves (redrawn from the record when the folder has none, e.g. an
    older run) and every other PNG it saved (filters, samples) into DEST."""
    dest.mkdir(parents=True, exist_ok=True)
    pictures = []
    curves = run_dir / plots.CURVES_NAME
    if os.path.lexists(curves):
        if safe_picture(curves) and _copy(curves, dest / plots.CURVES_NAME):
            pictures.append(("learning curves", dest / plots.CURVES_NAME))
    elif _clear(dest / plots.CURVES_NAME) and plots.save_curves(record, dest) is not None:
        pictures.append(("learning curves", dest / plots.CURVES_NAME))
    for png in family_pictures(run_dir):
        name = png.relative_to(run_dir).as_posix()
        if _copy(png, dest / name):
            pictures.append((name, dest / name))
    return [(caption, path.relative_to(out)) for caption, path in pictures]


def safe_picture(path: Path) -> bool:
    """PATH is a regular file (not a link, FIFO or device) of at most MAX_PICTURE_BYTES;
    a notice says why not otherwise."""
    try:
        check_regular(path, MAX_PICTURE_BYTES)
    except Refused as e:
        notice(f"picture {path} skipped: {e}")
        return False
    return True


def family_pictures(run_dir: Path) -> list[Path]:
    """Every PNG a run left in its folder (filters, samples...) except the curves and
    anything in its checkpoints; links are not followed, and only regular files of at
    most MAX_PICTURE_BYTES are kept."""
    found = []
    for folder, subfolders, files in os.walk(run_dir, followlinks=False):
        subfolders[:] = sorted(
            s for s in subfolders if s not in ("checkpoints", "models", "events")
        )  # links: never walked
        found += [Path(folder, f) for f in files if f.endswith(".png")]
    return [p for p in sorted(found) if p != run_dir / plots.CURVES_NAME and safe_picture(p)]


def _clear(target: Path) -> bool:
    """Make room for a new file at TARGET: a link or other non-file left there (in the
    report folder) is removed, never written through; False when a folder is in the way."""
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return True
    if stat.S_ISDIR(mode):
        notice(f"{target} is a folder; no picture written there")
        return False
    target.unlink()
    return True


def _copy(picture: Path, target: Path) -> bool:
    """Copy a checked picture to TARGET (read with the size bound); True when it is there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(target) and os.path.samestat(
        os.lstat(target), os.lstat(picture)
    ):  # --out may be the run folder itself
        return True
    try:
        data = read_regular(picture, MAX_PICTURE_BYTES)
    except Refused as e:
        notice(f"picture {picture} skipped: {e}")
        return False
    if not _clear(target):
        return False
    target.write_bytes(data)
    return True
