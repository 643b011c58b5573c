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


class SavedWorkKept(SlowmoError):
    """A run would discard the saved chunks of an interrupted run; they are kept and the run refused."""


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
        return f"{key_difference(old, self.key)}; starting from the beginning"

    @classmethod
    def inspect(cls, path: Path, key: dict) -> tuple[int, str | None]:
        """Without changing anything: how many finished chunks the work folder at path holds, and why they
        cannot be reused by a run with this key (None: they can). Raises WorkFolderBusy while a run holds it."""
        if not path.is_dir():
            return 0, None
        store = cls(path, key)
        if (path / ".lock").exists():
            try:
                store._lock = open(path / ".lock", "a")  # noqa: SIM115 - closed below
            except OSError:
                store._lock = None
            if store._lock is not None and fcntl is not None:
                try:
                    fcntl.flock(store._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    store.close()
                    raise WorkFolderBusy(f"another slowmo run is writing this output (its work folder {path} "
                                         "is in use)") from None
            store.close()
        saved = len(store.finished())
        if not saved:
            return 0, None
        try:
            old = json.loads((path / KEY_FILE).read_text())
        except (OSError, ValueError):
            return saved, "its key.json is missing or damaged"
        return saved, None if old == key else key_difference(old, key)

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


def key_difference(old: dict, new: dict) -> str:
    """What differs between two keys, as a person reads it: 'it was made with factor 8 (now 4)'."""
    details = []
    old_options, new_options = old.get("options") or {}, new.get("options") or {}
    for name in sorted(set(old_options) | set(new_options)):
        if old_options.get(name) != new_options.get(name):
            details.append(f"{name} {old_options.get(name)} (now {new_options.get(name)})")
    if (old.get("input") or {}) != (new.get("input") or {}):
        details.append("another input, or the input changed since")
    if old.get("output") != new.get("output"):
        details.append(f"{old.get('output')} output (now {new.get('output')})")
    for part, label in (("engine", "another engine version"), ("chunk_frames", "other --chunk-frames")):
        if old.get(part) != new.get(part):
            details.append(label)
    if not details and old.get("plan") != new.get("plan"):
        details.append("another plan (slowmo's planner changed)")
    return "it was made with " + ", ".join(details or ["other settings"])


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
