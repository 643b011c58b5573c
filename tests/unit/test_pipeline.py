
import contextlib
import resource

import numpy as np
import pytest

from slowmo.errors import InputError, SlowmoError
from slowmo.local.pipeline import run_job
from slowmo.media.decode import read_frames
from slowmo.media.probe import probe, stream_duration
from slowmo.options import JobOptions


def frame_time(fps):
    return 1 / float(fps)


@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_frame_count_fps_and_duration(clip, tmp_path, k):
    out = tmp_path / f"slow{k}.mp4"
    report = run_job(clip, out, JobOptions(factor=k, engine="blend", audio="drop"))
    info = probe(out)
    assert info.frame_count == report.output_frames == (24 - 1) * k + 1
    assert info.fps == 24
    assert info.duration == pytest.approx(((24 - 1) * k + 1) / 24, abs=1e-6)
    assert not info.has_audio
    assert report.cuts == [12]


def test_output_fps_is_a_true_output_rate(clip, tmp_path):
    """K=4 at --fps 60 on 24 fps: still 4x slower, so the grid steps 1/240 s of source: t = 0.1, 0.2, ..."""
    out = tmp_path / "smooth.mp4"
    report = run_job(clip, out, JobOptions(factor=4, fps=60, engine="blend"))
    info = probe(out)
    assert info.fps == 60 and info.frame_count == report.output_frames == (24 - 1) * 10 + 1
    assert info.duration == pytest.approx(231 / 60, abs=1e-6)  # 4x the source's 24/24 s, less the last frame's slot
    assert stream_duration(out, "a") == pytest.approx(231 / 60, abs=frame_time(60))
    assert report.output_fps == "60" and report.output_rate_reason == "the requested output rate"


@pytest.mark.parametrize("mode", ["stretch", "original"])
def test_audio_matches_video_duration(clip, tmp_path, mode):
    out = tmp_path / f"audio-{mode}.mp4"
    run_job(clip, out, JobOptions(factor=4, engine="blend", audio=mode))
    video, audio = stream_duration(out, "v"), stream_duration(out, "a")
    assert video == pytest.approx(93 / 24, abs=1e-6)
    assert abs(audio - video) <= frame_time(24)


def test_stretched_audio_keeps_the_tone_pitch(clip, tmp_path):
    """The sample's 440 Hz tone stays 440 Hz when slowed 4x (pitch preserved, not resampled)."""
    from slowmo.media.ffmpeg import run_ffmpeg

    out = tmp_path / "pitch.mp4"
    run_job(clip, out, JobOptions(factor=4, engine="blend", audio="stretch"))
    raw = tmp_path / "pitch.f32"
    run_ffmpeg(["-loglevel", "error", "-i", str(out), "-map", "0:a", "-ac", "1", "-ar", "8000", "-f", "f32le", "-y", str(raw)])
    samples = np.fromfile(raw, dtype=np.float32)[2000:10000]
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    peak_hz = np.argmax(spectrum) * 8000 / len(samples)
    assert peak_hz == pytest.approx(440, abs=5)


def test_video_without_audio(make_clip, tmp_path):
    silent = make_clip("silent", frames=6, audio=False)
    report = run_job(silent, tmp_path / "s.mp4", JobOptions(factor=2, engine="blend"))
    assert report.audio == "none" and probe(tmp_path / "s.mp4").frame_count == 11


def test_rotation_is_applied_upright(clip, ffmpeg_media, tmp_path):
    rotated = ffmpeg_media("rotated-pipeline.mp4", ["-display_rotation", "90", "-i", str(clip), "-c", "copy"])
    out = tmp_path / "rot.mp4"
    run_job(rotated, out, JobOptions(factor=2, engine="blend", audio="drop"))
    info = probe(out)
    assert (info.width, info.height, info.rotation) == (180, 320, 0)
    source_first = next(read_frames(probe(clip)))
    output_first = next(read_frames(info))
    upright = np.rot90(source_first, k=1)  # counter-clockwise 90, as the display matrix said
    assert np.abs(output_first.astype(int) - upright).mean() < 4


def test_odd_dimensions(make_clip, tmp_path):
    odd = make_clip("odd", width=161, height=91, frames=5, audio=False)
    info_in = probe(odd)
    out = tmp_path / "odd.mp4"
    run_job(odd, out, JobOptions(factor=3, engine="blend"))
    info = probe(out)
    assert (info_in.width, info_in.height) == (162, 92)  # our own encoder pads odd sizes too
    assert (info.width, info.height) == (162, 92) and info.frame_count == 13


def test_png_sequence_output(clip, tmp_path):
    out = tmp_path / "frames"
    out.mkdir()
    report = run_job(clip, out, JobOptions(factor=2, engine="blend"))
    pngs = sorted(out.glob("frame_*.png"))
    assert len(pngs) == report.output_frames == 47
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_compare_video_has_the_same_duration(clip, tmp_path):
    out, side = tmp_path / "o.mp4", tmp_path / "side.mp4"
    run_job(clip, out, JobOptions(factor=3, engine="blend", compare=True), compare_path=side)
    a, b = probe(out), probe(side)
    assert b.frame_count == a.frame_count and b.duration == pytest.approx(a.duration)
    assert b.width == 2 * a.width and b.height == a.height
    # left half at output frame 1 repeats source frame 0; the right half is the interpolated frame
    frames = read_frames(b)
    next(frames)
    second = next(frames)
    src0 = next(read_frames(probe(clip)))
    body = slice(40, None)  # below the label
    assert np.abs(second[body, : a.width].astype(int) - src0[body]).mean() < 4


def test_limits_refuse_oversized_input(clip, tmp_path, monkeypatch):
    monkeypatch.setenv("SLOWMO_MAX_WIDTH", "160")
    monkeypatch.setenv("SLOWMO_MAX_HEIGHT", "90")
    with pytest.raises(InputError, match="resolution limit"):
        run_job(clip, tmp_path / "x.mp4", JobOptions(factor=2, engine="blend"))
    assert not (tmp_path / "x.mp4").exists()


def test_bad_output_extension(clip, tmp_path):
    with pytest.raises(InputError, match="output must end in"):
        run_job(clip, tmp_path / "x.gif", JobOptions(factor=2, engine="blend"))


def test_input_is_never_modified(clip, tmp_path):
    before = clip.read_bytes()
    run_job(clip, tmp_path / "y.mp4", JobOptions(factor=2, engine="blend"))
    assert clip.read_bytes() == before


@pytest.fixture(scope="module")
def output_sizes(clip, tmp_path_factory):
    """Bytes of the encoded video alone and of the published video with its audio muxed in (x264 is deterministic)."""
    d = tmp_path_factory.mktemp("sizes")
    run_job(clip, d / "video.mp4", JobOptions(factor=2, engine="blend", audio="drop"))
    run_job(clip, d / "muxed.mp4", JobOptions(factor=2, engine="blend"))
    return (d / "video.mp4").stat().st_size, (d / "muxed.mp4").stat().st_size


@contextlib.contextmanager
def file_size_limit(limit: int):
    """No file written by this process or its ffmpeg children may grow past `limit` bytes: a write past it kills
    the ffmpeg that makes it (SIGXFSZ, as a full disk stops it), part way through its output."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.mark.parametrize("failing_step", ["encode", "mux"])
def test_a_run_failing_in_the_encode_or_mux_step_leaves_the_existing_output_alone(clip, tmp_path, output_sizes,
                                                                                 failing_step):
    video_bytes, muxed_bytes = output_sizes
    # encode: the video stream cannot be written whole; mux: it can, the muxed copy with audio cannot
    limit = video_bytes // 2 if failing_step == "encode" else (video_bytes + muxed_bytes) // 2
    final = tmp_path / "slow.mp4"
    final.write_bytes(b"yesterday's result")
    with file_size_limit(limit), pytest.raises(SlowmoError, match="failed"):
        run_job(clip, final, JobOptions(factor=2, engine="blend", audio="stretch"))
    assert final.read_bytes() == b"yesterday's result"
    assert [p.name for p in tmp_path.iterdir()] == ["slow.mp4"]  # no partial file beside it either


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_trimmed_run_reports_the_source_frames_it_used_not_those_before_the_trim(make_clip, tmp_path, jobs):
    """--trim 2:4 of a 24 fps clip uses source frames 48..96 (4 s is the upper bracket of the last output frame):
    49 frames, not the 97 counted from 0 s."""
    source = make_clip("trim-report", width=96, height=64, fps=24, frames=144, audio=False)
    report = run_job(source, tmp_path / f"trim{jobs}.mp4", JobOptions(factor=2, engine="blend", trim="2:4"),
                     jobs=jobs, chunk_frames=17)
    assert report.source_frames == 49
    assert report.output_frames == probe(tmp_path / f"trim{jobs}.mp4").frame_count == 96
