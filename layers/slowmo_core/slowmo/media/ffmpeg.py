"""The one place that starts ffmpeg: the binary bundled with imageio-ffmpeg, always an argument list."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Sequence

from slowmo.errors import FFmpegError


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: $SLOWMO_FFMPEG if set, else the one imageio-ffmpeg bundles."""
    override = os.environ.get("SLOWMO_FFMPEG")
    if override:
        return override
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_command(args: Sequence[str]) -> list[str]:
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", *args]


_CONTEXT_PREFIX = re.compile(r"^(?:\[[^\]]+ @ 0x[0-9a-f]+\]\s*)+")


def last_error_line(stderr: str) -> str:
    """ffmpeg's last meaningful line, without its '[h264 @ 0x...]' context prefix."""
    lines = [
        _CONTEXT_PREFIX.sub("", line.strip())
        for line in stderr.splitlines()
        if line.strip() and not line.strip().startswith("Last message repeated")
    ]
    return lines[-1] if lines else "no output"


def run_ffmpeg(args: Sequence[str], *, timeout: float | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ffmpeg to completion; on failure raise FFmpegError with ffmpeg's own last line."""
    proc = subprocess.run(  # noqa: S603 - argument list, no shell
        ffmpeg_command(args), capture_output=True, text=True, errors="replace", timeout=timeout,
        start_new_session=True,  # see popen_ffmpeg: Ctrl-C is slowmo's to handle (run kills ffmpeg on any exception)
    )
    if check and proc.returncode != 0:
        raise FFmpegError(f"ffmpeg failed: {last_error_line(proc.stderr)}")
    return proc


def popen_ffmpeg(args: Sequence[str], *, stdin=None, stdout=None, stderr=None, bufsize: int = -1) -> subprocess.Popen:
    """ffmpeg in a session of its own: a terminal's Ctrl-C goes to slowmo's process group only, so the run sees
    the interrupt (exit 130, work kept for --resume) instead of racing a child that died of it first ("decoding
    failed: no output", exit 1). The readers and writers kill their ffmpeg when they stop early."""
    return subprocess.Popen(  # noqa: S603 - argument list, no shell
        ffmpeg_command(args), stdin=stdin, stdout=stdout, stderr=stderr, bufsize=bufsize, start_new_session=True
    )
