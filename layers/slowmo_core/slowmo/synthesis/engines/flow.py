"""Optical-flow frame interpolation: the default CPU engine.

Per pair of frames (analysed once, reused for every requested time ``t``):

1. Dense optical flow in both directions, F(0->1) and F(1->0), with OpenCV's
   DIS (coarse-to-fine patch search plus variational refinement) on the luma
   of the two frames, at a reduced resolution for large frames.  All later
   per-pixel work runs at DIS's finest pyramid level (the "work" grid).
2. Large motion: DIS only searches locally.  When a noticeable part of the
   picture stays badly matched, the flow is estimated again from an exhaustive
   block-matching search on a ~32-pixel thumbnail (a global initial guess) at
   a finer DIS level, and each pixel keeps the flow that matches better.
3. Occluded pixels (forward-backward check fails) get the flow of their
   visible background: the neighbours' flows, weighted by how much they differ
   from the motion of whatever hides the pixel in the other frame.
4. For each ``t`` the backward flows on the target grid, F(t->0) and F(t->1),
   are found by fixed-point "flow reversal": a pixel ``x`` at time ``t`` comes
   from the point ``p = x + v`` of frame 0 that moves onto it, i.e.
   ``v = -t * F(0->1)(x + v)``; a few iterations from ``v = -t * F(0->1)(x)``
   converge wherever some pixel of frame 0 really lands on ``x``.  This keeps
   moving objects intact instead of the smeared edges of the plain
   ``-t * F(0->1)(x)`` approximation.
5. Occlusion-aware blending: where no pixel of frame 0 lands on ``x`` (an area
   that frame 0 does not show, e.g. background uncovered by a moving object)
   the iteration does not settle, and the size of its last update measures
   that.  Each frame's weight is its temporal proximity (``1 - t`` for frame 0,
   ``t`` for frame 1) times ``exp(-(residual / tau)^2)``, so a pixel comes from
   the frame in which it is visible and is cross-faded only where both agree.
6. Both frames are backward-warped with ``cv2.remap`` at full resolution and
   blended with ``cv2.blendLinear``.

Everything is a pure function of the two frames and ``t``: no state is kept
between calls, so chunked processing gives exactly the frames of a single pass
(results were also checked to be bit-identical for 1, 2 and 4 OpenCV threads).
Identical frames are returned unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from slowmo.errors import InputError

__all__ = ["PRESETS", "FlowEngine"]


@dataclass(frozen=True)
class Preset:
    """DIS settings and the resolution the flow is estimated at."""

    dis_preset: int
    max_side: int  # longest side (pixels) at which flow is estimated
    finest_scale: int  # coarsest allowed DIS finest pyramid level (0 = full flow resolution)
    min_work_side: int  # ...but the finest level keeps at least this many pixels on the long side
    refine_iters: int  # DIS variational refinement iterations
    inversion_iters: int  # fixed-point iterations of the flow reversal


PRESETS: dict[str, Preset] = {
    "fast": Preset(cv2.DISOPTICAL_FLOW_PRESET_FAST, 480, 2, 80, 0, 2),
    "medium": Preset(cv2.DISOPTICAL_FLOW_PRESET_FAST, 640, 2, 80, 6, 2),
    "high": Preset(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, 960, 2, 160, 10, 3),
}
DEFAULT_QUALITY = "medium"

_MIN_FLOW_SIDE = 32  # DIS refuses tiny images; smaller ones are padded for the flow
_OCCLUSION_TAU = 3.0  # flow-reversal residual (work-grid pixels) at which a frame's weight falls to 1/e
_WEIGHT_FLOOR = 1e-3  # keeps both weights positive: plain temporal blend where both are occluded
_OCC_ABS = 2.0  # work-grid pixels of forward-backward mismatch that mark a pixel occluded...
_OCC_REL = 0.1  # ...plus this share of its flow's length
_OCC_RADIUS = 6  # work-grid pixels searched for the visible background
_RETRY_FINER = 1  # the retry's DIS stops this many pyramid levels finer...
_RETRY_REFINE = 0  # ...with at most this many variational refinement iterations (keeps it affordable)
_BAD_MATCH = 30.0  # grey levels of local warp error that count as a failed match
_RETRY_AREA = 0.01  # retry with a global search when more than this share of the picture fails
_FUSE_MIN = 8.0  # ...and only where the first flow's local error exceeds this
_FUSE_MARGIN = 2.0  # grey levels by which the retry's flow must match better to replace the first
_SEARCH_SIDE = 32  # longest side of the block-matching thumbnail
_SEARCH_RADIUS = 8  # thumbnail pixels: covers motion up to ~radius/side of the frame's longest side
_SEARCH_PENALTY = 0.3  # per thumbnail pixel of displacement, favours small motion among equal matches


class FlowEngine:
    """Bidirectional optical-flow interpolation with occlusion-aware blending.

    Options (all keyword, all optional):

    * ``quality``: ``"medium"`` (default: best measured quality, >= 3x ffmpeg
      minterpolate's speed on 2 cores), ``"fast"`` (no variational refinement,
      flow at <= 480 px: ~0.15 dB lower) or ``"high"`` (denser DIS flow: finer
      motion boundaries on small fast objects, but no better on real clips and
      3-5x slower; see benchmarks/README-flow.md).
    * ``max_flow_side``: longest side in pixels at which the flow is estimated;
      larger frames are downscaled for the flow only (the warp is always at full
      resolution).  Overrides the preset's value; at least 32.
    * ``threads``: if given, ``cv2.setNumThreads(threads)`` is called when the
      engine is created (process-wide).  By default OpenCV's setting is left alone.
    """

    name = "flow"
    high_bit_depth = True  # uint16 frames: flow from their 8-bit view, warped and blended at 16 bits

    def __init__(self, **options: object) -> None:
        known = ("max_flow_side", "quality", "threads")
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise InputError(f"flow engine: unknown option {', '.join(unknown)} (known: {', '.join(known)})")
        quality = options.get("quality", DEFAULT_QUALITY)
        if quality not in PRESETS:
            raise InputError(f"flow engine: quality must be one of {', '.join(PRESETS)}, not {quality!r}")
        self.quality = str(quality)
        self.preset = PRESETS[self.quality]
        max_side = options.get("max_flow_side", self.preset.max_side)
        if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < _MIN_FLOW_SIDE:
            raise InputError(f"flow engine: max_flow_side must be an integer >= {_MIN_FLOW_SIDE}, not {max_side!r}")
        self.max_flow_side = max_side
        threads = options.get("threads")
        if threads is not None:
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
                raise InputError(f"flow engine: threads must be a non-negative integer, not {threads!r}")
            cv2.setNumThreads(threads)

    def __repr__(self) -> str:
        return f"FlowEngine(quality={self.quality!r}, max_flow_side={self.max_flow_side})"

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]:
        f0 = _check_frame(frame0, "frame0")
        f1 = _check_frame(frame1, "frame1")
        if f0.shape != f1.shape:
            raise ValueError(f"flow engine: frames differ in shape: {f0.shape} vs {f1.shape}")
        times = [float(t) for t in ts]
        for t in times:
            if math.isnan(t) or not 0.0 < t < 1.0:
                raise ValueError(f"flow engine: every t must lie strictly between 0 and 1, not {t!r}")
        if not times:
            return []
        if np.array_equal(f0, f1):
            return [f0.copy() for _ in times]
        pair = _analyse(f0, f1, self.preset, self.max_flow_side)
        return [_render(pair, t) for t in times]


# --------------------------------------------------------------------------- analysis
@dataclass(frozen=True)
class _Pair:
    f0: np.ndarray
    f1: np.ndarray
    f01: np.ndarray  # (fh, fw, 2) float32 flow 0->1, in flow-resolution pixels
    f10: np.ndarray  # (fh, fw, 2) float32 flow 1->0
    inversion_iters: int


def _check_frame(frame: object, what: str) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.dtype not in (np.uint8, np.uint16) or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"flow engine: {what} must be a uint8 or uint16 array of shape (H, W, 3)")
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ValueError(f"flow engine: {what} is empty")
    return np.ascontiguousarray(frame)


def _flow_size(h: int, w: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def _analyse(f0: np.ndarray, f1: np.ndarray, preset: Preset, max_side: int) -> _Pair:
    h, w = f0.shape[:2]
    fh, fw = _flow_size(h, w, max_side)
    g0 = cv2.cvtColor(f0, cv2.COLOR_RGB2GRAY)
    g1 = cv2.cvtColor(f1, cv2.COLOR_RGB2GRAY)
    if g0.dtype == np.uint16:  # DIS takes 8-bit images: the motion is the same, the warp keeps 16 bits
        g0, g1 = (g0 >> 8).astype(np.uint8), (g1 >> 8).astype(np.uint8)
    if (fh, fw) != (h, w):
        g0 = cv2.resize(g0, (fw, fh), interpolation=cv2.INTER_AREA)
        g1 = cv2.resize(g1, (fw, fh), interpolation=cv2.INTER_AREA)
    pad_h = max(0, _MIN_FLOW_SIDE - fh)
    pad_w = max(0, _MIN_FLOW_SIDE - fw)
    p0, p1 = g0, g1
    if pad_h or pad_w:
        p0 = cv2.copyMakeBorder(g0, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
        p1 = cv2.copyMakeBorder(g1, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
    # DIS's finest pyramid level: as coarse as the preset allows while keeping at
    # least min_work_side pixels on the long side (small frames get full detail).
    finest = 0
    while finest < preset.finest_scale and max(fh, fw) / 2 ** (finest + 1) >= preset.min_work_side:
        finest += 1
    dis = cv2.DISOpticalFlow_create(preset.dis_preset)
    dis.setFinestScale(finest)
    dis.setVariationalRefinementIterations(preset.refine_iters)

    # DIS's output is interpolated up from its finest level; everything after it
    # runs at that "work" resolution, which loses nothing and keeps the per-t work small.
    shrink = 2**finest
    wh, ww = (round(fh / shrink), round(fw / shrink)) if shrink > 1 else (fh, fw)

    def flow(a: np.ndarray, b: np.ndarray, init: np.ndarray | None = None) -> np.ndarray:
        f = _finite(dis.calc(a, b, init)[:fh, :fw])
        if (wh, ww) != (fh, fw):
            f = cv2.resize(f, (ww, wh), interpolation=cv2.INTER_AREA) * np.array([ww / fw, wh / fh], np.float32)
        return f

    f01 = flow(p0, p1)
    f10 = flow(p1, p0)
    # DIS searches locally from zero motion; motion much larger than the moving
    # object (or than DIS's coarsest level allows) defeats it.  When the flow
    # explains too little of the difference between the frames, retry from a
    # coarse exhaustive block-matching estimate and keep, per pixel, whichever
    # flow matches the other frame better.
    s0, s1 = g0, g1
    if (wh, ww) != (fh, fw):
        s0 = cv2.resize(g0, (ww, wh), interpolation=cv2.INTER_AREA)
        s1 = cv2.resize(g1, (ww, wh), interpolation=cv2.INTER_AREA)
    e01 = _warp_error(s0, s1, f01)
    e10 = _warp_error(s1, s0, f10)
    if _needs_retry(e01, s0, s1) or _needs_retry(e10, s1, s0):
        # the retry also looks at full flow-resolution detail, in case the
        # motion is carried by fine texture that the coarser levels average away
        dis.setFinestScale(max(0, finest - _RETRY_FINER))
        dis.setVariationalRefinementIterations(min(preset.refine_iters, _RETRY_REFINE))
        f01 = _fuse(f01, e01, flow(p0, p1, _coarse_search(p0, p1)), s0, s1)
        f10 = _fuse(f10, e10, flow(p1, p0, _coarse_search(p1, p0)), s1, s0)
    # a 5x5 median removes isolated outliers of the patch search (standard flow post-processing)
    f01 = cv2.medianBlur(f01, 5)
    f10 = cv2.medianBlur(f10, 5)
    f01, f10 = _fill_occluded(f01, f10), _fill_occluded(f10, f01)
    return _Pair(f0=f0, f1=f1, f01=f01, f10=f10, inversion_iters=preset.inversion_iters)


def _fill_occluded(flow: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Replace the flow of pixels that the other frame does not show by their background's flow.

    A pixel is occluded when the forward-backward check fails clearly.  Its true
    motion is that of the background around it, which differs from the motion of
    whatever hides it in the other frame (``-other`` at the same place); so it
    takes a weighted mean of its visible neighbours' flows, weighted by how much
    they differ from the occluder's motion.
    """
    back = _sample(other, flow)
    d = flow + back
    dm = cv2.magnitude(np.ascontiguousarray(d[..., 0]), np.ascontiguousarray(d[..., 1]))
    fm = cv2.magnitude(np.ascontiguousarray(flow[..., 0]), np.ascontiguousarray(flow[..., 1]))
    occluded = dm > _OCC_ABS + _OCC_REL * fm
    if not occluded.any():
        return flow
    ys, xs = np.nonzero(occluded)
    r = _OCC_RADIUS
    offs = np.arange(-r, r + 1, max(1, r // 3))
    oy, ox = (a.ravel() for a in np.meshgrid(offs, offs, indexing="ij"))
    fp = cv2.copyMakeBorder(flow, r, r, r, r, cv2.BORDER_REPLICATE)
    vp = cv2.copyMakeBorder((~occluded).astype(np.float32), r, r, r, r, cv2.BORDER_CONSTANT, value=0)
    yy = ys[:, None] + (oy[None, :] + r)
    xx = xs[:, None] + (ox[None, :] + r)
    cand = fp[yy, xx]  # (n, k, 2) neighbours' flows
    diff = cand + other[ys, xs][:, None, :]  # minus the occluder's motion, -other
    wgt = vp[yy, xx] * (diff[..., 0] ** 2 + diff[..., 1] ** 2 + np.float32(1e-3))
    wsum = wgt.sum(axis=1)
    ok = wsum > 0
    out = flow.copy()
    out[ys[ok], xs[ok]] = (cand[ok] * wgt[ok][..., None]).sum(axis=1) / wsum[ok][:, None]
    return out


def _warp_error(src: np.ndarray, other: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Locally averaged |src(p) - other(p + flow(p))| (float32, work resolution)."""
    grid = _grid(*src.shape)
    warped = cv2.remap(other, grid + flow, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.blur(cv2.absdiff(src, warped).astype(np.float32), (3, 3))


def _needs_retry(err: np.ndarray, src: np.ndarray, other: np.ndarray) -> bool:
    """True when a noticeable area is badly matched by the flow (and was not already matched by no motion)."""
    bad = err > _BAD_MATCH
    if bad.mean() <= _RETRY_AREA:
        return False
    still = cv2.blur(cv2.absdiff(src, other).astype(np.float32), (3, 3))
    return float((bad & (still > _BAD_MATCH)).mean()) > _RETRY_AREA


def _fuse(flow_a: np.ndarray, err_a: np.ndarray, flow_b: np.ndarray, src: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Take flow_b where flow_a matches badly and flow_b clearly better."""
    err_b = _warp_error(src, other, flow_b)
    take = (err_a > _FUSE_MIN) & (err_b < err_a - _FUSE_MARGIN)
    return np.where(take[..., None], flow_b, flow_a)


def _coarse_search(g0: np.ndarray, g1: np.ndarray) -> np.ndarray | None:
    """Exhaustive block matching on a ~32-pixel-wide thumbnail: a global initial flow for DIS."""
    h, w = g0.shape
    s = max(h, w) / _SEARCH_SIDE
    if s <= 1.0:
        return None
    ch, cw = max(2, round(h / s)), max(2, round(w / s))
    a = cv2.resize(g0, (cw, ch), interpolation=cv2.INTER_AREA).astype(np.int16)
    b = cv2.resize(g1, (cw, ch), interpolation=cv2.INTER_AREA).astype(np.int16)
    r = _SEARCH_RADIUS
    k = 2 * r + 1
    bp = np.pad(b, r, mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(bp, (k, k))  # (ch, cw, k, k)
    cost = np.abs(win - a[:, :, None, None]).reshape(ch, cw, k * k).astype(np.float32)
    # 3x3 box aggregation (separable, edge-replicated)
    cp = np.pad(cost, ((1, 1), (0, 0), (0, 0)), mode="edge")
    cost = cp[:-2] + cp[1:-1] + cp[2:]
    cp = np.pad(cost, ((0, 0), (1, 1), (0, 0)), mode="edge")
    cost = cp[:, :-2] + cp[:, 1:-1] + cp[:, 2:]
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    cost += (_SEARCH_PENALTY * np.sqrt(dx * dx + dy * dy)).reshape(1, 1, -1).astype(np.float32)
    best = np.argmin(cost, axis=2)
    flow = np.stack([dx.ravel()[best], dy.ravel()[best]], axis=-1).astype(np.float32)
    flow = cv2.medianBlur(flow, 3)
    flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    return flow * np.array([w / cw, h / ch], np.float32)


def _finite(flow: np.ndarray) -> np.ndarray:
    flow = np.ascontiguousarray(flow, dtype=np.float32)
    if not np.isfinite(flow).all():
        flow = np.nan_to_num(flow, nan=0.0, posinf=0.0, neginf=0.0)
    return flow


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> np.ndarray:
    """(h, w, 2) float32 array of pixel coordinates (x, y); read-only, shared."""
    g = np.empty((h, w, 2), np.float32)
    g[..., 0] = np.arange(w, dtype=np.float32)[None, :]
    g[..., 1] = np.arange(h, dtype=np.float32)[:, None]
    g.flags.writeable = False
    return g


# --------------------------------------------------------------------------- synthesis
def _reverse(flow: np.ndarray, t: float, iters: int) -> tuple[np.ndarray, np.ndarray]:
    """Backward flow from time ``t`` to the flow's source frame, and the residual of the reversal.

    Solves ``v(x) = -t * flow(x + v(x))`` by fixed-point iteration.  The residual
    (size of the last update) is ~0 where some source pixel lands on ``x`` and
    large where none does (areas the source frame does not show).
    """
    grid = _grid(*flow.shape[:2])
    v = flow * np.float32(-t)
    prev = v
    for _ in range(max(1, iters)):
        prev = v
        v = cv2.remap(flow, grid + v, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        v *= np.float32(-t)
    d = v - prev
    resid = cv2.magnitude(np.ascontiguousarray(d[..., 0]), np.ascontiguousarray(d[..., 1]))
    return v, resid


def _sample(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    return cv2.remap(img, _grid(*flow.shape[:2]) + flow, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _render(pair: _Pair, t: float) -> np.ndarray:
    h, w = pair.f0.shape[:2]
    fh, fw = pair.f01.shape[:2]
    ft0, r0 = _reverse(pair.f01, t, pair.inversion_iters)
    ft1, r1 = _reverse(pair.f10, 1.0 - t, pair.inversion_iters)
    inv_tau2 = np.float32(-1.0 / (_OCCLUSION_TAU * _OCCLUSION_TAU))
    w0 = np.exp(r0 * r0 * inv_tau2)
    w1 = np.exp(r1 * r1 * inv_tau2)
    w0 = (w0 + np.float32(_WEIGHT_FLOOR)) * np.float32(1.0 - t)
    w1 = (w1 + np.float32(_WEIGHT_FLOOR)) * np.float32(t)
    if (fh, fw) != (h, w):
        # scale the vectors while they are small, then upsample (bilinear) to the frame
        scale = np.array([w / fw, h / fh], np.float32)
        ft0 = cv2.resize(ft0 * scale, (w, h), interpolation=cv2.INTER_LINEAR)
        ft1 = cv2.resize(ft1 * scale, (w, h), interpolation=cv2.INTER_LINEAR)
        w0 = cv2.resize(w0, (w, h), interpolation=cv2.INTER_LINEAR)
        w1 = cv2.resize(w1, (w, h), interpolation=cv2.INTER_LINEAR)
    grid = _grid(h, w)
    warp0 = cv2.remap(pair.f0, cv2.add(grid, ft0), None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    warp1 = cv2.remap(pair.f1, cv2.add(grid, ft1), None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if warp0.dtype == np.uint16:  # blendLinear takes 8-bit or float images
        blended = cv2.blendLinear(warp0.astype(np.float32), warp1.astype(np.float32), w0, w1)
        return np.clip(blended + np.float32(0.5), 0, 65535).astype(np.uint16)
    return cv2.blendLinear(warp0, warp1, w0, w1)
