"""The work folder of a local run: its finished chunks, kept so that `--resume` redoes only the rest.

It lives next to the output (`.NAME.slowmo-work`) so it is on the same file system (the final
renames stay renames). Its `key.json` says what the chunks were made from: the input (path, size,
modification time), the options that change frames or their encoding, and the engine's version. A
resume with a different key starts afresh.

Nothing half-written is ever taken for finished, whatever stops the run (Ctrl-C, a crash, power loss):

- a chunk is rendered into a staging folder `tmp-INDEX-PID`, its files are flushed to disk
  (fsync), and the folder is renamed to `chunk-INDEX`;
- only then is its record `chunk-INDEX.json` written (to a temporary name, fsync, rename). The
  record lists every file with its size, and a chunk counts as finished only when its record exists
  and every file matches it. Staging folders and chunk folders without a record are removed on open.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

try:
    import fcntl
except ImportError:  # not on Windows: no lock, one run per output is then the user's care
    fcntl = None

from slowmo.errors import SlowmoError

KEY_FILE = "key.json"
WORK_SUFFIX = ".slowmo-work"


class WorkFolderBusy(SlowmoError):
    """Another slowmo run is writing the same output."""


def work_folder_for(output: str | os.PathLike, folder: str | os.PathLike) -> Path:
    return Path(folder) / f".{Path(output).name or 'frames'}{WORK_SUFFIX}"


def _fsync_path(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return  # some file systems cannot open a folder for fsync; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomically(path: Path, data: dict) -> None:
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temp, "w") as fh:
            json.dump(data, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    _fsync_path(path.parent, directory=True)


class ChunkStore:
    """Finished chunks of one run, by index."""

    def __init__(self, path: Path, key: dict):
        self.path = path
        self.key = key
        self._lock = None

    @classmethod
    def open(cls, path: Path, key: dict, *, resume: bool) -> tuple[ChunkStore, str | None]:
        """Open (resume) or create the work folder at path; returns the store and why it started afresh.

        Without resume, any earlier work at path is discarded. With resume, it is kept when its key is
        this run's key, else discarded with a reason (None when nothing needed saying).
        """
        store = cls(path, key)
        created = not path.exists()
        path.mkdir(exist_ok=True)
        try:
            store._take_lock()
        except BaseException:
            if created:
                shutil.rmtree(path, ignore_errors=True)
            raise
        try:
            reason = store._check_key() if resume else None
            if not resume or reason is not None:
                store._clear()
            write_json_atomically(path / KEY_FILE, key)
            store._remove_unfinished()
        except BaseException:  # e.g. a full disk: leave nothing behind
            store.remove()
            raise
        return store, reason

    def _take_lock(self) -> None:
        if fcntl is None:
            return
        self._lock = open(self.path / ".lock", "a")  # noqa: SIM115 - held for the run's lifetime
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            self._lock = None
            raise WorkFolderBusy(f"another slowmo run is writing this output (its work folder {self.path} is in use)") from None

    def _check_key(self) -> str | None:
        try:
            old = json.loads((self.path / KEY_FILE).read_text())
        except (OSError, ValueError):
            return "no earlier work to resume; starting from the beginning"
        if old == self.key:
            return None
        changed = sorted(k for k in set(old) | set(self.key) if old.get(k) != self.key.get(k))
        return f"the earlier work was made with a different {', '.join(changed)}; starting from the beginning"

    def _clear(self) -> None:
        for entry in self.path.iterdir():
            if entry.name == ".lock":
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def _remove_unfinished(self) -> None:
        finished = self.finished()
        for entry in self.path.iterdir():
            if entry.name.startswith(("tmp-", "in-")):
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
            elif entry.name.startswith("chunk-") and entry.is_dir() and int(entry.name[6:]) not in finished:
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith("chunk-") and entry.suffix == ".json" and int(entry.stem[6:]) not in finished:
                entry.unlink(missing_ok=True)

    def chunk_folder(self, index: int) -> Path:
        return self.path / f"chunk-{index:05d}"

    def _record_path(self, index: int) -> Path:
        return self.path / f"chunk-{index:05d}.json"

    def finished(self) -> dict[int, dict]:
        """index -> record of every chunk whose record exists and whose files all match it."""
        done = {}
        for record_path in sorted(self.path.glob("chunk-*.json")):
            try:
                record = json.loads(record_path.read_text())
                index = int(record["index"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            folder = self.chunk_folder(index)
            files = record.get("files") or {}
            if files and all(_size(folder / name) == size for name, size in files.items()):
                done[index] = record
        return done

    def staging_folder(self, index: int) -> Path:
        folder = self.path / f"tmp-{index:05d}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        folder.mkdir()
        return folder

    def commit(self, index: int, staging: Path, record: dict) -> dict:
        """Make a rendered chunk finished: flush its files, move it into place, then write its record."""
        from slowmo.local.chunkjob import chunk_files

        files = chunk_files(staging)
        for name in files:
            _fsync_path(staging / name)
        for root, _dirs, _names in os.walk(staging):
            _fsync_path(Path(root), directory=True)
        final = self.chunk_folder(index)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
        _fsync_path(self.path, directory=True)
        record = {**record, "files": files}
        write_json_atomically(self._record_path(index), record)
        return record

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
