"""Progress a person can read: frames done, output frames per second, and the time left.

On a terminal it is a live bar (tqdm). Anywhere else (a log file, CI, a pipe) a bar's carriage
returns turn into a wall of text, so it is one plain line at most every few seconds instead, plus a
last line when the run ends.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

LOG_INTERVAL_S = 5.0


def format_duration(seconds: float) -> str:
    """3725 -> '1h02m05s', 65 -> '1m05s', 4 -> '4s'."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class LogLines:
    """Progress as occasional lines: `slowmo: 1200/14400 frames (8%), 35.2 fps, ETA 6m15s`.

    initial counts frames already done before this run (a resumed run): they show in the count
    but not in the rate, which measures this run's own work.
    """

    def __init__(self, total: int, *, initial: int = 0, stream: TextIO | None = None,
                 interval_s: float = LOG_INTERVAL_S, clock: Callable[[], float] = time.monotonic):
        self.total = total
        self.done = initial
        self._initial = initial
        self._stream = stream if stream is not None else sys.stderr
        self._interval = interval_s
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self._printed: int | None = None  # the count the last line showed
        self._closed = False

    def update(self, n: int = 1) -> None:
        self.done += n
        now = self._clock()
        if now - self._last_line >= self._interval:
            self._last_line = now
            self._print(now)

    def close(self) -> None:
        """The last line, unless the last line printed already shows this count (the final update often
        falls on an interval, and printed `done` itself)."""
        if not self._closed:
            self._closed = True
            if self._printed != self.done:
                self._print(self._clock())

    def stop(self) -> None:
        """End without a last line: the run was interrupted or failed, and says so in its own line."""
        self._closed = True

    def line(self, now: float) -> str:
        elapsed = now - self._started
        fresh = self.done - self._initial
        rate = fresh / elapsed if elapsed > 0 else 0.0
        percent = 100 * self.done // self.total if self.total else 100
        text = f"slowmo: {self.done}/{self.total} frames ({percent}%), {rate:.1f} fps"
        if self.done >= self.total:
            return f"{text}, done in {format_duration(elapsed)}"
        if rate > 0:
            return f"{text}, ETA {format_duration((self.total - self.done) / rate)}"
        return f"{text}, ETA unknown"

    def _print(self, now: float) -> None:
        self._printed = self.done
        print(self.line(now), file=self._stream, flush=True)


def terminal_bar(total: int, *, initial: int = 0, stream: TextIO | None = None):
    from tqdm import tqdm

    # tqdm's rate excludes `initial`, so a resumed run's ETA comes from its own speed.
    return tqdm(total=total, initial=initial, unit=" frames", dynamic_ncols=True, smoothing=0.1, file=stream or sys.stderr,
                bar_format="{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{rate_fmt}, {elapsed} elapsed, ETA {remaining}]")


def progress_factory(*, quiet: bool = False, stream: TextIO | None = None):
    """A factory `(total, initial=0) -> object with update(n) and close()`, or None for no progress."""
    if quiet:
        return None
    stream = stream if stream is not None else sys.stderr
    if stream.isatty():
        return lambda total, initial=0: terminal_bar(total, initial=initial, stream=stream)
    return lambda total, initial=0: LogLines(total, initial=initial, stream=stream)
