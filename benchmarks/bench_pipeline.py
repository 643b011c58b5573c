"""Pipeline throughput and memory, as ratios against baselines measured in the same run.

1. The `blend` pipeline (decode, interpolate, encode through slowmo) against a bare ffmpeg
   decode-and-encode that writes the same number of output frames with the same encoder settings.
   Target: at most 1.3x the bare ffmpeg time.
2. Peak memory against input length: the same job on an input 10x longer. Target: at most 1.2x the
   peak RSS (the Python process and, separately, its ffmpeg children).

    .venv/bin/python benchmarks/bench_pipeline.py [--size 1280x720] [--frames 48] [--factor 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from slowmo.foresight.sample import make_clip
from slowmo.media.ffmpeg import ffmpeg_command
from slowmo.media.probe import probe

CHILD = """
import json, resource, sys
from slowmo.options import JobOptions
from slowmo.local.pipeline import run_job
report = run_job(sys.argv[1], sys.argv[2], JobOptions(factor=int(sys.argv[3]), engine=sys.argv[4], audio="drop"))
print(json.dumps({"self_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "children_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "frames": report.output_frames}))
"""


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)  # noqa: S603
    return time.perf_counter() - start


def run_child(src: Path, out: Path, factor: int, engine: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(src), str(out), str(factor), engine],  # noqa: S603
                          check=True, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--factor", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-frames", type=int, default=24, help="short input for the memory test (long = 10x)")
    parser.add_argument("--memory-engine", default="flow")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = make_clip(tmp / "src.mp4", width=width, height=height, fps=24, frames=args.frames, audio=False)
        n_out = (probe(src).frame_count - 1) * args.factor + 1
        ours = [sys.executable, "-m", "slowmo.cli", "run", str(src), "-o", str(tmp / "blend.mp4"),
                "--factor", str(args.factor), "--engine", "blend", "--audio", "drop", "--no-progress"]
        # Same output frame count, same encoder and settings: each source frame shown K times.
        bare = ffmpeg_command(["-loglevel", "error", "-i", str(src), "-vf", f"setpts={args.factor}*PTS,fps=24",
                               "-frames:v", str(n_out), "-c:v", "libx264", "-preset", "medium", "-crf", "18",
                               "-pix_fmt", "yuv420p", "-an", "-y", str(tmp / "bare.mp4")])
        ours_t, bare_t, floor_t = [], [], []
        for _ in range(args.repeat):
            bare_t.append(timed(bare))
            ours_t.append(timed(ours))
        assert probe(tmp / "bare.mp4").frame_count == probe(tmp / "blend.mp4").frame_count == n_out
        # The encode-only floor: the same encoder on slowmo's own output frames, already YUV. Interpolated
        # frames cost x264 more than repeated ones; this row separates that from our pipeline's own cost.
        raw = tmp / "blend.yuv"
        subprocess.run(ffmpeg_command(["-loglevel", "error", "-i", str(tmp / "blend.mp4"), "-f", "rawvideo",  # noqa: S603
                                       "-pix_fmt", "yuv420p", "-y", str(raw)]), check=True)
        floor = ffmpeg_command(["-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}",
                                "-framerate", "24", "-i", str(raw), "-c:v", "libx264", "-preset", "medium", "-crf", "18",
                                "-f", "null", "-"])
        for _ in range(args.repeat):
            floor_t.append(timed(floor))
        ratio = statistics.median(ours_t) / statistics.median(bare_t)
        print(f"## Throughput ({args.size}, {args.frames} source frames, K={args.factor}, {n_out} output frames, median of {args.repeat})\n")
        print("| pipeline | seconds | output frames/s |\n|---|---|---|")
        print(f"| bare ffmpeg decode+encode | {statistics.median(bare_t):.2f} | {n_out / statistics.median(bare_t):.1f} |")
        print(f"| slowmo blend | {statistics.median(ours_t):.2f} | {n_out / statistics.median(ours_t):.1f} |")
        print(f"| encode-only floor: x264 on slowmo's output frames (raw YUV in) | {statistics.median(floor_t):.2f} "
              f"| {n_out / statistics.median(floor_t):.1f} |")
        print(f"\nblend / bare ffmpeg time ratio: **{ratio:.2f}** (target <= 1.30: {'met' if ratio <= 1.3 else 'NOT met'}); "
              f"floor / bare: {statistics.median(floor_t) / statistics.median(bare_t):.2f} (content), "
              f"blend / floor: {statistics.median(ours_t) / statistics.median(floor_t):.2f} (our pipeline)\n")

        short = make_clip(tmp / "short.mp4", width=640, height=360, fps=24, frames=args.memory_frames, audio=False)
        long = make_clip(tmp / "long.mp4", width=640, height=360, fps=24, frames=args.memory_frames * 10, audio=False)
        m_short = run_child(short, tmp / "ms.mp4", args.factor, args.memory_engine)
        m_long = run_child(long, tmp / "ml.mp4", args.factor, args.memory_engine)
        r_self = m_long["self_kib"] / m_short["self_kib"]
        r_children = m_long["children_kib"] / m_short["children_kib"]
        print(f"## Peak memory ({args.memory_engine}, 640x360, K={args.factor})\n")
        print("| input | output frames | python peak RSS MiB | ffmpeg peak RSS MiB |\n|---|---|---|---|")
        for name, m in (("short", m_short), ("10x longer", m_long)):
            print(f"| {name} | {m['frames']} | {m['self_kib'] / 1024:.0f} | {m['children_kib'] / 1024:.0f} |")
        print(f"\npeak RSS ratio long/short: python **{r_self:.2f}**, ffmpeg **{r_children:.2f}** "
              f"(target <= 1.20: {'met' if max(r_self, r_children) <= 1.2 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
