"""The intermediate format of a chunk's frames in S3: lossless video in Matroska.

Extract writes the input chunks, the model server reads them and writes the output chunks, encode reads
those. Requirements: lossless (or >= 48 dB PSNR), smaller than PNG frames, streaming both ways, exact frame
count, any size (odd too). Default: FFV1 (level 3, planar RGB ``gbrp``, slices and CRCs) in MKV, which is
bit-exact, needs no colour conversion and is about the size of PNG at a fraction of the CPU time;
``libx264rgb -qp 0`` (also bit-exact) is available as ``codec="x264rgb"`` and is much smaller for the
smooth synthesised frames but slower to encode. ``benchmarks``/tests measure both.

Frames are uint8 (H, W, 3) RGB.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from slowmo.errors import FFmpegError, InputError
from slowmo.ffmpeg import last_error_line, popen_ffmpeg, run_ffmpeg

EXTENSION = ".mkv"
CODECS: dict[str, list[str]] = {
    "ffv1": ["-c:v", "ffv1", "-level", "3", "-pix_fmt", "gbrp", "-g", "1", "-slices", "4", "-slicecrc", "1"],
    "x264rgb": ["-c:v", "libx264rgb", "-qp", "0", "-preset", "veryfast", "-pix_fmt", "rgb24"],
}
DEFAULT_CODEC = "ffv1"


@dataclass(frozen=True)
class ChunkInfo:
    path: str
    frame_count: int
    width: int
    height: int
    fps: Fraction
    codec: str
    size_bytes: int

    def to_dict(self) -> dict:
        return {
            "frame_count": self.frame_count, "width": self.width, "height": self.height,
            "fps": f"{self.fps.numerator}/{self.fps.denominator}", "codec": self.codec,
            "size_bytes": self.size_bytes,
        }


def _fps(fps) -> Fraction:
    f = Fraction(fps).limit_denominator(1_000_000) if not isinstance(fps, str) else Fraction(fps)
    if f <= 0:
        raise ValueError("fps must be positive")
    return f


def write_chunk(frames: Iterable[np.ndarray], path: str | os.PathLike, fps=30, *, codec: str = DEFAULT_CODEC) -> ChunkInfo:
    """Stream ``frames`` (all the same size) into a lossless chunk file; returns what was written."""
    if codec not in CODECS:
        raise ValueError(f"unknown chunk codec {codec!r}; choose from {sorted(CODECS)}")
    path = os.fspath(path)
    rate = _fps(fps)
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise InputError("cannot write an empty chunk (no frames)")
    height, width = _check(first, None)
    args = [
        "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
        "-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "pipe:0",
        "-an", *CODECS[codec], "-fps_mode", "passthrough", "-f", "matroska", path,
    ]
    count = 0
    with tempfile.TemporaryFile() as errf:
        proc = popen_ffmpeg(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errf)
        _grow_pipe(proc.stdin, width * height * 3)
        try:
            frame: np.ndarray | None = first
            while frame is not None:
                _check(frame, (height, width))
                proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).data)
                count += 1
                frame = next(it, None)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        rc = proc.wait()
        if rc != 0:
            errf.seek(0)
            raise FFmpegError(f"writing chunk {path} failed: {last_error_line(errf.read().decode(errors='replace'))}")
    return ChunkInfo(path, count, width, height, rate, codec, os.path.getsize(path))


def _grow_pipe(fileobj, want: int) -> None:
    """Let a whole frame sit in the pipe (Linux F_SETPIPE_SZ) so neither side waits on the other."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import fcntl

        fcntl.fcntl(fileobj.fileno(), 1031, min(max(want, 65536), 1 << 20))  # 1031 = F_SETPIPE_SZ
    except (OSError, ValueError, AttributeError):
        pass


def _check(frame: np.ndarray, size: tuple[int, int] | None) -> tuple[int, int]:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise InputError(f"chunk frames must be uint8 (H, W, 3) arrays, got {getattr(frame, 'shape', type(frame))}")
    if size is not None and frame.shape[:2] != size:
        raise InputError(f"frame size changed inside a chunk: {frame.shape[:2]} after {size}")
    return frame.shape[0], frame.shape[1]


_STREAM_RE = re.compile(r"Stream #\d+:\d+.*?: Video: .*?(\d{1,5})x(\d{1,5})")
_FPS_RE = re.compile(r"(\d+(?:\.\d+)?) (?:fps|tbr)")


def chunk_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of a chunk file, from ffmpeg's stream description."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"chunk file not found: {path}")
    proc = run_ffmpeg(["-i", path], check=False)
    m = _STREAM_RE.search(proc.stderr)
    if not m:
        raise InputError(f"not a readable video chunk: {path} ({last_error_line(proc.stderr)})")
    return int(m.group(1)), int(m.group(2))


def read_chunk(path: str | os.PathLike, *, start: int = 0, count: int | None = None) -> Iterator[np.ndarray]:
    """Stream the frames of a chunk file (uint8 (H, W, 3) RGB), optionally a [start, start+count) slice."""
    path = os.fspath(path)
    width, height = chunk_size(path)
    frame_bytes = width * height * 3
    args = ["-loglevel", "error", "-i", path, "-map", "0:v:0", "-fps_mode", "passthrough",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    with tempfile.TemporaryFile() as errf:
        proc = popen_ffmpeg(args, stdout=subprocess.PIPE, stderr=errf, bufsize=frame_bytes)
        _grow_pipe(proc.stdout, frame_bytes)
        index = 0
        try:
            while count is None or index < start + count:
                buf = _read_exact(proc.stdout, frame_bytes)
                if buf is None:
                    break
                if index >= start:
                    yield np.frombuffer(buf, dtype=np.uint8).reshape(height, width, 3)
                index += 1
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
            rc = proc.wait()
        finished = count is None or index < start + count
        if finished and rc != 0:
            errf.seek(0)
            raise FFmpegError(f"reading chunk {path} failed: {last_error_line(errf.read().decode(errors='replace'))}")


def _read_exact(stream, n: int) -> bytes | None:
    chunks = []
    got = 0
    while got < n:
        b = stream.read(n - got)
        if not b:
            break
        chunks.append(b)
        got += len(b)
    if got == 0:
        return None
    if got < n:
        raise FFmpegError(f"truncated frame in chunk ({got} of {n} bytes)")
    return b"".join(chunks)


def count_frames(path: str | os.PathLike) -> int:
    return sum(1 for _ in read_chunk(path))
