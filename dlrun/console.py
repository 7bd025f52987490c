"""The project's one Rich console. Everything the user reads goes through it.

With `--json`, stdout must carry the JSON record alone, so the CLI moves the console to
stderr (`output_to_stderr`) before anything else is printed.
"""

import contextlib
import sys

from rich.console import Console

console = Console(highlight=False)
if not console.is_terminal:  # pipes and CI: Rich would assume 80 columns and wrap the tables
    console.width = max(console.width, 150)


@contextlib.contextmanager
def output_to_stderr(enabled: bool = True):
    """Within the block, send all human-facing output (progress, tables, notices) to stderr."""
    previous = console._file  # None means "whatever sys.stdout is at the time": keep that
    if enabled:
        console.file = sys.stderr
    try:
        yield
    finally:
        console.file = previous


def notice(message: str) -> None:
    """A visible, yellow one-line notice (e.g. the data came from a small sample)."""
    console.print(f"[yellow]notice:[/] {message}", soft_wrap=True)


def error(message: str) -> None:
    """A one-line error on stderr, whatever the console is writing to."""
    Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {message}", soft_wrap=True)
