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
