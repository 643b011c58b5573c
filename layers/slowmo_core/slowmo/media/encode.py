"""Write frames as an H.264/H.265 MP4 (or a lossless PNG sequence) with the bundled ffmpeg."""

from __future__ import annotations

import os
import queue
import subprocess
import tempfile
import threading
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from slowmo.errors import FFmpegError, InputError
from slowmo.media.ffmpeg import last_error_line, popen_ffmpeg
from slowmo.media.probe import ColorTags

VIDEO_CODECS = {
    "h264": ["-c:v", "libx264"],
    # hvc1 is the tag Apple players require for HEVC in MP4.
    "h265": ["-c:v", "libx265", "-tag:v", "hvc1", "-x265-params", "log-level=error"],
}


def even_size(width: int, height: int) -> tuple[int, int]:
    """4:2:0 chroma needs even sizes: odd ones grow by one row/column (edge repeated, never scaled)."""
    return width + (width & 1), height + (height & 1)


def color_filter(color: ColorTags | None) -> str | None:
    """A setparams filter that tags the output frames with the source's colour description.

    Tags are set on the frames rather than as encoder options: ffmpeg takes the frames' own
    properties over -color_primaries/-color_trc, and raw RGB input frames carry none.
    """
    if color is None:
        return None
    params = []
    if color.primaries:
        params.append(f"color_primaries={color.primaries}")
    if color.transfer:
        params.append(f"color_trc={color.transfer}")
    if color.space:
        params.append(f"colorspace={color.space}")
    if color.range:
        params.append(f"range={color.range}")
    return f"setparams={':'.join(params)}" if params else None


def encode_args(
    path: str,
    width: int,
    height: int,
    fps: Fraction,
    *,
    codec: str = "h264",
    crf: int = 18,
    preset: str = "medium",
    color: ColorTags | None = None,
    container_format: str | None = None,
    threads: int | None = None,
    depth: int = 8,
) -> list[str]:
    """ffmpeg arguments reading RGB frames of width x height on stdin and writing a video to path.

    threads caps the encoder's threads (a local parallel run gives each worker its share of the cores).
    depth 8: RGB24 in, 8-bit 4:2:0 out. depth 16: RGB48 (16 bits per channel) in, 10-bit 4:2:0 out:
    HEVC Main10 for codec auto/h265, H.264 High 10 for h264. The colour tags are set on the frames
    either way, so PQ and HLG stay HDR.
    """
    from slowmo.options import output_codec

    codec = output_codec(codec, depth)
    if codec not in VIDEO_CODECS:
        raise InputError(f"codec must be one of {', '.join(VIDEO_CODECS)}, got {codec!r}")
    out_w, out_h = even_size(width, height)
    fps = Fraction(fps)
    matrix = color.matrix if color else "bt601"
    out_range = (color.range if color else None) or "tv"
    out_format = "yuv420p10le" if depth > 8 else "yuv420p"
    filters = [f"scale=out_color_matrix={matrix}:out_range={out_range}:flags=bicubic", f"format={out_format}"]
    if tags := color_filter(color):
        filters.append(tags)
    args = [
        "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb48le" if depth > 8 else "rgb24", "-s", f"{out_w}x{out_h}",
        "-framerate", f"{fps.numerator}/{fps.denominator}", "-i", "-",
        "-vf", ",".join(filters),
        *VIDEO_CODECS[codec], "-preset", preset, "-crf", str(crf),
        # A track timescale that is a multiple of the rate keeps every timestamp exact at 480 fps and up.
        "-video_track_timescale", str(_timescale(fps)),
        "-movflags", "+faststart", "-an",
    ]
    if threads:
        args += ["-threads", str(threads)]
    if container_format:
        args += ["-f", container_format]
    return args + ["-y", path]


def _timescale(fps: Fraction) -> int:
    scale = fps.numerator
    while scale < 10000:
        scale *= 2
    return scale


class VideoWriter:
    """Context manager: `with VideoWriter(path, w, h, fps) as w: w.write(frame)`.

    A thread feeds ffmpeg's stdin from a queue of at most QUEUE_FRAMES frames, so synthesis and
    encoding overlap while memory stays bounded. On an exception the partial file is deleted.
    """

    QUEUE_FRAMES = 4

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: Fraction, **options):
        self.path = str(path)
        self.dtype = np.uint16 if options.get("depth", 8) > 8 else np.uint8
        self.width, self.height = width, height
        self.out_width, self.out_height = even_size(width, height)
        self.frames_written = 0
        self._args = encode_args(self.path, width, height, Fraction(fps), **options)
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        self._queue: queue.Queue = queue.Queue(maxsize=self.QUEUE_FRAMES)
        self._thread: threading.Thread | None = None
        self._broken = False

    def __enter__(self) -> VideoWriter:
        self._stderr = tempfile.TemporaryFile()
        self._proc = popen_ffmpeg(self._args, stdin=subprocess.PIPE, stderr=self._stderr)
        self._thread = threading.Thread(target=self._feed, name="slowmo-encode", daemon=True)
        self._thread.start()
        return self

    def _feed(self) -> None:
        while (frame := self._queue.get()) is not None:
            if self._broken:
                continue  # drain so the producer never blocks on a dead encoder
            try:
                self._proc.stdin.write(frame.data)
            except (BrokenPipeError, OSError):
                self._broken = True

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.height, self.width, 3) or frame.dtype != self.dtype:
            raise ValueError(f"expected a {self.width}x{self.height} RGB {np.dtype(self.dtype).name} frame, "
                             f"got {frame.shape} {frame.dtype}")
        if (self.out_width, self.out_height) != (self.width, self.height):
            frame = np.pad(frame, ((0, self.out_height - self.height), (0, self.out_width - self.width), (0, 0)), mode="edge")
        if self._broken:
            self._fail()
        self._queue.put(np.ascontiguousarray(frame))
        self.frames_written += 1

    def _fail(self):
        self._proc.wait()
        self._stderr.seek(0)
        message = last_error_line(self._stderr.read().decode(errors="replace"))
        raise FFmpegError(f"encoding {os.path.basename(self.path)} failed: {message}")

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self._broken = True  # stop writing; the thread drains what is queued
        self._queue.put(None)
        self._thread.join()
        try:
            self._proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        if exc_type is not None:
            self._proc.kill()
            self._proc.wait()
            self._stderr.close()
            Path(self.path).unlink(missing_ok=True)
            return False
        if self._proc.wait() != 0 or self._broken:
            try:
                self._fail()
            finally:
                Path(self.path).unlink(missing_ok=True)
        self._stderr.close()
        return False


class PngSequenceWriter:
    """Lossless numbered PNG frames (frame_000000.png, ...) in a directory.

    first_number numbers the first frame written (a chunk of a run writes its own part of the sequence).
    """

    def __init__(self, directory: str | os.PathLike, width: int, height: int, fps: Fraction | None = None, *,
                 first_number: int = 0, **_ignored):
        self.directory = Path(directory)
        self.width, self.height = width, height
        self.frames_written = 0
        self._first_number = first_number

    def __enter__(self) -> PngSequenceWriter:
        self.directory.mkdir(parents=True, exist_ok=True)
        return self

    def write(self, frame: np.ndarray) -> None:
        name = self.directory / f"frame_{self._first_number + self.frames_written:06d}.png"
        if not cv2.imwrite(str(name), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1]):
            raise FFmpegError(f"could not write {name}")
        self.frames_written += 1

    def __exit__(self, exc_type, exc, tb):
        return False
