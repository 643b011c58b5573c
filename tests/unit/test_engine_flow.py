import cv2
import numpy as np
import pytest

from slowmo.errors import InputError
from slowmo.synthesis.engines.flow import FlowEngine
from slowmo.synthesis.metrics import psnr


def _texture(h, w, seed):
    """Multi-scale (roughly 1/f, like natural images) colour texture."""
    rng = np.random.default_rng(seed)
    acc = np.zeros((h, w, 3), np.float32)
    for sigma, amp in ((1.0, 0.5), (3.0, 1.0), (8.0, 1.5)):
        n = cv2.GaussianBlur(rng.uniform(0, 255, (h, w, 3)).astype(np.float32), (0, 0), sigma)
        acc += amp * (n - n.mean()) / max(float(n.std()), 1e-3)
    acc = acc * (50.0 / max(float(acc.std()), 1e-3)) + 128
    return np.clip(acc, 0, 255).astype(np.uint8)


def _scene(h, w, square, x, y=None, seed=0):
    """Static textured background with a textured square whose left edge is at x."""
    bg = _texture(h, w, seed)
    fg = _texture(square, square, seed + 100)
    img = bg.copy()
    y = (h - square) // 2 if y is None else y
    img[y : y + square, x : x + square] = fg
    return img


def _crossfade(a, b):
    return ((a.astype(np.uint16) + b.astype(np.uint16) + 1) // 2).astype(np.uint8)


@pytest.fixture(scope="module")
def engine():
    return FlowEngine()


def test_name_and_interface(engine):
    assert FlowEngine.name == "flow"
    a = _scene(48, 64, 16, 10)
    b = _scene(48, 64, 16, 14)
    out = engine.interpolate(a, b, [0.25, 0.5, 0.75])
    assert isinstance(out, list) and len(out) == 3
    assert engine.interpolate(a, b, []) == []


@pytest.mark.parametrize("dx,margin", [(8, 5.0), (16, 2.5)])
def test_middle_frame_beats_crossfade(engine, dx, margin):
    h, w, sq, x0 = 96, 128, 32, 30
    a = _scene(h, w, sq, x0)
    b = _scene(h, w, sq, x0 + dx)
    truth = _scene(h, w, sq, x0 + dx // 2)
    (mid,) = engine.interpolate(a, b, [0.5])
    p_flow = psnr(mid, truth)
    p_fade = psnr(_crossfade(a, b), truth)
    assert p_flow > p_fade + margin, (p_flow, p_fade)
    assert p_flow > 28.0


def test_quarter_time_lands_at_quarter_position(engine):
    h, w, sq, x0, dx = 96, 128, 32, 30, 16
    a = _scene(h, w, sq, x0)
    b = _scene(h, w, sq, x0 + dx)
    q1, q3 = engine.interpolate(a, b, [0.25, 0.75])
    assert psnr(q1, _scene(h, w, sq, x0 + 4)) > psnr(q1, _scene(h, w, sq, x0 + 12)) + 3
    assert psnr(q3, _scene(h, w, sq, x0 + 12)) > psnr(q3, _scene(h, w, sq, x0 + 4)) + 3


@pytest.mark.parametrize("sq", [64, 80])
def test_large_motion_beats_crossfade(engine, sq):
    # 60 px of motion on a 256-px-wide frame: far beyond DIS's local search on its own
    h, w, x0, dx = 128, 256, 40, 60
    a = _scene(h, w, sq, x0, seed=3)
    b = _scene(h, w, sq, x0 + dx, seed=3)
    truth = _scene(h, w, sq, x0 + dx // 2, seed=3)
    (mid,) = engine.interpolate(a, b, [0.5])
    p_flow = psnr(mid, truth)
    p_fade = psnr(_crossfade(a, b), truth)
    assert p_flow > p_fade + 3.0, (p_flow, p_fade)


def test_large_pan_beats_crossfade(engine):
    big = _texture(128, 400, seed=5)
    a = np.ascontiguousarray(big[:, :256])
    b = np.ascontiguousarray(big[:, 60:316])
    truth = big[:, 30:286]
    (mid,) = engine.interpolate(a, b, [0.5])
    # the right-hand 60 columns enter the picture and cannot be predicted
    p_flow = psnr(mid[:, :190], truth[:, :190])
    p_fade = psnr(_crossfade(a, b)[:, :190], truth[:, :190])
    assert p_flow > p_fade + 6.0, (p_flow, p_fade)


def test_global_pan_is_reproduced(engine):
    big = _texture(100, 160, seed=7)
    a = big[:, 0:128]
    b = big[:, 12:140]
    truth = big[:, 6:134]
    (mid,) = engine.interpolate(np.ascontiguousarray(a), np.ascontiguousarray(b), [0.5])
    # ignore the columns that enter the picture from the right
    assert psnr(mid[:, :110], truth[:, :110]) > 32.0


@pytest.mark.parametrize("shape", [(9, 17, 3), (17, 9, 3), (1, 1, 3), (2, 3, 3), (31, 45, 3), (101, 63, 3)])
def test_shape_and_dtype_preserved_for_odd_sizes(engine, shape):
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = np.roll(a, 1, axis=1)
    out = engine.interpolate(a, b, [0.2, 0.5, 0.8])
    assert len(out) == 3
    for f in out:
        assert f.shape == shape and f.dtype == np.uint8
        assert f.flags["C_CONTIGUOUS"]


def test_identical_frames_return_the_input(engine):
    a = _scene(40, 56, 12, 20)
    out = engine.interpolate(a, a.copy(), [0.1, 0.5, 0.9])
    for f in out:
        assert np.array_equal(f, a)
        assert f is not a


def test_nearly_identical_frames_stay_within_one_level(engine):
    a = _scene(40, 56, 12, 20)
    b = a.copy()
    b[0, 0, 0] ^= 1
    (mid,) = engine.interpolate(a, b, [0.5])
    assert int(np.abs(mid.astype(int) - a.astype(int)).max()) <= 1


@pytest.mark.parametrize(
    "a_val,b_val",
    [(0, 0), (0, 255), (255, 255), (37, 38), (0, 1)],
)
def test_flat_and_black_frames(engine, a_val, b_val):
    a = np.full((33, 47, 3), a_val, np.uint8)
    b = np.full((33, 47, 3), b_val, np.uint8)
    (mid,) = engine.interpolate(a, b, [0.5])
    lo, hi = min(a_val, b_val), max(a_val, b_val)
    assert mid.dtype == np.uint8
    assert mid.min() >= lo and mid.max() <= hi
    # a flat fade stays flat: no structure invented
    assert int(mid.max()) - int(mid.min()) <= 1


def test_black_to_textured_does_not_crash(engine):
    a = np.zeros((64, 64, 3), np.uint8)
    b = _texture(64, 64, seed=5)
    out = engine.interpolate(a, b, [0.5])
    assert out[0].shape == a.shape and out[0].dtype == np.uint8


def test_deterministic_and_call_order_independent():
    a = _scene(64, 96, 20, 20, seed=1)
    b = _scene(64, 96, 20, 30, seed=1)
    c = _scene(64, 96, 20, 50, seed=2)
    e1 = FlowEngine()
    first = e1.interpolate(a, b, [0.5])
    e1.interpolate(b, c, [0.3, 0.6])  # unrelated call in between
    again = e1.interpolate(a, b, [0.5])
    fresh = FlowEngine().interpolate(a, b, [0.5])
    # per-t results do not depend on which other ts are requested alongside
    combo = e1.interpolate(a, b, [0.25, 0.5])
    assert np.array_equal(first[0], again[0])
    assert np.array_equal(first[0], fresh[0])
    assert np.array_equal(first[0], combo[1])


def test_input_frames_not_modified(engine):
    a = _scene(48, 64, 16, 10)
    b = _scene(48, 64, 16, 18)
    a0, b0 = a.copy(), b.copy()
    engine.interpolate(a, b, [0.5])
    assert np.array_equal(a, a0) and np.array_equal(b, b0)


@pytest.mark.parametrize("bad_t", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_rejects_t_outside_open_interval(engine, bad_t):
    a = _scene(32, 32, 8, 4)
    with pytest.raises(ValueError):
        engine.interpolate(a, a, [bad_t])


def test_rejects_mismatched_or_wrong_dtype_frames(engine):
    a = _scene(32, 32, 8, 4)
    with pytest.raises(ValueError):
        engine.interpolate(a, a[:16], [0.5])
    with pytest.raises(ValueError):
        engine.interpolate(a.astype(np.float32), a.astype(np.float32), [0.5])


def test_options_validated():
    assert FlowEngine(quality="fast").quality == "fast"
    assert FlowEngine(max_flow_side=64).max_flow_side == 64
    with pytest.raises(InputError):
        FlowEngine(quality="ultra")
    with pytest.raises(InputError):
        FlowEngine(max_flow_side=8)
    with pytest.raises(InputError):
        FlowEngine(bogus=1)


@pytest.mark.parametrize("quality", ["fast", "medium", "high"])
def test_all_presets_beat_crossfade(quality):
    h, w, sq, x0, dx = 96, 128, 32, 30, 12
    a = _scene(h, w, sq, x0)
    b = _scene(h, w, sq, x0 + dx)
    truth = _scene(h, w, sq, x0 + dx // 2)
    (mid,) = FlowEngine(quality=quality).interpolate(a, b, [0.5])
    assert psnr(mid, truth) > psnr(_crossfade(a, b), truth) + 5.0


def test_downscaled_flow_for_large_frames_beats_crossfade():
    # max_flow_side forces the reduced-resolution flow path on a small test frame
    h, w, sq, x0, dx = 120, 240, 40, 40, 30
    a = _scene(h, w, sq, x0, seed=9)
    b = _scene(h, w, sq, x0 + dx, seed=9)
    truth = _scene(h, w, sq, x0 + dx // 2, seed=9)
    (mid,) = FlowEngine(max_flow_side=96).interpolate(a, b, [0.5])
    assert psnr(mid, truth) > psnr(_crossfade(a, b), truth) + 2.5


def test_result_does_not_depend_on_thread_count():
    a = _scene(72, 100, 24, 20, seed=4)
    b = _scene(72, 100, 24, 31, seed=4)
    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        one = FlowEngine().interpolate(a, b, [0.5])[0]
        cv2.setNumThreads(2)
        two = FlowEngine().interpolate(a, b, [0.5])[0]
    finally:
        cv2.setNumThreads(before)
    assert np.array_equal(one, two)
