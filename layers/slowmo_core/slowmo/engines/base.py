"""The interface every interpolation engine implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Engine(Protocol):
    """Two RGB uint8 frames and the times t in (0, 1) between them in, one frame per t out.

    Engines must be stateless between calls: the same pair always gives the same frames, which is
    what lets chunks be processed independently and assembled into exactly a single pass's output.
    """

    name: str

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]: ...
