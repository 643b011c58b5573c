"""Classify a pair of consecutive frames: a hard cut, a repeat, or ordinary motion.

The decision is a pure function of the two frames, so chunked processing decides exactly as a single
pass does.
"""

from __future__ import annotations

import enum

import cv2
import numpy as np

THUMB = (64, 36)
# Bhattacharyya distance between colour histograms above which the two frames show different scenes.
CUT_HISTOGRAM_DISTANCE = 0.55
# ... unless the pictures are still similar in layout (a big exposure change, a flash).
CUT_MIN_THUMB_DIFF = 25.0
REPEAT_MAX_DIFF = 2


class PairKind(enum.Enum):
    MOTION = "motion"
    REPEAT = "repeat"
    CUT = "cut"


def _histogram(frame: np.ndarray) -> np.ndarray:
    small = cv2.resize(frame, (160, 90), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [12, 6, 6], [0, 180, 0, 256, 0, 256])
    return cv2.normalize(hist, hist).flatten()


def is_repeat(a: np.ndarray, b: np.ndarray) -> bool:
    """Identical within codec noise: every pixel within REPEAT_MAX_DIFF grey levels."""
    return a.shape == b.shape and int(cv2.absdiff(a, b).max()) <= REPEAT_MAX_DIFF


def cut_score(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(histogram distance, mean thumbnail difference) between two frames."""
    distance = float(cv2.compareHist(_histogram(a), _histogram(b), cv2.HISTCMP_BHATTACHARYYA))
    ta = cv2.resize(a, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)
    tb = cv2.resize(b, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)
    return distance, float(np.abs(ta - tb).mean())


def is_cut(a: np.ndarray, b: np.ndarray) -> bool:
    distance, thumb_diff = cut_score(a, b)
    return distance > CUT_HISTOGRAM_DISTANCE and thumb_diff > CUT_MIN_THUMB_DIFF


def classify_pair(a: np.ndarray, b: np.ndarray) -> PairKind:
    if is_repeat(a, b):
        return PairKind.REPEAT
    if is_cut(a, b):
        return PairKind.CUT
    return PairKind.MOTION
