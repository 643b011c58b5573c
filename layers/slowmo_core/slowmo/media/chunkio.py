"""The intermediate format of a chunk's frames in S3: lossless video in Matroska.

Extract writes the input chunks, the model server reads them and writes the output chunks, encode reads
those. Requirements: lossless (or >= 48 dB PSNR), smaller than PNG frames, streaming both ways, exact frame
count, any size (odd too), and cheap: the model server encodes and decodes on the same CPU cores the engine
computes on, so every millisecond per frame here is server overhead.

Default: Ut Video (planar RGB ``gbrp`` with the green-difference transform, median prediction, Huffman
coding) in MKV. Bit-exact, about 3x cheaper than FFV1 to encode and to decode, and 0.55-0.70x the size of
PNG on frames decoded from ordinary 4:2:0 video (the extract stage's input) and the frames synthesised from
them; on full-chroma noisy frames it is about PNG's size (FFV1 is about 10% smaller there).
``codec="ffv1"`` (smallest, about 3x the CPU) and ``codec="x264rgb"`` (``libx264rgb -qp 0``, smallest on
static or scrolling content, slowest) are also bit-exact. ``benchmarks/bench_model_server.py`` and
``tests/unit/test_chunkio.py`` measure them. Readers never need to know which codec wrote a chunk.

Both directions overlap with the caller: ``write_chunk``/``stream_chunk`` hand frames to ffmpeg from a
writer thread through a bounded queue (the caller's next frame is computed while ffmpeg encodes), and
``read_chunk`` decodes ahead of the caller in a reader thread. ``stream_chunk`` also overlaps the upload:
ffmpeg writes the container to a pipe that a consumer (e.g. ``s3.upload_fileobj``) reads while frames are
still being encoded.

Frames are uint8 (H, W, 3) RGB, or uint16 for the 16-bit path of high-bit-depth input. Ut Video is 8-bit
only (ffmpeg's encoder takes gbrp/gbrap/yuv 8-bit; `ffmpeg -h encoder=utvideo`), so 16-bit frames go
into FFV1 as gbrp16le, which is lossless at 16 bits (`ffmpeg -h encoder=ffv1` lists gbrp16le), whatever
codec was asked for; readers see the pixel format and return uint16.
"""

from __future__ import annotations

import io
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from slowmo.errors import FFmpegError, InputError
from slowmo.media.ffmpeg import last_error_line, popen_ffmpeg, run_ffmpeg

EXTENSION = ".mkv"
CODECS: dict[str, list[str]] = {
    "utvideo": ["-c:v", "utvideo", "-pred", "median", "-pix_fmt", "gbrp"],
    "ffv1": ["-c:v", "ffv1", "-level", "3", "-pix_fmt", "gbrp", "-g", "1", "-slices", "4", "-slicecrc", "1"],
    "x264rgb": ["-c:v", "libx264rgb", "-qp", "0", "-preset", "veryfast", "-pix_fmt", "rgb24"],
}
DEFAULT_CODEC = "utvideo"
CODEC_16BIT = ["-c:v", "ffv1", "-level", "3", "-pix_fmt", "gbrp16le", "-g", "1", "-slices", "4", "-slicecrc", "1"]
QUEUE_BYTES = 64 << 20  # frames buffered between the caller and ffmpeg, each way
_END = object()


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


def _queue_depth(frame_bytes: int) -> int:
    return max(2, min(32, QUEUE_BYTES // max(1, frame_bytes)))


def write_chunk(frames: Iterable[np.ndarray], path: str | os.PathLike, fps=30, *, codec: str | None = None) -> ChunkInfo:
    """Stream ``frames`` (all the same size) into a lossless chunk file; returns what was written."""
    path = os.fspath(path)
    codec = codec or DEFAULT_CODEC
    info = _encode(frames, path, path, fps, codec, None)
    return ChunkInfo(path, info.frame_count, info.width, info.height, info.fps, codec, os.path.getsize(path))


def stream_chunk(frames: Iterable[np.ndarray], consume: Callable[[io.BufferedIOBase], object], fps=30, *,
                 codec: str | None = None, name: str = "chunk") -> ChunkInfo:
    """Encode ``frames`` into a chunk that ``consume`` reads as a stream (e.g. ``s3.upload_fileobj``).

    ``consume(fileobj)`` runs in a thread while frames are still being encoded; ``fileobj.read(n)`` returns
    n bytes until the end. It raises (so a multipart upload is aborted, not completed) if encoding failed or
    ``frames`` raised, and the chunk only ends normally once every frame is in it. The chunk is Matroska
    written to a pipe (no seek index; every reader here decodes it front to back). Exceptions from
    ``frames`` take precedence, then those from ``consume``, then ffmpeg's. ``ChunkInfo.path`` is ``name``.
    """
    return _encode(frames, "pipe:1", name, fps, codec or DEFAULT_CODEC, consume)


def _encode(frames, target: str, name: str, fps, codec: str, consume) -> ChunkInfo:
    if codec not in CODECS:
        raise ValueError(f"unknown chunk codec {codec!r}; choose from {sorted(CODECS)}")
    rate = _fps(fps)
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise InputError("cannot write an empty chunk (no frames)")
    height, width = _check(first, None)
    deep = first.dtype == np.uint16
    frame_bytes = width * height * 3 * first.dtype.itemsize
    args = [
        "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb48le" if deep else "rgb24", "-s", f"{width}x{height}",
        "-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "pipe:0",
        "-an", *(CODEC_16BIT if deep else CODECS[codec]), "-fps_mode", "passthrough", "-f", "matroska", target,
    ]
    with tempfile.TemporaryFile() as errf:
        proc = popen_ffmpeg(args, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE if consume else subprocess.DEVNULL, stderr=errf)
        _grow_pipe(proc.stdin, frame_bytes)
        frames_q: queue.Queue = queue.Queue(maxsize=_queue_depth(frame_bytes))
        state = {"writer_error": None, "consume_error": None, "ok": False, "bytes": 0, "refused": False}
        encoded = threading.Event()  # set once the outcome of the encoding is known

        def writer() -> None:
            end = False
            try:
                while not end:
                    item = frames_q.get()
                    end = item is _END
                    if not end:
                        proc.stdin.write(item)
                proc.stdin.close()
            except BaseException as exc:  # noqa: BLE001 - BrokenPipe when ffmpeg died; reported below
                state["writer_error"] = exc
                _kill(proc)
                while not end:  # let the producer finish putting
                    end = frames_q.get() is _END

        consumer = None
        if consume is not None:
            _grow_pipe(proc.stdout, 1 << 20)
            stream = _EncodedStream(proc.stdout, encoded, state)

            def run_consumer() -> None:
                try:
                    consume(stream)
                    if not stream.at_end:
                        raise FFmpegError(f"the consumer of {name} stopped before the end of the chunk")
                except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                    state["consume_error"] = exc
                    _kill(proc)  # unblock ffmpeg, the writer and the producer

            consumer = threading.Thread(target=run_consumer, name="chunk-consumer", daemon=True)
            consumer.start()
        thread = threading.Thread(target=writer, name="chunk-writer", daemon=True)
        thread.start()
        count = 0
        try:
            frame = first
            while frame is not None:
                _check(frame, (height, width), first.dtype)
                if state["writer_error"] is None:
                    frames_q.put(np.ascontiguousarray(frame).data)
                count += 1
                frame = next(it, None)
            frames_q.put(_END)
            thread.join()
            rc = proc.wait()
            state["ok"] = rc == 0 and state["writer_error"] is None
        except BaseException:
            _kill(proc)
            frames_q.put(_END)
            encoded.set()
            thread.join()
            if consumer is not None:
                consumer.join()
            raise
        finally:
            encoded.set()
        if consumer is not None:
            consumer.join()
            # the consumer's own failure, unless it only failed because the encoding did (reported below)
            if state["consume_error"] is not None and not state["refused"]:
                raise state["consume_error"]
        if not state["ok"]:
            errf.seek(0)
            why = last_error_line(errf.read().decode(errors="replace")) or f"ffmpeg exit code {proc.returncode}"
            raise FFmpegError(f"writing chunk {name} failed: {why}")
    return ChunkInfo(name, count, width, height, rate, codec, state["bytes"])


class _EncodedStream(io.RawIOBase):
    """ffmpeg's stdout for ``stream_chunk``'s consumer: EOF only once the chunk is known to be complete."""

    def __init__(self, pipe, encoded: threading.Event, state: dict):
        self._pipe, self._encoded, self._state = pipe, encoded, state
        self.at_end = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        whole = size is None or size < 0
        data = self._pipe.read() if whole else self._pipe.read(size)
        self._state["bytes"] += len(data)
        if data and not whole:
            return data
        self._encoded.wait()
        if not self._state["ok"]:
            self._state["refused"] = True
            raise OSError("chunk encoding failed; the partial chunk must not be stored")
        self.at_end = True
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def _kill(proc) -> None:
    if proc.poll() is None:
        try:
            proc.kill()
        except OSError:
            pass


def _grow_pipe(fileobj, want: int) -> None:
    """Let a whole frame sit in the pipe (Linux F_SETPIPE_SZ) so neither side waits on the other."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import fcntl

        fcntl.fcntl(fileobj.fileno(), 1031, min(max(want, 65536), 1 << 20))  # 1031 = F_SETPIPE_SZ
    except (OSError, ValueError, AttributeError):
        pass


def _check(frame: np.ndarray, size: tuple[int, int] | None, dtype=None) -> tuple[int, int]:
    if (not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3
            or frame.dtype not in (np.uint8, np.uint16) or (dtype is not None and frame.dtype != dtype)):
        raise InputError(f"chunk frames must be uint8 or uint16 (H, W, 3) arrays, all alike, got "
                         f"{getattr(frame, 'shape', type(frame))} {getattr(frame, 'dtype', '')}")
    if size is not None and frame.shape[:2] != size:
        raise InputError(f"frame size changed inside a chunk: {frame.shape[:2]} after {size}")
    return frame.shape[0], frame.shape[1]


# "Video: utvideo (ULRG / 0x47524C55), gbrp, 243x181, ..." - the size, not the hex fourcc
_STREAM_RE = re.compile(r"Stream #\d+:\d+.*?: Video: .*?[ ,](\d{1,5})x(\d{1,5})(?=[ ,\[]|$)", re.MULTILINE)


def chunk_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of a chunk file, from ffmpeg's stream description."""
    width, height, _depth = chunk_format(path)
    return width, height


def chunk_format(path: str | os.PathLike) -> tuple[int, int, int]:
    """(width, height, bits per channel: 8 or 16) of a chunk file, from ffmpeg's stream description."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"chunk file not found: {path}")
    proc = run_ffmpeg(["-i", path], check=False)
    m = _STREAM_RE.search(proc.stderr)
    if not m:
        raise InputError(f"not a readable video chunk: {path} ({last_error_line(proc.stderr)})")
    line = proc.stderr[m.start():proc.stderr.find("\n", m.start())]
    return int(m.group(1)), int(m.group(2)), 16 if re.search(r"\b\w+(1[0-6]|9)(le|be)\b", line) else 8


def read_chunk(path: str | os.PathLike, *, start: int = 0, count: int | None = None) -> Iterator[np.ndarray]:
    """Stream the frames of a chunk file (uint8 (H, W, 3) RGB), optionally a [start, start+count) slice.

    A reader thread decodes ahead of the caller (a bounded queue, ``QUEUE_BYTES``); closing the generator
    early stops ffmpeg.
    """
    path = os.fspath(path)
    width, height, depth = chunk_format(path)
    dtype = np.dtype("<u2") if depth > 8 else np.dtype(np.uint8)
    frame_bytes = width * height * 3 * dtype.itemsize
    limit = None if count is None else start + count
    args = ["-loglevel", "error", "-i", path, "-map", "0:v:0", "-fps_mode", "passthrough",
            *(["-frames:v", str(limit)] if limit is not None else []),
            "-f", "rawvideo", "-pix_fmt", "rgb48le" if depth > 8 else "rgb24", "pipe:1"]
    with tempfile.TemporaryFile() as errf:
        proc = popen_ffmpeg(args, stdout=subprocess.PIPE, stderr=errf, bufsize=0)
        _grow_pipe(proc.stdout, frame_bytes)
        out: queue.Queue = queue.Queue(maxsize=_queue_depth(frame_bytes))
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def reader() -> None:
            index = 0
            try:
                while limit is None or index < limit:
                    frame = _read_frame(proc.stdout, frame_bytes)
                    if frame is None:
                        break
                    if index >= start and not put(frame.view(dtype).reshape(height, width, 3)):
                        return
                    index += 1
                put((_END, index))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                put(exc)

        thread = threading.Thread(target=reader, name="chunk-reader", daemon=True)
        thread.start()
        index = None
        try:
            while True:
                item = out.get()
                if isinstance(item, tuple) and item[0] is _END:
                    index = item[1]
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            if index is None:
                _kill(proc)
            thread.join()
            proc.stdout.close()
            rc = proc.wait()
        finished = limit is None or index < limit
        if finished and rc != 0:
            errf.seek(0)
            raise FFmpegError(f"reading chunk {path} failed: {last_error_line(errf.read().decode(errors='replace'))}")


def _read_frame(stream, n: int) -> np.ndarray | None:
    """One frame read straight into a fresh array (no intermediate bytes objects)."""
    buf = np.empty(n, dtype=np.uint8)
    view = memoryview(buf)
    got = 0
    while got < n:
        r = stream.readinto(view[got:])
        if not r:
            break
        got += r
    if got == 0:
        return None
    if got < n:
        raise FFmpegError(f"truncated frame in chunk ({got} of {n} bytes)")
    return buf


def count_frames(path: str | os.PathLike) -> int:
    return sum(1 for _ in read_chunk(path))
