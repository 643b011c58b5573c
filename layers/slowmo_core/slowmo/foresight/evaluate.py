"""The quality meter: drop frames from a real video, synthesise them back, score against the truth.

Keeping every K-th frame and asking an engine for the K-1 frames between makes the dropped frames
ground truth. The cross-fade's score on the same frames is reported beside it as the baseline.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from slowmo.errors import InputError
from slowmo.media.decode import read_frames
from slowmo.media.probe import probe
from slowmo.synthesis.engines import create_engine
from slowmo.synthesis.engines.blend import BlendEngine
from slowmo.synthesis.frames import fill_pair
from slowmo.synthesis.metrics import psnr, ssim
from slowmo.timeline.timing import slot_times


def _mean(values: list[float]) -> float:
    finite = [min(v, 100.0) for v in values]  # identical frames score inf; cap so the mean stays a number
    return round(float(np.mean(finite)), 3) if finite else float("nan")


def evaluate(path: str, factor: int, engine_name: str, *, model: str | None = None, max_frames: int = 240) -> dict:
    info = probe(path)
    frames = list(itertools.islice(read_frames(info), max_frames))
    if len(frames) < factor + 1:
        raise InputError(f"{Path(path).name}: needs at least {factor + 1} frames to evaluate factor {factor}, has {len(frames)}")
    engine = create_engine(engine_name, **({"model_path": model} if engine_name == "film" and model else {}))
    blend = BlendEngine()
    scores = {"psnr": [], "ssim": [], "blend_psnr": [], "blend_ssim": []}
    for start in range(0, len(frames) - factor, factor):
        a, b = frames[start], frames[start + factor]
        truth = frames[start + 1 : start + factor]
        _, synthesised = fill_pair(a, b, factor, engine)
        crossfade = blend.interpolate(a, b, slot_times(factor))
        for real, ours, base in zip(truth, synthesised, crossfade, strict=True):
            scores["psnr"].append(psnr(real, ours))
            scores["ssim"].append(ssim(real, ours))
            scores["blend_psnr"].append(psnr(real, base))
            scores["blend_ssim"].append(ssim(real, base))
    result = {
        "input": str(path),
        "factor": factor,
        "engine": engine.name,
        "frames_scored": len(scores["psnr"]),
        **{name: _mean(values) for name, values in scores.items()},
    }
    result["psnr_gain_db"] = round(result["psnr"] - result["blend_psnr"], 3)
    return result
