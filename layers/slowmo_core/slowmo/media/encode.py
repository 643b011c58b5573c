"""Write frames as an H.264/H.265 MP4, a ProRes/DNxHR QuickTime file (or a lossless PNG sequence) with the bundled ffmpeg."""

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
from slowmo.media.probe import ColorTags, is_hd

VIDEO_CODECS = {
    "h264": ["-c:v", "libx264"],
    # hvc1 is the tag Apple players require for HEVC in MP4.
    "h265": ["-c:v", "libx265", "-tag:v", "hvc1"],
    # Editor intermediates (QuickTime only): Apple ProRes by prores_ks, Avid DNxHR by the dnxhd encoder.
    "prores": ["-c:v", "prores_ks", "-vendor", "apl0"],
    "dnxhr": ["-c:v", "dnxhd"],
}
# Codecs that only a QuickTime (.mov) file carries: written with the mov muxer whatever the file is called.
MOV_ONLY_CODECS = ("prores", "dnxhr")
CHROMA = ("420", "422", "444")
DNXHR_MIN_SIZE = (256, 120)  # the dnxhd encoder refuses DNxHR smaller than this (measured)


def even_size(width: int, height: int) -> tuple[int, int]:
    """4:2:0 chroma needs even sizes: odd ones grow by one row/column (edge repeated, never scaled)."""
    return width + (width & 1), height + (height & 1)


def rgb_matrix_for(width: int, height: int) -> str:
    """The YUV matrix tag an RGB source gets: bt709 for HD (1280 wide or more than 576 high), else smpte170m (BT.601)."""
    return "bt709" if is_hd(width, height) else "smpte170m"


def output_color(color: ColorTags | None, width: int, height: int, codec: str = "h264") -> ColorTags:
    """The colour description of the YUV output for a source's tags: the source's own tags, none where it has
    none (untagged stays untagged), and for an RGB source (matrix gbr, which 4:2:0/4:2:2 YUV may not carry)
    the BT.709 or BT.601 matrix by size, limited range, its primaries and transfer kept."""
    color = color or ColorTags()
    if color.is_rgb:
        return ColorTags(range="tv", space=rgb_matrix_for(width, height), primaries=color.primaries,
                         transfer=color.transfer)
    if codec == "dnxhr" and color.space is None:
        # the DNxHR decoder takes every picture for BT.709 whatever the file says: tag it so, truthfully
        return ColorTags(range=color.range, space="bt709", primaries=color.primaries, transfer=color.transfer)
    return color


def color_filter(color: ColorTags | None) -> str | None:
    """A setparams filter that tags the output frames with exactly the given colour description.

    Tags are set on the frames rather than as encoder options: ffmpeg takes the frames' own
    properties over -color_primaries/-color_trc, and raw RGB input frames carry none. A tag the source
    lacks is set to "unknown", because the scale filter before it tags the frames with the matrix and
    range it converted with, and an untagged source must stay untagged.
    """
    if color is None:
        return None
    params = [
        f"color_primaries={color.primaries or 'unknown'}",
        f"color_trc={color.transfer or 'unknown'}",
        f"colorspace={color.space or 'unknown'}",
        f"range={color.range or 'unknown'}",
    ]
    return f"setparams={':'.join(params)}"


def parse_sar(sar: str | Fraction | None) -> Fraction | None:
    """A pixel aspect "4:3" / "4/3" / Fraction as a Fraction; None for square or unknown pixels."""
    if sar is None or sar == "":
        return None
    ratio = Fraction(sar) if not isinstance(sar, str) else Fraction(sar.replace(":", "/"))
    if ratio <= 0:
        raise InputError(f"sample aspect ratio must be positive, got {sar!r}")
    return None if ratio == 1 else ratio


def square_pixel_width(width: int, sar: Fraction | None) -> int:
    """The width that shows a picture of width x height with pixels of aspect sar at the same display
    aspect with square pixels (the height is kept), rounded to even."""
    if sar is None:
        return width
    return max(2, int(round(width * sar / 2)) * 2)


def pixel_format(codec: str, depth: int, chroma: str = "420", alpha: bool = False) -> str:
    """The encoded pixel format: 4:2:0 8/10-bit for H.264/HEVC unless 4:2:2/4:4:4 is asked for; ProRes is
    10-bit 4:2:2 (422 HQ), or 4:4:4 (4444, with alpha when kept); DNxHR is 8-bit 4:2:2 (HQ) for 8-bit work,
    10-bit 4:2:2 (HQX) or 4:4:4 (444) for deeper."""
    if chroma not in CHROMA:
        raise InputError(f"chroma must be one of {', '.join(CHROMA)}, got {chroma!r}")
    if codec == "prores":
        if chroma == "444" or alpha:
            return "yuva444p10le" if alpha else "yuv444p10le"
        return "yuv422p10le"
    if codec == "dnxhr":
        if chroma == "444":
            return "yuv444p10le"
        return "yuv422p10le" if depth > 8 else "yuv422p"
    return f"yuv{chroma}p" + ("10le" if depth > 8 else "")


def _codec_args(codec: str, pix_fmt: str, *, crf: int, preset: str, x265_params: list[str]) -> list[str]:
    if codec == "prores":
        profile = "4" if pix_fmt.startswith(("yuv444", "yuva444")) else "3"  # 4444, else 422 HQ
        return [*VIDEO_CODECS[codec], "-profile:v", profile]
    if codec == "dnxhr":
        profile = "dnxhr_444" if pix_fmt.startswith("yuv444") else ("dnxhr_hqx" if "10" in pix_fmt else "dnxhr_hq")
        return [*VIDEO_CODECS[codec], "-profile:v", profile]
    args = [*VIDEO_CODECS[codec]]
    if codec == "h265":
        args += ["-x265-params", ":".join(["log-level=error", *x265_params])]
    return args + ["-preset", preset, "-crf", str(crf)]


def hdr10_params(master_display: str | None, max_cll: str | None) -> list[str]:
    """x265 parameters that write HDR10 static metadata SEI (mastering display colour volume, content light
    level) into every keyframe's headers, from the probe's values (x265 syntax)."""
    params = []
    if master_display:
        params.append(f"master-display={master_display}")
    if max_cll:
        params.append(f"max-cll={max_cll}")
    if params:
        params = ["hdr10=1", "repeat-headers=1", *params]
    return params


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
    sar: str | Fraction | None = None,
    square_pixels: bool = False,
    chroma: str = "420",
    master_display: str | None = None,
    max_cll: str | None = None,
) -> list[str]:
    """ffmpeg arguments reading RGB frames of width x height on stdin and writing a video to path.

    threads caps the encoder's threads (a local parallel run gives each worker its share of the cores).
    depth 8: RGB24 in, 8-bit out. depth 16: RGB48 (16 bits per channel) in, 10-bit out: HEVC Main10 for
    codec auto/h265, H.264 High 10 for h264. chroma: 420 (default), 422 or 444 where the codec has it
    (ProRes and DNxHR are 4:2:2 at least). The colour tags (output_color) are set on the frames, so PQ and
    HLG stay HDR and untagged stays untagged. sar: the source's pixel aspect, written into the stream
    (players show the picture at the source's display aspect); square_pixels: resample the width to
    square pixels instead. master_display/max_cll: HDR10 static metadata, written by HEVC.
    """
    from slowmo.options import output_codec

    codec = output_codec(codec, depth)
    if codec not in VIDEO_CODECS:
        raise InputError(f"codec must be one of {', '.join(VIDEO_CODECS)}, got {codec!r}")
    in_w, in_h = even_size(width, height)
    ratio = parse_sar(sar)
    out_w = square_pixel_width(in_w, ratio) if square_pixels else in_w
    if codec == "dnxhr" and (out_w < DNXHR_MIN_SIZE[0] or in_h < DNXHR_MIN_SIZE[1]):
        raise InputError(f"DNxHR needs a picture of at least {DNXHR_MIN_SIZE[0]}x{DNXHR_MIN_SIZE[1]}, "
                         f"got {out_w}x{in_h}; use --codec prores")
    fps = Fraction(fps)
    tags = output_color(color, width, height, codec)
    # untagged: the matrix a player assumes for the output's size, the one the decoder used for the source's
    matrix = tags.matrix_for(out_w, in_h)
    out_range = tags.range or "tv"
    out_format = pixel_format(codec, depth, chroma)
    size = f"w={out_w}:h={in_h}:" if out_w != in_w else ""
    filters = [f"scale={size}out_color_matrix={matrix}:out_range={out_range}:flags=bicubic", f"format={out_format}",
               color_filter(tags)]
    filters.append("setsar=1" if square_pixels or ratio is None else f"setsar={ratio.numerator}/{ratio.denominator}")
    x265 = hdr10_params(master_display, max_cll) if codec == "h265" else []
    args = [
        "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb48le" if depth > 8 else "rgb24", "-s", f"{in_w}x{in_h}",
        "-framerate", f"{fps.numerator}/{fps.denominator}", "-i", "-",
        "-vf", ",".join(filters),
        *_codec_args(codec, out_format, crf=crf, preset=preset, x265_params=x265),
        # A track timescale that is a multiple of the rate keeps every timestamp exact at 480 fps and up.
        "-video_track_timescale", str(_timescale(fps)),
        "-movflags", "+faststart", "-an",
    ]
    if threads:
        args += ["-threads", str(threads)]
    if container_format:
        args += ["-f", container_format]
    elif codec in MOV_ONLY_CODECS:
        args += ["-f", "mov"]
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
