"""Graceful fallback: where the risk signal says synthesis is unreliable, publish the least-bad frame.

A synthesised frame that is wrong is worse than a cross-fade: a torn or smeared object draws the
eye, a soft double image does not.  For each pair, ``confidence.pair_risk`` gives the share of the
picture the motion does not explain (``risk``) and a per-pixel reliability map.  With
``--fallback auto``:

* risk below ``RISK_FLOOR``: the engine's frames are kept untouched;
* otherwise each synthesised frame is mixed per pixel with the cross-fade at the same t, weighted by
  the reliability map: reliable areas keep the engine's sharp result, unreliable ones become the
  cross-fade (which already leans toward the nearer real frame, weight 1 - t and t);
* risk at or above ``RISK_FULL``: the motion explains too little of the picture for any of it to be
  trusted (a flash, a cut the cut detector missed), and the whole frame is the cross-fade.

Why the floor is high (measured on the tuning half of benchmarks/bench_flow_quality.py only; the
held-out half and docs/quality.md have the rest): on those clips the flow engine's frame beat the
cross-fade, and every mix of the two, on average even in the pairs the signal marks as uncertain.
Acting from risk 0.1 (full or half strength, or a plain 50/50 mix) lifted the worst 1% of frames
by 0.2 to 0.7 dB but cost 0.01 to 0.3 dB of mean PSNR; no threshold did one without the other, and no
measured feature (risk, residual, motion) predicted which pairs gain.  So ``auto`` only steps in
where most of the picture is unexplained, which no tuning pair reached (highest risk 0.47).
``--fallback off`` never measures the signal and publishes the engine's frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from slowmo.options import FALLBACK_MODES
from slowmo.synthesis.confidence import PairRisk, pair_risk

__all__ = ["FALLBACK_MODES", "RISK_FLOOR", "RISK_FULL", "FallbackChoice", "apply_fallback", "choose", "guard_pair"]

DEFAULT_FALLBACK = "auto"
RISK_FLOOR = 0.5
RISK_FULL = 0.75
# How far an unreliable pixel moves toward the cross-fade (1 = all the way).
FADE_STRENGTH = 1.0

KEEP = "synthesised"
WEIGHTED = "reliability-weighted"
CROSSFADE = "cross-fade"


@dataclass(frozen=True)
class FallbackChoice:
    action: str  # KEEP, WEIGHTED or CROSSFADE
    risk: float


def choose(risk: PairRisk, mode: str = DEFAULT_FALLBACK) -> FallbackChoice:
    """Which result a pair with this risk publishes."""
    if mode not in FALLBACK_MODES:
        raise ValueError(f"fallback must be one of {', '.join(FALLBACK_MODES)}, not {mode!r}")
    if mode == "off" or risk.risk < RISK_FLOOR:
        return FallbackChoice(KEEP, risk.risk)
    if risk.risk >= RISK_FULL:
        return FallbackChoice(CROSSFADE, risk.risk)
    return FallbackChoice(WEIGHTED, risk.risk)


def apply_fallback(
    a: np.ndarray, b: np.ndarray, ts: Sequence[float], frames: list[np.ndarray], risk: PairRisk, mode: str = DEFAULT_FALLBACK
) -> tuple[list[np.ndarray], FallbackChoice]:
    """The frames to publish for slots ``ts`` between a and b, given the engine's ``frames``."""
    choice = choose(risk, mode)
    if choice.action == WEIGHTED:
        return reliability_weighted(a, b, ts, frames, risk), choice
    if choice.action == CROSSFADE:
        return crossfades(a, b, ts), choice
    return frames, choice


def guard_pair(
    a: np.ndarray, b: np.ndarray, ts: Sequence[float], frames: list[np.ndarray], mode: str = DEFAULT_FALLBACK
) -> tuple[list[np.ndarray], FallbackChoice | None]:
    """Measure the pair's risk and apply the fallback; with mode "off" nothing is measured (None)."""
    if mode not in FALLBACK_MODES:
        raise ValueError(f"fallback must be one of {', '.join(FALLBACK_MODES)}, not {mode!r}")
    if mode == "off":
        return frames, None
    return apply_fallback(a, b, ts, frames, pair_risk(a, b), mode)


def crossfades(a: np.ndarray, b: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]:
    """The cross-fade at each t: weight 1 - t on a, t on b."""
    return [cv2.addWeighted(a, 1.0 - t, b, t, 0.0) for t in ts]


def reliability_weighted(
    a: np.ndarray, b: np.ndarray, ts: Sequence[float], frames: list[np.ndarray], risk: PairRisk, strength: float | None = None
) -> list[np.ndarray]:
    """Each synthesised frame where the map says reliable, the cross-fade where not, mixed in between."""
    h, w = a.shape[:2]
    strength = FADE_STRENGTH if strength is None else strength
    rel = np.clip(cv2.resize(risk.reliability, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    alpha = 1.0 - np.float32(strength) * (1.0 - rel)
    beta = 1.0 - alpha
    return [cv2.blendLinear(synth, fade, alpha, beta) for synth, fade in zip(frames, crossfades(a, b, ts), strict=True)]
