"""What a video is: size, exact frame rate, frame count, rotation, colour tags, audio, VFR.

Uses only the bundled ffmpeg (no ffprobe): one stream-copy pass prints the container's stream
description on stderr and every packet's timestamps on stdout (framecrc), without decoding a frame.
"""

from __future__ import annotations

import os
import re
import statistics
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

from .errors import InputError
from .ffmpeg import last_error_line, run_ffmpeg

STILL_IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "bmp_pipe", "webp_pipe", "gif", "tiff_pipe", "jpegls_pipe"}
# ffmpeg renders text files as ANSI-art "video" through these demuxers: never what a user means.
TEXT_FORMATS = {"tty", "bin", "xbin", "adf", "idf"}
STILL_IMAGE_CODECS = {"png", "mjpeg", "bmp", "webp", "tiff", "gif", "jpegls"}
# ffmpeg's colour-space tag -> the swscale matrix that decodes it (see colour.py users)
_SPACE_TO_MATRIX = {
    "bt709": "bt709",
    "bt470bg": "bt601",
    "smpte170m": "bt601",
    "bt2020nc": "bt2020",
    "bt2020c": "bt2020",
    "fcc": "fcc",
    "smpte240m": "smpte240m",
}


@dataclass(frozen=True)
class ColorTags:
    range: str | None = None  # "tv" or "pc"
    space: str | None = None  # e.g. bt709, bt2020nc
    primaries: str | None = None
    transfer: str | None = None

    @property
    def matrix(self) -> str:
        """swscale matrix for YUV<->RGB: the tagged one, else bt601 (swscale's own default)."""
        return _SPACE_TO_MATRIX.get(self.space or "", "bt601")

    @property
    def is_hdr(self) -> bool:
        return self.transfer in {"smpte2084", "arib-std-b67"}


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int  # as displayed, after rotation
    height: int
    coded_width: int
    coded_height: int
    fps: Fraction  # constant rate the frames are read at (the nominal rate for VFR input)
    frame_count: int  # frames in the video stream (packets), before any VFR normalisation
    duration: float  # seconds
    rotation: int  # clockwise degrees a player rotates the coded picture: 0, 90, 180, 270
    codec: str
    pix_fmt: str
    bit_depth: int
    color: ColorTags = field(default_factory=ColorTags)
    is_vfr: bool = False
    has_audio: bool = False
    audio_codec: str | None = None
    audio_sample_rate: int | None = None
    audio_channels: str | None = None
    container: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fps"] = f"{self.fps.numerator}/{self.fps.denominator}"
        d["fps_float"] = round(float(self.fps), 6)
        d["color"]["hdr"] = self.color.is_hdr
        return d


_VIDEO_RE = re.compile(r"Stream #0:(\d+)\S*: Video: (.*)$")
_AUDIO_RE = re.compile(r"Stream #0:(\d+)\S*: Audio: (.*)$")
_INPUT_RE = re.compile(r"^Input #0, ([^ ]+?), from")
_SIZE_RE = re.compile(r"(\d{1,6})x(\d{1,6})")
_ROTATION_RE = re.compile(r"rotation of (-?[\d.]+) degrees", re.IGNORECASE)
_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")
_AUDIO_DETAIL_RE = re.compile(r"(\d+) Hz, ([^,]+)")
_DEPTH_RE = re.compile(r"p(\d{1,2})(le|be)$")


def _split_top_level(text: str) -> list[str]:
    """Split ffmpeg's stream description on commas that are not inside parentheses or brackets."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return parts


def _parse_pix_fmt(item: str) -> tuple[str, ColorTags]:
    name, _, inner = item.partition("(")
    tags: dict[str, str | None] = {}
    for token in inner.rstrip(")").split(","):
        token = token.strip()
        if token in ("tv", "pc"):
            tags["range"] = token
        elif "/" in token:
            space, primaries, transfer = (t if t != "unknown" else None for t in token.split("/"))
            tags.update(space=space, primaries=primaries, transfer=transfer)
        elif token and token not in ("progressive", "top first", "bottom first", "top coded first (swapped)"):
            tags.update(space=token, primaries=token, transfer=token)
    return name.strip(), ColorTags(**tags)


def _bit_depth(pix_fmt: str) -> int:
    m = _DEPTH_RE.search(pix_fmt)
    return int(m.group(1)) if m else 8


@dataclass
class _Packets:
    timebase: Fraction
    pts: list[int]
    durations: list[int]


def _parse_framecrc(text: str, stream_index: int) -> _Packets | None:
    timebase = None
    pts: list[int] = []
    durations: list[int] = []
    prefix = f"{stream_index},"
    for line in text.splitlines():
        if line.startswith(f"#tb {stream_index}:"):
            num, den = line.split(":", 1)[1].strip().split("/")
            timebase = Fraction(int(num), int(den))
        elif line.startswith(prefix):
            fields = [f.strip() for f in line.split(",")]
            pts.append(int(fields[2]))
            durations.append(int(fields[3]))
    if timebase is None:
        return None
    return _Packets(timebase, pts, durations)


def _frame_rate(packets: _Packets, fallback: Fraction | None) -> tuple[Fraction, bool]:
    """Exact frame rate from packet timestamps, and whether the stream is variable-frame-rate."""
    ordered = sorted(packets.pts)
    deltas = [b - a for a, b in zip(ordered, ordered[1:], strict=False) if b > a]
    if not deltas:
        step = statistics.median(packets.durations) if packets.durations and max(packets.durations) > 0 else None
        if step:
            return Fraction(1) / (packets.timebase * int(step)), False
        return (fallback or Fraction(25)), False
    step = int(round(statistics.median(deltas)))
    tolerance = max(1, step // 20)
    regular = [d for d in deltas if abs(d - step) <= tolerance]
    # A coarse timebase (1/1000) alternates 33 and 34 for 30 fps: the mean of the regular steps is
    # the true rate, then snapped to the standard rates it cannot represent exactly.
    irregular = len(deltas) - len(regular)
    is_vfr = irregular > max(1, len(deltas) // 50)
    if is_vfr:  # normalise to the standard rate nearest the stream's average (phones: ~29.6 -> 30)
        average = Fraction(len(deltas)) / (packets.timebase * sum(deltas))
        nearest = min(_STANDARD_RATES, key=lambda r: abs(float(r) - float(average)))
        return (nearest if abs(float(nearest) / float(average) - 1) < 0.02 else _snap_rate(average)), True
    return _snap_rate(Fraction(len(regular)) / (packets.timebase * sum(regular))), False


_COMMON_RATES = [Fraction(n, 1001) for n in (24000, 30000, 60000, 120000, 240000)]
_STANDARD_RATES = sorted([*_COMMON_RATES, *(Fraction(n) for n in (12, 15, 24, 25, 30, 48, 50, 60, 90, 100, 120, 240))])


def _snap_rate(fps: Fraction) -> Fraction:
    for rate in _COMMON_RATES:
        if abs(float(fps) - float(rate)) < 0.002:
            return rate
    if abs(float(fps) - round(float(fps))) < 0.01:
        return Fraction(round(float(fps)))
    return fps.limit_denominator(1001)


def _looks_like_mp4(path: Path) -> bool:
    """An ISO-BMFF file starts with an ftyp box: then a missing index means truncation, not a non-video."""
    with open(path, "rb") as f:
        return f.read(12)[4:8] == b"ftyp"


def probe(path: str | os.PathLike) -> VideoInfo:
    """Describe the video at path, or raise InputError with one line saying what is wrong."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a video file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty (0 bytes)")

    proc = run_ffmpeg(["-i", str(p), "-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy", "-f", "framecrc", "-"], check=False)
    stderr = proc.stderr
    video_match = audio_match = None
    container = ""
    rotation_deg = 0.0
    duration = None
    in_video_stream = False
    for line in stderr.splitlines():
        if line.startswith("Output #0"):
            break
        if m := _INPUT_RE.match(line):
            container = m.group(1)
        if m := _DURATION_RE.search(line):
            h, mi, s = m.groups()
            duration = int(h) * 3600 + int(mi) * 60 + float(s)
        if video_match is None and (m := _VIDEO_RE.search(line)):
            video_match = m
            in_video_stream = True
            continue
        if audio_match is None and (m := _AUDIO_RE.search(line)):
            audio_match = m
        if "Stream #" in line:
            in_video_stream = False
        if in_video_stream and (m := _ROTATION_RE.search(line)):
            rotation_deg = float(m.group(1))

    if "moov atom not found" in stderr and _looks_like_mp4(p):
        raise InputError(f"{p.name}: is truncated or incomplete (its MP4 index is missing; was the upload or recording cut short?)")
    if video_match is None:
        if audio_match is not None:
            raise InputError(f"{p.name}: has no video stream (audio only)")
        reason = last_error_line(stderr) if proc.returncode else "no video stream found"
        if "Invalid data" in reason or "could not find codec" in reason.lower() or proc.returncode:
            raise InputError(f"{p.name}: not a video file ffmpeg can read")
        raise InputError(f"{p.name}: {reason}")

    if container in TEXT_FORMATS:
        raise InputError(f"{p.name}: is a text file, not a video")
    items = _split_top_level(video_match.group(2))
    codec = items[0].split()[0]
    if container in STILL_IMAGE_FORMATS or (codec in STILL_IMAGE_CODECS and container in ("", "image2")):
        raise InputError(f"{p.name}: is a still image, not a video")
    pix_fmt, color = "unknown", ColorTags()
    coded_w = coded_h = None
    for item in items[1:]:
        if coded_w is None and (m := _SIZE_RE.match(item)):
            coded_w, coded_h = int(m.group(1)), int(m.group(2))
        elif coded_w is None and pix_fmt == "unknown" and re.match(r"^[a-z0-9_]+(\(|$)", item):
            pix_fmt, color = _parse_pix_fmt(item)
    if coded_w is None or coded_h is None:
        raise InputError(f"{p.name}: video stream has no frame size")

    video_packets = _parse_framecrc(proc.stdout, 0)
    if video_packets is None or not video_packets.pts:
        raise InputError(f"{p.name}: video stream has no frames")
    fps, is_vfr = _frame_rate(video_packets, None)

    rotation = int(round(-rotation_deg)) % 360 if rotation_deg else 0
    rotation = min((0, 90, 180, 270), key=lambda r: abs(r - rotation))
    width, height = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
    frame_count = len(video_packets.pts)
    stream_duration = None
    if len(video_packets.pts) > 1:
        span = max(video_packets.pts) - min(video_packets.pts) + (video_packets.durations[-1] or 0)
        stream_duration = float(span * video_packets.timebase)

    audio_codec = sample_rate = channels = None
    if audio_match is not None:
        audio_codec = audio_match.group(2).split()[0].rstrip(",")
        if m := _AUDIO_DETAIL_RE.search(audio_match.group(2)):
            sample_rate, channels = int(m.group(1)), m.group(2).strip()

    return VideoInfo(
        path=str(p),
        width=width,
        height=height,
        coded_width=coded_w,
        coded_height=coded_h,
        fps=fps,
        frame_count=frame_count,
        duration=round(stream_duration or duration or frame_count / float(fps), 6),
        rotation=rotation,
        codec=codec,
        pix_fmt=pix_fmt,
        bit_depth=_bit_depth(pix_fmt),
        color=color,
        is_vfr=is_vfr,
        has_audio=audio_match is not None,
        audio_codec=audio_codec,
        audio_sample_rate=sample_rate,
        audio_channels=channels,
        container=container,
    )


def stream_duration(path: str | os.PathLike, kind: str) -> float | None:
    """Duration in seconds of the first video ('v') or audio ('a') stream, from packet timestamps."""
    proc = run_ffmpeg(["-i", str(path), "-map", f"0:{kind}:0?", "-c", "copy", "-f", "framecrc", "-"], check=False)
    packets = _parse_framecrc(proc.stdout, 0)
    if packets is None or not packets.pts:
        return None
    end = max(p + d for p, d in zip(packets.pts, packets.durations, strict=True))
    # Encoder priming (AAC's first 1024 samples) sits at negative timestamps and is never played.
    start = max(min(packets.pts), 0)
    return float((end - start) * packets.timebase)
