"""What goes in comes out (issue 21): aspect, colour tags, HDR10 metadata, alpha, editor codecs.

Every input is made with the bundled ffmpeg from lavfi sources; every output is read back with ffmpeg's own
stream description (libavformat's, the one ffprobe prints; this ffmpeg ships without ffprobe), and decoded
strictly with zscale (zimg), which refuses a bitstream whose tags contradict it (RGB matrix with 4:2:0).
An untagged output is decoded by zscale with the matrix a player assumes for its size (BT.709 for HD,
BT.601 for SD), as the untagged source is.
"""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest

from slowmo.errors import InputError
from slowmo.media.audio import mux_audio
from slowmo.media.compare import SideBySide
from slowmo.media.decode import read_frames
from slowmo.media.encode import VideoWriter, encode_args
from slowmo.media.ffmpeg import run_ffmpeg
from slowmo.media.fidelity import check_output_container, encode_options, fidelity_warnings
from slowmo.media.probe import is_hd, probe
from slowmo.options import JobOptions, working_depth

MASTER = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"


def describe(path) -> str:
    """The video stream's line of ffmpeg's description (what ffprobe reports as codec, pix_fmt, tags, SAR)."""
    stderr = run_ffmpeg(["-i", str(path)], check=False).stderr
    return next(line for line in stderr.splitlines() if re.search(r"Stream #0:\d+\S*: Video:", line))


def sar_of(path) -> str | None:
    m = re.search(r"SAR (\d+:\d+)", describe(path))
    return m.group(1) if m else None


def strict_decode(path) -> None:
    """Decode every frame to RGB with zscale, from the file's own tags; fail on any refusal."""
    info = probe(path)
    extra = []
    if info.color.space is None:  # untagged: what a player assumes
        extra.append("min=" + ("709" if is_hd(info.coded_width, info.coded_height) else "170m"))
    if info.color.range is None:
        extra.append("rin=limited")
    chain = "zscale" + ("=" + ":".join(extra) if extra else "") + ",format=gbrp16le"
    proc = run_ffmpeg(["-v", "error", "-xerror", "-i", str(path), "-vf", chain, "-f", "null", "-"], check=False)
    assert proc.returncode == 0, f"zscale refused {path}: {proc.stderr.strip()[-300:]}"


def slow_copy(info, out, options=None, *, compare=None, frames=4):
    """Decode the source and write its frames through VideoWriter with the options the executors use."""
    engine = getattr(options, "engine", "flow")
    depth = working_depth(info.bit_depth, engine)
    enc = encode_options(info, options, depth=depth)
    decoded = list(read_frames(info, depth=depth, max_frames=frames))
    with VideoWriter(out, info.width, info.height, Fraction(25), **enc) as writer:
        for frame in decoded:
            writer.write(frame)
    if compare is not None:
        side = SideBySide(info.width, info.height, "a", "b")
        with VideoWriter(compare, side.width, side.height, Fraction(25), **enc) as writer:
            for frame in decoded:
                writer.write(side.compose(frame, frame))
    return probe(out)


# -- 1. aspect --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size,sar,interlace", [("320x240", "4:3", False), ("720x576", "16:15", False),
                                                ("720x576", "16:15", True)])
def test_pixel_aspect_is_kept_on_output_comparison_and_mux(ffmpeg_media, tmp_path, size, sar, interlace):
    name = f"sar-{size}-{sar.replace(':', '_')}{'-i' if interlace else ''}.mp4"
    extra = ["-flags", "+ildct+ilme", "-x264-params", "tff=1"] if interlace else []
    src = ffmpeg_media(name, ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration=0.4",
                              "-f", "lavfi", "-i", "sine=duration=0.4",
                              "-vf", f"setsar={sar.replace(':', '/')}", "-c:v", "libx264", *extra,
                              "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
    info = probe(src)
    assert info.sar == sar and sar_of(src) == sar
    assert info.field_order == ("tff" if interlace else "progressive")
    out, compare = tmp_path / "out.mp4", tmp_path / "compare.mp4"
    result = slow_copy(info, out, compare=compare)
    assert result.sar == sar and sar_of(out) == sar
    assert sar_of(compare) == sar  # both halves keep the source's pixels: the comparison's pixels are the same
    muxed = tmp_path / "muxed.mp4"
    mux_audio(str(out), str(src), str(muxed), mode="original", slowdown=Fraction(1), duration=0.16)
    assert sar_of(muxed) == sar
    strict_decode(out)


def test_square_pixels_resample_the_width(ffmpeg_media, tmp_path):
    src = ffmpeg_media("sar-43.mp4", ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=0.2",
                                      "-vf", "setsar=4/3", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
    info = probe(src)
    out = slow_copy(info, tmp_path / "square.mp4", JobOptions(square_pixels=True))
    assert (out.width, out.height) == (426, 240)  # 320 x 4/3, the display aspect 16:9 kept
    assert sar_of(out.path) in (None, "1:1") and out.sar is None


# -- 2, 3. colour tags ------------------------------------------------------------------------------------
UNTAGGED = [
    ("untagged-720p.mp4", ["testsrc2=size=1280x720:rate=25:duration=0.16", "-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    ("untagged-360.mp4", ["testsrc2=size=640x360:rate=25:duration=0.16", "-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    ("untagged-prores.mov", ["testsrc2=size=320x240:rate=25:duration=0.16", "-c:v", "prores_ks", "-profile:v", "3"]),
]


@pytest.mark.parametrize("name,args", UNTAGGED, ids=[n for n, _ in UNTAGGED])
def test_untagged_input_stays_untagged(ffmpeg_media, tmp_path, name, args):
    src = ffmpeg_media(name, ["-f", "lavfi", "-i", *args])
    info = probe(src)
    assert info.color.space is None and info.color.primaries is None
    out = slow_copy(info, tmp_path / "out.mp4")
    assert (out.color.space, out.color.primaries, out.color.transfer) == (None, None, None), describe(out.path)
    assert "bt470bg" not in describe(out.path) and "smpte170m" not in describe(out.path)
    strict_decode(out.path)


def test_tagged_input_keeps_its_tags(ffmpeg_media, tmp_path):
    src = ffmpeg_media("tagged-709.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=0.16",
        "-vf", "scale=out_color_matrix=bt709,setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv",
        "-c:v", "libx264", "-pix_fmt", "yuv420p"])
    info = probe(src)
    out = slow_copy(info, tmp_path / "out.mp4")
    assert out.color == info.color and (out.color.space, out.color.range) == ("bt709", "tv")
    strict_decode(out.path)
    # the picture's colours survive: the same RGB as the source, within 4:2:0 and x264 error
    a = next(read_frames(info)).astype(int)
    b = next(read_frames(out)).astype(int)
    assert np.abs(a - b).mean() < 4


RGB = [
    ("rgb-png.mov", ["testsrc2=size=320x240:rate=25:duration=0.16", "-c:v", "png", "-pix_fmt", "rgba"], "smpte170m"),
    ("rgb-ffv1.mkv", ["testsrc2=size=1280x720:rate=25:duration=0.16", "-c:v", "ffv1", "-pix_fmt", "gbrp"], "bt709"),
    ("rgb-x264rgb.mp4", ["testsrc2=size=320x240:rate=25:duration=0.16", "-c:v", "libx264rgb"], "smpte170m"),
]


@pytest.mark.parametrize("name,args,matrix", RGB, ids=[n for n, _, _ in RGB])
def test_rgb_sources_get_a_valid_yuv_matrix(ffmpeg_media, tmp_path, name, args, matrix):
    src = ffmpeg_media(name, ["-f", "lavfi", "-i", *args])
    info = probe(src)
    assert info.color.space == "gbr"
    out = slow_copy(info, tmp_path / "out.mp4")
    assert out.pix_fmt == "yuv420p" and out.color.space == matrix and out.color.range == "tv", describe(out.path)
    strict_decode(out.path)
    a = next(read_frames(info)).astype(int)
    b = next(read_frames(out)).astype(int)
    assert np.abs(a - b).mean() < 4  # decoded by its tag, the YUV output shows the source's RGB
    warnings = fidelity_warnings(info)
    assert any(("BT.709" if matrix == "bt709" else "BT.601") in w for w in warnings)
    assert any("alpha" in w for w in warnings) == (name == "rgb-png.mov")


# -- 4. HDR10 ------------------------------------------------------------------------------------------
def test_hdr10_static_metadata_reaches_hevc_output(ffmpeg_media, tmp_path):
    src = ffmpeg_media("hdr10-static.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=0.16",
        "-vf", "format=yuv420p10le,setparams=color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc:range=tv",
        "-c:v", "libx265", "-x265-params", f"log-level=error:hdr10=1:master-display={MASTER}:max-cll=1000,400"])
    info = probe(src)
    assert (info.master_display, info.max_cll) == (MASTER, "1000,400")
    out = slow_copy(info, tmp_path / "out.mp4")
    assert out.codec == "hevc" and out.pix_fmt == "yuv420p10le" and out.color == info.color
    assert (out.master_display, out.max_cll) == (MASTER, "1000,400")
    strict_decode(out.path)
    # an H.264 request cannot carry it: said in one line
    assert any("HDR10 mastering" in w for w in fidelity_warnings(info, JobOptions(codec="h264"), depth=16))
    assert not any("HDR10 mastering" in w for w in fidelity_warnings(info, depth=16))


def test_dynamic_hdr_metadata_is_reported_not_carried():
    facts = {"path": "/x/dv.mp4", "color": {"transfer": "smpte2084", "space": "bt2020nc"}, "hdr_dynamic": "Dolby Vision"}
    [line] = [w for w in fidelity_warnings(facts) if "dynamic" in w]
    assert line.startswith("dv.mp4: Dolby Vision dynamic metadata is not carried")


# -- 7. alpha ----------------------------------------------------------------------------------------------
ALPHA = [
    ("alpha-png.mov", ["-c:v", "png", "-pix_fmt", "rgba"]),
    ("alpha-qtrle.mov", ["-c:v", "qtrle", "-pix_fmt", "argb"]),
    ("alpha-vp9.webm", ["-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", "-deadline", "realtime"]),
    ("opaque-vp9.webm", ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-deadline", "realtime"]),
]


@pytest.mark.parametrize("name,args", ALPHA, ids=[n for n, _ in ALPHA])
def test_alpha_is_detected_and_its_drop_said(ffmpeg_media, name, args):
    src = ffmpeg_media(name, ["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=0.2", *args])
    info = probe(src)
    assert info.alpha == (not name.startswith("opaque"))
    assert any("alpha channel" in w for w in fidelity_warnings(info)) == info.alpha


# -- 8. editor-grade output ---------------------------------------------------------------------------------
EDITOR = [
    # source args, codec, expected pix_fmt, expected profile word in the description
    (["-c:v", "prores_ks", "-profile:v", "3"], "prores", "yuv422p10le", "HQ"),
    # written from 10-bit 4:4:4; ffmpeg's ProRes decoder delivers 4444 as 12 bits
    (["-c:v", "prores_ks", "-profile:v", "4", "-pix_fmt", "yuv444p10le"], "prores", "yuv444p12le", "4444"),
    (["-c:v", "libx264", "-pix_fmt", "yuv420p"], "prores", "yuv422p10le", "HQ"),
    (["-c:v", "prores_ks", "-profile:v", "3"], "dnxhr", "yuv422p10le", "DNXHR HQX"),
    (["-c:v", "libx264", "-pix_fmt", "yuv420p"], "dnxhr", "yuv422p", "DNXHR HQ"),
]


@pytest.mark.parametrize("args,codec,pix_fmt,profile", EDITOR, ids=[f"{a[1]}-{a[-1]}-to-{c}" for a, c, _, _ in EDITOR])
def test_editor_codecs_keep_depth_and_chroma(ffmpeg_media, tmp_path, args, codec, pix_fmt, profile):
    src = ffmpeg_media(f"editor-{args[1]}-{args[-1]}.mov",
                       ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=0.16", *args])
    info = probe(src)
    out = slow_copy(info, tmp_path / "out.mov", JobOptions(codec=codec))
    line = describe(out.path)
    assert out.container.startswith("mov") and out.pix_fmt == pix_fmt, line
    assert profile.lower() in line.lower(), line
    assert out.frame_count == 4
    strict_decode(out.path)
    a = next(read_frames(info)).astype(int)
    b = next(read_frames(out)).astype(int)
    assert np.abs(a - b).mean() < 3


def test_prores_422_source_to_default_codec_is_said(ffmpeg_media):
    src = ffmpeg_media("editor-prores_ks-3.mov", ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=0.16",
                                                  "-c:v", "prores_ks", "-profile:v", "3"])
    info = probe(src)
    assert any("4:2:2 chroma becomes 4:2:0" in w for w in fidelity_warnings(info, depth=16))
    assert not any("chroma" in w for w in fidelity_warnings(info, JobOptions(codec="prores"), depth=16))


def test_editor_codec_options_and_containers():
    assert JobOptions(codec="prores").codec == "prores" and JobOptions(codec="dnxhr").codec == "dnxhr"
    with pytest.raises(InputError, match="codec must be one of"):
        JobOptions(codec="prores_hq")
    check_output_container("prores", "cut.mov")
    with pytest.raises(InputError, match="prores output must be a .mov"):
        check_output_container("prores", "cut.mp4")
    with pytest.raises(InputError, match="DNxHR needs a picture of at least 256x120"):
        encode_args("x.mov", 64, 48, Fraction(25), codec="dnxhr")
