"""Classify a pair of consecutive frames: a hard cut, a repeat, or ordinary motion.

The decision is a pure function of the two frames, so chunked processing decides exactly as a single
pass does.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import cv2
import numpy as np

THUMB = (96, 54)
# Bhattacharyya distance between colour histograms above which the two frames show different scenes.
CUT_HISTOGRAM_DISTANCE = 0.55
# ... unless the pictures are still similar in layout (a big exposure change, a flash).
CUT_MIN_THUMB_DIFF = 25.0
# Residual left after motion-compensating one thumbnail onto the other, relative to the pictures'
# own contrast (standard deviation): motion, however large, is explained by the flow; a new shot is
# not. Two unrelated pictures score about 1.1; the same shot moving scores under 0.6 even four frames apart on real footage.
CUT_RELATIVE_RESIDUAL = 0.75
# Below this mean grey-level difference nothing is a cut (noise, flicker, flat frames).
CUT_MIN_DIFF = 10.0
REPEAT_MAX_DIFF = 2


class PairKind(enum.Enum):
    MOTION = "motion"
    REPEAT = "repeat"
    CUT = "cut"


@dataclass(frozen=True)
class Signature:
    """What cut detection needs of one frame; computed once per frame, used by both its pairs."""

    histogram: np.ndarray
    thumb: np.ndarray  # grey, THUMB sized


def signature(frame: np.ndarray) -> Signature:
    small = cv2.resize(frame, (160, 90), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [12, 6, 6], [0, 180, 0, 256, 0, 256])
    thumb = cv2.cvtColor(cv2.resize(small, THUMB, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return Signature(cv2.normalize(hist, hist).flatten(), thumb)


def is_repeat(a: np.ndarray, b: np.ndarray) -> bool:
    """Identical within codec noise: every pixel within REPEAT_MAX_DIFF grey levels."""
    return a.shape == b.shape and int(cv2.absdiff(a, b).max()) <= REPEAT_MAX_DIFF


def motion_residual(ga: np.ndarray, gb: np.ndarray) -> float:
    """Mean |a - warp(b)| of two grey thumbnails after dense flow aligns b onto a."""
    flow = cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 3, 9, 3, 5, 1.1, 0)
    h, w = ga.shape
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    warped = cv2.remap(gb, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    border = 4  # content entering the frame has no match; ignore the margin
    diff = cv2.absdiff(ga, warped)[border:-border, border:-border]
    return float(diff.mean())


def cut_score(a: np.ndarray, b: np.ndarray, sig_a: Signature | None = None, sig_b: Signature | None = None) -> tuple[float, float, float]:
    """(histogram distance, mean thumbnail difference, motion-compensated residual) of two frames."""
    sig_a = sig_a or signature(a)
    sig_b = sig_b or signature(b)
    distance = float(cv2.compareHist(sig_a.histogram, sig_b.histogram, cv2.HISTCMP_BHATTACHARYYA))
    ga, gb = sig_a.thumb, sig_b.thumb
    thumb_diff = float(cv2.absdiff(ga, gb).mean())
    relative = 0.0
    if thumb_diff > CUT_MIN_DIFF:
        contrast = max(8.0, (float(ga.std()) + float(gb.std())) / 2)
        relative = motion_residual(ga, gb) / contrast
    return distance, thumb_diff, relative


def is_cut(a: np.ndarray, b: np.ndarray, sig_a: Signature | None = None, sig_b: Signature | None = None) -> bool:
    distance, thumb_diff, relative_residual = cut_score(a, b, sig_a, sig_b)
    if thumb_diff <= CUT_MIN_DIFF:
        return False
    return (distance > CUT_HISTOGRAM_DISTANCE and thumb_diff > CUT_MIN_THUMB_DIFF) or relative_residual > CUT_RELATIVE_RESIDUAL


def classify_pair(a: np.ndarray, b: np.ndarray, sig_a: Signature | None = None, sig_b: Signature | None = None) -> PairKind:
    if is_repeat(a, b):
        return PairKind.REPEAT
    if is_cut(a, b, sig_a, sig_b):
        return PairKind.CUT
    return PairKind.MOTION
