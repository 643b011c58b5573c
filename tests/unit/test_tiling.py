"""Feathered tiling: exact for local models away from the border, seamless, covers every pixel."""

import numpy as np
import pytest

from slowmo.synthesis import tiling


def box_blur(x: np.ndarray, r: int = 2) -> np.ndarray:
    """A local model: (2r+1)^2 box blur with edge padding, over the spatial axes of (B,H,W,C)."""
    p = np.pad(x, ((0, 0), (r, r), (r, r), (0, 0)), mode="edge").astype(np.float64)
    h, w = x.shape[1:3]
    out = np.zeros(x.shape, dtype=np.float64)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            out += p[:, dy : dy + h, dx : dx + w]
    return out / (2 * r + 1) ** 2


def local_model(a, b):
    return 0.7 * box_blur(a) + 0.3 * box_blur(b)


@pytest.mark.parametrize("shape", [(1, 300, 410, 3), (2, 257, 513, 3)])
def test_tiled_equals_untiled_away_from_border(shape):
    rng = np.random.default_rng(1)
    a = rng.random(shape, dtype=np.float32)
    b = rng.random(shape, dtype=np.float32)
    full = local_model(a, b)
    tiled = tiling.run_tiled(local_model, a, b, tile=160, overlap=64, margin=8)
    assert len(tiling.plan_tiles(shape[1], shape[2], 160, 64)) > 4
    r = 2  # receptive radius; edge padding of tiles at the frame border equals the frame's own
    np.testing.assert_allclose(tiled, full, atol=1e-5)
    np.testing.assert_allclose(tiled[:, r:-r, r:-r], full[:, r:-r, r:-r], atol=1e-5)


def test_no_seam_when_tiles_disagree():
    # A model whose output depends on the tile's position (a constant per call) must still blend
    # smoothly: the largest step between neighbouring pixels stays a small fraction of the jump.
    calls = []

    def biased(a, b):
        calls.append(1)
        return np.full(a.shape, float(len(calls) % 2), dtype=np.float32)

    a = np.zeros((1, 256, 700, 3), np.float32)
    out = tiling.run_tiled(biased, a, a, tile=256, overlap=96, margin=8)[0, ..., 0]
    steps = np.abs(np.diff(out, axis=1)).max()
    assert steps < 0.1  # a hard seam would be a step of 1.0
    assert out.min() >= 0 and out.max() <= 1


def test_spans_cover_and_overlap():
    for length in (65, 200, 1000, 3840):
        spans = tiling.axis_spans(length, 256, 96)
        assert spans[0][0] == 0 and spans[-1][1] == length
        for (s0, e0), (s1, _e1) in zip(spans, spans[1:], strict=False):
            assert e0 - s1 >= 96 and s1 > s0
        for s, e in spans:
            assert e - s == min(256, length)


def test_weights_zero_in_margin_and_one_inside():
    w = tiling.axis_weights(100, 400, 1000, margin=10, ramp=50)
    assert np.all(w[:10] == 0) and np.all(w[-10:] == 0)
    assert np.all(w[60:-60] == 1)
    assert np.all(np.diff(w[:60]) >= 0)
    w_border = tiling.axis_weights(0, 300, 1000, margin=10, ramp=50)
    assert w_border[0] == 1  # the frame border is not an inner edge


def test_choose_tile_from_memory():
    gib = 1024**3
    assert tiling.choose_tile(1080, 1920, None) is None  # unknown memory: no tiling
    assert tiling.choose_tile(1080, 1920, 80 * gib) is None  # H100: 1080p fits whole
    t16 = tiling.choose_tile(2160, 3840, 16 * gib)
    t24 = tiling.choose_tile(2160, 3840, 24 * gib)
    assert t16 is not None and t24 is not None and t16 % 64 == 0 and t16 <= t24
    assert tiling.tile_count(2160, 3840, t16) >= tiling.tile_count(2160, 3840, t24) >= 2
    # a batch needs proportionally more memory
    assert tiling.choose_tile(1080, 1920, 16 * gib, batch=4) is not None


def test_single_tile_is_plain_call():
    a = np.ones((1, 64, 64, 3), np.float32)
    out = tiling.run_tiled(lambda x, y: x + y, a, a, tile=None)
    assert out.shape == a.shape and float(out.max()) == 2.0


def test_rejects_bad_overlap():
    a = np.zeros((1, 400, 400, 3), np.float32)
    with pytest.raises(ValueError):
        tiling.run_tiled(lambda x, y: x, a, a, tile=200, overlap=16, margin=8)
