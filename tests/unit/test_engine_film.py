"""FILM engine: schedules, batching, padding, tiling, SavedModel loading and the errors users see."""

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from slowmo.engines import film
from slowmo.engines.film import FilmEngine, recursive_plan, use_recursive
from slowmo.errors import EngineUnavailableError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import film_fixtures  # noqa: E402


class Recorder:
    """A fake FILM model (dict in, dict out) that blends linearly and records every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, inputs):
        x0, x1, t = inputs["x0"], inputs["x1"], inputs["time"]
        assert x0.dtype == np.float32 and t.shape == (x0.shape[0], 1)
        assert x0.shape[1] % 64 == 0 and x0.shape[2] % 64 == 0
        self.calls.append([float(v) for v in t[:, 0]])
        tt = t.reshape(-1, 1, 1, 1)
        return {"image": (1 - tt) * x0 + tt * x1}


def flat(value, h=37, w=50):
    return np.full((h, w, 3), value, np.uint8)


def test_recursive_schedule_for_power_of_two():
    rec = Recorder()
    eng = FilmEngine(model=rec, batch_size=8, tile=None)
    ts = [j / 8 for j in range(1, 8)]
    out = eng.interpolate(flat(0), flat(255), ts)
    # level by level: 1 midpoint, then 2, then 4 - every call at t=0.5
    assert rec.calls == [[0.5], [0.5, 0.5], [0.5] * 4]
    assert [int(o[0, 0, 0]) for o in out] == [round(255 * t) for t in ts]
    assert all(o.shape == (37, 50, 3) and o.dtype == np.uint8 for o in out)


def test_recursive_plan_only_needed_branches():
    plan = recursive_plan([0.25])
    assert plan == [[(Fraction(0), Fraction(1))], [(Fraction(0), Fraction(1, 2))]]
    assert [len(level) for level in recursive_plan([j / 16 for j in range(1, 16)])] == [1, 2, 4, 8]


def test_direct_schedule_for_other_factors_and_when_asked():
    rec = Recorder()
    FilmEngine(model=rec, tile=None, batch_size=4).interpolate(flat(0), flat(255), [1 / 3, 2 / 3])
    assert rec.calls == [[pytest.approx(1 / 3), pytest.approx(2 / 3)]]
    rec = Recorder()
    FilmEngine(model=rec, tile=None, batch_size=4, schedule="direct").interpolate(flat(0), flat(255), [0.25, 0.5, 0.75])
    assert rec.calls == [[0.25, 0.5, 0.75]]
    assert use_recursive([0.5], "recursive") and not use_recursive([0.3], "recursive")
    assert not use_recursive([0.5], "direct")
    with pytest.raises(ValueError):
        FilmEngine(model=rec, schedule="zigzag")


def test_batches_split_by_batch_size():
    rec = Recorder()
    FilmEngine(model=rec, tile=None, batch_size=3).interpolate(flat(0), flat(90), [j / 7 for j in range(1, 7)])
    assert [len(c) for c in rec.calls] == [3, 3]


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
    path = film_fixtures.tiny_film_savedmodel("conv")
    frames = film_fixtures.moving_frames(2, height=200, width=300)
    whole = FilmEngine(path, tile=None, schedule="direct").interpolate(frames[0], frames[1], [0.5])[0]
    tiled_engine = FilmEngine(path, tile=128, tile_overlap=64, tile_margin=8, schedule="direct")
    tiled = tiled_engine.interpolate(frames[0], frames[1], [0.5])[0]
    assert tiled_engine.calls >= 4
    diff = np.abs(whole.astype(int) - tiled.astype(int))
    assert diff[8:-8, 8:-8].max() <= 1  # identical up to rounding away from the border


def test_savedmodel_signature_and_cache():
    path = film_fixtures.tiny_film_savedmodel("blend")
    assert film.load_model(path) is film.load_model(path + "/saved_model")
    a, b = flat(10, 70, 90), flat(210, 70, 90)
    out = FilmEngine(path, tile=None).interpolate(a, b, [0.25, 0.5, 0.75])
    assert [int(o[5, 5, 1]) for o in out] == [60, 110, 160]


def test_create_engine_by_name():
    from slowmo.engines import create_engine

    eng = create_engine("film", model_path=film_fixtures.tiny_film_savedmodel("blend"), tile=None)
    assert eng.name == "film"
    assert len(eng.interpolate(flat(0), flat(100), [0.5])) == 1


def test_missing_model_path_says_how_to_get_one(monkeypatch):
    monkeypatch.delenv(film.MODEL_ENV, raising=False)
    with pytest.raises(EngineUnavailableError) as err:
        FilmEngine()
    msg = str(err.value)
    assert "pip install 'slowmo[film]'" in msg and "--model" in msg
    assert "github.com/google-research/frame-interpolation" in msg and "\n" not in msg


def test_missing_tensorflow(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # import fails like an absent package
    with pytest.raises(EngineUnavailableError, match=r"TensorFlow is not installed.*slowmo\[film\]"):
        FilmEngine(tmp_path)


def test_bad_model_paths(tmp_path):
    with pytest.raises(EngineUnavailableError, match="no FILM saved model"):
        FilmEngine(tmp_path / "nowhere")
    (tmp_path / "saved_model.pb").write_bytes(b"not a protobuf")
    with pytest.raises(EngineUnavailableError, match="cannot load the FILM model"):
        FilmEngine(tmp_path)
