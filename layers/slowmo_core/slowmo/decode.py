"""Stream decoded frames out of a video: constant memory whatever the length."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from .errors import FFmpegError, InputError
from .ffmpeg import last_error_line, popen_ffmpeg
from .probe import VideoInfo


def decode_args(info: VideoInfo, *, fps: Fraction | None = None, max_frames: int | None = None, depth: int = 8) -> list[str]:
    """ffmpeg arguments that write upright RGB frames of info's video to stdout: RGB24, or RGB48 (16 bits
    per channel, little-endian) for depth 16.

    ffmpeg applies the rotation (autorotate), so frames come out as a viewer sees them. Without fps,
    every decoded frame comes out exactly once (-fps_mode passthrough: the raw muxer would otherwise
    duplicate or drop frames to hold a constant rate), the frames the probe counted and timed. fps,
    when given, resamples to that constant rate instead.
    """
    filters = []
    if fps is not None:
        filters.append(f"fps={fps.numerator}/{fps.denominator}")
    in_range = info.color.range or "tv"
    filters.append(f"scale=in_color_matrix={info.color.matrix}:in_range={in_range}:flags=bicubic")
    args = ["-loglevel", "error", "-i", info.path, "-map", "0:v:0", "-vf", ",".join(filters)]
    if fps is None:
        args += ["-fps_mode", "passthrough"]
    if max_frames is not None:
        args += ["-frames:v", str(max_frames)]
    return args + ["-pix_fmt", "rgb48le" if depth > 8 else "rgb24", "-f", "rawvideo", "-"]


def read_frames(
    info: VideoInfo, *, fps: Fraction | None = None, max_frames: int | None = None, depth: int = 8
) -> Iterator[np.ndarray]:
    """Yield the video's frames as (H, W, 3) RGB arrays, one at a time: uint8, or uint16 for depth 16.

    Raises InputError if ffmpeg fails to decode the stream part way (truncated or corrupt file).
    """
    height, width = info.height, info.width
    dtype = np.dtype("<u2") if depth > 8 else np.dtype(np.uint8)
    frame_bytes = width * height * 3 * dtype.itemsize
    with tempfile.TemporaryFile() as errors:
        proc = popen_ffmpeg(decode_args(info, fps=fps, max_frames=max_frames, depth=depth), stdout=subprocess.PIPE, stderr=errors, bufsize=frame_bytes)
        try:
            while True:
                buffer = bytearray(frame_bytes)
                view = memoryview(buffer)
                filled = 0
                while filled < frame_bytes:
                    n = proc.stdout.readinto(view[filled:])
                    if not n:
                        break
                    filled += n
                if filled < frame_bytes:
                    break
                yield np.frombuffer(buffer, dtype=dtype).reshape(height, width, 3)
        finally:
            if proc.poll() is None:
                proc.stdout.close()
                proc.kill()
            proc.wait()
        returncode = proc.returncode
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if returncode not in (0, None, -9) and filled == 0:
        raise FFmpegError(f"decoding {os.path.basename(info.path)} failed: {last_error_line(stderr)}")
    if "Invalid data" in stderr or "corrupt" in stderr.lower() or "error while decoding" in stderr.lower():
        raise InputError(f"{os.path.basename(info.path)}: video is corrupt or truncated mid-stream ({last_error_line(stderr)})")
