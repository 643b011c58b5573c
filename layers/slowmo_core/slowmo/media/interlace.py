"""Interlaced input: detected, and deinterlaced before synthesis.

Detection: the stream's own field order (the probe's ``field_order``: tff, bff); when the stream does not
say, an idet-style measure of the first frames' combing and of the field order their motion implies
(``measure_combing``; the same measure checks outputs for combing). Deinterlacing: bwdif (the
motion-adaptive deinterlacer of ffmpeg, yadif's successor with w3fdif's interpolation), either at field rate
(``send_field``: each field becomes a frame, twice the real moments: the default, as each field of 50i is
its own moment in time) or at frame rate (``send_frame``).

``deinterlaced_info`` returns the VideoInfo the rest of the pipeline works from: for field mode twice the
frames at twice the rate, each field's time halfway between its frame's and the next, and the filter that
slowmo.media.decode puts in front of its RGB conversion, so that the frames delivered are those times.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from fractions import Fraction
from itertools import pairwise
from typing import Any

import numpy as np

from slowmo.timeline.timing import FrameTimes

MEASURE_FRAMES = 50
COMBED_RATIO = 0.9  # measured: progressive 0.6-0.8, woven 50i of lavfi motion 0.95-1.15; noise alone ~1


def _luma(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def comb_ratio(frame: np.ndarray) -> float:
    """How combed an RGB frame is: the mean difference between neighbouring lines (opposite fields) over that
    between lines two apart (the same field). Progressive pictures are smoother from line to line than over
    two lines (about 0.6-0.8 measured); woven fields of a moving picture alternate (above 1)."""
    y = _luma(frame)
    near = float(np.abs(y[1:] - y[:-1]).mean())
    far = float(np.abs(y[2:] - y[:-2]).mean())
    return near / far if far > 0 else 0.0


def _field_order_vote(a: np.ndarray, b: np.ndarray) -> int:
    """+1 when consecutive frames a, b look top field first, -1 bottom first, 0 undecided: with the top field
    first, a's bottom field is one field before b's top field, and a's top field three before b's bottom."""
    ya, yb = _luma(a), _luma(b)
    h = min(ya.shape[0], yb.shape[0]) // 2 * 2
    near = float(np.abs(ya[1:h:2] - yb[0:h:2]).mean())  # a bottom -> b top
    far = float(np.abs(ya[0:h:2] - yb[1:h:2]).mean())  # a top -> b bottom
    return (near < far) - (near > far)


def measure_combing(frames: Iterable[np.ndarray]) -> dict[str, Any]:
    """Over RGB frames: "combed" (share of frames with comb_ratio above COMBED_RATIO), "median_ratio", and
    "order": the field order the motion between frames suggests ("tff", "bff", or None)."""
    ratios, votes, previous = [], 0, None
    for frame in frames:
        ratios.append(comb_ratio(frame))
        if previous is not None:
            votes += _field_order_vote(previous, frame)
        previous = frame
    if not ratios:
        return {"combed": 0.0, "median_ratio": 0.0, "order": None, "frames": 0}
    order = "tff" if votes > 0 else "bff" if votes < 0 else None
    return {"combed": sum(r > COMBED_RATIO for r in ratios) / len(ratios), "median_ratio": float(np.median(ratios)),
            "order": order, "frames": len(ratios)}


def combed_fraction(path: str, frames: int | None = None) -> float:
    """Share of a video file's frames (the first ``frames``, None: all) that are combed: near 0 for clean
    progressive video, near 1 for woven fields of a moving picture."""
    from slowmo.media.decode import read_frames
    from slowmo.media.probe import probe

    return measure_combing(read_frames(probe(path), max_frames=frames))["combed"]


def detect_field_order(info, *, measure: bool = True, frames: int = MEASURE_FRAMES) -> str | None:
    """"tff" or "bff" for interlaced video, None for progressive. The stream's field order when it says
    interlaced; when it says nothing (field_order None) and measure is true, the picture: most of the first
    frames combed (measure_combing), the order from the motion between them. (ffmpeg's idet takes sharp
    synthetic progressive pictures, lavfi's testsrc2, for interlaced: measured, so it is not used.)"""
    order = getattr(info, "field_order", None)
    if order in ("tff", "bff"):
        return order
    if order is not None or not measure:
        return None
    from slowmo.media.decode import read_frames

    m = measure_combing(read_frames(info, max_frames=frames))
    if m["combed"] > 0.5:
        return m["order"] or "tff"
    return None


def deinterlace_filter(field_order: str, mode: str = "field") -> str:
    """bwdif for a field order and mode: field (send_field: one frame per field) or frame (send_frame)."""
    if field_order not in ("tff", "bff"):
        raise ValueError(f"field order must be tff or bff, got {field_order!r}")
    if mode not in ("field", "frame"):
        raise ValueError(f"deinterlace mode must be field or frame, got {mode!r}")
    return f"bwdif=mode=send_{mode}:parity={field_order}:deint=all"


def field_times(times: FrameTimes) -> FrameTimes:
    """The times of the fields of interlaced frames shown at ``times``: each frame's, then halfway to the next
    (the last frame's second field half a nominal interval after it). Twice the rate, the same grid kind."""
    half_last = 1 / (2 * times.fps)
    out: list[Fraction] = []
    for a, b in pairwise(times.times):
        out += [a, a + (b - a) / 2]
    if times.times:
        out += [times.times[-1], times.times[-1] + half_last]
    return FrameTimes(tuple(out), times.fps * 2, times.constant)


def deinterlaced_info(info, mode: str = "field", *, measure: bool = True):
    """The VideoInfo to plan and decode from for interlaced input (unchanged for progressive input or mode
    "off"): progressive, with the decode filter set, and for field mode twice the frames at twice the rate."""
    if mode == "off":
        return info
    order = detect_field_order(info, measure=measure)
    if order is None:
        return info
    changes = {"field_order": "progressive", "deinterlace": deinterlace_filter(order, mode)}
    if mode == "field":
        times = field_times(info.frame_times)
        changes.update(timestamps=times, fps=times.fps, frame_count=times.count)
    return dataclasses.replace(info, **changes)
