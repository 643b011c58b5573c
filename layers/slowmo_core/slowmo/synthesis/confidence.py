"""How sure can synthesis be about one pair of frames: a cheap, engine-independent risk signal.

The signal looks at the pair the way a flow engine does, but on a small grey thumbnail (long side
THUMB_SIDE pixels), so it costs a few milliseconds whatever the frame size or engine:

1. dense optical flow both ways, F(0->1) and F(1->0) (OpenCV DIS, "ultrafast" preset);
2. forward-backward consistency: a point that moves by F(0->1) and back by F(1->0) should land
   where it started; where it does not, the motion there is not one the two frames agree on
   (occlusion, a failed match, motion the patch search cannot follow);
3. warp residual: after motion-compensating one frame onto the other, the grey-level difference
   that is left; large where the flow does not explain the picture (new content, flashes, blur).

A thumbnail pixel is *unreliable* when either test fails in either direction.  ``PairRisk.risk``
is the share of the picture that is unreliable (0 = every pixel is explained, 1 = none is), so a
person can read it as "x % of the frame is guesswork".  ``PairRisk.reliability`` keeps the per-pixel
map (1 = reliable), smoothed, for a reliability-weighted fallback (see ``fallback.py``).

Pure function of the two frames: chunked processing measures exactly what a single pass does.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["PairRisk", "THUMB_SIDE", "pair_risk"]

THUMB_SIDE = 160  # long side of the analysis thumbnail (pixels)
# A point that goes forward and back and misses its start by more than this many thumbnail pixels
# (plus a share of its own motion, as flow errors grow with the motion) fails the consistency test.
FB_ABS = 1.0
FB_REL = 0.15
# Grey levels of motion-compensated difference (3x3 mean) above which the flow does not explain a pixel.
RESIDUAL_BAD = 24.0
# Thumbnail border (pixels) ignored: content entering the frame has nothing to match.
BORDER = 2
TEXTURE_MIN = 40.0  # Sobel gradient magnitude (3x3 mean) that counts as texture
GATE_BY_TEXTURE = True
_SMOOTH = 5  # the reliability map is box-filtered over this many thumbnail pixels


@dataclass(frozen=True)
class PairRisk:
    """The risk of one pair: scalars for reports, and a per-pixel reliability map for the fallback."""

    risk: float  # share of the picture (0..1) where the flow fails either test
    inconsistency: float  # share failing the forward-backward test
    residual: float  # mean motion-compensated grey-level difference (0..255), both directions averaged
    motion: float  # 95th percentile of the flow's length, as a share of the thumbnail's long side
    reliability: np.ndarray  # (h, w) float32 in [0, 1] at thumbnail size; 1 = reliable

    def to_dict(self) -> dict:
        return {
            "risk": round(self.risk, 4),
            "inconsistency": round(self.inconsistency, 4),
            "residual": round(self.residual, 2),
            "motion": round(self.motion, 4),
        }


def _thumb(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    scale = min(1.0, THUMB_SIDE / max(h, w))
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA)


def _grid(h: int, w: int) -> np.ndarray:
    g = np.empty((h, w, 2), np.float32)
    g[..., 0] = np.arange(w, dtype=np.float32)[None, :]
    g[..., 1] = np.arange(h, dtype=np.float32)[:, None]
    return g


def _unreliable(src: np.ndarray, other: np.ndarray, fwd: np.ndarray, bwd: np.ndarray, grid: np.ndarray):
    """(fails forward-backward, fails residual, residual map) for flow ``fwd`` from src to other."""
    target = grid + fwd
    back = cv2.remap(bwd, target, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    miss = np.hypot(*(fwd + back).transpose(2, 0, 1))
    length = np.hypot(*fwd.transpose(2, 0, 1))
    inconsistent = miss > FB_ABS + FB_REL * length
    warped = cv2.remap(other, target, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    resid = cv2.blur(cv2.absdiff(src, warped).astype(np.float32), (3, 3))
    return inconsistent, resid > RESIDUAL_BAD, resid, length


def _texture(grey: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.blur(cv2.magnitude(gx, gy), (3, 3)) > TEXTURE_MIN


def pair_risk(frame0: np.ndarray, frame1: np.ndarray) -> PairRisk:
    """Measure how well the motion between two RGB (or grey) uint8 frames can be explained."""
    if frame0.shape != frame1.shape:
        raise ValueError(f"frames differ in shape: {frame0.shape} vs {frame1.shape}")
    g0, g1 = _thumb(frame0), _thumb(frame1)
    h, w = g0.shape
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    f01 = dis.calc(g0, g1, None)
    f10 = dis.calc(g1, g0, None)
    grid = _grid(h, w)
    inc0, res0, r0, len0 = _unreliable(g0, g1, f01, f10, grid)
    inc1, res1, r1, _ = _unreliable(g1, g0, f10, f01, grid)
    # a forward-backward failure only matters where there is texture to tear; in flat areas any flow
    # warps to the same picture (and DIS's flow there is noise)
    textured = _texture(g0) | _texture(g1)
    bad = res0 | res1 | ((inc0 | inc1) & textured) if GATE_BY_TEXTURE else inc0 | res0 | inc1 | res1
    inconsistent = inc0 | inc1
    b = min(BORDER, max(0, (min(h, w) - 1) // 2))
    inner = (slice(b, h - b or None), slice(b, w - b or None))
    reliability = cv2.blur((~bad).astype(np.float32), (_SMOOTH, _SMOOTH))
    return PairRisk(
        risk=float(bad[inner].mean()),
        inconsistency=float(inconsistent[inner].mean()),
        residual=float((r0[inner].mean() + r1[inner].mean()) / 2),
        motion=float(np.percentile(len0, 95)) / max(h, w),
        reliability=reliability,
    )
