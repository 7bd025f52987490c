"""The project's one Rich console. Everything the user reads goes through it.

With `--json`, stdout must carry the JSON record alone, so the CLI moves the console to
stderr (`output_to_stderr`) before anything else is printed.
"""

import contextlib
import os
import sys

from rich.console import Console
from rich.text import Text

console = Console(highlight=False)
if not console.is_terminal:  # pipes and CI: Rich would assume 80 columns and wrap the tables
    console.width = max(console.width, 150)


@contextlib.contextmanager
def output_to_stderr(enabled: bool = True):
    """Within the block, send all human-facing output (progress, tables, notices) to stderr,
    and what native libraries write to the stdout descriptor too (Gloo's connection line
    in a multi-host run), so that stdout carries the JSON alone."""
    if not enabled:
        yield
        return
    previous = console._file  # None means "whatever sys.stdout is at the time": keep that
    console.file = sys.stderr
    sys.stdout.flush()
    stdout_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(stdout_fd, 1)
        os.close(stdout_fd)
        console.file = previous


def notice(message: str) -> None:
    """A visible, yellow one-line notice (e.g. the data came from a small sample). The
    message is plain text: brackets in a path are printed, never read as markup."""
    console.print(Text.assemble(("notice: ", "yellow"), message), soft_wrap=True)


def to_stderr(message: str | Text) -> None:
    """A line of plain text on stderr, whatever the console is writing to, and even when it is quiet."""
    Console(stderr=True, highlight=False).print(Text(message) if isinstance(message, str) else message, soft_wrap=True)


def error(message: str) -> None:
    """A one-line error on stderr (plain text)."""
    to_stderr(Text.assemble(("error: ", "bold red"), message))
