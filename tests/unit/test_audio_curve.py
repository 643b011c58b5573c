"""Audio along a speed curve: clicks at known source times land where the curve puts them."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from slowmo.media.audio import curve_audio_graph, mux_audio
from slowmo.media.ffmpeg import ffmpeg_command, run_ffmpeg
from slowmo.timeline.speedcurve import build_curve, parse_spec

RATE = 48000
CLICKS = (0.5, 1.1, 1.5, 1.85, 2.5, 3.5)  # before, ramping in, slow, ramping out, after the range 1:2


def click_track(times, seconds: float) -> np.ndarray:
    """A quiet 300 Hz bed with a 1 ms click at each time: the clicks are easy to find after stretching."""
    t = np.arange(int(seconds * RATE)) / RATE
    audio = 0.05 * np.sin(2 * np.pi * 300 * t)
    for c in times:
        i = round(c * RATE)
        audio[i:i + 48] += 0.9 * np.hanning(48)
    return audio.astype(np.float32)


def click_positions(audio: np.ndarray, expected, window: float = 0.12) -> list[float]:
    """Where each click landed: the energy centroid of the click's (smeared) burst near its expected time.

    A pitch-keeping stretch smears a click over its analysis window times the slowdown, so the centroid
    is the honest position; the bed is removed by differencing first.
    """
    energy = np.diff(audio, prepend=audio[:1]).astype(np.float64) ** 2
    found = []
    for e in expected:
        a, b = int(max(0, (e - window) * RATE)), int(min(len(audio), (e + window) * RATE))
        burst = energy[a:b]
        burst = np.where(burst > 0.05 * burst.max(), burst, 0)
        found.append((a + float((np.arange(len(burst)) * burst).sum() / burst.sum())) / RATE)
    return found


def decode_audio(path) -> np.ndarray:
    proc = subprocess.run(ffmpeg_command(["-loglevel", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar",  # noqa: S603
                                          str(RATE), "-f", "f32le", "-"]), capture_output=True, check=True)
    return np.frombuffer(proc.stdout, dtype=np.float32)


@pytest.fixture(scope="module")
def click_clip(tmp_path_factory):
    """4 s of 24 fps grey video with the click track as AAC."""
    folder = tmp_path_factory.mktemp("clicks")
    wav = folder / "clicks.f32"
    wav.write_bytes(click_track(CLICKS, 4.0).tobytes())
    out = folder / "clicks.mp4"
    run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", "color=gray:size=64x64:rate=24:duration=4",
                "-f", "f32le", "-ar", str(RATE), "-ac", "1", "-i", str(wav),
                "-c:v", "libx264", "-c:a", "aac", "-b:a", "192k", "-shortest", "-y", str(out)])
    return out


def mux_along(curve, clip, folder, mode="stretch"):
    video = folder / "blank.mp4"
    run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", f"color=black:size=64x64:rate=24:duration={curve.duration:.6f}",
                "-c:v", "libx264", "-y", str(video)])
    out = folder / "muxed.mp4"
    mux_audio(str(video), str(clip), str(out), mode=mode, slowdown=None, duration=curve.duration,
              segments=curve.constant_segments(), sample_rate=RATE)
    return decode_audio(out)


@pytest.mark.parametrize("ease", [0.0, 0.25])
def test_clicks_land_on_the_curve_within_one_output_frame(click_clip, tmp_path, ease):
    curve = build_curve(parse_spec(None, ["1:2@4"], ease), factor=4, rate_scale=1.0, start=0.0, end=4.0)
    audio = mux_along(curve, click_clip, tmp_path)
    assert len(audio) / RATE == pytest.approx(curve.duration, abs=1 / 24)
    expected = [curve.output_time(c) for c in CLICKS]
    errors = [found - want for found, want in zip(click_positions(audio, expected), expected, strict=True)]
    assert max(abs(e) for e in errors) < 1 / 24, [round(e * 1000, 1) for e in errors]


def test_trimmed_audio_starts_at_the_trim_by_timestamp(click_clip, tmp_path):
    # trim 1.3:3.0 (not on a keyframe): clicks at 1.5, 1.85 and 2.5 come out 0.2, 0.55 and 1.2 s in
    curve = build_curve(parse_spec("1.3:3", [], None), factor=2, rate_scale=1.0, start=1.3, end=3.0)
    original = mux_along(curve, click_clip, tmp_path, mode="original")
    found = click_positions(original, [0.2, 0.55, 1.2])
    assert max(abs(f - w) for f, w in zip(found, [0.2, 0.55, 1.2], strict=True)) < 1 / 24
    stretched = mux_along(curve, click_clip, tmp_path, mode="stretch")
    assert len(stretched) / RATE == pytest.approx(3.4, abs=1 / 24)
    found = click_positions(stretched, [0.4, 1.1, 2.4])
    assert max(abs(f - w) for f, w in zip(found, [0.4, 1.1, 2.4], strict=True)) < 1 / 24


def test_every_segment_is_cut_to_its_exact_sample_count():
    curve = build_curve(parse_spec(None, ["1:2@8"], 0.25), factor=8, rate_scale=1.0, start=0.0, end=4.0)
    graph = curve_audio_graph(curve.constant_segments(), "stretch", sample_rate=RATE)
    lengths = [int(part.split("whole_len=")[1].split(",")[0]) for part in graph.split(";") if "whole_len=" in part]
    assert sum(lengths) == round(curve.duration * RATE)
    assert len(lengths) == len(curve.constant_segments())


def test_the_whole_clip_at_one_factor_aligns_the_audio_start_in_the_cloud_join_too():
    """plan_audio is what both the local mux and the cloud's Assemble (media.join_args) read."""
    from fractions import Fraction

    from slowmo.cloud.media import join_args
    from slowmo.media.audio import plan_audio
    from slowmo.timeline.plan import make_plan
    from slowmo.timeline.timing import FrameTimes

    plan = make_plan(FrameTimes(tuple(Fraction(i, 24) for i in range(24)), Fraction(24), True), 4)
    late = plan_audio(plan, {"audio_delay": 0.5, "duration": 1.0})
    early = plan_audio(plan, {"audio_delay": -0.04, "duration": 1.0})
    assert late == {"delay": 0.5} and early == {"delay": -0.04}
    assert plan_audio(plan, {"audio_delay": 0.0001, "duration": 1.0}) == {}  # in sync: untouched
    assert plan_audio(plan, {"audio_delay": None, "duration": 1.0}) == {}
    audio = {"url": "http://127.0.0.1:1/a.mp4", "mode": "stretch", "slowdown": Fraction(4), "duration": 4.0}
    late_filter = join_args("list.txt", {**audio, "curve": late})
    af = late_filter[late_filter.index("-af") + 1]
    assert af.startswith("asetpts=PTS-STARTPTS,adelay=delays=500.000:all=1,")  # silence first, then stretched
    early_filter = join_args("list.txt", {**audio, "curve": early})
    assert early_filter[early_filter.index("-af") + 1].startswith("asetpts=PTS-STARTPTS,atrim=start=0.040000000,")
