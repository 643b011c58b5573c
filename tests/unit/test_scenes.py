"""Cut detection: each criterion decides on its own. A new shot that keeps the palette but changes the layout
is a cut, and so is one that keeps the layout but changes the palette."""

from __future__ import annotations

import cv2
import numpy as np

from slowmo.timeline.scenes import PairKind, classify_pair

W, H, COLUMNS, ROWS = 160, 90, 8, 5
PALETTE = np.array([[200, 40, 40], [40, 160, 60], [30, 60, 200], [230, 220, 80], [20, 20, 20], [240, 240, 240]],
                   dtype=np.uint8)


def _mosaic(tile_colours: np.ndarray) -> np.ndarray:
    """A picture of flat coloured tiles, ROWS x COLUMNS of them."""
    return cv2.resize(tile_colours, (W, H), interpolation=cv2.INTER_NEAREST)


def _shot() -> np.ndarray:
    return PALETTE[np.random.default_rng(1).integers(0, len(PALETTE), size=(ROWS, COLUMNS))]


def _edges(picture: np.ndarray) -> np.ndarray:
    return np.any(picture[:, 1:] != picture[:, :-1], axis=-1)


def test_same_palette_different_layout_is_a_cut():
    tiles = _shot()
    shuffled = tiles.reshape(-1, 3)[np.random.default_rng(7).permutation(ROWS * COLUMNS)].reshape(tiles.shape)
    a, b = _mosaic(tiles), _mosaic(shuffled)
    # the very same pixels, rearranged: identical colour histograms, so only the layout can tell
    assert np.array_equal(np.sort(a.reshape(-1, 3), axis=0), np.sort(b.reshape(-1, 3), axis=0))
    assert classify_pair(a, b) is PairKind.CUT


def test_similar_layout_different_palette_is_a_cut():
    a = _mosaic(_shot())
    b = a[..., [1, 2, 0]]  # every colour replaced by another, every edge where it was
    assert np.array_equal(_edges(a), _edges(b))
    assert classify_pair(a, b) is PairKind.CUT


def test_the_same_shot_moving_is_not_a_cut():
    a = _mosaic(_shot())
    assert classify_pair(a, np.roll(a, 6, axis=1)) is PairKind.MOTION
