"""What goes in comes out: the output's picture format chosen from the source's, and a one-line warning for
each property of the source that the output cannot keep (see docs/fidelity.md for the tables).

Both executors call these with the probe: the local pipeline with its VideoInfo, the cloud with the
VideoInfo.to_dict() that plan.json keeps, so one rule serves both.

- ``encode_options``: the VideoWriter keywords (slowmo.media.encode.encode_args) for a source and the job's
  options: codec, colour tags, bit depth, chroma, pixel aspect, HDR10 static metadata.
- ``fidelity_warnings``: what is dropped or changed, one line each, for stderr and the report.
- ``check_output_container``: an editor codec needs a QuickTime file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slowmo.errors import InputError
from slowmo.media.probe import TEXT_SUBTITLE_CODECS, ColorTags, VideoInfo

# Containers each output codec can be written to (ProRes and DNxHR: QuickTime; Matroska takes them too).
CODEC_SUFFIXES = {"prores": (".mov", ".mkv"), "dnxhr": (".mov", ".mkv")}


def _facts(video: VideoInfo | Mapping[str, Any]) -> dict[str, Any]:
    return dict(video) if isinstance(video, Mapping) else vars(video)


def _option(options: Any, name: str, default: Any) -> Any:
    if options is None:
        return default
    if isinstance(options, Mapping):
        return options.get(name, default)
    return getattr(options, name, default)


def source_chroma(pix_fmt: str) -> str:
    """"420", "422" or "444" for a decoded pixel format; RGB formats are 4:4:4."""
    name = pix_fmt or ""
    if name.startswith(("yuv422", "yuvj422", "yuva422", "nv16", "nv20", "y210", "uyvy", "yuyv", "p210", "p216")):
        return "422"
    if name.startswith(("yuv444", "yuvj444", "yuva444", "gbr", "rgb", "bgr", "argb", "abgr", "rgba", "bgra", "0rgb",
                        "0bgr", "x2rgb", "x2bgr", "y410", "p410", "p416", "xv30", "xv36", "vuya", "ayuv")):
        return "444"
    return "420"


def _color(facts: dict[str, Any]) -> ColorTags:
    color = facts.get("color") or ColorTags()
    if isinstance(color, Mapping):
        color = ColorTags(color.get("range"), color.get("space"), color.get("primaries"), color.get("transfer"))
    return color


def output_chroma(codec: str, pix_fmt: str) -> str:
    """The chroma the output keeps: the editor codecs keep 4:2:2 and 4:4:4 (they are never below 4:2:2);
    H.264/HEVC stay 4:2:0, which every player decodes."""
    if codec in CODEC_SUFFIXES:
        return "444" if source_chroma(pix_fmt) == "444" else "422"
    return "420"


def encode_options(video: VideoInfo | Mapping[str, Any], options: Any = None, *, depth: int = 8) -> dict[str, Any]:
    """VideoWriter keywords for this source and job: the job's codec, crf and preset; the source's colour tags
    (RGB sources get a YUV matrix in encode_args), pixel aspect (or square pixels when asked for), HDR10
    static metadata (HEVC writes it) and, for ProRes/DNxHR, its 4:2:2 or 4:4:4 chroma.

    video: a VideoInfo or its to_dict() form; options: JobOptions or its dict form (None: the defaults)."""
    from slowmo.options import output_codec

    facts = _facts(video)
    codec = _option(options, "codec", "auto")
    actual = output_codec(codec, depth)
    chosen = {
        "codec": codec,
        "crf": int(_option(options, "crf", 18)),
        "preset": _option(options, "preset", "medium"),
        "color": _color(facts),
        "depth": depth,
        "chroma": output_chroma(actual, facts.get("pix_fmt") or ""),
    }
    if facts.get("sar"):
        chosen["sar"] = facts["sar"]
        if _option(options, "square_pixels", False):
            chosen["square_pixels"] = True
    if _color(facts).is_hdr and actual == "h265":
        if facts.get("master_display"):
            chosen["master_display"] = facts["master_display"]
        if facts.get("max_cll"):
            chosen["max_cll"] = facts["max_cll"]
    return chosen


def check_output_container(codec: str, path: str | Path) -> None:
    """Refuse an output file whose container cannot hold the codec (ProRes/DNxHR in MP4)."""
    allowed = CODEC_SUFFIXES.get(codec)
    suffix = Path(path).suffix.lower()
    if allowed and suffix not in allowed:
        raise InputError(f"{Path(path).name}: {codec} output must be a {' or '.join(allowed)} file, not {suffix or 'no extension'}")


def fidelity_warnings(video: VideoInfo | Mapping[str, Any], options: Any = None, *, depth: int = 8,
                      sequence: bool = False, subtitles_kept: bool = False) -> list[str]:
    """One line for each property of the source the output drops or changes.

    sequence: the output is a PNG sequence (no tracks, RGB). subtitles_kept: the caller retimes and muxes
    the text subtitles (slowmo.media.subtitles); otherwise they are reported as dropped too."""
    from slowmo.options import output_codec

    facts = _facts(video)
    name = Path(str(facts.get("path") or "input")).name
    codec = output_codec(_option(options, "codec", "auto"), depth)
    color = _color(facts)
    lines = []
    if facts.get("alpha"):
        lines.append(f"{name}: the alpha channel (transparency) is dropped: synthesis works on RGB; the output is opaque")
    subs = list(facts.get("subtitles") or ())
    text = [c for c in subs if c in TEXT_SUBTITLE_CODECS]
    bitmap = [c for c in subs if c not in TEXT_SUBTITLE_CODECS]
    if bitmap:
        lines.append(f"{name}: {len(bitmap)} bitmap subtitle track(s) ({', '.join(bitmap)}) dropped: "
                     "picture subtitles cannot be retimed")
    if text and (sequence or not subtitles_kept):
        lines.append(f"{name}: {len(text)} text subtitle track(s) ({', '.join(text)}) dropped"
                     + (": a PNG sequence has no tracks" if sequence else ""))
    if facts.get("hdr_dynamic"):
        lines.append(f"{name}: {facts['hdr_dynamic']} dynamic metadata is not carried; the output keeps HDR10 "
                     "(PQ, static metadata) only")
    if color.is_hdr and (facts.get("master_display") or facts.get("max_cll")) and codec != "h265" and not sequence:
        lines.append(f"{name}: HDR10 mastering display / MaxCLL metadata is written only by HEVC (--codec h265); "
                     f"{codec} output has the PQ/HLG tags without it")
    if color.is_rgb and not sequence:
        from slowmo.media.encode import rgb_matrix_for

        matrix = "BT.709" if rgb_matrix_for(int(facts.get("width") or 0), int(facts.get("height") or 0)) == "bt709" \
            else "BT.601"
        lines.append(f"{name}: RGB source encoded as YUV with the {matrix} matrix (tagged so)")
    chroma = source_chroma(facts.get("pix_fmt") or "")
    if not sequence and chroma != "420" and output_chroma(codec, facts.get("pix_fmt") or "") == "420":
        lines.append(f"{name}: 4:{chroma[1]}:{chroma[2]} chroma becomes 4:2:0 in {codec}; "
                     "--codec prores or dnxhr keeps it for editing")
    return lines
