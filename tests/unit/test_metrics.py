import math

import numpy as np
import pytest

from slowmo.synthesis.metrics import psnr, ssim


def _smooth_image(h=64, w=80, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 128 + 60 * np.sin(x / 7.0) * np.cos(y / 5.0)
    img = np.stack([base, base * 0.8 + 20, 255 - base], axis=-1) + rng.normal(0, 3, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def test_psnr_identical_is_inf():
    a = _smooth_image()
    assert psnr(a, a.copy()) == math.inf


def test_psnr_constant_offset_of_one():
    a = np.full((20, 30, 3), 100, np.uint8)
    b = a + 1
    assert psnr(a, b) == pytest.approx(48.1308, abs=1e-3)
    assert psnr(b, a) == pytest.approx(48.1308, abs=1e-3)


def test_psnr_known_value_for_offset_of_ten():
    a = np.zeros((8, 8), np.uint8)
    b = np.full((8, 8), 10, np.uint8)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-9)


def test_psnr_no_uint8_wraparound():
    a = np.zeros((4, 4, 3), np.uint8)
    b = np.full((4, 4, 3), 255, np.uint8)
    assert psnr(a, b) == pytest.approx(0.0, abs=1e-9)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(ValueError):
        ssim(np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8))


def test_ssim_identical_is_one():
    a = _smooth_image()
    assert ssim(a, a.copy()) == pytest.approx(1.0, abs=1e-12)


def test_ssim_drops_with_noise_monotonically():
    a = _smooth_image()
    rng = np.random.default_rng(1)
    scores = []
    for sigma in (2, 10, 30):
        noisy = np.clip(a.astype(np.float64) + rng.normal(0, sigma, a.shape), 0, 255).astype(np.uint8)
        scores.append(ssim(a, noisy))
    assert scores[0] < 1.0
    assert scores[0] > scores[1] > scores[2]
    assert scores[2] < 0.8


def test_ssim_symmetric_and_bounded():
    a = _smooth_image(seed=2)
    b = _smooth_image(seed=3)
    s = ssim(a, b)
    assert s == pytest.approx(ssim(b, a), abs=1e-12)
    assert -1.0 <= s <= 1.0


def test_ssim_constant_images():
    a = np.full((16, 16, 3), 50, np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, np.full_like(a, 200)) < 0.5


def test_ssim_tiny_image_does_not_crash():
    a = _smooth_image(5, 7)
    assert ssim(a, a) == pytest.approx(1.0)
