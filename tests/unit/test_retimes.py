"""Retimes beyond whole slowdowns (issue 22, item 7): a fractional factor (-k 2.5, `--range 1:2@2.5`) and
real-speed frame rate conversion (-k 1 --fps 60).

The rule is the planner's, unchanged: output frame m is shown at m / R and shows source time T(m / R). A
real frame is the output frame where the grid meets it (at -k 2.5 from 24 fps, or -k 1 --fps 60 from
24 fps, source frame i falls on output frame 2.5 i: every even frame); a real frame between two grid
points is not shown as itself, and the output frames either side of it are synthesised at their own t.

Plan level first (no video), then whole runs on a generated clip whose pixels say which source time each
output frame shows (a bar moving at a known speed), with the audio's duration checked.
"""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from slowmo.errors import InputError
from slowmo.timeline.plan import OutputFrame, Plan, plan_job
from slowmo.timeline.timing import FrameTimes

FPS = 24


def info(frames: int, fps: int = FPS) -> SimpleNamespace:
    """What plan_job reads of a probe: a constant-rate clip of `frames` frames."""
    times = tuple(Fraction(i, fps) for i in range(frames))
    return SimpleNamespace(frame_times=FrameTimes(times, Fraction(fps), True), duration=frames / fps, path="clip.mp4")


def options(**values):
    from slowmo.options import JobOptions

    return JobOptions(engine="blend", **values)


def shown(plan: Plan) -> list[int]:
    """The source frames that appear in the output as themselves."""
    return [f.index for f in plan.frames() if f.is_source]


# ---------------------------------------------------------------------------------------------- plans


def test_factor_2_5_plan_keeps_every_frame_the_grid_meets_and_synthesises_the_rest():
    plan = plan_job(info(48), options(factor="2.5"))
    assert plan.factor == Fraction(5, 2) and plan.slowdown == Fraction(5, 2)
    assert plan.output_fps == 24
    # 47 intervals x 2.5 = 117.5 output frame intervals: frames 0..117; the last frame (47) falls at 117.5
    assert plan.output_count == 118
    assert plan.output_duration == pytest.approx(118 / 24)
    frames = list(plan.frames())
    # source frame i falls on output frame 2.5 i: the even ones are shown as themselves, where they fall
    assert shown(plan) == list(range(0, 48, 2))
    for i in range(0, 48, 2):
        assert frames[5 * i // 2] == OutputFrame(i)
    # every output frame shows source time m / 60 s (m / 24 of output, 2.5 times slower)
    for m, f in enumerate(frames):
        assert Fraction(f.index, 24) + Fraction(f.t).limit_denominator(1000) / 24 == Fraction(m, 60)
    # the odd frames: the output frames either side of source frame 1 (at 2.5) are 0 -> 1 at t = 0.8 and
    # 1 -> 2 at t = 0.2; each pair gets 2 or 3 frames, never a frame outside it
    assert frames[1:5] == [OutputFrame(0, 0.4), OutputFrame(0, 0.8), OutputFrame(1, 0.2), OutputFrame(1, 0.6)]
    assert plan.last_frame == 47 and frames[-1] == OutputFrame(46, 0.8)


def test_factor_1_at_60_fps_converts_24_fps_at_real_speed():
    plan = plan_job(info(48), options(factor=1, fps=60))
    assert plan.slowdown == 1 and plan.output_fps == 60
    assert plan.output_count == 118  # 47/24 s of frame intervals at 60 fps: 117.5 -> frames 0..117
    assert plan.output_duration == pytest.approx(118 / 60)  # real speed: the source's 47/24 s, to a frame
    frames = list(plan.frames())
    assert shown(plan) == list(range(0, 48, 2))  # 24 -> 60: every other source frame lands on the grid
    for m, f in enumerate(frames):
        assert Fraction(f.index, 24) + Fraction(f.t).limit_denominator(1000) / 24 == Fraction(m, 60)
    assert [f.t for f in frames[:6]] == [0, 0.4, 0.8, 0.2, 0.6, 0]
    assert "the requested output rate" in plan.rate_reason


def test_factor_1_below_the_source_rate_is_refused_rather_than_dropping_frames():
    with pytest.raises(InputError, match="would skip real frames.*--fps 24 or more"):
        plan_job(info(48), options(factor=1, fps=12))


def test_range_at_2_5_slows_only_the_range_and_keeps_the_frames_outside():
    plan = plan_job(info(72), options(factor=8, ranges=("1:2@2.5",)))
    assert plan.output_fps == 24
    # 0-1 s and 2-3 s at real speed (24 + 23 frames), 1-2 s at 2.5x (60 frames): 107 intervals
    assert plan.output_count == 108
    frames = list(plan.frames())
    outside = list(range(0, 25)) + list(range(48, 72))
    inside = list(range(26, 48, 2))  # frame 24 + j falls on output frame 24 + 2.5 j: even j
    assert shown(plan) == sorted(outside + inside)
    assert frames[:25] == [OutputFrame(i) for i in range(25)]
    assert frames[84:] == [OutputFrame(i) for i in range(48, 72)]
    # inside the range, 2.5 output frames per source frame: source time 1 + (m - 24) / 60
    for m in range(24, 84):
        f = frames[m]
        assert f.index / 24 + f.t / 24 == pytest.approx(1 + (m - 24) / 60, abs=1e-9)


def test_chunks_of_a_fractional_plan_add_up_to_the_single_pass():
    """The invariant: chunk boundaries on and off the grid, each output frame made exactly once."""
    for opts in (options(factor="2.5"), options(factor=1, fps=60), options(factor=8, ranges=("1:2@2.5",))):
        single = plan_job(info(72), opts)
        skips = set()
        for size in (4, 7, 10):
            chunked = plan_job(info(72), opts, chunk_frames=size)
            joined = []
            for c in chunked.chunks:
                made = chunked.chunk_frames(c)[c.skip:]
                joined += [OutputFrame(f.index + c.start, f.t) for f in made]
            assert joined == list(single.frames()), (opts, size)
            skips |= {c.skip for c in chunked.chunks[1:]}
        # a boundary frame the grid meets is made by both chunks and kept once; one it misses by neither
        assert skips == {0, 1}


def test_a_fractional_plan_survives_json_with_its_exact_factor():
    plan = plan_job(info(48), options(factor="7/3"), chunk_frames=9)
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["factor"] == "7/3"
    again = Plan.from_dict(data)
    assert again == plan and again.factor == Fraction(7, 3)
    assert list(again.frames()) == list(plan.frames())
    assert json.loads(json.dumps(plan_job(info(48), options(factor="2.5")).to_dict()))["factor"] == 2.5
    assert plan_job(info(48), options(factor=8)).to_dict()["factor"] == 8  # whole factors: as before


# ---------------------------------------------------------------------------------------------- options


def test_factor_1_alone_is_refused_with_what_to_do_instead():
    for values in ({"factor": 1}, {"factor": "1"}, {"factor": 1, "trim": "1:2"}):
        with pytest.raises(InputError, match=r"factor 1 keeps real speed.*-k 1 --fps 60.*-k 2\.5.*--range"):
            options(**values)


def test_factor_1_is_valid_with_an_output_rate_or_a_range_that_slows():
    assert options(factor=1, fps=60).factor == 1
    assert options(factor=1, ranges=("1:2@4",)).factor == 1
    assert options(factor=1, ranges=("1:2@2.5",)).ranges == ("1:2@2.5",)
    with pytest.raises(InputError, match="range 1:2 slows nothing at factor 1.*1:2@4"):
        options(factor=1, fps=60, ranges=("1:2",))


def test_fractional_options_round_trip_and_whole_ones_are_unchanged():
    from slowmo.options import JobOptions

    opts = options(factor="2.5", ranges=("1:2@1.5",))
    data = opts.to_dict()
    assert data["factor"] == 2.5 and data["ranges"] == ["1:2@1.5"]
    assert JobOptions.from_dict(json.loads(json.dumps(data))) == opts
    assert JobOptions.from_dict({**data, "factor": "5/2"}) == opts
    assert options(factor="7/3").to_dict()["factor"] == "7/3"
    assert options(factor="8").to_dict()["factor"] == 8 and type(options(factor="8").factor) is int


# ---------------------------------------------------------------------------------------------- audio


def test_audio_filters_for_2_5_and_for_real_speed():
    from slowmo.media.audio import atempo_chain, audio_filter

    assert atempo_chain(1 / 2.5) == ["atempo=0.5", "atempo=0.800000000"]  # 0.5 x 0.8 = 0.4
    assert audio_filter("stretch", Fraction(1)) == "apad"  # real speed: nothing to stretch
    assert "tempo=0.400000000" in audio_filter("stretch", Fraction(5, 2))


# ---------------------------------------------------------------------------------------------- runs

W, H = 160, 48
BAR_START, BAR_SPEED = 8.0, 32.0  # pixels, pixels per source second: the bar's position is the source time


def bar_frame(index: int) -> np.ndarray:
    frame = np.zeros((H, W, 3), dtype=np.uint8)
    x = BAR_START + BAR_SPEED * index / FPS
    left = int(np.floor(x))
    frac = x - left
    frame[:, left, :] = round(255 * (1 - frac))
    frame[:, left + 1: left + 3, :] = 255
    frame[:, left + 3, :] = round(255 * frac)
    return frame


def source_time_shown(frame: np.ndarray) -> float:
    luma = frame.astype(np.float64).mean(axis=(0, 2))
    luma = luma - np.median(luma)
    luma[luma < 6] = 0
    return (float((np.arange(len(luma)) * luma).sum() / luma.sum()) - 1 - BAR_START) / BAR_SPEED


@pytest.fixture(scope="module")
def bar_clip(tmp_path_factory) -> Path:
    """3 s at 24 fps (72 frames), 160x48, the moving bar, with a 440 Hz tone from lavfi."""
    from slowmo.media.encode import VideoWriter
    from slowmo.media.ffmpeg import run_ffmpeg

    folder = tmp_path_factory.mktemp("retime")
    silent = folder / "silent.mp4"
    with VideoWriter(silent, W, H, FPS, crf=0, preset="ultrafast") as writer:
        for i in range(72):
            writer.write(bar_frame(i))
    clip = folder / "bar.mp4"
    run_ffmpeg(["-loglevel", "error", "-i", str(silent), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3",
                "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest", "-y", str(clip)])
    return clip


def decode(path: Path) -> np.ndarray:
    from slowmo.media.ffmpeg import ffmpeg_command

    proc = subprocess.run(ffmpeg_command(["-loglevel", "error", "-i", str(path), "-map", "0:v:0", "-f", "rawvideo",  # noqa: S603
                                          "-pix_fmt", "rgb24", "-"]), capture_output=True, check=True)
    return np.frombuffer(proc.stdout, dtype=np.uint8).reshape(-1, H, W, 3)


@pytest.mark.parametrize("name, values, frames, fps, seconds_per_frame", [
    # 71 intervals x 2.5 = 177.5: 178 frames at 24 fps, each 1/60 s of source later than the one before
    ("k2.5", {"factor": "2.5"}, 178, 24, lambda m: m / 60),
    # real speed at 60 fps: the same 178 frames, each shown for 1/60 s
    ("k1-60fps", {"factor": 1, "fps": 60}, 178, 60, lambda m: m / 60),
    # 1-2 s at 2.5x, the rest at real speed: 24 + 60 + 23 intervals
    ("range@2.5", {"factor": 8, "ranges": ("1:2@2.5",)}, 108, 24,
     lambda m: m / 24 if m <= 24 else (1 + (m - 24) / 60 if m <= 84 else 2 + (m - 84) / 24)),
])
def test_run_makes_the_planned_frames_at_the_planned_times_with_audio_to_match(bar_clip, tmp_path, name, values,
                                                                                 frames, fps, seconds_per_frame):
    from slowmo.local.pipeline import run_job
    from slowmo.media.probe import probe, stream_duration

    out = tmp_path / f"{name}.mp4"
    report = run_job(bar_clip, out, options(**values))
    video = probe(out)
    assert report.output_frames == video.frame_count == frames
    assert video.fps == fps
    duration = frames / fps
    assert video.duration == pytest.approx(duration, abs=1e-6)
    # the audio follows the video to within a frame: stretched 2.5x, or kept at real speed
    assert stream_duration(out, "a") == pytest.approx(duration, abs=1 / fps)
    # every output frame shows the source time the plan gives it (0.01 s is a third of a pixel of the bar)
    shown_times = [source_time_shown(f) for f in decode(out)]
    want = [seconds_per_frame(m) for m in range(frames)]
    assert max(abs(a - b) for a, b in zip(shown_times, want, strict=True)) < 0.01


def test_a_fractional_run_in_chunks_on_two_workers_equals_the_single_pass(bar_clip, tmp_path):
    from slowmo.local.pipeline import run_job

    single, chunked = tmp_path / "single", tmp_path / "chunked"
    run_job(bar_clip, f"{single}/", options(factor="2.5"))
    run_job(bar_clip, f"{chunked}/", options(factor="2.5"), jobs=2, chunk_frames=7)
    a, b = sorted(single.iterdir()), sorted(chunked.iterdir())
    assert len(a) == len(b) == 178
    assert [p.name for p in a] == [p.name for p in b]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))


# ---------------------------------------------------------------------------------------------- model server, cloud


def test_model_server_requests_keep_whole_factors_byte_identical_and_take_fractional_ones_with_outputs():
    from slowmo.modelserver.handler import ServerRequest, build_request

    whole = build_request(["s3://w/in.chunk"], "s3://w/out.chunk", 8, engine="blend", first_index=0)
    assert json.dumps(whole, sort_keys=True) == json.dumps({
        "version": 1, "inputs": ["s3://w/in.chunk"], "output": "s3://w/out.chunk", "factor": 8, "engine": "blend",
        "start": 0, "first_index": 0, "schedule": "auto", "tile": "auto", "tile_overlap": 128, "batch_size": 2,
        "fps": "30"}, sort_keys=True)
    assert build_request(["s3://w/in.chunk"], "s3://w/out.chunk", "8")["factor"] == 8  # as _int always took it
    plan = plan_job(info(6), options(factor="2.5"))
    outputs = [f.to_json() for f in plan.frames()]
    for factor in (2.5, "5/2", 1):
        req = ServerRequest.from_dict({"inputs": ["s3://w/in.chunk"], "output": "s3://w/o.chunk", "factor": factor,
                                       "outputs": outputs})
        assert req.factor == factor and len(req.outputs) == plan.output_count == 13
        assert json.loads(json.dumps(req.to_dict()))["factor"] == factor
    for factor in (2.5, "5/2", 1):  # without the outputs, a factor alone must say t = j/K
        with pytest.raises(InputError, match="'factor' must be an integer from 2 to 256.*needs the plan's 'outputs'"):
            ServerRequest.from_dict({"inputs": ["s3://w/in.chunk"], "output": "s3://w/o.chunk", "factor": factor})
    for factor in (0.5, "x", True, 300):
        with pytest.raises(InputError, match="'factor' must be"):
            ServerRequest.from_dict({"inputs": ["s3://w/in.chunk"], "output": "s3://w/o.chunk", "factor": factor,
                                     "outputs": outputs})


def test_the_cloud_takes_real_speed_conversion_and_fractional_factors():
    from slowmo.cloud.submission import options_from_key, options_from_metadata, validate_options

    assert validate_options({"factor": 1, "fps": "60"})["factor"] == 1
    assert validate_options({"factor": "8"})["factor"] == 8
    assert options_from_key("uploads/factor=8/clip.mp4") == {"factor": 8}  # whole factors: as before
    assert validate_options({"factor": 8, "ranges": ["1:2@2.5"]})["ranges"] == ["1:2@2.5"]
    # every way of asking for 2.5x reaches the job as the same JSON number (the Map's chunks are timed by the plan)
    for raw in ({"factor": 2.5}, {"factor": "5/2"}, options_from_metadata({"slowmo-factor": "2.5"}),
                options_from_key("uploads/factor=2.5/clip.mp4")):
        assert validate_options(raw)["factor"] == 2.5
    with pytest.raises(InputError, match="factor 1 keeps real speed"):
        validate_options({"factor": 1})
