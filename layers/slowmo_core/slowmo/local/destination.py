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


class OutputClash(SlowmoError):
    """An output would be the input, or another output of the same run (a mistake on the command line)."""


class OutputExists(SlowmoError):
    """An output already exists and overwriting it was not asked for (-y/--overwrite)."""


FRAME_PATTERN = "frame_*.png"


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether a and b name the same file: the same inode when both exist (hard links, symlinks, bind
    mounts), else the same absolute path once symlinks are resolved."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def _holds_frames(folder: Path) -> bool:
    try:
        return any(entry.suffix.lower() == ".png" for entry in folder.iterdir())
    except OSError:
        return False


def check_outputs(input_path: str | os.PathLike, outputs: list[tuple[str, str | os.PathLike, bool]], *,
                  overwrite: bool) -> None:
    """Refuse outputs that are the input or one another (OutputClash), and, without overwrite, outputs that
    already exist (OutputExists). outputs: (what, path, is_frames_folder) for -o, --compare, ...

    A frames folder clashes with a file inside it or with the folder holding the input only by its frames'
    names (frame_NNNNNN.png), so there it is the input or another output being one of those that counts.
    """
    for what, path, folder in outputs:
        if not folder and same_file(path, input_path):
            raise OutputClash(f"{what} {path} would overwrite the input {input_path} (the same file); choose another path")
        if folder and Path(input_path).resolve().parent == Path(path).resolve() \
                and Path(input_path).match(FRAME_PATTERN):
            raise OutputClash(f"{what} {path} would overwrite the input {input_path}; choose another folder")
    for n, (what, path, folder) in enumerate(outputs):
        for other_what, other, other_folder in outputs[n + 1:]:
            if folder == other_folder and same_file(path, other):
                raise OutputClash(f"{what} and {other_what} are the same file ({path}); choose two paths")
    if overwrite:
        return
    for _what, path, folder in outputs:
        if folder and _holds_frames(Path(path)):
            raise OutputExists(f"{path} already holds PNG frames; choose an empty folder, or add -y (--overwrite) "
                               "to replace them")
        if not folder and os.path.lexists(path) and not os.path.isdir(path):
            raise OutputExists(f"{path} already exists; add -y (--overwrite) to replace it")
