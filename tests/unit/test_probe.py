from fractions import Fraction

import pytest

from slowmo.errors import InputError
from slowmo.media.probe import probe, stream_duration


def test_probe_reports_exact_ntsc_rate_and_tags(ffmpeg_media):
    path = ffmpeg_media("ntsc.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30000/1001",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=1",
        "-vf", "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-frames:v", "30"])
    info = probe(path)
    assert info.fps == Fraction(30000, 1001)
    assert (info.width, info.height, info.rotation) == (320, 240, 0)
    assert info.frame_count == 30
    assert info.duration == pytest.approx(30 / (30000 / 1001), abs=1e-3)
    assert info.codec == "h264" and info.pix_fmt == "yuv420p" and info.bit_depth == 8
    assert info.color.space == "bt709" and info.color.range == "tv"
    assert info.has_audio and info.audio_codec == "aac" and info.audio_sample_rate == 44100
    assert not info.is_vfr
    d = info.to_dict()
    assert d["fps"] == "30000/1001" and d["fps_float"] == pytest.approx(29.97003)


def test_probe_rotation_swaps_display_size(clip, ffmpeg_media):
    rotated = ffmpeg_media("rotated.mp4", ["-display_rotation", "90", "-i", str(clip), "-c", "copy"])
    info = probe(rotated)
    assert info.rotation == 270  # ffmpeg's display_rotation is counter-clockwise
    assert (info.coded_width, info.coded_height) == (320, 180)
    assert (info.width, info.height) == (180, 320)


def test_probe_ten_bit_hdr(ffmpeg_media):
    path = ffmpeg_media("hdr10.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=256x144:rate=25:duration=0.4",
        "-vf", "setparams=color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc",
        "-c:v", "libx265", "-x265-params", "log-level=error", "-pix_fmt", "yuv420p10le"])
    info = probe(path)
    assert info.bit_depth == 10 and info.pix_fmt == "yuv420p10le" and info.codec == "hevc"
    assert info.color.transfer == "smpte2084" and info.color.is_hdr
    assert info.color.matrix == "bt2020"


def test_probe_detects_variable_frame_rate(ffmpeg_media):
    path = ffmpeg_media("vfr.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30:duration=2",
        "-vf", "settb=1/1000,setpts='(N+if(eq(mod(N,3),0),0.4,0))/30/TB'", "-fps_mode", "passthrough",
        "-enc_time_base", "1/1000",
        "-c:v", "libx264", "-pix_fmt", "yuv420p"])
    info = probe(path)
    assert info.is_vfr
    assert info.fps == 30
    assert info.frame_count == 60


def test_probe_audio_only_still_image_text_empty_missing(ffmpeg_media, tmp_path):
    audio = ffmpeg_media("tone.m4a", ["-f", "lavfi", "-i", "sine=duration=0.5", "-c:a", "aac"])
    with pytest.raises(InputError, match="has no video stream \\(audio only\\)"):
        probe(audio)
    still = ffmpeg_media("still.png", ["-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1"])
    with pytest.raises(InputError, match="still image"):
        probe(still)
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    with pytest.raises(InputError, match="not a video file ffmpeg can read"):
        probe(text)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        probe(empty)
    with pytest.raises(InputError, match="no such file"):
        probe(tmp_path / "missing.mp4")


def test_stream_duration_ignores_encoder_priming(clip):
    assert stream_duration(clip, "v") == pytest.approx(1.0, abs=1e-6)
    assert stream_duration(clip, "a") == pytest.approx(1.0, abs=0.025)
