"""Datasets read from their standard distribution files.

Every loader follows one chain (`find_data`): the folder the user named (`--data-dir`,
else env DLRUN_DATA_DIR), which must hold the data; else the workplace's shared folders
beside the repository (`shared_folder`), unless the loader's DLRUN_NO_* variable is set;
else the loader's own fallback (generated data, or an error saying where to put the file).
"""

import os
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from dlrun.errors import DataError

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

Found = TypeVar("Found")


def named_data_dir(data_dir: Path | str | None) -> Path | None:
    """The folder the user named: `--data-dir`, else env DLRUN_DATA_DIR; None when neither.
    A folder named this way must hold the data: loaders never fall back from it."""
    chosen = data_dir if data_dir not in (None, "") else os.environ.get("DLRUN_DATA_DIR") or None
    return Path(chosen).expanduser().absolute() if chosen is not None else None


def shared_folder(*parts: str) -> tuple[Path, ...]:
    """A folder of the shared data beside the repository, e.g. `shared_folder("atis")`."""
    return (SHARED_DATA.joinpath(*parts),)


def find_data(
    data_dir: Path | str | None,
    find: Callable[[Path], Found | None],
    shared: Iterable[Path],
    skip_env: str,
    missing: Callable[[Path], str],
) -> Found | None:
    """What `find(folder)` finds along the chain of the module docstring, or None. A named
    folder without the data is a DataError with the message `missing(folder)`."""
    folder = named_data_dir(data_dir)
    if folder is not None:
        try:
            found = find(folder)
        except PermissionError as err:
            raise DataError(f"{err.filename or folder}: permission denied") from None
        if found is None:
            raise DataError(missing(folder))
        return found
    for candidate in () if skipped(skip_env) else shared:
        if (found := find(Path(candidate))) is not None:
            return found
    return None


def skipped(skip_env: str) -> bool:
    """Whether the shared folders are skipped (e.g. DLRUN_NO_ATIS=1)."""
    return bool(os.environ.get(skip_env))
