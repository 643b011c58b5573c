#!/usr/bin/env python3
"""Which way should the film engine reach a time that is not a midpoint? Quality vs model calls.

film_net only synthesises t = 0.5 (it ignores ``time``), so the engine reaches t = 1/3, 0.4 ... by
bisection. Two methods (``slowmo.synthesis.engines.film.plan_midpoints``) at several depths D are compared:

* ``nearest``: the dyadic frame at depth D nearest to t (time error <= 1/2^(D+1));
* ``bracket``: the two dyadic frames at depth D around t, then the flow engine retimes between them.

and, for context, ``midpoint`` (every slot gets the t = 0.5 frame: what sending t to film_net gives)
and ``flow`` (the flow engine alone from the source pair, no model).

The midpoint model here is a proxy for FILM, not FILM: the flow engine asked for t = 0.5 (a
motion-compensated midpoint interpolator). The official weights cannot be had here. Scores are PSNR
(dB, RGB) against the true frame at t:

* synthetic: ``slowmo.foresight.sample.render_frame`` rendered at fractional frame indices (the truth is exact);
* real: held-out frames of real footage: a pair (i, i+S) and its true in-between frames i+1 .. i+S-1
  (S = 3: t = 1/3, 2/3; S = 5: t = 0.2, 0.4, 0.6, 0.8, the pattern of a 24 -> 60 fps retime).

Calls are model evaluations per source pair, counted by the engine. Usage::

    python benchmarks/bench_film_schedule.py [CLIP ...] [--pairs 6] [--size 480x270]

Default clips: imageio's cockatoo.mp4 and realshort.mp4 under /work/footage (see HELPERS: apt-get download
python3-imageio + dpkg -x), when present.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "layers" / "slowmo_core"))

from slowmo.foresight.sample import render_frame  # noqa: E402
from slowmo.media.decode import read_frames  # noqa: E402
from slowmo.media.probe import probe  # noqa: E402
from slowmo.synthesis.engines.film import FilmEngine  # noqa: E402
from slowmo.synthesis.engines.flow import FlowEngine  # noqa: E402
from slowmo.synthesis.metrics import psnr  # noqa: E402

METHODS = [("nearest", 2), ("nearest", 3), ("nearest", 4), ("bracket", 1), ("bracket", 2), ("bracket", 3)]


class FlowMidpoint:
    """A FILM stand-in that ignores ``time`` like film_net: the flow engine's t = 0.5 frame."""

    def __init__(self) -> None:
        self.flow = FlowEngine()

    def __call__(self, inputs: dict) -> dict:
        out = []
        for a, b in zip(inputs["x0"], inputs["x1"], strict=True):
            ua = np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)
            ub = np.clip(np.rint(b * 255), 0, 255).astype(np.uint8)
            out.append(self.flow.interpolate(ua, ub, [0.5])[0].astype(np.float32) / 255.0)
        return {"image": np.stack(out)}


def cases_synthetic(size: tuple[int, int], pairs: int, stride: int):
    w, h = size
    fps = 8.0  # fast motion: the ball crosses ~7% of the width per source frame
    for p in range(pairs):
        i = 3 * p
        ts = [j / stride for j in range(1, stride)]
        truth = [render_frame(i + t, w, h, fps) for t in ts]
        yield render_frame(i, w, h, fps), render_frame(i + 1, w, h, fps), ts, truth


def cases_real(clip: str, size: tuple[int, int], pairs: int, stride: int):
    frames = []
    for f in read_frames(probe(clip), max_frames=pairs * stride + 1):
        frames.append(cv2.resize(f, size, interpolation=cv2.INTER_AREA))
        if len(frames) >= pairs * stride + 1:
            break
    for p in range(min(pairs, (len(frames) - 1) // stride)):
        i = p * stride
        ts = [j / stride for j in range(1, stride)]
        yield frames[i], frames[i + stride], ts, frames[i + 1 : i + stride]


def score(cases) -> dict[str, tuple[float, float]]:
    model = FlowMidpoint()
    flow = FlowEngine()
    rows: dict[str, list[tuple[float, int]]] = {}
    for a, b, ts, truth in cases:
        def add(name, frames, calls, truth=truth):
            rows.setdefault(name, []).append((float(np.mean([psnr(f, g) for f, g in zip(frames, truth, strict=True)])), calls))
        mid = model({"x0": a[None] / 255.0, "x1": b[None] / 255.0, "time": np.zeros((1, 1))})["image"][0]
        add("midpoint (film_net fed t)", [np.clip(np.rint(mid * 255), 0, 255).astype(np.uint8)] * len(ts), 1)
        add("flow only (no model)", flow.interpolate(a, b, ts), 0)
        for method, depth in METHODS:
            eng = FilmEngine(model=model, tile=None, batch_size=1, nondyadic=method, depth=depth, retimer=flow)
            add(f"{method} D={depth}", eng.interpolate(a, b, ts), eng.evaluations)
    return {k: (float(np.mean([s for s, _ in v])), float(np.mean([c for _, c in v]))) for k, v in rows.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*")
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--size", default="480x270")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    clips = args.clips or sorted(glob.glob("/work/footage/python3-imageio/**/*.mp4", recursive=True))
    sets = []
    for stride in (3, 5):
        sets.append((f"synthetic, t=j/{stride}", cases_synthetic(size, args.pairs, stride)))
        for clip in clips:
            sets.append((f"{Path(clip).name}, held-out, t=j/{stride}", cases_real(clip, size, args.pairs, stride)))
    print(f"PSNR dB vs truth (mean over pairs) / model calls per pair; {args.size}; midpoint model = flow at t=0.5 "
          "(a FILM proxy)")
    for name, cases in sets:
        result = score(cases)
        print(f"\n{name}")
        for k, (db, calls) in result.items():
            print(f"  {k:28s} {db:6.2f} dB  {calls:4.1f} calls")


if __name__ == "__main__":
    main()
