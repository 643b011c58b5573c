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


def interpolate_many(engine: Engine, pairs: Sequence[tuple[np.ndarray, np.ndarray, Sequence[float]]]) -> list[list[np.ndarray]]:
    """Frames for several consecutive pairs: ``engine.interpolate_many`` where the engine batches across
    pairs (film), else one ``interpolate`` per pair. Either way the frames are those of ``interpolate``."""
    many = getattr(engine, "interpolate_many", None)
    if many is not None:
        return many(pairs)
    return [engine.interpolate(a, b, ts) for a, b, ts in pairs]


def pair_window(engine: Engine) -> int:
    """How many consecutive pairs a caller should gather for ``interpolate_many`` (1: no batching gain)."""
    return max(1, int(getattr(engine, "pair_window", 1)))
