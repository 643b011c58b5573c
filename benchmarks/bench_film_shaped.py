#!/usr/bin/env python3
"""Peak memory per pixel, arithmetic and time per frame of a FILM-shaped network (random weights).

The official FILM weights cannot be had here, so ``benchmarks/film_shaped.py`` builds a network with
FILM's architecture and size (about 34M parameters) and random weights. Every figure below is labelled
"FILM-shaped, random weights". They calibrate two constants in ``slowmo/synthesis/film_figures.py``: the tiler's
memory per pixel and the GPU-seconds per synthesised frame.

Each size runs in a fresh process, which does this:

* builds the model and traces it on a 64x64 pair; the peak RSS after that is the baseline;
* runs one pair at the measured size, once, with batch 1, and times that one call (wall clock, and the
  process's CPU seconds, which a machine shared with other jobs distorts less);
* reports the peak RSS growth over the baseline (``ru_maxrss``) divided by the padded pixel count.

The arithmetic is counted from the convolutions' shapes: 2 x k x k x Cin x Cout per output pixel, summed
over every conv at its pyramid level. Convs are almost all of FILM's work; warps and resizes are not
counted.

4K does not fit whole in this machine's memory next to the other jobs (24 GiB, shared). It is measured
as one 1088x1088 tile instead. The frame's time is then the tiles the tiler would use at that tile size
times the tile's time, computed rather than run.

This is CPU-measured, on this machine's 2 shared cores: a figure for this CPU only. No GPU is lent to
this task, so GPU time is not measured. ``film_figures.py`` derives GPU seconds from the counted FLOPs
and an assumed GPU throughput, and says so. Usage::

    python benchmarks/bench_film_shaped.py [--sizes 960x540,1920x1080,tile1088] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "layers" / "slowmo_core"))
sys.path.insert(0, str(REPO / "benchmarks"))


def _padded(v: int) -> int:
    return -(-v // 64) * 64


def count_flops(model, height: int, width: int) -> int:
    """FLOPs (2 per multiply-add) of the model's convolutions for one pair at this size."""
    import film_shaped
    import tensorflow as tf

    total = [0]
    plain = film_shaped.FilmShaped._apply

    def counting(x, conv, act=True):
        k, _, cin, cout = conv[0].shape
        total[0] += 2 * k * k * cin * cout * int(x.shape[1]) * int(x.shape[2]) * int(x.shape[0])
        return plain(x, conv, act)

    film_shaped.FilmShaped._apply = staticmethod(counting)
    try:
        spec = {"x0": tf.TensorSpec([1, height, width, 3], tf.float32),
                "x1": tf.TensorSpec([1, height, width, 3], tf.float32),
                "time": tf.TensorSpec([1, 1], tf.float32)}
        tf.function(lambda inputs: film_shaped.FilmShaped.__call__.python_function(model, inputs)
                    ).get_concrete_function(spec)
    finally:
        film_shaped.FilmShaped._apply = staticmethod(plain)
    return total[0]


def measure_one(label: str) -> dict:
    """Run in a fresh process: peak memory and time of one pair at the size ``label``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import film_shaped
    import numpy as np

    if label.startswith("tile"):
        height = width = int(label[4:])
    else:
        width, height = (int(v) for v in label.split("x"))
    ph, pw = _padded(height), _padded(width)
    model = film_shaped.FilmShaped()
    small = np.random.default_rng(0).random((1, 64, 64, 3), dtype=np.float32)
    model({"x0": small, "x1": small, "time": np.full((1, 1), 0.5, np.float32)})
    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rng = np.random.default_rng(1)
    x0 = rng.random((1, ph, pw, 3), dtype=np.float32)
    x1 = np.roll(x0, 8, axis=2)
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    out = model({"x0": x0, "x1": x1, "time": np.full((1, 1), 0.5, np.float32)})["image"].numpy()
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    peak_kib = after.ru_maxrss
    assert out.shape == (1, ph, pw, 3)
    return {"label": label, "width": width, "height": height, "padded": [pw, ph],
            "params": model.parameter_count, "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2),
            "peak_growth_bytes": (peak_kib - base_kib) * 1024,
            "bytes_per_pixel": round((peak_kib - base_kib) * 1024 / (ph * pw)),
            "gflops": round(count_flops(model, ph, pw) / 1e9, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="960x540,1920x1080,tile1088")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one)))
        return
    from slowmo.synthesis import tiling

    rows = []
    for label in args.sizes.split(","):
        proc = subprocess.run([sys.executable, __file__, "--one", label], capture_output=True, text=True,  # noqa: S603
                              check=False)
        if proc.returncode != 0:
            print(f"{label}: failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        if label.startswith("tile"):
            side = row["width"]
            tiles = tiling.tile_count(2160, 3840, side)
            row["4k_tiles"] = tiles
            row["4k_seconds_computed"] = round(tiles * row["seconds"], 1)
            row["4k_cpu_seconds_computed"] = round(tiles * row["cpu_seconds"], 1)
        rows.append(row)
    print("FILM-shaped, random weights; CPU-measured (2 shared cores); batch 1; GPU not measured (none lent)")
    print("| size (padded) | params | GFLOP per frame | wall s per frame | CPU s per frame | achieved GFLOP/s (CPU time) "
          "| peak RSS growth | bytes per pixel |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        size = f"{r['width']}x{r['height']} ({r['padded'][0]}x{r['padded'][1]})"
        extra = (f"; 4K = {r['4k_tiles']} such tiles: {r['4k_seconds_computed']} s wall, "
                 f"{r['4k_cpu_seconds_computed']} s CPU (computed)") if "4k_tiles" in r else ""
        print(f"| {size}{extra} | {r['params'] / 1e6:.1f}M | {r['gflops']} | {r['seconds']} | {r['cpu_seconds']} | "
              f"{r['gflops'] / max(r['cpu_seconds'], 1e-9):.1f} | {r['peak_growth_bytes'] / 2**30:.2f} GiB | "
              f"{r['bytes_per_pixel']} |")
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
