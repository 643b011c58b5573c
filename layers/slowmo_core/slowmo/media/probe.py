"""What a video is: size, exact frame rate, frame count, rotation, colour tags, audio, VFR.

Uses only the bundled ffmpeg (no ffprobe), in two passes:

1. a stream copy prints the container's stream description on stderr and every packet on stdout
   (framecrc). Packets the demuxer marks discard (flag 0x4, AV_PKT_FLAG_DISCARD: the pre-roll before
   an MP4 edit list's start, which libavformat/mov.c keeps so the decoder can prime its references)
   are counted apart: the decoder drops the frames they carry.
2. a decode with ``-fps_mode passthrough`` (ffmpeg documentation, "-fps_mode": "each frame is passed
   with its timestamp from the demuxer to the muxer", no duplicates or drops) and
   ``-enc_time_base demux`` lists every frame the decoder delivers with its exact presentation
   timestamp. Those are the frames slowmo reads later, so the frame count, the start time, the
   duration and the variable-rate decision all come from them. The frames are cropped to 2x2 first so
   that writing the list costs next to nothing beyond decoding.

A file whose decoder reports errors, or delivers fewer frames than its index holds other than the
leading frames of an open GOP, is truncated or corrupt and refused.
"""

from __future__ import annotations

import os
import re
import statistics
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

from slowmo.errors import InputError
from slowmo.media.ffmpeg import last_error_line, run_ffmpeg
from slowmo.timeline.timing import FrameTimes, frame_times

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


def is_hd(width: int, height: int) -> bool:
    """Whether players take an untagged picture of this size for HD (BT.709): 1280 wide, or taller than PAL."""
    return width >= 1280 or height > 576


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

    def matrix_for(self, width: int, height: int) -> str:
        """swscale matrix for a picture of this coded size: the tagged one, else the one players assume for
        untagged video (BT.709 for HD: 1280 wide or more than 576 high; BT.601 below), so that an untagged
        source is seen as a player shows it and an untagged output is shown as it was encoded."""
        if self.space in _SPACE_TO_MATRIX:
            return _SPACE_TO_MATRIX[self.space]
        return "bt709" if is_hd(width, height) else "bt601"

    @property
    def is_hdr(self) -> bool:
        return self.transfer in {"smpte2084", "arib-std-b67"}

    @property
    def is_rgb(self) -> bool:
        """Tagged with the RGB identity matrix (PNG, FFV1 RGB, libx264rgb): no YUV matrix to keep."""
        return self.space == "gbr"


# Text subtitle codecs ffmpeg can turn into ASS/SRT/mov_text; the others are pictures (PGS, VobSub, DVB).
TEXT_SUBTITLE_CODECS = {"mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text", "microdvd", "subviewer",
                        "jacosub", "sami", "realtext", "stl", "mpl2", "pjs", "vplayer", "eia_608"}
_ALPHA_PIX_FMT = re.compile(r"^(yuva|gbrap|ya\d|rgba|bgra|argb|abgr|pal8)")


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int  # as displayed, after rotation
    height: int
    coded_width: int
    coded_height: int
    fps: Fraction  # the constant rate, or for variable-rate input the nominal rate (median interval)
    frame_count: int  # frames the decoder delivers (edit lists and discarded pre-roll respected)
    duration: float  # seconds from the first frame to the end of the last one
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
    start_time: float = 0.0  # presentation time of the first decoded frame on the file's clock, seconds
    audio_start: float | None = None  # first audio packet's presentation time on the same clock
    # seconds from the first video frame to the first audio sample the decoder plays (AAC priming skipped);
    # positive: the sound starts later than the picture. None: no audio, or it could not be decoded.
    audio_delay: float | None = None
    # picture and companion-track facts (slowmo.media.fidelity turns them into encode options and warnings)
    sar: str | None = None  # pixel aspect "4:3" of the upright picture; None: square (or unknown) pixels
    field_order: str | None = None  # "progressive", "tff", "bff", or None when the stream does not say
    alpha: bool = False  # the picture has an alpha channel (rgba, yuva, VP9 alpha)
    subtitles: tuple[str, ...] = ()  # codec of each subtitle stream, in order (stream 0:s:i)
    master_display: str | None = None  # HDR10 mastering display, x265's master-display= syntax
    max_cll: str | None = None  # HDR10 content light level "MaxCLL,MaxFALL"
    hdr_dynamic: str | None = None  # "HDR10+" or "Dolby Vision" when the source carries dynamic metadata
    # the deinterlacing filter decoding applies (slowmo.media.interlace.deinterlaced_info); None: none
    deinterlace: str | None = None
    # every decoded frame's time (seconds from the first frame); not part of to_dict (it can be long)
    timestamps: FrameTimes | None = field(default=None, compare=False, repr=False)

    @property
    def frame_times(self) -> FrameTimes:
        """Per-frame times; a constant-rate grid when the probe had none (a VideoInfo built by hand)."""
        if self.timestamps is not None:
            return self.timestamps
        return FrameTimes(tuple(Fraction(i) / self.fps for i in range(self.frame_count)), self.fps, not self.is_vfr)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("timestamps", None)
        d["fps"] = f"{self.fps.numerator}/{self.fps.denominator}"
        d["fps_float"] = round(float(self.fps), 6)
        d["color"]["hdr"] = self.color.is_hdr
        d["subtitles"] = list(self.subtitles)  # as JSON gives it back
        d["shortest_interval_s"] = round(float(self.frame_times.shortest_interval), 9)
        return d


_VIDEO_RE = re.compile(r"Stream #0:(\d+)\S*: Video: (.*)$")
_AUDIO_RE = re.compile(r"Stream #0:(\d+)\S*: Audio: (.*)$")
_INPUT_RE = re.compile(r"^Input #0, ([^ ]+?), from")
_SIZE_RE = re.compile(r"(\d{1,6})x(\d{1,6})")
_ROTATION_RE = re.compile(r"rotation of (-?[\d.]+) degrees", re.IGNORECASE)
_AUDIO_DETAIL_RE = re.compile(r"(\d+) Hz, ([^,]+)")
_DEPTH_RE = re.compile(r"p(\d{1,2})(le|be)$")
_SAR_RE = re.compile(r"\bSAR (\d+):(\d+)")
_SUBTITLE_RE = re.compile(r"Stream #0:(\d+)\S*: Subtitle: ([A-Za-z0-9_]+)")
_FIELD_ORDERS = {"progressive": "progressive", "top first": "tff", "bottom first": "bff",
                 "top coded first (swapped)": "bff", "bottom coded first (swapped)": "tff"}


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
        elif token and token not in _FIELD_ORDERS:
            tags.update(space=token, primaries=token, transfer=token)
    return name.strip(), ColorTags(**tags)


def _bit_depth(pix_fmt: str) -> int:
    m = _DEPTH_RE.search(pix_fmt)
    return int(m.group(1)) if m else 8


DISCARD_FLAG = 0x4  # AV_PKT_FLAG_DISCARD, printed by framecrc as F=0x..
KEY_FLAG = 0x1  # AV_PKT_FLAG_KEY


@dataclass
class _Packets:
    timebase: Fraction
    pts: list[int]
    durations: list[int]
    discarded: int = 0  # packets flagged discard (not in pts/durations)
    keyframes: list[int] = field(default_factory=list)  # pts of the packets flagged key


def _parse_framecrc(text: str, stream_index: int) -> _Packets | None:
    timebase = None
    pts: list[int] = []
    durations: list[int] = []
    discarded = 0
    keyframes: list[int] = []
    prefix = f"{stream_index},"
    for line in text.splitlines():
        if line.startswith(f"#tb {stream_index}:"):
            num, den = line.split(":", 1)[1].strip().split("/")
            timebase = Fraction(int(num), int(den))
        elif line.startswith(prefix):
            fields = [f.strip() for f in line.split(",")]
            # framecrc prints F= only for flags other than AV_PKT_FLAG_KEY alone (libavformat/framecrcenc.c)
            flags = next((int(f[2:], 16) for f in fields[6:] if f.startswith("F=")), KEY_FLAG)
            if flags & DISCARD_FLAG:
                discarded += 1
                continue
            pts.append(int(fields[2]))
            durations.append(int(fields[3]))
            if flags & KEY_FLAG:
                keyframes.append(int(fields[2]))
    if timebase is None:
        return None
    return _Packets(timebase, pts, durations, discarded, keyframes)


@dataclass(frozen=True)
class Container:
    """What the demuxer says (probe pass 1): everything VideoInfo holds but the decoded frames' times.

    The cloud's ranged Extract reads this once over HTTP, then decodes the video in time ranges in parallel
    (slowmo.timeline.ranges) and completes the VideoInfo from the frames those ranges delivered (``complete``).
    """

    name: str
    width: int
    height: int
    coded_width: int
    coded_height: int
    rotation: int
    codec: str
    pix_fmt: str
    color: ColorTags
    has_audio: bool
    audio_codec: str | None
    audio_sample_rate: int | None
    audio_channels: str | None
    container: str
    audio_start: float | None
    nominal_fps: Fraction | None  # 1 / the median packet duration
    indexed_frames: int  # video packets the decoder will be given (discarded pre-roll excluded)
    timebase: Fraction  # of the video stream
    first_audio_time: float | None = None  # the first decoded audio sample's time on the file's clock
    keyframes: tuple[int, ...] = ()  # presentation times of the key packets, ascending, in timebase units
    packet_pts: tuple[int, ...] = field(default=(), compare=False, repr=False)  # every video packet's, ascending
    sar: str | None = None
    field_order: str | None = None
    alpha: bool = False
    subtitles: tuple[str, ...] = ()
    master_display: str | None = None
    max_cll: str | None = None
    hdr_dynamic: str | None = None

    @property
    def bit_depth(self) -> int:
        return _bit_depth(self.pix_fmt)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("packet_pts")
        d["subtitles"] = list(self.subtitles)
        d["nominal_fps"] = None if self.nominal_fps is None else str(self.nominal_fps)
        d["timebase"] = str(self.timebase)
        d["keyframes"] = list(self.keyframes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Container:
        d = dict(d)
        d["color"] = ColorTags(**d["color"])
        d["nominal_fps"] = None if d.get("nominal_fps") is None else Fraction(d["nominal_fps"])
        d["timebase"] = Fraction(d["timebase"])
        d["subtitles"] = tuple(d.get("subtitles") or ())
        d["keyframes"] = tuple(int(k) for k in d.get("keyframes", ()))
        d.pop("packet_pts", None)
        return cls(**d)


def probe(path: str | os.PathLike) -> VideoInfo:
    """Describe the video at path, or raise InputError with one line saying what is wrong."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a video file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: file is empty (0 bytes)")
    with open(p, "rb") as f:
        head = f.read(12)
    container = read_container(str(p), p.name, head=head)
    decoded = _decode_timestamps(p, container.indexed_frames)
    return complete(container, decoded, str(p))


def read_container(source: str, name: str, *, head: bytes = b"") -> Container:
    """Pass 1: the stream description and every packet, by stream copy (no decoding). source is a path or
    a URL ffmpeg can read; name is what messages call it; head is the file's first bytes (to tell a
    truncated MP4 from a file that is no video at all)."""
    proc = run_ffmpeg(["-i", source, "-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy", "-f", "framecrc", "-"], check=False)
    stderr = proc.stderr
    video_match = audio_match = None
    container = ""
    rotation_deg = 0.0
    in_video_stream = False
    for line in stderr.splitlines():
        if line.startswith("Output #0"):
            break
        if m := _INPUT_RE.match(line):
            container = m.group(1)
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

    if "moov atom not found" in stderr and head[4:8] == b"ftyp":
        # an ISO-BMFF file starts with an ftyp box: then a missing index means truncation, not a non-video
        raise InputError(f"{name}: is truncated or incomplete (its MP4 index is missing; was the upload or recording cut short?)")
    if video_match is None:
        if audio_match is not None:
            raise InputError(f"{name}: has no video stream (audio only)")
        reason = last_error_line(stderr) if proc.returncode else "no video stream found"
        if "Invalid data" in reason or "could not find codec" in reason.lower() or proc.returncode:
            raise InputError(f"{name}: not a video file ffmpeg can read")
        raise InputError(f"{name}: {reason}")

    if container in TEXT_FORMATS:
        raise InputError(f"{name}: is a text file, not a video")
    items = _split_top_level(video_match.group(2))
    codec = items[0].split()[0]
    if container in STILL_IMAGE_FORMATS or (codec in STILL_IMAGE_CODECS and container in ("", "image2")):
        raise InputError(f"{name}: is a still image, not a video")
    pix_fmt, color = "unknown", ColorTags()
    coded_w = coded_h = None
    field_order = None
    for item in items[1:]:
        if coded_w is None and (m := _SIZE_RE.match(item)):
            coded_w, coded_h = int(m.group(1)), int(m.group(2))
        elif coded_w is None and pix_fmt == "unknown" and re.match(r"^[a-z0-9_]+(\(|$)", item):
            pix_fmt, color = _parse_pix_fmt(item)
            field_order = next((v for k, v in _FIELD_ORDERS.items() if k in item), None)
    if coded_w is None or coded_h is None:
        raise InputError(f"{name}: video stream has no frame size")

    video_packets = _parse_framecrc(proc.stdout, 0)
    if video_packets is None or not (video_packets.pts or video_packets.discarded):
        raise InputError(f"{name}: video stream has no frames")
    nominal = None
    if video_packets.durations and min(video_packets.durations) > 0:
        nominal = Fraction(1 / (video_packets.timebase * statistics.median(video_packets.durations))).limit_denominator(1001)
    rotation = int(round(-rotation_deg)) % 360 if rotation_deg else 0
    rotation = min((0, 90, 180, 270), key=lambda r: abs(r - rotation))
    width, height = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
    audio_start = None
    if audio_match is not None and (audio_packets := _parse_framecrc(proc.stdout, 1)) is not None and audio_packets.pts:
        audio_start = float(min(audio_packets.pts) * audio_packets.timebase)
    audio_codec = sample_rate = channels = None
    if audio_match is not None:
        audio_codec = audio_match.group(2).split()[0].rstrip(",")
        if m := _AUDIO_DETAIL_RE.search(audio_match.group(2)):
            sample_rate, channels = int(m.group(1)), m.group(2).strip()
    stream = _stream_facts(stderr, video_match.group(2), pix_fmt, rotation)
    if color.is_hdr:
        stream.update(_hdr_side_data(source))
    return Container(**stream, field_order=field_order, first_audio_time=_first_audio_time(source) if audio_match is not None else None,
        name=name, width=width, height=height, coded_width=coded_w, coded_height=coded_h, rotation=rotation,
        codec=codec, pix_fmt=pix_fmt, color=color, has_audio=audio_match is not None, audio_codec=audio_codec,
        audio_sample_rate=sample_rate, audio_channels=channels, container=container,
        audio_start=None if audio_start is None else round(audio_start, 6), nominal_fps=nominal,
        indexed_frames=len(video_packets.pts), timebase=video_packets.timebase,
        keyframes=tuple(sorted(video_packets.keyframes)), packet_pts=tuple(sorted(video_packets.pts)),
    )


def _stream_facts(stderr: str, video_description: str, pix_fmt: str, rotation: int) -> dict:
    """The picture's pixel aspect, alpha and the subtitle streams, from the stream description (pass 1)."""
    sar = None
    if (m := _SAR_RE.search(video_description)) and int(m.group(1)) > 0 and int(m.group(2)) > 0:
        ratio = Fraction(int(m.group(1)), int(m.group(2)))
        if rotation in (90, 270):  # the frames are read upright: a portrait picture's pixels turn too
            ratio = 1 / ratio
        sar = None if ratio == 1 else f"{ratio.numerator}:{ratio.denominator}"
    header = stderr.split("Output #0", 1)[0]
    alpha = bool(_ALPHA_PIX_FMT.match(pix_fmt)) or bool(re.search(r"^\s*alpha_mode\s*:\s*1\s*$", header, re.MULTILINE))
    subtitles = tuple(m.group(2) for m in _SUBTITLE_RE.finditer(header))
    dynamic = "Dolby Vision" if re.search(r"DOVI configuration|Dolby Vision", header, re.IGNORECASE) else None
    return {"sar": sar, "alpha": alpha, "subtitles": subtitles, "hdr_dynamic": dynamic}


_MASTERING_RE = re.compile(
    r"Mastering display metadata:.*?r\(([\d.]+)[, ]+([\d.]+)\)\s*g\(([\d.]+)[, ]+([\d.]+)\)\s*"
    r"b\(([\d.]+)[, ]+([\d.]+)\)\s*wp\(([\d.]+)[, ]+([\d.]+)\)\s*"
    r"min_luminance=([\d.]+), max_luminance=([\d.]+)", re.IGNORECASE)
_LIGHT_RE = re.compile(r"Content light level metadata: MaxCLL=(\d+), MaxFALL=(\d+)", re.IGNORECASE)


def _hdr_side_data(source: str) -> dict:
    """HDR10 static metadata (mastering display, content light level) and whether dynamic metadata (HDR10+,
    Dolby Vision RPUs) rides along, from the first decoded frame's side data (showinfo): HEVC carries them
    in SEI messages, which only the decoder sees; an MP4/MOV mdcv/clli box reaches the frame the same way."""
    proc = run_ffmpeg(["-i", source, "-map", "0:v:0", "-frames:v", "1", "-vf", "showinfo", "-f", "null", "-"],
                      check=False)
    facts: dict = {}
    if m := _MASTERING_RE.search(proc.stderr):
        rx, ry, gx, gy, bx, by, wx, wy, lo, hi = (float(v) for v in m.groups())

        def xy(x, y):  # x265's units: chromaticity 0.00002, luminance 0.0001 cd/m2
            return f"({round(x / 0.00002)},{round(y / 0.00002)})"

        facts["master_display"] = (f"G{xy(gx, gy)}B{xy(bx, by)}R{xy(rx, ry)}WP{xy(wx, wy)}"
                                   f"L({round(hi / 0.0001)},{round(lo / 0.0001)})")
    if m := _LIGHT_RE.search(proc.stderr):
        facts["max_cll"] = f"{int(m.group(1))},{int(m.group(2))}"
    if re.search(r"HDR10\+|SMPTE2094-40", proc.stderr, re.IGNORECASE):
        facts["hdr_dynamic"] = "HDR10+"
    elif re.search(r"Dolby Vision|DOVI", proc.stderr, re.IGNORECASE):
        facts["hdr_dynamic"] = "Dolby Vision"
    return facts


def _first_audio_time(source: str) -> float | None:
    """When the first audio sample the decoder plays is shown, on the file's clock: one audio frame decoded
    with the file's own timestamps (-copyts). The packets alone cannot say it: the decoder drops an AAC
    encoder's priming (1,024 samples, which an edit list hides) before the first sample it plays."""
    proc = run_ffmpeg(["-copyts", "-i", source, "-map", "0:a:0", "-frames:a", "1", "-f", "framecrc", "-"], check=False)
    frames = _parse_framecrc(proc.stdout, 0)
    if proc.returncode != 0 or frames is None or not frames.pts:
        return None
    return float(frames.pts[0] * frames.timebase)


def complete(container: Container, decoded: _Packets, path: str) -> VideoInfo:
    """Pass 2's result: the VideoInfo of a container whose decoder delivered these frames."""
    if not decoded.pts:
        raise InputError(f"{container.name}: video stream has no frames the decoder can show")
    times = frame_times(decoded.pts, decoded.timebase, container.nominal_fps)
    fps, is_vfr = times.fps, not times.constant
    frame_count = times.count
    last_duration = times.times[-1] - times.times[-2] if frame_count > 1 else 1 / fps
    if times.constant:
        last_duration = 1 / fps
    elif decoded.durations and decoded.durations[-1] > 0:
        last_duration = decoded.durations[-1] * decoded.timebase
    stream_duration = times.times[-1] + last_duration
    start_time = float(min(decoded.pts) * decoded.timebase)
    c = container
    return VideoInfo(
        path=path, width=c.width, height=c.height, coded_width=c.coded_width, coded_height=c.coded_height,
        fps=fps, frame_count=frame_count, duration=round(float(stream_duration), 6), rotation=c.rotation,
        codec=c.codec, pix_fmt=c.pix_fmt, bit_depth=c.bit_depth, color=c.color, is_vfr=is_vfr,
        has_audio=c.has_audio, audio_codec=c.audio_codec, audio_sample_rate=c.audio_sample_rate,
        audio_channels=c.audio_channels, container=c.container, start_time=round(start_time, 6),
        audio_start=c.audio_start, timestamps=times,
        audio_delay=None if c.first_audio_time is None else round(c.first_audio_time - start_time, 6),
        sar=c.sar, field_order=c.field_order, alpha=c.alpha, subtitles=c.subtitles, master_display=c.master_display,
        max_cll=c.max_cll, hdr_dynamic=c.hdr_dynamic,
    )


_DECODE_ERRORS = ("invalid data", "corrupt", "error while decoding", "partial file", "truncat", "stream ends prematurely")


def _decode_timestamps(path: Path, indexed_frames: int) -> _Packets:
    """Every frame the decoder delivers, with its exact presentation timestamp on the file's clock.

    indexed_frames is the number of video packets the container holds (discarded pre-roll excluded).
    Refuses a file whose decoder reports damage, or that delivers fewer frames than that for any
    reason other than an open GOP's leading frames (which reference a picture before the cut).
    """
    proc = run_ffmpeg([
        "-copyts", "-i", str(path), "-map", "0:v:0", "-an", "-sn", "-dn",
        "-fps_mode", "passthrough", "-enc_time_base", "demux",
        "-vf", "crop=2:2:0:0", "-f", "framecrc", "-",
    ], check=False)
    packets = _parse_framecrc(proc.stdout, 0) or _Packets(Fraction(1, 90000), [], [])
    damage = [line for line in proc.stderr.splitlines() if any(word in line.lower() for word in _DECODE_ERRORS)]
    if proc.returncode != 0 and not packets.pts:
        raise InputError(f"{path.name}: not a video file ffmpeg can decode ({last_error_line(proc.stderr)})")
    if damage:
        raise InputError(f"{path.name}: is truncated or corrupt: decoded {len(packets.pts)} of {indexed_frames} frames "
                         f"({last_error_line(chr(10).join(damage))})")
    return packets


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
