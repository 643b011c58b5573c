"""Image quality metrics for comparing synthesised frames with real ones.

Both functions take two uint8 images of the same shape, either (H, W, 3) RGB or
(H, W) greyscale, and use only numpy and OpenCV.

* :func:`psnr` is computed over every sample (all channels), peak 255.
* :func:`ssim` is the standard single-scale SSIM of Wang et al. (2004) with an
  11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, computed on **luma**
  (BT.601 Y of the RGB image) and averaged over the "valid" area, i.e. the
  5-pixel border where the window would leave the image is excluded (images
  smaller than the window use the whole, reflect-padded image).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["psnr", "ssim"]

_PEAK = 255.0
_WIN = 11
_SIGMA = 1.5
_C1 = (0.01 * _PEAK) ** 2
_C2 = (0.03 * _PEAK) ** 2


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim not in (2, 3) or a.size == 0:
        raise ValueError(f"expected a non-empty (H, W) or (H, W, C) image, got shape {a.shape}")
    return a, b


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all samples; ``inf`` for identical images."""
    a, b = _check_pair(a, b)
    diff = a.astype(np.float64) - b.astype(np.float64)
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return float("inf")
    return 10.0 * math.log10(_PEAK * _PEAK / mse)


def _luma(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return img.astype(np.float64)
    if img.shape[2] == 1:
        return img[:, :, 0].astype(np.float64)
    if img.shape[2] != 3:
        raise ValueError(f"expected 1 or 3 channels, got {img.shape[2]}")
    f = img.astype(np.float64)
    return 0.299 * f[:, :, 0] + 0.587 * f[:, :, 1] + 0.114 * f[:, :, 2]


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity (Wang et al.) of the luma of two images; 1.0 when identical."""
    a, b = _check_pair(a, b)
    x = _luma(a)
    y = _luma(b)

    def blur(img: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(img, (_WIN, _WIN), _SIGMA, borderType=cv2.BORDER_REFLECT)

    mu_x = blur(x)
    mu_y = blur(y)
    sxx = blur(x * x) - mu_x * mu_x
    syy = blur(y * y) - mu_y * mu_y
    sxy = blur(x * y) - mu_x * mu_y
    num = (2.0 * mu_x * mu_y + _C1) * (2.0 * sxy + _C2)
    den = (mu_x * mu_x + mu_y * mu_y + _C1) * (sxx + syy + _C2)
    smap = num / den
    r = _WIN // 2
    if smap.shape[0] > 2 * r and smap.shape[1] > 2 * r:
        smap = smap[r:-r, r:-r]
    return float(np.mean(smap))
