"""Overlapping tiles with a feathered blend, for frames too large to run through a model at once.

FILM's memory grows with the number of pixels; a 4K frame pair does not fit on a 16-24 GiB GPU. We split
the frame into a grid of overlapping tiles, run the model on each tile, and blend the tiles back:

* every tile ignores a ``margin`` of pixels next to each of its *inner* edges (an edge that is not the
  frame border), where the model saw the artificial tile boundary instead of real neighbours;
* past the margin the tile's weight rises along a raised-cosine ramp to 1;
* the blended pixel is the weighted mean of the tiles covering it.

For a model whose receptive field is no wider than ``margin`` the result is identical to running the model
on the whole frame; for FILM (whose pyramid sees further) the ramp hides the small differences between
tiles, so no seam shows. Pure numpy; works for (H, W, C) and (B, H, W, C) arrays (spatial axes -3, -2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Peak memory of FILM per padded input pixel per batch element (bytes), measured on the FILM-shaped network
# (random weights, CPU-measured; see slowmo.synthesis.film_figures). Used only to choose a tile size.
from slowmo.synthesis.film_figures import FILM_BYTES_PER_PIXEL

#: Default overlap between neighbouring tiles, pixels (margin on each side + blend ramp).
DEFAULT_OVERLAP = 128
#: Default ignored border next to inner tile edges, pixels.
DEFAULT_MARGIN = 16
#: Fraction of the device memory the tiles may use (TensorFlow, cuDNN workspaces and the frames need the rest).
MEMORY_HEADROOM = 0.6


@dataclass(frozen=True)
class Tile:
    y0: int
    y1: int  # exclusive
    x0: int
    x1: int  # exclusive

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


def axis_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Start/stop of tiles covering ``length`` pixels with at least ``overlap`` pixels shared."""
    if length <= 0:
        raise ValueError("length must be positive")
    if tile >= length:
        return [(0, length)]
    if overlap >= tile:
        raise ValueError(f"overlap ({overlap}) must be smaller than the tile ({tile})")
    n = math.ceil((length - overlap) / (tile - overlap))
    n = max(n, 2)
    starts = [round(i * (length - tile) / (n - 1)) for i in range(n)]
    return [(s, s + tile) for s in starts]


def plan_tiles(height: int, width: int, tile: int | tuple[int, int], overlap: int = DEFAULT_OVERLAP) -> list[Tile]:
    """Grid of overlapping tiles covering a ``height`` x ``width`` frame, row-major."""
    th, tw = (tile, tile) if isinstance(tile, int) else tile
    rows = axis_spans(height, th, overlap)
    cols = axis_spans(width, tw, overlap)
    return [Tile(y0, y1, x0, x1) for (y0, y1) in rows for (x0, x1) in cols]


def _ramp(n: int, margin: int, ramp: int) -> np.ndarray:
    """Weights for the first ``n`` pixels from an inner edge: 0 in the margin, then a raised cosine."""
    d = np.arange(n, dtype=np.float64) - margin
    w = np.where(d < 0, 0.0, 1.0)
    if ramp > 0:
        inside = (d >= 0) & (d < ramp)
        w[inside] = 0.5 - 0.5 * np.cos(np.pi * (d[inside] + 0.5) / ramp)
    return w


def axis_weights(start: int, stop: int, length: int, margin: int, ramp: int) -> np.ndarray:
    """1-D feather weights of a tile spanning [start, stop) of an axis of ``length`` pixels."""
    n = stop - start
    w = np.ones(n, dtype=np.float64)
    if start > 0:
        w = np.minimum(w, _ramp(n, margin, ramp))
    if stop < length:
        w = np.minimum(w, _ramp(n, margin, ramp)[::-1])
    return w


def tile_count(height: int, width: int, tile: int | None, overlap: int = DEFAULT_OVERLAP) -> int:
    if tile is None:
        return 1
    return len(plan_tiles(height, width, tile, overlap))


def choose_tile(
    height: int,
    width: int,
    memory_bytes: int | None,
    *,
    batch: int = 1,
    bytes_per_pixel: int = FILM_BYTES_PER_PIXEL,
    headroom: float = MEMORY_HEADROOM,
    overlap: int = DEFAULT_OVERLAP,
    align: int = 64,
    min_tile: int = 256,
) -> int | None:
    """Largest square tile side (multiple of ``align``) whose batch fits the memory budget.

    Returns None when the whole (padded) frame fits, or when the device memory is unknown.
    """
    if not memory_bytes:
        return None
    budget = memory_bytes * headroom / max(1, batch)
    padded = _round_up(height, align) * _round_up(width, align)
    if padded * bytes_per_pixel <= budget:
        return None
    side = int(math.sqrt(budget / bytes_per_pixel)) // align * align
    side = max(min_tile, side, overlap + 2 * align)
    if side >= max(height, width):
        return None
    return side


def _round_up(v: int, m: int) -> int:
    return -(-v // m) * m


def run_tiled(
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    x0: np.ndarray,
    x1: np.ndarray,
    *,
    tile: int | tuple[int, int] | None,
    overlap: int = DEFAULT_OVERLAP,
    margin: int = DEFAULT_MARGIN,
) -> np.ndarray:
    """Apply ``fn(x0_tile, x1_tile) -> y_tile`` over overlapping tiles and blend the results.

    ``x0`` and ``x1`` have the same shape, (H, W, C) or (B, H, W, C); ``fn`` must return an array with the
    same spatial size as its inputs (any channel count). With ``tile`` None (or larger than the frame) it
    is a single call. The result is float32.
    """
    if x0.shape != x1.shape:
        raise ValueError(f"x0 {x0.shape} and x1 {x1.shape} differ")
    if x0.ndim not in (3, 4):
        raise ValueError("expected (H, W, C) or (B, H, W, C) arrays")
    height, width = x0.shape[-3], x0.shape[-2]
    if margin * 2 >= overlap and tile is not None:
        raise ValueError(f"overlap ({overlap}) must exceed twice the margin ({margin})")
    tiles = plan_tiles(height, width, tile, overlap) if tile is not None else [Tile(0, height, 0, width)]
    if len(tiles) == 1:
        return np.asarray(fn(x0, x1), dtype=np.float32)

    ramp = overlap - 2 * margin
    acc: np.ndarray | None = None
    wsum = np.zeros((height, width), dtype=np.float64)
    for t in tiles:
        sl = (Ellipsis, slice(t.y0, t.y1), slice(t.x0, t.x1), slice(None))
        y = np.asarray(fn(x0[sl], x1[sl]), dtype=np.float32)
        if y.shape[-3:-1] != t.shape:
            raise ValueError(f"tile function returned spatial size {y.shape[-3:-1]}, expected {t.shape}")
        if acc is None:
            acc = np.zeros(x0.shape[:-1] + (y.shape[-1],), dtype=np.float64)
        wy = axis_weights(t.y0, t.y1, height, margin, ramp)
        wx = axis_weights(t.x0, t.x1, width, margin, ramp)
        w2 = np.outer(wy, wx)
        acc[sl] += y * w2[..., None]
        wsum[t.y0 : t.y1, t.x0 : t.x1] += w2
    assert acc is not None
    if np.any(wsum <= 0):  # cannot happen when overlap > 2 * margin; keep the guard explicit
        raise ValueError("tile weights leave pixels uncovered; increase the overlap")
    return (acc / wsum[..., None]).astype(np.float32)
