"""Local parallel runs: speed-up against workers, and memory against the video's length.

Everything is a ratio against a baseline measured in the same run, on the same machine:

1. Speed-up: the same `slowmo run` (flow engine) with --jobs 1 and with each --jobs N asked for
   (default 2), end to end (decode, synthesise, encode, join), best of --repeat runs each.
   Speed-up N = time(1) / time(N). The PNG frames of every N are checked to be identical to --jobs 1.
2. Memory flat in length: the same job on a short input and on one --long-factor times longer, at
   --jobs 2. Peak RSS of the main process and of the largest child (a worker or an ffmpeg), and the
   peak bytes of decoded source chunks waiting for a worker, long / short. Target: about 1.0. The
   work folder's finished segments are the encoded output itself, so they grow with it (reported).

    .venv/bin/python benchmarks/bench_parallel.py [--size 640x360] [--frames 96] [--factor 4]
                                                  [--jobs 2] [--repeat 2] [--memory-frames 48]

It prints one JSON object; docs/parallel.md has the figures and the machine they came from.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from slowmo.foresight.sample import make_clip
from slowmo.local.parallel import usable_cores

CHILD = """
import json, resource, sys
from slowmo.options import JobOptions
from slowmo.local.pipeline import run_job
src, out, factor, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
chunk_frames = int(sys.argv[5]) or None
report = run_job(src, out, JobOptions(factor=factor, engine="flow", audio="drop"), jobs=jobs, chunk_frames=chunk_frames)
print(json.dumps({"self_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "largest_child_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "frames": report.output_frames, "chunks": report.chunks, "jobs": report.jobs}))
"""


def folder_bytes(folder: Path) -> int:
    total = 0
    for root, _dirs, names in os.walk(folder):
        for name in names:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def run_child(src: Path, out: Path, factor: int, jobs: int, chunk_frames: int = 0) -> dict:
    """Run one job in a fresh process; sample the size of the work folders beside out meanwhile."""
    peak = {"work_bytes": 0, "source_chunk_bytes": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            works = list(out.parent.glob(".*.slowmo-work"))
            peak["work_bytes"] = max(peak["work_bytes"], sum(folder_bytes(p) for p in works))
            waiting = sum(os.path.getsize(f) for w in works for f in w.glob("in-*") if f.exists())
            peak["source_chunk_bytes"] = max(peak["source_chunk_bytes"], waiting)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(src), str(out), str(factor), str(jobs), str(chunk_frames)],  # noqa: S603
                          check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the whole tree: workers and ffmpeg were waited for
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    done.set()
    sampler.join()
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**result, **peak, "seconds": elapsed, "cpu_seconds": cpu}


def png_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def png_run(src: Path, out: Path, factor: int, jobs: int) -> str:
    subprocess.run([sys.executable, "-m", "slowmo.cli", "run", str(src), "-o", f"{out}/", "--factor", str(factor),  # noqa: S603
                    "--jobs", str(jobs), "--quiet"], check=True, capture_output=True)
    return png_digest(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--factor", type=int, default=4)
    parser.add_argument("--jobs", type=int, nargs="+", default=[2])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--memory-frames", type=int, default=48, help="short input for the memory test")
    parser.add_argument("--long-factor", type=int, default=8, help="the long input is this many times longer")
    parser.add_argument("--memory-chunk-frames", type=int, default=9,
                        help="one chunk size for both lengths (the default grows with the length up to 121 frames)")
    parser.add_argument("--only", choices=["speedup", "memory"], help="run one half")
    parser.add_argument("--memory-jobs", type=int, default=2)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    result: dict = {"machine": {"usable_cores": usable_cores(), "cpu_count": os.cpu_count(),
                                "load_average_1m_at_start": round(os.getloadavg()[0], 2)},
                    "size": args.size, "frames": args.frames, "factor": args.factor, "engine": "flow"}

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = make_clip(tmp / "src.mp4", width=width, height=height, fps=24, frames=args.frames, audio=False,
                        cut_at=args.frames * 2 // 3)
        runs: dict[int, list[dict]] = {n: [] for n in ([1, *args.jobs] if args.only != "memory" else [])}
        for _ in range(args.repeat):  # interleaved, so a change in machine load hits every N alike
            for n in runs:
                runs[n].append(run_child(src, tmp / f"out{n}.mp4", args.factor, n))
        best = {n: min(runs[n], key=lambda r: r["seconds"]) for n in runs}
        reference = png_run(src, tmp / "png1", args.factor, 1) if runs else None
        # cpu_ratio: CPU seconds of the whole process tree against --jobs 1: the parallel overhead
        # (decoding to chunk files, worker start-up), whatever share of the cores the machine gave us.
        result["speedup"] = [
            {"jobs": n, "seconds": round(best[n]["seconds"], 2), "speedup": round(best[1]["seconds"] / best[n]["seconds"], 2),
             "cpu_seconds": round(best[n]["cpu_seconds"], 1),
             "cpu_ratio": round(best[n]["cpu_seconds"] / best[1]["cpu_seconds"], 2),
             "png_identical_to_jobs_1": n == 1 or png_run(src, tmp / f"png{n}", args.factor, n) == reference}
            for n in runs
        ]

        if args.only == "speedup":
            result["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
            print(json.dumps(result, indent=2))
            return 0
        short = make_clip(tmp / "short.mp4", width=width, height=height, fps=24, frames=args.memory_frames, audio=False)
        long = make_clip(tmp / "long.mp4", width=width, height=height, fps=24,
                         frames=args.memory_frames * args.long_factor, audio=False)
        (tmp / "m").mkdir()
        s = run_child(short, tmp / "m" / "short.mp4", args.factor, args.memory_jobs, args.memory_chunk_frames)
        (tmp / "m" / "short.mp4").unlink()
        lg = run_child(long, tmp / "m" / "long.mp4", args.factor, args.memory_jobs, args.memory_chunk_frames)
        result["memory"] = {
            "short": s, "long": lg, "length_ratio": args.long_factor,
            "main_rss_ratio": round(lg["self_kib"] / s["self_kib"], 3),
            "largest_child_rss_ratio": round(lg["largest_child_kib"] / s["largest_child_kib"], 3),
            # decoded source chunks waiting for a worker: bounded by --jobs, not by the length
            "source_chunk_files_peak_ratio": round(lg["source_chunk_bytes"] / max(1, s["source_chunk_bytes"]), 3),
            # finished, encoded segments: they are the output (joined at the end), so they grow with it
            "work_folder_peak_ratio": round(lg["work_bytes"] / max(1, s["work_bytes"]), 3),
        }
    result["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
