"""Real-footage shapes, generated with the bundled ffmpeg: what phones, cameras and editors write.

Each case asserts the frames the decoder delivers, the output frame count from the timing rule, the
duration, and that no real frame is lost.
"""

from fractions import Fraction

import pytest

from slowmo.options import JobOptions
from slowmo.pipeline import run_job
from slowmo.probe import probe, stream_duration


@pytest.fixture(scope="module")
def source_25(ffmpeg_media):
    """2 s at 25 fps with a GOP of 25 and B-frames, AAC audio."""
    return ffmpeg_media("src25.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=2",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
        "-c:v", "libx264", "-g", "25", "-bf", "2", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])


def test_stream_copy_cut_counts_what_the_decoder_delivers(source_25, ffmpeg_media, tmp_path):
    """`-ss 0.52 -c copy` keeps the GOP from 0.0 s as discarded pre-roll behind an MP4 edit list."""
    cut = ffmpeg_media("cut-copy.mp4", ["-ss", "0.52", "-i", str(source_25), "-c", "copy"])
    info = probe(cut)
    assert info.frame_count == 37  # 50 packets, 13 of them pre-roll the decoder drops
    assert info.fps == 25 and not info.is_vfr
    assert info.duration == pytest.approx(37 / 25, abs=1e-6)
    out = tmp_path / "cut-slow.mp4"
    report = run_job(cut, out, JobOptions(factor=2, engine="blend"))
    assert report.source_frames == 37 and report.output_frames == (37 - 1) * 2 + 1
    result = probe(out)
    assert result.frame_count == 73 and result.duration == pytest.approx(73 / 25, abs=1e-6)
    assert abs(stream_duration(out, "a") - stream_duration(out, "v")) <= 1 / 25


def test_rate_change_25_to_50_keeps_every_frame(ffmpeg_media, tmp_path):
    """25 fps for 1 s, then 50 fps: timestamps from setpts, written as they are (-fps_mode passthrough)."""
    clip = ffmpeg_media("rate-25-50.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=2",
        "-vf", "settb=1/100,setpts='if(lt(N,25),N*4,100+(N-25)*2)'", "-fps_mode", "passthrough",
        "-enc_time_base", "1/100", "-frames:v", "50", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
    info = probe(clip)
    assert info.is_vfr and info.frame_count == 50
    assert info.frame_times.shortest_interval == Fraction(1, 50)
    out = tmp_path / "vfr-slow.mp4"
    report = run_job(clip, out, JobOptions(factor=4, engine="blend", audio="drop"))
    # nominal 25 fps; 1.48 s from the first to the last frame, 4x slower: 5.92 s, 148 intervals + 1
    assert report.variable_frame_rate and report.output_fps == "25"
    assert "variable frame rate" in report.output_rate_reason
    assert report.source_frames == 50 and report.output_frames == 149
    result = probe(out)
    assert result.frame_count == 149 and not result.is_vfr and result.fps == 25


def test_jittered_30fps_loses_no_frame(ffmpeg_media, tmp_path):
    """30 fps, every 7th frame 1/60 s late: K=3 used to give 160 frames (6 real ones dropped)."""
    clip = ffmpeg_media("jitter30.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=30:duration=2",
        "-vf", "settb=1/600,setpts='N*20+if(eq(mod(N,7),6),10,0)'", "-fps_mode", "passthrough",
        "-enc_time_base", "1/600", "-video_track_timescale", "600", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
    info = probe(clip)
    assert info.frame_count == 60 and info.is_vfr and info.fps == 30
    out = tmp_path / "jitter-slow.mp4"
    report = run_job(clip, out, JobOptions(factor=3, engine="blend", audio="drop"))
    assert report.source_frames == 60 and report.output_frames == 178
    assert probe(out).frame_count == 178
    assert not report.warnings


# -- high bit depth -------------------------------------------------------------------------------------------


def _levels(path, depth=16):
    """Distinct red values along the middle row of the first frame, decoded at 16 bits."""
    import numpy as np

    from slowmo.decode import read_frames

    frame = next(read_frames(probe(path), depth=depth))
    return len(np.unique(frame[frame.shape[0] // 2, :, 0]))


@pytest.fixture(scope="module")
def ramp_10bit(ffmpeg_media):
    """A 10-bit HEVC ramp with 1024 grey levels across, HLG-tagged, 6 frames."""
    return ffmpeg_media("ramp10.mp4", [
        "-f", "lavfi", "-i", "color=gray:size=1024x16:rate=24:duration=0.25",
        "-vf", "format=yuv420p10le,geq=lum='X':cb=512:cr=512,"
               "setparams=color_primaries=bt2020:color_trc=arib-std-b67:colorspace=bt2020nc:range=pc",
        "-c:v", "libx265", "-x265-params", "log-level=error:lossless=1", "-pix_fmt", "yuv420p10le"])


def test_ten_bit_hlg_stays_ten_bit_hdr_with_16_bits_inside(ramp_10bit, tmp_path):
    info = probe(ramp_10bit)
    assert info.bit_depth == 10 and info.color.transfer == "arib-std-b67" and info.color.is_hdr
    deep, shallow = tmp_path / "deep.mp4", tmp_path / "shallow.mp4"
    report = run_job(ramp_10bit, deep, JobOptions(factor=2, engine="blend", crf=0))
    run_job(ramp_10bit, shallow, JobOptions(factor=2, engine="blend", crf=0), bit_depth=8)
    out = probe(deep)
    assert out.codec == "hevc" and out.pix_fmt.startswith("yuv420p10le") and out.bit_depth == 10
    assert (out.color.primaries, out.color.transfer, out.color.space, out.color.range) == (
        "bt2020", "arib-std-b67", "bt2020nc", "pc")
    assert out.frame_count == report.output_frames == (6 - 1) * 2 + 1 and not report.warnings
    # 1024 levels in, and more than 8 bits can hold out; the 8-bit path keeps at most 256
    assert _levels(deep) > 700 and _levels(shallow) <= 256


def test_ten_bit_hevc_pq_in_gives_main10_pq_out(ffmpeg_media, tmp_path):
    hdr = ffmpeg_media("pq10.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=0.4",
        "-vf", "setparams=color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc",
        "-c:v", "libx265", "-x265-params", "log-level=error", "-pix_fmt", "yuv420p10le"])
    out = tmp_path / "pq.mp4"
    run_job(hdr, out, JobOptions(factor=3, engine="flow"))
    info = probe(out)
    assert info.codec == "hevc" and info.bit_depth == 10 and info.frame_count == (10 - 1) * 3 + 1
    assert (info.color.primaries, info.color.transfer, info.color.space) == ("bt2020", "smpte2084", "bt2020nc")


def test_prores_422_ten_bit_and_h264_high10_on_request(ffmpeg_media, tmp_path):
    prores = ffmpeg_media("prores422.mov", [
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=24:duration=0.5",
        "-vf", "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709",
        "-c:v", "prores_ks", "-profile:v", "2", "-pix_fmt", "yuv422p10le"])
    info = probe(prores)
    assert info.codec == "prores" and info.pix_fmt.startswith("yuv422p10le") and info.frame_count == 12
    hevc, avc = tmp_path / "p.mp4", tmp_path / "p264.mp4"
    run_job(prores, hevc, JobOptions(factor=2, engine="blend"))
    run_job(prores, avc, JobOptions(factor=2, engine="blend", codec="h264"))
    for path, codec in ((hevc, "hevc"), (avc, "h264")):
        out = probe(path)
        assert out.codec == codec and out.bit_depth == 10 and out.frame_count == 23
        assert out.color.transfer == "bt709" and out.duration == pytest.approx(23 / 24, abs=1e-6)
    assert "High 10" in _video_line(avc)


def _video_line(path) -> str:
    from slowmo.ffmpeg import run_ffmpeg

    return next(line for line in run_ffmpeg(["-i", str(path)], check=False).stderr.splitlines() if "Video:" in line)


def test_eight_bit_input_keeps_the_eight_bit_path(clip, tmp_path):
    out = tmp_path / "eight.mp4"
    run_job(clip, out, JobOptions(factor=2, engine="blend", audio="drop"))
    info = probe(out)
    assert info.codec == "h264" and info.pix_fmt.startswith("yuv420p") and info.bit_depth == 8
