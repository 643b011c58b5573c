"""Cross-fade: the baseline every other engine must beat, and the fastest path."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


class BlendEngine:
    name = "blend"
    high_bit_depth = True  # cv2.addWeighted keeps uint16 frames uint16

    def __init__(self, **options):
        if options:
            raise TypeError(f"blend engine takes no options, got {sorted(options)}")

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]:
        return [cv2.addWeighted(frame0, 1.0 - t, frame1, t, 0.0) for t in ts]
