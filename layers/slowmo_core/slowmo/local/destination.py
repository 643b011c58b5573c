"""Where the output goes: refuse a destination that cannot be written before any work is done, and
turn a write that fails part way (disk full, quota) into one line.

The checks try what the run will really do (create the folder, create and delete a file in it)
rather than ask os.access: os.access says yes to root on a read-only mount and knows nothing of
/proc or a full disk.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from slowmo.errors import SlowmoError

# Room the longest name slowmo derives from the output's name needs beyond it: the staging name
# ".NAME.1234abcd.partial.mp4" and the work folder ".NAME.slowmo-work".
DERIVED_NAME_OVERHEAD = 24

# errno -> what a person reads. These are the failures of writing a file that the user can fix.
_WRITE_ERRORS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for this file system",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENAMETOOLONG: "file name too long",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENOENT: "the folder cannot be created there",
    errno.EEXIST: "a file is in the way",
    errno.EIO: "input/output error",
}


class OutputError(SlowmoError):
    """The destination cannot be written (bad path, no permission, read-only, full)."""


def describe(exc: OSError) -> str:
    return _WRITE_ERRORS.get(exc.errno, exc.strerror or str(exc))


def _name_max(directory: Path) -> int:
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or ".")


def check_destination(output: str | os.PathLike, *, sequence: bool) -> Path:
    """Make sure output can be written; return the folder slowmo writes into (created if needed).

    sequence: output is a folder of PNG frames (else a video file, written beside its final name).
    Raises OutputError with one line naming the path and the reason.
    """
    final = Path(output).absolute()
    folder = final if sequence else final.parent
    shown = str(output)
    existing = _nearest_existing(folder)
    if not os.path.isdir(existing):
        raise OutputError(f"cannot write {shown}: {existing} is a file, not a folder")
    if not sequence and os.path.isdir(final):
        raise OutputError(f"cannot write {shown}: it is a folder; end the name with / for PNG frames")
    limit = _name_max(existing)
    for part in final.relative_to(existing).parts:
        if len(os.fsencode(part)) > limit:
            raise OutputError(f"cannot write {shown}: the name {part[:24]}... is too long ({len(os.fsencode(part))} bytes; "
                              f"this file system allows {limit})")
    name = final.name
    if not sequence and len(os.fsencode(name)) + DERIVED_NAME_OVERHEAD > limit:
        raise OutputError(f"cannot write {shown}: the name is too long ({len(os.fsencode(name))} bytes; "
                          f"use at most {limit - DERIVED_NAME_OVERHEAD})")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe_path = tempfile.mkstemp(prefix=".slowmo-write-test-", dir=folder)
        os.close(handle)
        os.unlink(probe_path)
    except OSError as exc:
        raise OutputError(f"cannot write {shown}: {describe(exc)}") from None
    return folder


# Errors only a write can raise: whatever file they name, the run could not write its output.
_ONLY_ON_WRITE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


@contextmanager
def write_errors_as_one_line(output: str | os.PathLike, folder: str | os.PathLike) -> Iterator[None]:
    """Inside the block, a failed write (disk full, quota, permissions changed) becomes one line.

    folder is where the run writes: other errors (ENOENT, EACCES, ...) are translated only when they
    name a path inside it, so a problem elsewhere keeps its own message.
    """
    try:
        yield
    except OSError as exc:
        inside = exc.filename is not None and _is_within(Path(os.fsdecode(exc.filename)), Path(folder))
        if exc.errno not in _ONLY_ON_WRITE and not (inside and exc.errno in _WRITE_ERRORS):
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        raise OutputError(f"cannot write {output}: {describe(exc)}{where}; nothing was published") from None


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.absolute().relative_to(folder.absolute())
    except ValueError:
        return False
    return True
