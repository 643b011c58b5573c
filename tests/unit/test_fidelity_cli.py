"""What goes in comes out, through `slowmo run` (issue 21, cases 1-8): each input is built with the bundled
ffmpeg from lavfi sources, run through the command line in-process, and its output checked with ffmpeg's own
stream description (what ffprobe prints; this ffmpeg ships without ffprobe), the probe, and a strict zscale
decode with the output's own tags (zimg refuses a bitstream whose tags contradict it).

The media-layer rules themselves are tested in test_fidelity.py, test_interlace.py and test_subtitles.py;
these tests hold the local pipeline to them end to end: frame counts, timestamps and pixels included.
"""

from __future__ import annotations

import json
import re
import struct
from fractions import Fraction

import numpy as np
import pytest

from slowmo.media.decode import read_frames
from slowmo.media.ffmpeg import run_ffmpeg
from slowmo.media.interlace import combed_fraction
from slowmo.media.probe import is_hd, probe
from slowmo.media.subtitles import read_ass

MASTER_DISPLAY = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"


def describe(path, kind="Video") -> str:
    """The first stream line of that kind in ffmpeg's description of path ('' when there is none)."""
    stderr = run_ffmpeg(["-i", str(path)], check=False).stderr
    return next((line for line in stderr.splitlines() if re.search(rf"Stream #0:\d+\S*: {kind}:", line)), "")


def sar_dar(path) -> tuple[str, str] | None:
    m = re.search(r"\[SAR (\d+:\d+) DAR (\d+:\d+)\]", describe(path))
    return (m.group(1), m.group(2)) if m else None


def strict_decode(path) -> int:
    """Decode every frame to RGB with zscale from the file's own tags (untagged: the matrix a player assumes
    for its size, limited range); fail on any refusal. Returns the frames decoded."""
    info = probe(path)
    extra = []
    if info.color.space is None:
        extra.append("min=" + ("709" if is_hd(info.coded_width, info.coded_height) else "170m"))
    if info.color.range is None:
        extra.append("rin=limited")
    chain = "zscale" + ("=" + ":".join(extra) if extra else "") + ",format=gbrp16le"
    proc = run_ffmpeg(["-v", "error", "-xerror", "-i", str(path), "-map", "0:v:0", "-vf", chain, "-f", "framecrc", "-"],
                      check=False)
    assert proc.returncode == 0, f"zscale refused {path}: {proc.stderr.strip()[-300:]}"
    return sum(1 for line in proc.stdout.splitlines() if line and not line.startswith("#"))


def run(run_cli, src, out, *args):
    """`slowmo run src -o out ...`: its report and its warnings (stderr's 'slowmo: warning:' lines)."""
    code, stdout, stderr = run_cli("run", src, "-o", out, "-q", "-y", *args)
    assert code == 0, stderr
    warnings = [line for line in stderr.splitlines() if line.startswith("slowmo: warning: ")]
    return json.loads(stdout), warnings


def first_frames_close(a_path, b_path, *, tolerance):
    """The first decoded frames of two files, each decoded by its own tags, differ by less than tolerance."""
    a = next(read_frames(probe(a_path))).astype(int)
    b = next(read_frames(probe(b_path))).astype(int)
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < tolerance


def lavfi(ffmpeg_media, name, source, *args, audio=False):
    inputs = ["-f", "lavfi", "-i", source] + (["-f", "lavfi", "-i", "sine=duration=0.4"] if audio else [])
    return ffmpeg_media(name, [*inputs, *args, *(["-c:a", "aac", "-shortest"] if audio else [])])


# -- 1. anamorphic ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size,sar,dar", [("320x240", "4:3", "16:9"), ("720x576", "16:15", "4:3")])
def test_1_anamorphic_keeps_sar_and_dar_in_the_output_and_the_comparison(ffmpeg_media, run_cli, tmp_path, size, sar,
                                                                          dar):
    src = lavfi(ffmpeg_media, f"cli-sar-{size}.mp4", f"testsrc2=size={size}:rate=25:duration=0.4",
                "-vf", f"setsar={sar.replace(':', '/')}", "-c:v", "libx264", "-pix_fmt", "yuv420p", audio=True)
    assert sar_dar(src) == (sar, dar)
    out, compare = tmp_path / "out.mp4", tmp_path / "compare.mp4"
    report, _ = run(run_cli, src, out, "-k", "4", "--compare", compare, "-j", "1")
    assert report["picture"]["sar"] == sar and not report["picture"]["square_pixels"]
    assert sar_dar(out) == (sar, dar), describe(out)
    w, h = (int(v) for v in size.split("x"))
    # the comparison is two pictures side by side, each with the source's pixels: twice the display width
    assert sar_dar(compare)[0] == sar and re.search(rf"\b{2 * w}x{h}\b", describe(compare)), describe(compare)
    assert probe(out).frame_count == probe(compare).frame_count == (10 - 1) * 4 + 1
    assert strict_decode(out) == strict_decode(compare) == 37


def test_1_square_pixels_resample_the_width(ffmpeg_media, run_cli, tmp_path):
    src = lavfi(ffmpeg_media, "cli-sar-320x240.mp4", "testsrc2=size=320x240:rate=25:duration=0.4",
                "-vf", "setsar=4/3", "-c:v", "libx264", "-pix_fmt", "yuv420p", audio=True)
    out = tmp_path / "square.mp4"
    report, _ = run(run_cli, src, out, "-k", "2", "--square-pixels", "-j", "1")
    line = describe(out)
    assert re.search(r"\b426x240\b", line) and sar_dar(out) in (None, ("1:1", "71:40")), line  # 16:9 shown, 1:1 pixels
    assert report["picture"]["square_pixels"] and probe(out).sar is None
    assert strict_decode(out) == 19


# -- 2. untagged stays untagged -------------------------------------------------------------------------------
UNTAGGED = [
    ("cli-untagged-720p.mp4", ["testsrc2=size=1280x720:rate=25:duration=0.16", "-c:v", "libx264", "-pix_fmt", "yuv420p"],
     "out.mp4"),
    ("cli-untagged-360.mp4", ["testsrc2=size=640x360:rate=25:duration=0.16", "-c:v", "libx264", "-pix_fmt", "yuv420p"],
     "out.mp4"),
    ("cli-untagged-prores.mov", ["testsrc2=size=320x240:rate=25:duration=0.16", "-c:v", "prores_ks", "-profile:v", "3"],
     "out.mp4"),
]


@pytest.mark.parametrize("name,args,out_name", UNTAGGED, ids=[n for n, _, _ in UNTAGGED])
def test_2_untagged_input_comes_out_untagged(ffmpeg_media, run_cli, tmp_path, name, args, out_name):
    src = ffmpeg_media(name, ["-f", "lavfi", "-i", *args])
    info = probe(src)
    assert (info.color.space, info.color.primaries, info.color.transfer) == (None, None, None)
    out = tmp_path / out_name
    report, _ = run(run_cli, src, out, "-k", "2", "-j", "1")
    result = probe(out)
    line = describe(out)
    assert (result.color.space, result.color.primaries, result.color.transfer) == (None, None, None), line
    assert not re.search(r"bt470bg|smpte170m|bt709", line), line
    assert report["picture"]["color"] == {"range": info.color.range, "space": None, "primaries": None,
                                          "transfer": None}
    assert strict_decode(out) == (info.frame_count - 1) * 2 + 1
    first_frames_close(src, out, tolerance=4)  # a player shows the same colours for source and result


# -- 3. RGB sources -----------------------------------------------------------------------------------------
RGB = [
    ("cli-rgb-png.mov", ["testsrc2=size=320x240:rate=25:duration=0.16", "-c:v", "png", "-pix_fmt", "rgb24"],
     "smpte170m", "BT.601"),
    ("cli-rgb-ffv1.mkv", ["testsrc2=size=1280x720:rate=25:duration=0.16", "-c:v", "ffv1", "-pix_fmt", "gbrp"],
     "bt709", "BT.709"),
    ("cli-rgb-x264rgb.mp4", ["testsrc2=size=320x240:rate=25:duration=0.16", "-c:v", "libx264rgb"], "smpte170m", "BT.601"),
]


@pytest.mark.parametrize("name,args,matrix,said", RGB, ids=[n for n, _, _, _ in RGB])
def test_3_rgb_sources_get_a_valid_yuv_matrix(ffmpeg_media, run_cli, tmp_path, name, args, matrix, said):
    src = ffmpeg_media(name, ["-f", "lavfi", "-i", *args])
    assert probe(src).color.space == "gbr"
    out = tmp_path / "out.mp4"
    report, warnings = run(run_cli, src, out, "-k", "2", "-j", "1")
    result = probe(out)
    line = describe(out)
    assert result.pix_fmt == "yuv420p" and result.color.space == matrix and result.color.range == "tv", line
    assert "gbr" not in line, line
    assert report["picture"]["color"]["space"] == matrix
    assert any(f"RGB source encoded as YUV with the {said} matrix" in w for w in warnings), warnings
    assert strict_decode(out) == 7
    first_frames_close(src, out, tolerance=4)


# -- 4. HDR10 -----------------------------------------------------------------------------------------------
def test_4_hdr10_static_metadata_reaches_hevc_output(ffmpeg_media, run_cli, tmp_path):
    src = ffmpeg_media("cli-hdr10.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=0.2",
        "-vf", "format=yuv420p10le,setparams=color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc:range=tv",
        "-c:v", "libx265", "-x265-params", f"log-level=error:hdr10=1:master-display={MASTER_DISPLAY}:max-cll=1000,400"])
    info = probe(src)
    assert (info.master_display, info.max_cll) == (MASTER_DISPLAY, "1000,400")
    out = tmp_path / "hdr.mp4"
    report, warnings = run(run_cli, src, out, "-k", "2")  # two workers: the metadata survives the chunk join
    result = probe(out)
    assert result.codec == "hevc" and result.pix_fmt == "yuv420p10le" and result.color == info.color, describe(out)
    assert (result.master_display, result.max_cll) == (MASTER_DISPLAY, "1000,400")
    assert report["picture"]["hdr10_metadata"] and not warnings
    assert strict_decode(out) == 9
    # H.264 cannot carry it: said in one line, the PQ tags still kept
    h264 = tmp_path / "hdr-h264.mp4"
    _, warnings = run(run_cli, src, h264, "-k", "2", "--codec", "h264", "-j", "1")
    assert [w for w in warnings if "HDR10 mastering display" in w] and probe(h264).color == info.color


# -- 5. interlaced ------------------------------------------------------------------------------------------
def test_5_a_50i_clip_slowed_4x_comes_out_at_field_rate_without_combing(tff_50i, master_50p, run_cli, tmp_path):
    source = probe(tff_50i)
    assert (source.field_order, source.fps, source.frame_count) == ("tff", 25, 15)
    out = tmp_path / "slow.mp4"
    report, _ = run(run_cli, tff_50i, out, "-k", "4")
    done = report["picture"]["deinterlace"]
    assert (done["mode"], done["field_order"], done["fps"], done["frames"]) == ("field", "tff", "50", 30)
    result = probe(out)
    assert "progressive" in describe(out) and result.fps == 50
    # every field is a real moment, and K is the slowdown: field k (at k/50 s) is output frame 4k (at 4k/50 s)
    fields = 2 * source.frame_count
    assert result.frame_count == report["output_frames"] == (fields - 1) * 4 + 1 == 117
    times = result.frame_times.times
    assert all(times[4 * k] == Fraction(4 * k, 50) for k in range(fields))
    assert abs(result.duration - 4 * (fields - 1) / 50 - 1 / 50) < 1e-3  # as the 50p master slowed 4x would be
    assert abs(report["output_duration_s"] - 117 / 50) < 1e-6
    master = list(read_frames(probe(master_50p)))
    frames = list(read_frames(result))
    for k in (5, 6, 11, 20, 21):  # output frame 4k shows field k's moment, not its neighbours'
        here = np.abs(frames[4 * k].astype(int) - master[k]).mean()
        assert here < np.abs(frames[4 * k].astype(int) - master[k - 1]).mean()
        assert here < np.abs(frames[4 * k].astype(int) - master[k + 1]).mean()
    combed = combed_fraction(str(out))
    print(f"combed fraction of the 50i x4 output: {combed:.3f}")
    assert combed < 0.05
    assert sar_dar(out) == ("1:1", "5:4") or sar_dar(out) is None  # the source's square pixels, nothing added
    assert strict_decode(out) == 117
    assert probe(out).has_audio


def test_5_frame_mode_and_off(tff_50i, run_cli, tmp_path):
    frame = tmp_path / "frame.mp4"
    report, _ = run(run_cli, tff_50i, frame, "-k", "2", "--deinterlace", "frame", "-j", "1")
    result = probe(frame)
    assert report["picture"]["deinterlace"]["mode"] == "frame"
    assert result.fps == 25 and result.frame_count == (15 - 1) * 2 + 1
    assert combed_fraction(str(frame)) < 0.05
    off = tmp_path / "off.mp4"
    report, warnings = run(run_cli, tff_50i, off, "-k", "2", "--deinterlace", "off", "-j", "1")
    assert report["picture"]["deinterlace"] is None
    assert [w for w in warnings if "--deinterlace off" in w]
    assert combed_fraction(str(off)) > 0.5  # the measure sees combing where it is


def test_5_untagged_interlace_is_detected_from_the_picture(ffmpeg_media, run_cli, tmp_path):
    # FFV1 in AVI says nothing of its fields: only the picture does
    src = ffmpeg_media("cli-untagged-50i.avi", ["-f", "lavfi", "-i", "testsrc2=size=720x576:rate=50:duration=0.4",
                                                "-vf", "tinterlace=interleave_top", "-c:v", "ffv1"])
    assert probe(src).field_order is None
    out = tmp_path / "slow.mp4"
    report, _ = run(run_cli, src, out, "-k", "2", "-j", "1")
    assert report["picture"]["deinterlace"]["field_order"] == "tff"
    assert probe(out).frame_count == (20 - 1) * 2 + 1 and combed_fraction(str(out)) < 0.05


# -- 6. subtitles -------------------------------------------------------------------------------------------
SRT = "1\n00:00:00,200 --> 00:00:00,600\nHello\n\n2\n00:00:01,000 --> 00:00:01,400\nWorld\n"


def _pgs(path, width, height):
    """A Blu-ray PGS subtitle file with one 16x4 picture shown from 0.2 s to 0.6 s (ffmpeg encodes bitmap
    subtitles only from bitmap subtitles, so the stream is written here and muxed by ffmpeg)."""

    def segment(kind, data, t):
        return b"PG" + struct.pack(">IIBH", round(t * 90000), 0, kind, len(data)) + data

    def display_set(t, show):
        pcs = struct.pack(">HHBHBBBB", width, height, 0x10, 0, 0x80, 0, 0, int(show))
        pcs += struct.pack(">HBBHH", 0, 0, 0, 8, 8) if show else b""
        out = segment(0x16, pcs, t) + segment(0x17, struct.pack(">BBHHHH", 1, 0, 8, 8, 16, 4), t)
        if show:
            out += segment(0x14, bytes([0, 0, 1, 235, 128, 128, 255]), t)
            rle = (bytes([1]) * 16 + b"\x00\x00") * 4
            out += segment(0x15, struct.pack(">HBB", 0, 0, 0xC0) + (len(rle) + 4).to_bytes(3, "big")
                           + struct.pack(">HH", 16, 4) + rle, t)
        return out + segment(0x80, b"", t)

    path.write_bytes(display_set(0.2, True) + display_set(0.6, False))
    return path


def _cues(path, index=0):
    _, cues = read_ass(str(path), index)
    return [(round(c.start, 2), round(c.end, 2), c.rest.rsplit(",", 1)[-1]) for c in cues]


@pytest.mark.parametrize("name,codec,audio,out_name,kept", [
    ("cli-subs.mp4", "mov_text", True, "out.mp4", "mov_text"),
    ("cli-subs.mov", "mov_text", False, "out.mov", "mov_text"),
    ("cli-subs-srt.mkv", "srt", False, "out.mkv", "ass"),
    ("cli-subs-ass.mkv", "ass", True, "out.mkv", "ass"),
])
def test_6_text_subtitles_are_retimed_and_kept(ffmpeg_media, media_dir, run_cli, tmp_path, name, codec, audio,
                                               out_name, kept):
    srt = media_dir / "cli-cues.srt"
    srt.write_text(SRT)
    src = ffmpeg_media(name, [
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=1.6", "-f", "lavfi", "-i", "sine=duration=1.6",
        "-i", str(srt), "-map", "0:v", *(["-map", "1:a"] if audio else []), "-map", "2:s",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-c:s", codec, "-t", "1.6"])
    out = tmp_path / out_name
    report, warnings = run(run_cli, src, out, "-k", "4", "-j", "1")
    assert report["picture"]["subtitles"]["kept"] and not report["picture"]["subtitles"]["dropped"]
    assert not [w for w in warnings if "subtitle" in w]
    result = probe(out)
    assert result.subtitles == (kept,) and result.has_audio == audio
    assert kept in describe(out, "Subtitle")
    assert _cues(out) == [(0.8, 2.4, "Hello"), (4.0, 5.6, "World")]  # each time x4
    assert result.frame_count == (40 - 1) * 4 + 1


def test_6_a_speed_ramp_retimes_each_cue(ffmpeg_media, media_dir, run_cli, tmp_path):
    srt = media_dir / "cli-cues.srt"
    srt.write_text(SRT)
    src = ffmpeg_media("cli-subs.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=1.6", "-f", "lavfi", "-i", "sine=duration=1.6",
        "-i", str(srt), "-map", "0:v", "-map", "1:a", "-map", "2:s",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-c:s", "mov_text", "-t", "1.6"])
    out = tmp_path / "ramp.mp4"
    run(run_cli, src, out, "-k", "4", "--range", "0:0.8", "-j", "1")
    # 0-0.8 s slowed 4x (3.2 s), the rest at normal speed: Hello x4, World shifted by the 2.4 s gained
    assert _cues(out) == [(0.8, 2.4, "Hello"), (3.4, 3.8, "World")]


def test_6_bitmap_subtitles_are_dropped_with_a_warning(ffmpeg_media, media_dir, run_cli, tmp_path):
    sup = _pgs(media_dir / "cli-bitmap.sup", 160, 90)
    src = ffmpeg_media("cli-subs-pgs.mkv", ["-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=0.8",
                                            "-i", str(sup), "-map", "0:v", "-map", "1:s", "-c:v", "libx264",
                                            "-pix_fmt", "yuv420p", "-c:s", "copy"])
    assert probe(src).subtitles == ("hdmv_pgs_subtitle",)
    out = tmp_path / "out.mkv"
    report, warnings = run(run_cli, src, out, "-k", "2", "-j", "1")
    assert [w for w in warnings if "bitmap subtitle track(s) (hdmv_pgs_subtitle) dropped" in w] and len(warnings) == 1
    assert report["picture"]["subtitles"] == {"kept": [], "dropped": ["hdmv_pgs_subtitle"]}
    assert probe(out).subtitles == () and describe(out, "Subtitle") == ""


# -- 7. alpha -----------------------------------------------------------------------------------------------
ALPHA = [
    ("cli-alpha-png.mov", ["-c:v", "png", "-pix_fmt", "rgba"]),
    ("cli-alpha-qtrle.mov", ["-c:v", "qtrle", "-pix_fmt", "argb"]),
    ("cli-alpha-vp9.webm", ["-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", "-deadline", "realtime"]),
]


@pytest.mark.parametrize("name,args", ALPHA, ids=[n for n, _ in ALPHA])
def test_7_alpha_is_dropped_with_a_warning(ffmpeg_media, run_cli, tmp_path, name, args):
    src = ffmpeg_media(name, ["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=0.2",
                              "-vf", "format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='X*4'", *args])
    assert probe(src).alpha
    out = tmp_path / "out.mp4"
    report, warnings = run(run_cli, src, out, "-k", "2", "-j", "1")
    assert [w for w in warnings if "alpha channel (transparency) is dropped" in w]
    assert report["picture"]["alpha"] == "dropped"
    result = probe(out)
    assert not result.alpha and "yuva" not in describe(out) and strict_decode(out) == 9
    # PNG frames could hold alpha, but synthesis works on RGB: the frames are opaque too, and that is said
    frames = tmp_path / "frames"
    report, warnings = run(run_cli, src, f"{frames}/", "-k", "2", "-j", "1")
    assert [w for w in warnings if "alpha channel" in w]
    pngs = sorted(frames.glob("*.png"))
    assert len(pngs) == 9 and "rgb24" in describe(pngs[0])


# -- 8. editor-grade output -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def prores_422(ffmpeg_media):
    return ffmpeg_media("cli-prores-422.mov", [
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=0.4", "-f", "lavfi", "-i", "sine=duration=0.4",
        "-c:v", "prores_ks", "-profile:v", "3", "-c:a", "pcm_s16le", "-shortest"])


@pytest.mark.parametrize("codec,pix_fmt,profile", [("prores", "yuv422p10le", "HQ"), ("dnxhr", "yuv422p10le", "DNXHR HQX")])
def test_8_editor_codecs_to_mov_end_to_end(prores_422, run_cli, tmp_path, codec, pix_fmt, profile):
    src = probe(prores_422)
    assert src.pix_fmt == "yuv422p10le"
    out, compare = tmp_path / "cut.mov", tmp_path / "compare.mov"
    report, warnings = run(run_cli, prores_422, out, "-k", "4", "--codec", codec, "--compare", compare)
    line = describe(out)
    result = probe(out)
    assert result.container.startswith("mov") and result.pix_fmt == pix_fmt and profile.lower() in line.lower(), line
    assert report["picture"]["output"] == codec and report["picture"]["pix_fmt"] == pix_fmt
    assert not [w for w in warnings if "chroma" in w]  # 4:2:2 kept
    assert result.frame_count == (src.frame_count - 1) * 4 + 1 == strict_decode(out)
    assert result.has_audio and probe(compare).codec == probe(out).codec
    first_frames_close(prores_422, out, tolerance=3)


def test_8_default_codec_says_422_becomes_420_and_mp4_refuses_prores(prores_422, run_cli, tmp_path,
                                                                       assert_one_line_error):
    out = tmp_path / "out.mp4"
    report, warnings = run(run_cli, prores_422, out, "-k", "2", "-j", "1")
    assert probe(out).pix_fmt == "yuv420p10le" and report["picture"]["output"] == "h265"
    assert [w for w in warnings if "4:2:2 chroma becomes 4:2:0" in w]
    refused = run_cli("run", prores_422, "-o", tmp_path / "cut.mp4", "-k", "2", "--codec", "prores")
    assert refused[0] == 2
    assert_one_line_error(refused, "prores output must be a .mov or .mkv file")
    assert not (tmp_path / "cut.mp4").exists()


def test_estimate_takes_a_runs_fidelity_options(ffmpeg_media, run_cli, tmp_path):
    src = lavfi(ffmpeg_media, "cli-sar-320x240.mp4", "testsrc2=size=320x240:rate=25:duration=0.4",
                "-vf", "setsar=4/3", "-c:v", "libx264", "-pix_fmt", "yuv420p", audio=True)
    code, out, err = run_cli("estimate", src, "-k", "2", "-o", tmp_path / "cut.mov", "--codec", "prores",
                             "--deinterlace", "off", "--square-pixels", "--json")
    assert code == 0, err
    assert json.loads(out)["output_frames"] == 19
    code, _, err = run_cli("estimate", src, "-k", "2", "-o", tmp_path / "cut.mp4", "--codec", "dnxhr")
    assert code == 2 and "dnxhr output must be a .mov or .mkv file" in err
