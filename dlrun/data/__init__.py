"""Datasets read from their standard distribution files."""

import os
from pathlib import Path


def named_data_dir(data_dir: Path | str | None) -> Path | None:
    """The folder the user named: `--data-dir`, else env DLRUN_DATA_DIR; None when neither.
    A folder named this way must hold the data: loaders never fall back from it."""
    chosen = data_dir if data_dir not in (None, "") else os.environ.get("DLRUN_DATA_DIR") or None
    return Path(chosen).expanduser().absolute() if chosen is not None else None
