"""The lesson in words: "still improving" marks, the lesson sentence and the reasons a
number differs from the slide, the same in the terminal, Markdown and HTML."""

from rich.console import Console

from dlrun.output.lessons import differs_from_lecture, gap_lines, still_improving
from dlrun.output.report_html import html_page
from dlrun.output.report_text import Lesson, record_markdown
from dlrun.output.tables import record_tables


def epochs(values: list[float], key: str = "test_accuracy") -> list[dict]:
    return [{key: [v, v]} for v in values]  # two seeds that agree


def test_still_improving_is_a_rise_over_the_last_three_epochs():
    assert still_improving(epochs([0.1, 0.1, 0.1, 0.2, 0.3, 0.45]), "test_accuracy")  # +0.35
    assert not still_improving(epochs([0.1, 0.8, 0.905, 0.908, 0.91, 0.912]), "test_accuracy")  # +0.007
    assert not still_improving(epochs([0.1, 0.5, 0.9]), "test_accuracy")  # too short to say
    assert not still_improving(epochs([0.9, 0.8, 0.7, 0.6]), "test_accuracy")  # falling
    # A reconstruction error (smaller is better) improves when it falls by more than 1%.
    assert still_improving(epochs([100.0, 90.0, 80.0, 70.0], "test_recon"), "test_recon")
    assert not still_improving(epochs([70.4, 70.3, 70.2, 70.1], "test_recon"), "test_recon")


def record() -> dict:
    results = [
        {"variant": "plateau[<b>]", "status": "ok", "test_accuracy": 0.38, "test_accuracy_std": 0.05,
         "reference": 0.11, "gap_reason": "a plateau left at a seed-dependent epoch", "still_improving": True,
         "seeds": [0, 1], "epochs": 20, "wall_s": 1.0},
        {"variant": "close", "status": "ok", "test_accuracy": 0.85, "test_accuracy_std": 0.01, "reference": 0.84,
         "gap_reason": "never shown", "seeds": [0, 1], "epochs": 20, "wall_s": 1.0},
    ]  # fmt: skip
    return {"command": "compare", "name": "losses", "data": {"source": "test"}, "results": results,
            "lesson": "Square error barely learns [bold]where[/] cross-entropy does.", "claims": []}  # fmt: skip


def test_a_number_differs_beyond_two_std_and_the_slides_rounding():
    plateau, close = record()["results"]
    assert differs_from_lecture(plateau, "test_accuracy")  # 0.27 away, 2 std = 0.10
    assert not differs_from_lecture(close, "test_accuracy")  # 0.01 away: within 2 std and the rounding
    [line] = gap_lines(record())
    assert line == (
        "plateau[<b>]: 0.38 here, 0.11 on the slide — a plateau left at a seed-dependent epoch; "
        "it was still improving when training stopped"
    )


def test_a_run_off_the_lectures_settings_says_so_first():
    shortened = record() | {"request": {"overrides": {"epochs": 3, "train_size": None, "precision": "bf16"}}}
    [line] = gap_lines(shortened)
    assert line.startswith("plateau[<b>]: 0.38 here, 0.11 on the slide — this run sets --epochs 3, --precision bf16; ")
    assert gap_lines(record() | {"request": {"overrides": "hostile"}}) == gap_lines(record())


def test_the_terminal_markdown_and_html_say_the_same(tmp_path):
    console = Console(width=200, record=True, file=open("/dev/null", "w"))
    for part in record_tables(record()):
        console.print(part)
    terminal = console.export_text()
    assert "The lesson: Square error barely learns [bold]where[/] cross-entropy does." in terminal  # not markup
    assert "why: plateau[<b>]: 0.38 here, 0.11 on the slide" in terminal
    assert "ok · still improving" in terminal
    markdown = record_markdown(record())
    assert "**The lesson: Square error barely learns" in markdown and "- why: plateau" in markdown
    assert "ok · still improving" in markdown
    page = html_page([Lesson(record(), "run", [])], "now", tmp_path)
    assert '<p class="lesson">The lesson: Square error barely learns [bold]where[/] cross-entropy does.</p>' in page
    assert "<li>why: plateau[&lt;b&gt;]: 0.38 here" in page  # escaped
