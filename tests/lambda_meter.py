"""Peak memory, peak /tmp and duration of each in-process Lambda invocation (Linux /proc sampling).

Lambda enforces MemorySize on the whole sandbox (the Python process and the ffmpeg it starts),
EphemeralStorage on /tmp and Timeout on the wall clock; moto enforces none of them. The handlers run
inside the pytest process here, so what is measured per invocation is the growth over the moment it
started: the process's resident set plus its child processes' (ffmpeg), and the bytes in the temp
directory, sampled every few milliseconds. Run with one invocation at a time (MapConcurrency 1) so
that growth belongs to one function.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MODEL_SERVER_TMP_PREFIX = "slowmo-req-"  # the model server's request folders: not a Lambda's /tmp


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def _tree_rss(pid: int) -> int:
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += _rss(current)
        stack += _children(current)
    return total


def _tmp_bytes(root: str) -> int:
    total = 0
    for name in os.listdir(root):
        if name.startswith(MODEL_SERVER_TMP_PREFIX):
            continue
        path = os.path.join(root, name)
        try:
            if os.path.isdir(path):
                for folder, _, files in os.walk(path):
                    total += sum(os.path.getsize(os.path.join(folder, f)) for f in files
                                 if os.path.exists(os.path.join(folder, f)))
            else:
                total += os.path.getsize(path)
        except OSError:
            pass
    return total


@dataclass
class Measurement:
    function: str
    memory_growth_bytes: int
    tmp_peak_bytes: int
    seconds: float


@dataclass
class LambdaMeter:
    interval: float = 0.005
    measurements: list[Measurement] = field(default_factory=list)

    @contextmanager
    def measure(self, function: str):
        root = tempfile.gettempdir()
        pid = os.getpid()
        base_rss, base_tmp = _tree_rss(pid), _tmp_bytes(root)
        peaks = {"rss": base_rss, "tmp": base_tmp}
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peaks["rss"] = max(peaks["rss"], _tree_rss(pid))
                peaks["tmp"] = max(peaks["tmp"], _tmp_bytes(root))
                done.wait(self.interval)

        sampler = threading.Thread(target=sample, daemon=True)
        start = time.perf_counter()
        sampler.start()
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            done.set()
            sampler.join()
            self.measurements.append(Measurement(function, peaks["rss"] - base_rss, peaks["tmp"] - base_tmp, seconds))

    def peaks(self) -> dict[str, dict[str, float]]:
        """Per function: invocations, peak memory growth (MiB), peak /tmp (MiB), longest duration (s)."""
        out: dict[str, dict[str, float]] = {}
        for m in self.measurements:
            row = out.setdefault(m.function, {"invocations": 0, "peak_memory_growth_mib": 0.0,
                                              "peak_tmp_mib": 0.0, "max_seconds": 0.0})
            row["invocations"] += 1
            row["peak_memory_growth_mib"] = max(row["peak_memory_growth_mib"], round(m.memory_growth_bytes / 2**20, 2))
            row["peak_tmp_mib"] = max(row["peak_tmp_mib"], round(m.tmp_peak_bytes / 2**20, 3))
            row["max_seconds"] = max(row["max_seconds"], round(m.seconds, 3))
        return out
