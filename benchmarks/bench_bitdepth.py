"""The cost of the 16-bit path against the 8-bit one, on the same 10-bit clip, as a ratio in one run.

A 10-bit HEVC clip (testsrc2, HLG-tagged) goes through `run_job` twice per engine: at the working depth
slowmo picks for it (16 bits per channel inside, 10-bit HEVC out) and forced to 8 bits (today's path
before high bit depth: RGB24 inside, 8-bit H.264 out). Same clip, factor, engine and CRF; one worker
(--jobs 1), so the ratio is the per-frame cost of the deeper path. Median of --repeat runs, alternated.

    .venv/bin/python benchmarks/bench_bitdepth.py [--size 1280x720] [--frames 24] [--factor 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from slowmo.local.pipeline import run_job
from slowmo.media.ffmpeg import run_ffmpeg
from slowmo.options import JobOptions


def make_source(path: Path, size: str, frames: int) -> Path:
    run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=24",
                "-vf", "setparams=color_primaries=bt2020:color_trc=arib-std-b67:colorspace=bt2020nc",
                "-frames:v", str(frames), "-c:v", "libx265", "-x265-params", "log-level=error",
                "-pix_fmt", "yuv420p10le", "-y", str(path)])
    return path


def timed_run(source: Path, out: Path, engine: str, factor: int, depth: int, codec: str = "auto") -> tuple[float, int]:
    start = time.perf_counter()
    report = run_job(source, out, JobOptions(factor=factor, engine=engine, audio="drop", codec=codec), jobs=1,
                     bit_depth=depth)
    return time.perf_counter() - start, report.output_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--factor", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", default="blend,flow")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = make_source(Path(tmp) / "ten-bit.mp4", args.size, args.frames)
        rows = []
        for engine in args.engines.split(","):
            # 8 bits + H.264 (today's path), 16 bits + H.264 High 10 (the depth alone), 16 bits + HEVC Main10 (default)
            runs = {"8/h264": (8, "h264"), "16/h264": (16, "h264"), "16/hevc": (16, "h265")}
            times: dict[str, list[float]] = {name: [] for name in runs}
            frames = 0
            for _ in range(args.repeat):
                for name, (depth, codec) in runs.items():
                    seconds, frames = timed_run(source, Path(tmp) / "out.mp4", engine, args.factor, depth, codec)
                    times[name].append(seconds)
            med = {name: statistics.median(values) for name, values in times.items()}
            rows.append({"engine": engine, "size": args.size, "source_frames": args.frames, "output_frames": frames,
                         **{f"seconds_{name}": round(value, 2) for name, value in med.items()},
                         "ratio_16h264_over_8": round(med["16/h264"] / med["8/h264"], 2),
                         "ratio_16hevc_over_8": round(med["16/hevc"] / med["8/h264"], 2)})
    print("| engine | size | output frames | 8-bit, H.264 s | 16-bit, H.264 High 10 s | 16-bit, HEVC Main10 s "
          "| 16-bit H.264 / 8-bit | 16-bit HEVC / 8-bit |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['engine']} | {r['size']} | {r['output_frames']} | {r['seconds_8/h264']} | {r['seconds_16/h264']} "
              f"| {r['seconds_16/hevc']} | {r['ratio_16h264_over_8']} | {r['ratio_16hevc_over_8']} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
