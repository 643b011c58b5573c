"""FILM engine: midpoint-only schedules, batching across pairs, padding, tiling, loading, and its errors.

film_net ignores ``time`` (see tests/film_fixtures.py), so every fake model here ignores it too, except
where the ``direct`` schedule for time-honouring variants is under test.
"""

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from slowmo.errors import EngineUnavailableError, SlowmoError
from slowmo.synthesis.engines import film
from slowmo.synthesis.engines.film import (
    FilmEngine,
    FilmModelError,
    FilmOutOfMemoryError,
    plan_midpoints,
    use_recursive,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import film_fixtures  # noqa: E402


class MidpointRecorder:
    """A fake film_net (dict in, dict out): the average of x0 and x1, ``time`` read and ignored; records calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, inputs):
        x0, x1, t = inputs["x0"], inputs["x1"], inputs["time"]
        assert x0.dtype == np.float32 and t.shape == (x0.shape[0], 1)
        assert x0.shape[1] % 64 == 0 and x0.shape[2] % 64 == 0
        self.calls.append([float(v) for v in t[:, 0]])
        return {"image": 0.5 * x0 + 0.5 * x1}


class SquareMidpoint:
    """A perfect film_net for one bright square on black: it puts the square halfway between its two
    positions (``time`` ignored). With it the true frame at any t is known: the square at (1-t)p0 + t p1."""

    def __init__(self):
        self.evaluations = 0

    def __call__(self, inputs):
        out = np.zeros_like(inputs["x0"])
        for k, (a, b) in enumerate(zip(inputs["x0"], inputs["x1"], strict=True)):
            self.evaluations += 1
            out[k] = square(0.5 * (left_edge(a) + left_edge(b)), a.shape[0], a.shape[1], float)
        return {"image": out}


SIDE = 12


def square(x: float, h=64, w=256, dtype=np.uint8) -> np.ndarray:
    """A SIDE-pixel square (frame already a multiple of 64: no padding) whose left edge is at (sub-pixel) x: anti-aliased columns, so position is exact."""
    img = np.zeros((h, w, 3), np.float64)
    cols = np.arange(w)
    cover = np.clip(np.minimum(cols + 1, x + SIDE) - np.maximum(cols, x), 0, 1)
    img[26 : 26 + SIDE, :, :] = cover[None, :, None]
    return np.rint(img * 255).astype(np.uint8) if dtype is np.uint8 else img.astype(np.float32)


def left_edge(img: np.ndarray) -> float:
    """Sub-pixel left edge of the square: mass-weighted mean column minus half the side."""
    col = np.asarray(img, np.float64)[..., 0].sum(axis=0)
    return float((col * (np.arange(col.size) + 0.5)).sum() / col.sum() - SIDE / 2)


def flat(value, h=37, w=50):
    return np.full((h, w, 3), value, np.uint8)


# ------------------------------------------------------------------------------------------- schedules


def test_power_of_two_keeps_the_exact_recursive_schedule():
    rec = MidpointRecorder()
    eng = FilmEngine(model=rec, batch_size=8, tile=None)
    ts = [j / 8 for j in range(1, 8)]
    out = eng.interpolate(flat(0), flat(255), ts)
    # level by level: 1 midpoint, then 2, then 4, each from the model's own outputs, every call at t=0.5
    assert rec.calls == [[0.5], [0.5, 0.5], [0.5] * 4]
    assert [int(o[0, 0, 0]) for o in out] == [round(255 * t) for t in ts]
    assert all(o.shape == (37, 50, 3) and o.dtype == np.uint8 for o in out)


def test_plan_computes_shared_prefixes_once():
    plan = plan_midpoints([0.25])
    assert plan.levels == [[(Fraction(0), Fraction(1))], [(Fraction(0), Fraction(1, 2))]]
    assert [len(level) for level in plan_midpoints([j / 16 for j in range(1, 16)]).levels] == [1, 2, 4, 8]
    # 1/3 and 2/3 bracketed at depth 2 by (1/4, 1/2) and (1/2, 3/4): the node 1/2 is made once
    third = plan_midpoints([1 / 3, 2 / 3], depth=2, method="bracket")
    assert third.levels == [[(0, 1)], [(0, Fraction(1, 2)), (Fraction(1, 2), 1)]] and third.calls == 3
    assert third.time_used == [1 / 3, 2 / 3]
    near = plan_midpoints([1 / 3, 2 / 3], depth=3, method="nearest")
    assert [Fraction(r) for r in near.recipes] == [Fraction(3, 8), Fraction(5, 8)]
    assert near.calls == 5  # 1/2, 1/4, 3/4, 3/8, 5/8
    assert all(abs(u - t) <= 1 / 2**4 for u, t in zip(near.time_used, [1 / 3, 2 / 3], strict=True))
    with pytest.raises(ValueError):
        plan_midpoints([1.0])
    with pytest.raises(ValueError):
        plan_midpoints([0.3], method="sideways")


@pytest.mark.parametrize("ts", [[1 / 3, 2 / 3], [0.2, 0.4, 0.6, 0.8], [j / 10 for j in range(1, 10)], [0.03, 0.97]])
def test_every_model_call_is_a_midpoint(ts):
    rec = MidpointRecorder()
    out = FilmEngine(model=rec, tile=None, batch_size=4).interpolate(flat(0), flat(240), ts)
    assert len(out) == len(ts) and rec.calls
    assert all(t == 0.5 for call in rec.calls for t in call)


def test_done_when_thirds_from_an_averaging_savedmodel():
    """The issue's check: M ignores time and averages; t = 1/3, 2/3 must not come back as the midpoint."""
    from slowmo.synthesis.engines import create_engine

    path = film_fixtures.film_midpoint_savedmodel()
    yy, xx = np.mgrid[0:72, 0:128]
    scene = np.stack([xx * 1.6, yy * 2.5, 100 + 40 * np.sin(xx / 9.0)], -1)  # smooth, no motion: a fade
    a = np.clip(scene * 0.6 + 20, 0, 255).astype(np.uint8)
    b = np.clip(scene * 0.6 + 110, 0, 255).astype(np.uint8)
    ts = [1 / 3, 2 / 3]
    for method, depth in (("bracket", film.DEFAULT_DEPTH), ("nearest", 3), ("nearest", 5)):
        out = create_engine("film", model_path=path, tile=None, nondyadic=method, depth=depth).interpolate(a, b, ts)
        for frame, t in zip(out, ts, strict=True):
            truth = (1 - t) * a.astype(float) + t * b.astype(float)
            # the documented bound: nearest misses t by at most 1/2^(D+1); bracket's time is exact
            dt = 0.0 if method == "bracket" else 1 / 2 ** (depth + 1)
            bound = dt * np.abs(b.astype(float) - a).max() + 1.5
            assert np.abs(frame - truth).max() <= bound, (method, depth, t)
        assert np.abs(out[0].astype(int) - out[1].astype(int)).mean() > 20  # not the same midpoint twice


@pytest.mark.parametrize("method,depth", [("bracket", 2), ("bracket", 3), ("nearest", 3), ("nearest", 4)])
def test_motion_lands_at_the_requested_time(method, depth):
    """With a perfect midpoint model, the moving square is where it truly is at t (nearest: within its bound)."""
    x0, x1 = 20.0, 92.0  # 72 px of motion between the source frames: 18 px or less per bracket
    model = SquareMidpoint()
    ts = [1 / 3, 2 / 3, 0.1, 0.7, 0.9]
    eng = FilmEngine(model=model, tile=None, batch_size=3, nondyadic=method, depth=depth)
    out = eng.interpolate(square(x0), square(x1), ts)
    plan = plan_midpoints(ts, depth, method)
    assert model.evaluations == plan.calls
    for frame, t in zip(out, ts, strict=True):
        err_px = abs(left_edge(frame) - ((1 - t) * x0 + t * x1))
        if method == "nearest":
            assert err_px <= (x1 - x0) / 2 ** (depth + 1) + 0.5
        else:
            assert err_px <= 0.5  # the flow retime over the bracket's (x1-x0)/2^D of motion


def test_direct_schedule_sends_t_to_a_time_honouring_model():
    rec = MidpointRecorder()
    FilmEngine(model=rec, tile=None, batch_size=4, schedule="direct").interpolate(flat(0), flat(255), [0.25, 0.5, 0.75])
    assert rec.calls == [[0.25, 0.5, 0.75]]
    path = film_fixtures.time_honouring_savedmodel()
    out = FilmEngine(path, tile=None, schedule="direct").interpolate(flat(10, 70, 90), flat(210, 70, 90), [0.3])
    assert int(out[0][5, 5, 1]) == 70
    assert use_recursive([0.3], "auto") and not use_recursive([0.5], "direct")
    with pytest.raises(ValueError):
        FilmEngine(model=rec, schedule="zigzag")
    with pytest.raises(ValueError):
        FilmEngine(model=rec, nondyadic="sideways")


# -------------------------------------------------------------------------------------------- batching


def test_batches_split_by_batch_size():
    rec = MidpointRecorder()
    FilmEngine(model=rec, tile=None, batch_size=3).interpolate(flat(0), flat(90), [j / 16 for j in range(1, 16)])
    assert [len(c) for c in rec.calls] == [1, 2, 3, 1, 3, 3, 2]  # levels of 1, 2, 4, 8 calls, in batches of 3


def test_batches_span_consecutive_pairs_and_match_the_unbatched_path():
    frames = film_fixtures.moving_frames(6, 70, 90)
    pairs = [(frames[i], frames[i + 1], [j / 8 for j in range(1, 8)] if i % 2 else [0.2, 0.4, 0.6, 0.8])
             for i in range(5)]
    one = MidpointRecorder()
    single = [FilmEngine(model=one, tile=None, batch_size=1).interpolate(*p) for p in pairs]
    many = MidpointRecorder()
    eng = FilmEngine(model=many, tile=None, batch_size=4)
    batched = eng.interpolate_many(pairs)
    for s, b in zip(single, batched, strict=True):
        assert len(s) == len(b)
        for x, y in zip(s, b, strict=True):
            np.testing.assert_array_equal(x, y)
    # the same evaluations, in full batches: level 0 has one call per pair (5), level 1 two per pair (10), ...
    assert sum(map(len, one.calls)) == sum(map(len, many.calls)) == eng.evaluations
    assert [len(c) for c in many.calls] == [4, 1, 4, 4, 2, 4, 4]  # levels of 5, 10 and 8 evaluations


def test_batched_savedmodel_matches_unbatched():
    path = film_fixtures.film_midpoint_savedmodel("blur")
    frames = film_fixtures.moving_frames(4, 70, 90)
    pairs = [(frames[i], frames[i + 1], [1 / 3, 0.5, 2 / 3]) for i in range(3)]
    alone = [FilmEngine(path, tile=None, batch_size=1).interpolate(*p) for p in pairs]
    together = FilmEngine(path, tile=None, batch_size=5).interpolate_many(pairs)
    for s, b in zip(alone, together, strict=True):
        for x, y in zip(s, b, strict=True):
            np.testing.assert_array_equal(x, y)


def test_default_interpolate_many_loops_over_pairs():
    from slowmo.synthesis.engines.base import interpolate_many
    from slowmo.synthesis.engines.blend import BlendEngine

    pairs = [(flat(0), flat(100), [0.5]), (flat(100), flat(200), [0.25, 0.75])]
    got = interpolate_many(BlendEngine(), pairs)
    assert [[int(f[0, 0, 0]) for f in fs] for fs in got] == [[50], [125, 175]]
    rec = MidpointRecorder()
    eng = FilmEngine(model=rec, tile=None, batch_size=2)
    assert [len(x) for x in interpolate_many(eng, pairs)] == [1, 2] and [len(c) for c in rec.calls] == [2, 2]


# --------------------------------------------------------------------------------- padding and tiling


def test_padding_is_cropped_and_reflects():
    seen = {}

    def model(inputs):
        seen["shape"] = inputs["x0"].shape
        return {"image": inputs["x0"]}

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (37, 50, 3), dtype=np.uint8)
    out = FilmEngine(model=model, tile=None).interpolate(a, a, [0.5])[0]
    assert seen["shape"] == (1, 64, 64, 3)
    np.testing.assert_array_equal(out, a)


def test_tiled_engine_matches_untiled_on_local_model():
    path = film_fixtures.film_midpoint_savedmodel("blur")
    frames = film_fixtures.moving_frames(2, height=200, width=300)
    whole = FilmEngine(path, tile=None).interpolate(frames[0], frames[1], [0.5])[0]
    tiled_engine = FilmEngine(path, tile=128, tile_overlap=64, tile_margin=8)
    tiled = tiled_engine.interpolate(frames[0], frames[1], [0.5])[0]
    assert tiled_engine.calls >= 4
    diff = np.abs(whole.astype(int) - tiled.astype(int))
    assert diff[8:-8, 8:-8].max() <= 1  # identical up to rounding away from the border


def test_tile_is_chosen_from_free_gpu_memory(monkeypatch):
    monkeypatch.setenv("SLOWMO_GPU_MEMORY_MB", str(4 * 1024))
    small = FilmEngine(model=MidpointRecorder(), batch_size=2)
    monkeypatch.setenv("SLOWMO_GPU_MEMORY_MB", str(80 * 1024))
    large = FilmEngine(model=MidpointRecorder(), batch_size=2)
    assert small.tile_for(2160, 3840) is not None
    assert large.tile_for(1080, 1920) is None or large.tile_for(1080, 1920) > small.tile_for(2160, 3840)


# ----------------------------------------------------------------------------------- model and errors


def test_savedmodel_signature_and_cache():
    path = film_fixtures.film_midpoint_savedmodel()
    assert film.load_model(path) is film.load_model(path + "/saved_model")
    a, b = flat(10, 70, 90), flat(210, 70, 90)
    out = FilmEngine(path, tile=None).interpolate(a, b, [0.25, 0.5, 0.75])
    assert [int(o[5, 5, 1]) for o in out] == [60, 110, 160]


def test_stand_in_refuses_unpadded_frames_like_film():
    fn = film.load_model(film_fixtures.film_midpoint_savedmodel())
    x = np.zeros((1, 37, 50, 3), np.float32)
    with pytest.raises(Exception, match="divisible by 64"):
        fn({"x0": x, "x1": x, "time": np.full((1, 1), 0.5, np.float32)})
    y = np.zeros((1, 64, 64, 3), np.float32)
    t1 = fn({"x0": y, "x1": y + 1, "time": np.full((1, 1), 0.1, np.float32)})["image"]
    t9 = fn({"x0": y, "x1": y + 1, "time": np.full((1, 1), 0.9, np.float32)})["image"]
    np.testing.assert_array_equal(np.asarray(t1), np.asarray(t9))  # time is ignored, like film_net
    assert float(np.asarray(t1).max()) == 0.5


def test_create_engine_by_name():
    from slowmo.synthesis.engines import create_engine

    eng = create_engine("film", model_path=film_fixtures.film_midpoint_savedmodel(), tile=None)
    assert eng.name == "film"
    assert len(eng.interpolate(flat(0), flat(100), [0.5])) == 1


def test_out_of_memory_names_frame_batch_and_tile():
    class ResourceExhaustedError(Exception):  # the name TensorFlow's OOM error has
        pass

    def oom(inputs):
        raise ResourceExhaustedError("OOM when allocating tensor with shape[2,64,1088,1920]\nmore detail")

    eng = FilmEngine(model=oom, tile=512, batch_size=2)
    with pytest.raises(FilmOutOfMemoryError) as err:
        eng.interpolate(flat(0, 1080, 1920), flat(9, 1080, 1920), [0.5])
    msg = str(err.value)
    assert "\n" not in msg and "1920x1080" in msg and "tile 512" in msg and "batch of 1" in msg
    assert isinstance(err.value, SlowmoError)

    def broken(inputs):
        raise ValueError("Incompatible shapes: [1,8,8,32] vs. [1,9,9,32]\n")

    with pytest.raises(FilmModelError, match=r"^FILM model failed on 50x37 frames.*Incompatible shapes"):
        FilmEngine(model=broken, tile=None).interpolate(flat(0), flat(9), [0.5])


def test_missing_model_path_says_how_to_get_one(monkeypatch):
    monkeypatch.delenv(film.MODEL_ENV, raising=False)
    with pytest.raises(EngineUnavailableError) as err:
        FilmEngine()
    msg = str(err.value)
    assert "pip install 'slowmo-film[film]'" in msg and "--model" in msg
    assert "github.com/google-research/frame-interpolation" in msg and "\n" not in msg


def test_missing_tensorflow(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # import fails like an absent package
    with pytest.raises(EngineUnavailableError, match=r"TensorFlow is not installed.*slowmo-film\[film\]"):
        FilmEngine(tmp_path)


def test_bad_model_paths(tmp_path):
    pytest.importorskip("tensorflow")  # without it, the engine stops at "TensorFlow is not installed" first
    with pytest.raises(EngineUnavailableError, match="no FILM saved model"):
        FilmEngine(tmp_path / "nowhere")
    (tmp_path / "saved_model.pb").write_bytes(b"not a protobuf")
    with pytest.raises(EngineUnavailableError, match="cannot load the FILM model"):
        FilmEngine(tmp_path)


# ------------------------------------------------------------------------------- through `slowmo run`


def fade_clip(path: Path, frames: int = 6, step: int = 12) -> Path:
    """24 fps: a still, smooth picture that brightens by ``step`` grey levels per frame, so the brightness
    of any frame tells the source time it shows (a cross-fade model's frame at t is exactly (1-t)a + tb)."""
    from fractions import Fraction as F

    from slowmo.media.encode import VideoWriter

    yy, xx = np.mgrid[0:72, 0:128]
    scene = np.stack([xx * 0.8, yy * 1.2, 40 + 20 * np.sin(xx / 11.0)], -1) + 30
    with VideoWriter(path, 128, 72, F(24), crf=0, preset="veryfast") as writer:
        for i in range(frames):
            writer.write(np.clip(scene + step * i, 0, 255).astype(np.uint8))
    return path


def source_frames(path: Path) -> list[np.ndarray]:
    from slowmo.media.decode import read_frames
    from slowmo.media.probe import probe

    return list(read_frames(probe(path)))


def output_frames(directory: Path) -> list[np.ndarray]:
    import cv2

    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(directory.glob("frame_*.png"))]


def assert_timed(out: list[np.ndarray], src: list[np.ndarray], positions: list[float]) -> None:
    """Output frame n shows source position positions[n] (i + t): within a grey level, and never another slot's."""
    assert len(out) == len(positions)
    for frame, p in zip(out, positions, strict=True):
        i = min(int(p), len(src) - 2)
        t = p - i
        truth = (1 - t) * src[i].astype(float) + t * src[i + 1].astype(float)
        assert abs(frame.mean() - truth.mean()) < 0.5, (p, frame.mean(), truth.mean())
        assert np.abs(frame - truth).max() <= 2, p


def test_cli_factor_3_with_a_midpoint_only_savedmodel(tmp_path, run_cli):
    clip = fade_clip(tmp_path / "fade.mp4")
    model = film_fixtures.film_midpoint_savedmodel()
    code, out, err = run_cli("run", clip, "-o", f"{tmp_path / 'frames'}/", "--factor", "3", "--engine", "film",
                             "--model", model)
    assert code == 0, err
    src = source_frames(clip)
    frames = output_frames(tmp_path / "frames")
    assert_timed(frames, src, [n / 3 for n in range(3 * (len(src) - 1) + 1)])


def test_cli_factor_4_at_60_fps_from_24_fps(tmp_path, run_cli):
    """--fps 60 is a retime under the shared rule "output time = K x source time" (slowmo.timeline.plan): output
    frame n shows source time n / (60 K), i.e. source position n * 24 / (60 * 4): t = j/10, none dyadic but 0.5."""
    clip = fade_clip(tmp_path / "fade.mp4")
    model = film_fixtures.film_midpoint_savedmodel()
    code, out, err = run_cli("run", clip, "-o", f"{tmp_path / 'frames'}/", "--factor", "4", "--fps", "60",
                             "--engine", "film", "--model", model)
    assert code == 0, err
    src = source_frames(clip)
    frames = output_frames(tmp_path / "frames")
    step = Fraction(24, 60 * 4)
    last = len(src) - 1
    positions = [float(n * step) for n in range(int(last / step) + 1)]
    assert_timed(frames, src, positions)


def test_synthesis_batches_film_calls_across_consecutive_pairs():
    """synthesize hands the engine pair_window(engine) pairs at once: film fills its batches across pairs,
    and the frames are those of one pair at a time."""
    from slowmo.synthesis.frames import synthesize

    frames = film_fixtures.moving_frames(7, 70, 90)
    alone, together = MidpointRecorder(), MidpointRecorder()
    one_by_one = list(synthesize(frames, 4, FilmEngine(model=alone, tile=None, batch_size=1)))
    windowed = list(synthesize(frames, 4, FilmEngine(model=together, tile=None, batch_size=4)))
    assert len(one_by_one) == len(windowed) == 6 * 4 + 1
    for x, y in zip(one_by_one, windowed, strict=True):
        np.testing.assert_array_equal(x, y)
    assert sum(map(len, alone.calls)) == sum(map(len, together.calls)) == 6 * 3
    # level 0 of four consecutive pairs in one batch (a single pair's level 0 is one evaluation)
    assert [len(c) for c in together.calls] == [4, 4, 4, 2, 4]
