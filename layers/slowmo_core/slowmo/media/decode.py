"""Stream decoded frames out of a video: constant memory whatever the length."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from slowmo.errors import FFmpegError, InputError
from slowmo.media.ffmpeg import ffmpeg_command, last_error_line, popen_ffmpeg
from slowmo.media.probe import VideoInfo


def to_rgb_filter(video) -> str:
    """The scale filter that turns the decoded YUV into RGB with the matrix and range the video is tagged with;
    untagged, the matrix a player assumes for its size (ColorTags.matrix_for)."""
    matrix = video.color.matrix_for(video.coded_width, video.coded_height)
    rgb = f"scale=in_color_matrix={matrix}:in_range={video.color.range or 'tv'}:flags=bicubic"
    deinterlace = getattr(video, "deinterlace", None)  # interlaced input: fields first (slowmo.media.interlace)
    return f"{deinterlace},{rgb}" if deinterlace else rgb


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
    filters.append(to_rgb_filter(info))
    args = ["-loglevel", "error", "-i", info.path, "-map", "0:v:0", "-vf", ",".join(filters)]
    if fps is None:
        args += ["-fps_mode", "passthrough"]
    if max_frames is not None:
        args += ["-frames:v", str(max_frames)]
    return args + ["-pix_fmt", "rgb48le" if depth > 8 else "rgb24", "-f", "rawvideo", "-"]


def _read_exactly(stream, size: int) -> bytearray:
    """``size`` bytes from a pipe, or fewer at its end (a partial frame means ffmpeg stopped mid-frame)."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    filled = 0
    while filled < size:
        n = stream.readinto(view[filled:])
        if not n:
            del view
            return buffer[:filled]
        filled += n
    return buffer


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
                buffer = _read_exactly(proc.stdout, frame_bytes)
                filled = len(buffer)
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


def timed_decode_args(video, source: str, *, seek: Fraction | None, timing_fd: int, depth: int = 8) -> list[str]:
    """ffmpeg arguments that write upright RGB frames of ``source`` to stdout, as decode_args does, and each
    frame's presentation time on the file's clock to file descriptor ``timing_fd`` (framecrc lines).

    The decoder runs once and feeds both outputs, so the n-th frame and the n-th time belong together.
    ``-copyts`` keeps the file's own timestamps (those the probe timed), ``-seek_timestamp 1`` takes the
    seek as such a timestamp, and ``-noaccurate_seek`` keeps every frame from the key packet ffmpeg lands on:
    the caller chooses which to keep by their times (slowmo.timeline.ranges)."""
    args = ["-loglevel", "error", "-copyts"]
    if seek is not None:
        args += ["-seek_timestamp", "1", "-noaccurate_seek", "-ss", f"{float(seek):.9f}"]
    args += ["-i", source,
             "-map", "0:v:0", "-vf", to_rgb_filter(video),
             "-fps_mode", "passthrough", "-pix_fmt", "rgb48le" if depth > 8 else "rgb24", "-f", "rawvideo", "pipe:1",
             "-map", "0:v:0", "-vf", "crop=2:2:0:0", "-fps_mode", "passthrough", "-enc_time_base", "demux",
             "-f", "framecrc", f"pipe:{timing_fd}"]
    return args


DAMAGE_WORDS = ("invalid data", "corrupt", "error while decoding", "partial file", "truncat", "stream ends prematurely")


def read_timed_frames(video, source: str, *, seek: Fraction | None = None, clean_from: int | None = None,
                      depth: int = 8, name: str | None = None) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield (pts, duration, frame) for every frame the decoder delivers from ``seek`` (seconds on the file's
    clock, None: from the start) to the end of ``source`` (a path or URL), pts and duration in the video
    stream's timebase. Stop iterating to stop decoding. ``video`` is a VideoInfo or probe.Container.

    Raises InputError when the decoder reports damage (the probe's rule), FFmpegError when ffmpeg fails.
    After a seek, damage reported before the decoder has shown a frame at or after ``clean_from`` (the key
    packet after the seek point, slowmo.timeline.ranges.clean_point) belongs to the pre-roll: an open GOP's leading
    pictures reference a GOP the decoder never saw. The caller keeps none of those frames."""
    import threading

    name = name or os.path.basename(source)
    height, width = video.height, video.width
    dtype = np.dtype("<u2") if depth > 8 else np.dtype(np.uint8)
    frame_bytes = width * height * 3 * dtype.itemsize
    read_fd, write_fd = os.pipe()
    stamps: list[tuple[int, int] | None] = []
    lock = threading.Condition()
    clean = [seek is None or clean_from is None]  # set once the decoder has shown a frame past the pre-roll
    damage: list[str] = []
    stderr_lines: list[str] = []
    try:
        proc = subprocess.Popen(  # noqa: S603 - argument list, no shell
            ffmpeg_command(timed_decode_args(video, source, seek=seek, timing_fd=write_fd, depth=depth)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=frame_bytes, pass_fds=(write_fd,))
    finally:
        os.close(write_fd)

    # ffmpeg writes the frames, their times and its messages as it decodes: the times and the messages are
    # read on their own threads so that no pipe fills while another is waited on
    def read_times():
        with os.fdopen(read_fd, "r") as timing:
            for line in timing:
                if line.startswith("0,"):
                    fields = line.split(",")
                    pts = int(fields[2])
                    with lock:
                        if clean_from is not None and pts >= clean_from:
                            clean[0] = True
                        stamps.append((pts, int(fields[3])))
                        lock.notify_all()
        with lock:
            stamps.append(None)
            lock.notify_all()

    def read_errors():
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            with lock:
                stderr_lines.append(line)
                if clean[0] and any(word in line.lower() for word in DAMAGE_WORDS):
                    damage.append(line)

    readers = [threading.Thread(target=read_times, daemon=True), threading.Thread(target=read_errors, daemon=True)]
    for reader in readers:
        reader.start()
    delivered = 0
    try:
        while True:
            buffer = _read_exactly(proc.stdout, frame_bytes)
            if len(buffer) < frame_bytes:
                break
            with lock:
                lock.wait_for(lambda wanted=delivered: len(stamps) > wanted)
                stamp = stamps[delivered]
            if stamp is None:
                raise FFmpegError(f"decoding {name}: a frame came without its time")
            delivered += 1
            yield stamp[0], stamp[1], np.frombuffer(buffer, dtype=dtype).reshape(height, width, 3)
    finally:  # also when the caller stops early (GeneratorExit): stop ffmpeg
        if proc.poll() is None:
            proc.stdout.close()
            proc.kill()
        proc.wait()
        for reader in readers:
            reader.join(timeout=10)
    if proc.returncode not in (0, None) and delivered == 0:
        raise FFmpegError(f"decoding {name} failed: {last_error_line(chr(10).join(stderr_lines))}")
    if damage or proc.returncode not in (0, None):
        raise InputError(f"{name}: video is corrupt or truncated mid-stream "
                         f"({last_error_line(chr(10).join(damage or stderr_lines))})")
