"""The per-pair risk signal: low where one motion explains the pair, high where nothing does."""

import numpy as np
import pytest

from slowmo.synthesis.confidence import THUMB_SIDE, pair_risk


def texture(h=180, w=320, seed=0):
    """Smooth random texture (blurred noise): trackable by optical flow, unlike white noise."""
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)


def shifted(img, dx, dy):
    return np.roll(np.roll(img, dy, axis=0), dx, axis=1)


def test_identical_frames_are_fully_reliable():
    a = texture()
    risk = pair_risk(a, a.copy())
    assert risk.risk == 0.0
    assert risk.inconsistency == 0.0
    assert risk.reliability.min() == 1.0


def test_a_global_shift_is_explained():
    a = texture()
    b = shifted(a, 8, 4)  # 8 px at 320 px wide: 4 thumbnail pixels at THUMB_SIDE=160
    risk = pair_risk(a, b)
    assert risk.risk < 0.1
    expected_motion = np.hypot(8, 4) * THUMB_SIDE / 320 / THUMB_SIDE
    assert risk.motion == pytest.approx(expected_motion, rel=0.3)


def test_unrelated_pictures_are_not_explained():
    risk = pair_risk(texture(seed=1), texture(seed=2))
    assert risk.risk > 0.5
    assert risk.residual > 20


def test_the_map_locates_the_unexplained_area():
    a = texture(seed=3)
    b = a.copy()
    b[:, 200:] = texture(seed=4)[:, 200:]  # the right part changes to new content; the left does not move
    risk = pair_risk(a, b)
    rel = risk.reliability
    w = rel.shape[1]
    assert rel[:, : w // 2].mean() > 0.9
    assert rel[:, int(w * 0.7) :].mean() < 0.3
    assert 0.2 < risk.risk < 0.6


def test_pure_function_of_the_pair():
    a, b = texture(seed=5), shifted(texture(seed=5), 3, 0)
    r1, r2 = pair_risk(a, b), pair_risk(a.copy(), b.copy())
    assert r1.to_dict() == r2.to_dict()
    assert np.array_equal(r1.reliability, r2.reliability)


def test_frames_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="differ in shape"):
        pair_risk(texture(), texture(h=90, w=160))
