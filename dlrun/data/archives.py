"""The members a loader needs from a distribution's tarball, read in memory (nothing is
extracted to disk) and bounded: the archive's size, the number and declared sizes of the
members passed over, and the size of each member read, checked against its header before
any of it is read."""

import tarfile
import zlib
from pathlib import Path
from typing import Callable, Hashable, NamedTuple, TypeVar

from dlrun.errors import DataError
from dlrun.files import check_size

Key = TypeVar("Key", bound=Hashable)


class Bounds(NamedTuple):
    archive_mb: float  # the tarball file itself
    member_mb: float  # one member that is read
    total_mb: float  # the declared sizes of every member passed over, read or not
    members: int  # members passed over


def read_members(
    path: Path, pick: Callable[[tarfile.TarInfo], Key | None], bounds: Bounds, what: str, wanted: int | None = None
) -> dict[Key, tuple[bytes, str]]:
    """{key: (bytes, "path:member")} of the regular-file members that `pick` gives a key
    (the first member of each key), in one pass that stops once `wanted` keys are found.
    One DataError line naming the file when it is not a readable tarball or is over
    `bounds`; `what` names the archive in messages ("a bAbI archive")."""
    check_size(path, bounds.archive_mb, what)
    found: dict[Key, tuple[bytes, str]] = {}
    passed = 0
    try:
        with tarfile.open(path, "r:*") as tar:
            for count, member in enumerate(tar, 1):
                if count > bounds.members:
                    raise DataError(f"{path}: more than {bounds.members:,} members, over dlrun's limit for {what}")
                passed += member.size
                if passed > bounds.total_mb * 10**6:
                    raise DataError(f"{path}: more than {bounds.total_mb:,} MB inside, over dlrun's limit for {what}")
                key = pick(member) if member.isfile() else None
                if key is None or key in found:
                    continue
                found[key] = _read_member(tar, member, path, bounds.member_mb), f"{path}:{member.name}"
                if len(found) == wanted:
                    break
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        why = " ".join(str(err).split())  # one line: tarfile lists each compression it tried on a line of its own
        raise DataError(f"{path}: not a readable .tar.gz archive ({type(err).__name__}: {why})") from None
    return found


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path, limit_mb: float) -> bytes:
    limit = int(limit_mb * 10**6)
    if member.size > limit:
        raise DataError(f"{path}: {member.name} is {member.size:,} bytes, over dlrun's limit of {limit_mb} MB")
    return tar.extractfile(member).read(limit + 1)
