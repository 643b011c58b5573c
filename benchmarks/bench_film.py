#!/usr/bin/env python3
"""FILM engine: model calls per source pair (counted) and frames per second with the stand-in model.

1. Cost table. For each factor K (t = j/K) and each retime (output time = K x source time, shown at R
   fps: output frame n shows source position n * S / (R * K)), the engine is run on one pair per
   distinct set of times with a counting film_net stand-in (midpoint of x0 and x1, ``time`` ignored), and
   the model evaluations it made are counted. Retimes give different times to different pairs; the
   figure is the mean over one period of the pattern. Default method/depth and the alternatives.
2. Throughput. The SavedModel stand-in (tests/film_fixtures.py: FILM's signature, x0/x1 average) at the
   given sizes, K = 8 over a window of pairs: per-pair calls (batch within one pair, the old behaviour)
   against ``interpolate_many`` (batches across pairs). Prints model calls, evaluations and synthesised
   frames per second. This measures the engine's own overhead (padding, batching, tiling, conversions)
   around a trivial model, not FILM's speed: see bench_film_shaped.py for a FILM-sized network.

No GPU is lent to this task: the figures printed here are CPU figures. Usage::

    python benchmarks/bench_film.py [--sizes 960x540,1920x1080] [--pairs 4] [--batch 4] [--no-throughput]
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "layers" / "slowmo_core"))
sys.path.insert(0, str(REPO / "tests"))

from slowmo.synthesis.engines.film import DEFAULT_DEPTH, DEFAULT_NONDYADIC, FilmEngine  # noqa: E402

RETIMES = [  # (label, source fps, factor, output fps)
    ("24 -> 60 fps, real speed", 24, 1, 60),
    ("24 -> 30 fps, real speed", 24, 1, 30),
    ("25 -> 60 fps, real speed", 25, 1, 60),
    ("30 -> 60 fps, real speed (K=2)", 30, 1, 60),
    ("24 fps, K=4, shown at 60 fps", 24, 4, 60),
    ("24 fps, K=8, shown at 60 fps", 24, 8, 60),
    ("30 fps, K=4, shown at 24 fps", 30, 4, 24),
]
METHODS = [(DEFAULT_NONDYADIC, DEFAULT_DEPTH), ("bracket", 1), ("bracket", 3), ("nearest", 3), ("nearest", 4)]


class CountingMidpoint:
    def __init__(self) -> None:
        self.evaluations = 0

    def __call__(self, inputs: dict) -> dict:
        self.evaluations += inputs["x0"].shape[0]
        return {"image": 0.5 * inputs["x0"] + 0.5 * inputs["x1"]}


def counted_calls(ts: list[float], method: str, depth: int) -> int:
    if not ts:
        return 0
    model = CountingMidpoint()
    frame = np.zeros((64, 64, 3), np.uint8)
    FilmEngine(model=model, tile=None, batch_size=1, nondyadic=method, depth=depth).interpolate(frame, frame + 1, ts)
    return model.evaluations


def retime_pairs(source_fps: int, factor: int, output_fps: int) -> list[list[float]]:
    """Times needed in each pair over one period of a retime (output time = K x source time)."""
    step = Fraction(source_fps, output_fps * factor)  # source positions advance this much per output frame
    # the pattern repeats after step.numerator source pairs (step.denominator output frames)
    pairs: list[list[float]] = [[] for _ in range(step.numerator)]
    n = 0
    while True:
        p = n * step
        i = math.floor(p)
        if i >= len(pairs):
            break
        if p != i:
            pairs[i].append(float(p - i))
        n += 1
    return pairs


def cost_table() -> None:
    head = " | ".join(f"{m} D={d}{' (default)' if (m, d) == METHODS[0] else ''}" for m, d in METHODS)
    print(f"| K | times per pair | {head} |")
    print("|---|---|" + "---|" * len(METHODS))
    for k in range(2, 17):
        ts = [j / k for j in range(1, k)]
        cells = " | ".join(str(counted_calls(ts, m, d)) for m, d in METHODS)
        print(f"| {k} | {k - 1} | {cells} |")
    print()
    print(f"| retime | times per pair | {head} |")
    print("|---|---|" + "---|" * len(METHODS))
    for label, s, k, r in RETIMES:
        pairs = retime_pairs(s, k, r)
        slots = sum(map(len, pairs)) / len(pairs)
        cells = " | ".join(f"{sum(counted_calls(ts, m, d) for ts in pairs) / len(pairs):.2f}" for m, d in METHODS)
        print(f"| {label} | {slots:.2f} | {cells} |")


def throughput(sizes: list[tuple[int, int]], pairs: int, batch: int) -> None:
    import film_fixtures

    path = film_fixtures.film_midpoint_savedmodel()
    rng = np.random.default_rng(0)
    ts = [j / 8 for j in range(1, 8)]
    print(f"\nthroughput, CPU ({platform.processor() or platform.machine()}), stand-in SavedModel, K=8, "
          f"{pairs} pairs, batch {batch}; no GPU lent to this task")
    print("| size | path | model calls | evaluations | seconds | synthesised fps |")
    print("|---|---|---|---|---|---|")
    for w, h in sizes:
        frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(pairs + 1)]
        work = [(frames[i], frames[i + 1], ts) for i in range(pairs)]
        results = {}
        for label in ("per pair", "across pairs"):
            eng = FilmEngine(path, tile=None, batch_size=batch)
            eng.interpolate(frames[0], frames[1], [0.5])  # trace the function once, outside the timing
            eng.calls = eng.evaluations = 0
            t0 = time.perf_counter()
            out = [eng.interpolate(*p) for p in work] if label == "per pair" else eng.interpolate_many(work)
            dt = time.perf_counter() - t0
            results[label] = out
            print(f"| {w}x{h} | {label} | {eng.calls} | {eng.evaluations} | {dt:.2f} | {pairs * len(ts) / dt:.1f} |")
        same = all(np.array_equal(x, y) for a, b in zip(results["per pair"], results["across pairs"], strict=True)
                   for x, y in zip(a, b, strict=True))
        print(f"|  | identical frames | {same} |  |  |  |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="960x540,1920x1080")
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--no-throughput", action="store_true")
    args = ap.parse_args()
    cost_table()
    if not args.no_throughput:
        sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
        throughput(sizes, args.pairs, args.batch)


if __name__ == "__main__":
    main()
