"""`slowmo run` with --range, --ease and --trim: durations, frame times read back from the pixels,
audio/video sync measured with flashes and clicks at known source times, and one-line refusals."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from slowmo.media.encode import VideoWriter
from slowmo.media.ffmpeg import ffmpeg_command, run_ffmpeg
from slowmo.timeline.speedcurve import build_curve, parse_spec

FPS = 24
SECONDS = 4
W, H = 160, 48
RATE = 48000
BAR_SPEED = 32.0  # pixels per source second: the bar's position *is* the source time
BAR_START = 8.0
FLASH_X = 150  # the bar never gets past x = 140
FLASH_FRAMES = (12, 27, 36, 45, 60, 84)  # 0.5, 1.125 (ramping in), 1.5, 1.875 (ramping out), 2.5, 3.5 s


def bar_frame(index: int) -> np.ndarray:
    """A white 3-px bar at x = BAR_START + BAR_SPEED * t on black; flash frames light a small square at the
    right edge (small enough not to look like a scene cut)."""
    frame = np.zeros((H, W, 3), dtype=np.uint8)
    if index in FLASH_FRAMES:
        frame[20:28, FLASH_X:FLASH_X + 8] = 255
    x = BAR_START + BAR_SPEED * index / FPS
    left = int(np.floor(x))
    frac = x - left
    # antialiased: the brightness centroid of the bar is exactly x + 1
    frame[:, left, :] = np.maximum(frame[:, left, :], round(255 * (1 - frac)))
    frame[:, left + 1: left + 3, :] = 255
    frame[:, left + 3, :] = np.maximum(frame[:, left + 3, :], round(255 * frac))
    return frame


def bar_position(frame: np.ndarray) -> float:
    """The bar's centroid, background removed: blend and flow both move it linearly in t."""
    luma = frame[:, :FLASH_X - 4].astype(np.float64).mean(axis=(0, 2))
    luma = luma - np.median(luma)
    luma[luma < 6] = 0  # encoder noise on the background
    return float((np.arange(len(luma)) * luma).sum() / luma.sum()) - 1


@pytest.fixture(scope="module")
def ramp_clip(tmp_path_factory) -> Path:
    """4 s at 24 fps, 160x48: the moving bar, flashes, and a click on the audio at every flash."""
    folder = tmp_path_factory.mktemp("ramp")
    silent = folder / "silent.mp4"
    with VideoWriter(silent, W, H, FPS, crf=0, preset="ultrafast") as writer:
        for i in range(FPS * SECONDS):
            writer.write(bar_frame(i))
    t = np.arange(SECONDS * RATE) / RATE
    audio = 0.05 * np.sin(2 * np.pi * 300 * t)
    for f in FLASH_FRAMES:
        i = round(f / FPS * RATE)
        audio[i:i + 48] += 0.9 * np.hanning(48)
    raw = folder / "clicks.f32"
    raw.write_bytes(audio.astype(np.float32).tobytes())
    clip = folder / "ramp.mp4"
    run_ffmpeg(["-loglevel", "error", "-i", str(silent), "-f", "f32le", "-ar", str(RATE), "-ac", "1", "-i", str(raw),
                "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k", "-y", str(clip)])
    return clip


def decode_video(path: Path) -> np.ndarray:
    proc = subprocess.run(ffmpeg_command(["-loglevel", "error", "-i", str(path), "-map", "0:v:0", "-f", "rawvideo",  # noqa: S603
                                          "-pix_fmt", "rgb24", "-"]), capture_output=True, check=True)
    return np.frombuffer(proc.stdout, dtype=np.uint8).reshape(-1, H, W, 3)


def decode_audio(path: Path) -> np.ndarray:
    proc = subprocess.run(ffmpeg_command(["-loglevel", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar",  # noqa: S603
                                          str(RATE), "-f", "f32le", "-"]), capture_output=True, check=True)
    return np.frombuffer(proc.stdout, dtype=np.float32)


def curve(ranges, ease=0.0, factor=4):
    return build_curve(parse_spec(None, ranges, ease), factor=factor, rate_scale=1.0, start=0.0, end=float(SECONDS))


def test_range_1_to_2_at_factor_4_makes_7_seconds_with_real_frames_outside(ramp_clip, tmp_path, run_cli):
    out = tmp_path / "out.mp4"
    code, stdout, err = run_cli("run", ramp_clip, "-o", out, "--factor", "4", "--range", "1:2", "--engine", "blend",
                                "--no-progress")
    assert code == 0, err
    frames = decode_video(out)
    # 0-1 s and 2-4 s at normal speed, 1-2 s four times longer: the last frame (3.958 s) is shown at 6.958 s
    assert len(frames) == 168
    assert len(decode_audio(out)) / RATE == pytest.approx(7.0, abs=1 / FPS)
    expected = curve(["1:2"])
    for m in range(0, 168, 7):
        assert bar_position(frames[m]) == pytest.approx(BAR_START + BAR_SPEED * expected.source_time(m / FPS), abs=0.35)


def test_ease_makes_the_speed_change_smoothly_on_the_frames(ramp_clip, tmp_path, run_cli):
    speeds, times = {}, {}
    for ease in ("0", "0.25"):
        out = tmp_path / f"ease{ease}.mp4"
        args = ["run", ramp_clip, "-o", out, "--factor", "4", "--range", "1:2", "--engine", "blend", "--no-progress"]
        code, _, err = run_cli(*args, *(["--ease", ease] if ease != "0" else []))
        assert code == 0, err
        times[ease] = np.array([(bar_position(f) - BAR_START) / BAR_SPEED for f in decode_video(out)])
        speeds[ease] = np.diff(times[ease]) * FPS  # source seconds per output second, frame to frame
    hard, eased = speeds["0"], speeds["0.25"]
    # every frame shows the source time the eased curve gives it (0.01 s is a third of a pixel of the bar)
    expected = curve(["1:2"], 0.25)
    assert len(times["0.25"]) == 150  # the last frame (3.958 s) is shown at 3.958 + 3 - 2 x 0.375 = 6.208 s
    want = np.array([expected.source_time(m / FPS) for m in range(len(times["0.25"]))])
    assert np.max(np.abs(times["0.25"] - want)) < 0.01
    # both play at 1 outside and 1/4 inside the range
    assert hard[:20] == pytest.approx(1, abs=0.03) and eased[:20] == pytest.approx(1, abs=0.03)
    assert np.median(hard[40:90]) == pytest.approx(0.25, abs=0.02)
    # without ease the speed falls from 1 to 1/4 from one frame to the next; with ease it passes through
    # the speeds in between over many frames, on the way in and on the way out
    def between(speed):
        return int(np.sum((speed > 0.32) & (speed < 0.93)))

    assert between(hard) <= 2
    planned = between(np.diff(want) * FPS)  # 6 frames per ramp on the curve itself
    assert planned >= 10 and between(eased) >= planned - 2

def _click_centroids(audio: np.ndarray, expected, window=0.12):
    energy = np.diff(audio, prepend=audio[:1]).astype(np.float64) ** 2
    found = []
    for e in expected:
        a, b = int(max(0, (e - window) * RATE)), int(min(len(audio), (e + window) * RATE))
        burst = np.where(energy[a:b] > 0.05 * energy[a:b].max(), energy[a:b], 0)
        found.append((a + float((np.arange(len(burst)) * burst).sum() / burst.sum())) / RATE)
    return found


@pytest.mark.parametrize("ease", ["0", "0.25"])
def test_audio_and_video_stay_in_sync_within_one_output_frame_along_the_curve(ramp_clip, tmp_path, run_cli, ease):
    out = tmp_path / "sync.mp4"
    args = ["run", ramp_clip, "-o", out, "--factor", "4", "--range", "1:2", "--engine", "blend", "--no-progress"]
    code, _, err = run_cli(*args, *(["--ease", ease] if ease != "0" else []))
    assert code == 0, err
    frames = decode_video(out)
    background = frames[:, 20:28, FLASH_X:FLASH_X + 8].astype(np.float64).mean(axis=(1, 2, 3))
    expected = curve(["1:2"], float(ease))
    flashes = []
    for f in FLASH_FRAMES:
        m = round(expected.output_time(f / FPS) * FPS)
        near = range(max(0, m - 3), min(len(frames), m + 4))
        flashes.append(max(near, key=lambda k: background[k]) / FPS)  # the real flash frame is the brightest
    clicks = _click_centroids(decode_audio(out), flashes)
    gaps = [abs(c - v) for c, v in zip(clicks, flashes, strict=True)]
    assert max(gaps) < 1 / FPS, [round(g * 1000, 1) for g in gaps]


def test_trim_cuts_video_and_audio_by_timestamp(ramp_clip, tmp_path, run_cli):
    out = tmp_path / "trim.mp4"
    code, stdout, err = run_cli("run", ramp_clip, "-o", out, "--factor", "2", "--trim", "1.3:3", "--engine", "blend",
                                "--no-progress")
    assert code == 0, err
    frames = decode_video(out)
    # source frames 32 (1.333 s) .. 71 (2.958 s) at factor 2 from the trim start 1.3 s
    first_time = (bar_position(frames[0]) - BAR_START) / BAR_SPEED
    assert first_time == pytest.approx(1.3, abs=0.01)  # synthesised at 1.3 s, between frames 31 and 32
    assert len(frames) == 82  # ceil(2 x (3 - 1.3) x 24): the window is [1.3, 3)
    # the click at 1.5 s (frame 36) is 0.2 source seconds in: 0.4 s of output
    audio = decode_audio(out)
    assert _click_centroids(audio, [0.4])[0] == pytest.approx(0.4, abs=1 / FPS)


@pytest.mark.parametrize("args, says", [
    (["--range", "2:1"], "range 2:1 ends before it starts"),
    (["--range", "3:9"], "range 3:9 lies outside the clip"),
    (["--range", "1:3", "--range", "2:3.5"], "overlap"),
    (["--range", "1:2", "--ease", "0.6"], "longer than half the shortest range"),
    (["--trim", "3.99:"], "it must keep at least 2 frames"),
    (["--range", "1:2@99"], "from 2 to 64"),
    (["--range", "1..2"], "is not valid"),
])
def test_bad_specs_get_one_line_and_write_nothing(ramp_clip, tmp_path, run_cli, assert_one_line_error, args, says):
    out = tmp_path / "never.mp4"
    result = run_cli("run", ramp_clip, "-o", out, "--factor", "4", *args, "--no-progress")
    assert_one_line_error(result, says)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("engine_name", ["blend", "flow"])
@pytest.mark.parametrize("spec", [("0.3:0.7@4", "0.8:1.0@8"), ("trim", "0.25:0.9")])
def test_chunked_speed_curve_plan_equals_single_pass(engine_name, spec):
    """Chunks of a plan with ranges and ease (or a trim) reproduce the single pass, frame for frame."""
    from fractions import Fraction

    from slowmo.foresight.sample import render_frame
    from slowmo.synthesis.engines import create_engine
    from slowmo.synthesis.frames import synthesize
    from slowmo.timeline.plan import make_plan
    from slowmo.timeline.speedcurve import curve_and_window
    from slowmo.timeline.timing import frame_times

    count = 30  # 1.25 s at 24 fps
    times = frame_times([i * 1000 for i in range(count)], Fraction(1, FPS * 1000))
    if spec[0] == "trim":
        parsed = parse_spec(spec[1], [], None)
    else:
        parsed = parse_spec(None, list(spec), 0.05)
    time_map, window = curve_and_window(parsed, 4, times.times, count / FPS)
    single_plan = make_plan(times, 4, time_map=time_map, window=window)
    plan = make_plan(times, 4, time_map=time_map, window=window, chunk_frames=6)
    assert len(plan.chunks) > 2 and plan.output_count == single_plan.output_count
    frames = [render_frame(i, 96, 64, fps=float(FPS)) for i in range(count)]
    single = list(synthesize(frames, single_plan.frames(), create_engine(engine_name)))
    assert len(single) == plan.output_count
    assembled = []
    for c in plan.chunks:
        made = synthesize(frames[c.start: c.end + 1], plan.chunk_frames(c), create_engine(engine_name), first_index=c.start)
        assembled += list(made)[c.skip:]
    assert len(assembled) == len(single)
    for i, (a, b) in enumerate(zip(assembled, single, strict=True)):
        assert np.array_equal(a, b), f"output frame {i} differs"


def test_local_workers_give_the_single_pass_frames_with_ranges_and_trim(ramp_clip, tmp_path, run_cli):
    import cv2

    outputs = {}
    for jobs in ("1", "2"):
        folder = tmp_path / f"jobs{jobs}"
        code, _, err = run_cli("run", ramp_clip, "-o", f"{folder}/", "--factor", "4", "--trim", "0.5:2.5",
                               "--range", "1:1.5@8", "--ease", "0.1", "--engine", "flow", "--jobs", jobs,
                               "--chunk-frames", "9", "--no-progress")
        assert code == 0, err
        outputs[jobs] = sorted(folder.glob("*.png"))
    assert len(outputs["1"]) == len(outputs["2"]) > 60
    for one, two in zip(outputs["1"], outputs["2"], strict=True):
        assert np.array_equal(cv2.imread(str(one)), cv2.imread(str(two))), one.name
