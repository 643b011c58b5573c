"""Real-footage shapes, generated with the bundled ffmpeg: what phones, cameras and editors write.

Each case asserts the frames the decoder delivers, the output frame count from the timing rule, the
duration, and that no real frame is lost.
"""

import json
from fractions import Fraction

import pytest

from slowmo.local.pipeline import run_job
from slowmo.media.probe import probe, stream_duration
from slowmo.options import JobOptions


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

    from slowmo.media.decode import read_frames

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
    from slowmo.media.ffmpeg import run_ffmpeg

    return next(line for line in run_ffmpeg(["-i", str(path)], check=False).stderr.splitlines() if "Video:" in line)


def test_eight_bit_input_keeps_the_eight_bit_path(clip, tmp_path):
    out = tmp_path / "eight.mp4"
    run_job(clip, out, JobOptions(factor=2, engine="blend", audio="drop"))
    info = probe(out)
    assert info.codec == "h264" and info.pix_fmt.startswith("yuv420p") and info.bit_depth == 8


# -- container and GOP shapes, through `slowmo run` ------------------------------------------------------------


def _video_packets(path) -> list[tuple[int, int, bool, bool]]:
    """(dts, pts, keyframe, discarded) of every video packet in file order, from a stream copy to framecrc.

    framecrc flags: 0x1 keyframe, 0x4 discard (pre-roll an edit list hides from the presentation).
    """
    from slowmo.media.ffmpeg import run_ffmpeg

    rows = []
    for line in run_ffmpeg(["-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"]).stdout.splitlines():
        if line.startswith("0,"):
            fields = [f.strip() for f in line.split(",")]
            flags = int(fields[6].removeprefix("F="), 16) if len(fields) > 6 else 1
            rows.append((int(fields[1]), int(fields[2]), bool(flags & 1), bool(flags & 4)))
    return rows


def _slow(run_cli, source, out, factor, *extra):
    code, stdout, err = run_cli("run", source, "-o", out, "-k", factor, "--engine", "blend", "-q", *extra)
    assert code == 0, err
    return json.loads(stdout)


def test_open_gop_with_b_frames_and_a_cut_into_it(ffmpeg_media, run_cli, tmp_path):
    """x264 open GOP: I-frames every 8 that are not IDR, with B-frames shown before them that reference the GOP
    before. A stream-copy cut at 0.4 s starts on such an I-frame's GOP: its leading pictures are pre-roll."""
    clip = ffmpeg_media("open-gop.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=24:duration=1",
        "-c:v", "libx264", "-x264-params", "open-gop=1:bframes=3:keyint=8:min-keyint=8:scenecut=0",
        "-pix_fmt", "yuv420p"])
    packets = _video_packets(clip)
    later_keys = [i for i, (_, _, key, _) in enumerate(packets) if key and i > 0]
    assert later_keys, "no keyframe after the first"
    # open: the packet decoded right after a later I-frame is shown before it (a leading B-frame)
    assert any(packets[i + 1][1] < packets[i][1] for i in later_keys if i + 1 < len(packets))
    report = _slow(run_cli, clip, tmp_path / "open-gop-slow.mp4", 3)
    assert report["source_frames"] == 24 and report["output_frames"] == (24 - 1) * 3 + 1
    result = probe(tmp_path / "open-gop-slow.mp4")
    assert result.frame_count == 70 and result.duration == pytest.approx(70 / 24, abs=1e-6)

    cut = ffmpeg_media("open-gop-cut.mp4", ["-ss", "0.4", "-i", str(clip), "-c", "copy"])
    info = probe(cut)
    assert info.frame_count == 14 and info.duration == pytest.approx(14 / 24, abs=1e-6)  # frames 10..23
    report = _slow(run_cli, cut, tmp_path / "open-gop-cut-slow.mp4", 3)
    assert report["source_frames"] == 14 and report["output_frames"] == (14 - 1) * 3 + 1
    result = probe(tmp_path / "open-gop-cut-slow.mp4")
    assert result.frame_count == 40 and result.duration == pytest.approx(40 / 24, abs=1e-6)


def test_negative_start_time_behind_an_edit_list(ffmpeg_media, run_cli, tmp_path):
    """`-output_ts_offset -0.5`: the first 12 of 24 frames sit at negative times, which the MP4 edit list hides."""
    clip = ffmpeg_media("negative-start.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=24:duration=1",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
        "-output_ts_offset", "-0.5", "-avoid_negative_ts", "disabled"])
    packets = _video_packets(clip)
    hidden = [pts for _, pts, _, discarded in packets if discarded]
    assert len(packets) == 24 and len(hidden) == 12 and max(hidden) < 0
    info = probe(clip)
    assert info.frame_count == 12 and info.start_time == 0 and info.duration == pytest.approx(0.5, abs=1e-6)
    out = tmp_path / "negative-start-slow.mp4"
    report = _slow(run_cli, clip, out, 2)
    assert report["source_frames"] == 12 and report["output_frames"] == (12 - 1) * 2 + 1
    result = probe(out)
    assert result.frame_count == 23 and result.start_time == 0
    assert result.duration == pytest.approx(23 / 24, abs=1e-6)
    assert result.has_audio and abs(stream_duration(out, "a") - result.duration) <= 1 / 24


def test_cover_art_is_not_the_video(ffmpeg_media, run_cli, tmp_path):
    """A 64x64 JPEG attached as a second video stream (disposition attached_pic), as music and podcast tools do."""
    plain = ffmpeg_media("cover-plain.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=24:duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
    art = ffmpeg_media("cover-art.jpg", ["-f", "lavfi", "-i", "color=red:size=64x64", "-frames:v", "1"])
    clip = ffmpeg_media("cover-art.mp4", [
        "-i", str(plain), "-i", str(art), "-map", "0", "-map", "1", "-c", "copy", "-disposition:v:1", "attached_pic"])
    assert "(attached pic)" in _stream_lines(clip) and "64x64" in _stream_lines(clip)
    info = probe(clip)
    assert (info.codec, info.width, info.height, info.frame_count) == ("h264", 160, 90, 24)
    out = tmp_path / "cover-slow.mp4"
    report = _slow(run_cli, clip, out, 2)
    assert report["source_frames"] == 24 and report["output_frames"] == (24 - 1) * 2 + 1
    result = probe(out)
    assert (result.width, result.height, result.frame_count) == (160, 90, 47)
    assert result.duration == pytest.approx(47 / 24, abs=1e-6)
    assert "attached pic" not in _stream_lines(out) and "mjpeg" not in _stream_lines(out)


def _stream_lines(path) -> str:
    from slowmo.media.ffmpeg import run_ffmpeg

    stderr = run_ffmpeg(["-i", str(path)], check=False).stderr
    return "\n".join(line for line in stderr.splitlines() if "Stream #" in line)


def test_audio_longer_than_video_is_cut_to_the_video(ffmpeg_media, run_cli, tmp_path):
    """1 s of video, 3 s of audio: the slow output's audio ends with its video, stretched or at original speed."""
    clip = ffmpeg_media("long-audio-3s.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=24:duration=1",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"])
    assert stream_duration(clip, "a") == pytest.approx(3.0, abs=0.03) and probe(clip).duration == 1.0
    for mode in ("stretch", "original"):
        out = tmp_path / f"long-audio-{mode}.mp4"
        report = _slow(run_cli, clip, out, 2, "--audio", mode)
        assert report["source_frames"] == 24 and report["output_frames"] == (24 - 1) * 2 + 1
        result = probe(out)
        assert result.frame_count == 47 and result.duration == pytest.approx(47 / 24, abs=1e-6)
        assert result.has_audio and abs(stream_duration(out, "a") - 47 / 24) <= 1 / 24, mode


def _first_sound_s(path) -> float:
    """Seconds from the first video frame to the first audible sample: the audio decoded with silence filled
    in from the file's time 0 (aresample async, first_pts 0), then the first sample above 1/32 of full scale."""
    import subprocess

    import numpy as np

    from slowmo.media.ffmpeg import ffmpeg_command

    pcm = subprocess.run(ffmpeg_command(["-loglevel", "error", "-i", str(path), "-map", "0:a:0", "-af",  # noqa: S603
                                         "aresample=async=1:first_pts=0", "-ac", "1", "-ar", "44100", "-f", "s16le",
                                         "-"]), capture_output=True, check=True).stdout
    samples = np.frombuffer(pcm, dtype="<i2")
    return float(np.argmax(np.abs(samples) > 1024)) / 44100


def test_audio_that_starts_after_the_picture_stays_on_its_frame(ffmpeg_media, run_cli, tmp_path):
    """The sound starts 0.5 s after the first frame (an -itsoffset remux: phones and editors write such
    offsets, usually of tens of ms). Slowed 4x, the sound must start 2 s in; before the fix it started at 0,
    2 s early, because the stretch ignored where the audio began."""
    plain = ffmpeg_media("offset-plain.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=24:duration=2",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"])
    late = ffmpeg_media("offset-late.mp4", ["-i", str(plain), "-itsoffset", "0.5", "-i", str(plain),
                                            "-map", "0:v", "-map", "1:a", "-c", "copy"])
    info = probe(late)
    assert info.audio_delay == pytest.approx(0.5, abs=0.03)  # the first sample the decoder plays
    assert probe(plain).audio_delay == pytest.approx(0.0, abs=0.001)
    onset = _first_sound_s(late)
    assert onset == pytest.approx(0.5, abs=0.005)

    original = tmp_path / "late-original.mp4"
    _slow(run_cli, late, original, 4, "--audio", "original")
    assert _first_sound_s(original) == pytest.approx(onset, abs=0.005)  # real speed: where it was
    stretched = tmp_path / "late-stretch.mp4"
    _slow(run_cli, late, stretched, 4)
    # stretched: 4 x the onset, within the time-stretcher's own smear of an onset (its window, ~0.1 s at 4x)
    assert _first_sound_s(stretched) == pytest.approx(4 * onset, abs=0.1)
    in_sync = tmp_path / "plain-stretch.mp4"
    _slow(run_cli, plain, in_sync, 4)
    assert _first_sound_s(in_sync) < 0.02  # audio that starts with the picture is left alone
    trimmed = tmp_path / "late-trim.mp4"  # a trim goes through the speed curve's audio graph: aligned too
    _slow(run_cli, late, trimmed, 4, "--trim", "0.25:", "--audio", "original")
    assert _first_sound_s(trimmed) == pytest.approx(onset - 0.25, abs=0.01)
