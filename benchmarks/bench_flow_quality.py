#!/usr/bin/env python3
"""Held-out-frame quality and throughput of the ``flow`` engine vs ffmpeg's minterpolate.

Method (K = 2): decode the first ``--max-frames`` frames of each clip, keep the
even frames (0, 2, 4, ...), synthesise every odd frame from its two even
neighbours with each method, and compare with the real odd frame (PSNR over
RGB, SSIM on luma, see ``slowmo.metrics``).

* flow: ``FlowEngine(quality=...).interpolate(even[k], even[k + 1], [0.5])``.
* minterpolate: the even frames are piped raw (lossless) into the bundled
  ffmpeg at half the frame rate, converted to yuv444p (no chroma subsampling),
  ``minterpolate=fps=<full>:mi_mode=mci:mc_mode=aobmc:me_mode=bidir``, and read
  back as raw RGB.  Output frame ``2k`` is the source frame ``even[k]``; the
  script checks that (reported as "kept-frame PSNR"; it stops below 40 dB) so
  the odd outputs are aligned.
* blend: a plain 50/50 cross-fade, for reference.

Throughput is synthesised frames per second of wall time in the same run:
for flow the time spent in ``interpolate``; for minterpolate the ffmpeg run
time minus the time of the same ffmpeg pipeline without the minterpolate
filter (so piping/conversion overhead is not charged to it).  Each is timed
``--repeats`` times and the fastest run counts (the machine may be shared).
minterpolate only emits an interval once it has seen a frame beyond it, so the
next even frames of the clip are fed as look-ahead (not scored).  Clips whose
decoded frames are identical to an earlier clip's are skipped.

Usage::

    python benchmarks/bench_flow_quality.py --fetch            # fetch clips into .bench/ and run
    python benchmarks/bench_flow_quality.py clip1.mp4 clip2.mov --max-frames 60
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "layers" / "slowmo_core"))

from slowmo.engines.flow import FlowEngine  # noqa: E402
from slowmo.metrics import psnr, ssim  # noqa: E402

BENCH_DIR = REPO / ".bench"
FETCH_PACKAGES = ("python3-imageio", "node-opencv")
CLIP_PATTERNS = ("*.mp4", "*.mov", "*.avi", "*.mkv", "*.webm")


# --------------------------------------------------------------------------- clips
def fetch_clips(dest: Path = BENCH_DIR) -> list[Path]:
    """apt-get download the Debian packages that bundle sample clips and unpack them."""
    dest.mkdir(parents=True, exist_ok=True)
    debs = sorted(dest.glob("*.deb"))
    if not debs:
        subprocess.run(["apt-get", "download", *FETCH_PACKAGES], cwd=dest, check=True)  # noqa: S603,S607
        debs = sorted(dest.glob("*.deb"))
    root = dest / "x"
    for deb in debs:
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)  # noqa: S603,S607
    return find_clips(root)


def find_clips(root: Path) -> list[Path]:
    found: list[Path] = []
    for pat in CLIP_PATTERNS:
        found += [Path(p) for p in glob.glob(str(root / "**" / pat), recursive=True)]
    return sorted(set(found))


def read_clip(path: Path, max_frames: int) -> tuple[list[np.ndarray], float]:
    gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = next(gen)
    w, h = meta["size"]
    fps = float(meta["fps"])
    frames: list[np.ndarray] = []
    try:
        for buf in gen:
            frames.append(np.frombuffer(buf, np.uint8).reshape(h, w, 3).copy())
            if len(frames) >= max_frames:
                break
    finally:
        gen.close()
    return frames, fps


# -------------------------------------------------------------------- minterpolate
KEPT_MIN_PSNR = 40.0  # the kept (even) frames must come back ~unchanged, else the outputs are misaligned
MI_FILTER = "minterpolate=fps={fps}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir"


def _ffmpeg_pipe(frames: list[np.ndarray], in_rate: str, vf: str) -> tuple[list[np.ndarray], float]:
    h, w = frames[0].shape[:2]
    args = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", in_rate, "-i", "pipe:0",
        "-vf", vf, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
    ]  # fmt: skip
    data = b"".join(f.tobytes() for f in frames)
    t0 = time.perf_counter()
    proc = subprocess.run(args, input=data, capture_output=True, check=False)  # noqa: S603
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {proc.stderr.decode(errors='replace').strip()}")
    n = len(proc.stdout) // (w * h * 3)
    out = np.frombuffer(proc.stdout[: n * w * h * 3], np.uint8).reshape(n, h, w, 3)
    return list(out), elapsed


def minterpolate_k2(
    evens: list[np.ndarray], lookahead: list[np.ndarray], repeats: int = 1
) -> tuple[list[np.ndarray], float]:
    """Return the (2m - 1) output frames for the m frames ``evens``, and the synthesised frames/s.

    minterpolate needs a frame of look-ahead past the interval it interpolates
    (without it the last interval is never emitted), so the following even
    frames of the clip (``lookahead``; the last frame repeated if the clip ends)
    are fed too; their output is not scored.
    """
    tail = list(lookahead[:2])
    while len(tail) < 2:
        tail.append(evens[-1] if not tail else tail[-1])
    feed = evens + tail
    # Rates are symbolic: the source is 2 fps in, 4 fps out (only the ratio matters).
    vf = f"format=yuv444p,{MI_FILTER.format(fps=4)},format=rgb24"
    runs = [_ffmpeg_pipe(feed, "2", vf) for _ in range(max(1, repeats))]
    out = runs[0][0]
    elapsed = min(r[1] for r in runs)
    base = min(_ffmpeg_pipe(feed, "2", "format=yuv444p,fps=4,format=rgb24")[1] for _ in range(max(1, repeats)))
    need = 2 * len(evens) - 1
    if len(out) < need:
        raise RuntimeError(f"minterpolate returned {len(out)} frames, expected at least {need}")
    synthesised = len(out) // 2
    return out[:need], synthesised / max(elapsed - base, 1e-6)


# ---------------------------------------------------------------------------- run
@dataclass
class ClipResult:
    name: str
    size: str
    pairs: int
    flow_psnr: float
    mi_psnr: float
    blend_psnr: float
    flow_ssim: float
    mi_ssim: float
    flow_fps: float
    mi_fps: float
    kept_psnr: float


def _content_digest(path: Path, max_frames: int) -> str:
    frames, _ = read_clip(path, max_frames)
    h = hashlib.sha256()
    for f in frames:
        h.update(f.tobytes())
    return h.hexdigest()


def _mean_psnr(vals: list[float]) -> float:
    finite = [min(v, 100.0) for v in vals]
    return float(np.mean(finite))


def bench_clip(path: Path, max_frames: int, quality: str, repeats: int = 3) -> ClipResult:
    frames, _fps = read_clip(path, max_frames + 4)
    extra = frames[max_frames:]
    frames = frames[:max_frames]
    if len(frames) % 2 == 0:
        extra.insert(0, frames.pop())
    if len(frames) < 3:
        raise RuntimeError(f"{path}: need at least 3 frames")
    evens = frames[0::2]
    truth = frames[1::2]

    engine = FlowEngine(quality=quality)
    engine.interpolate(evens[0], evens[1], [0.5])  # warm-up (thread pool, allocations)
    flow_time = math.inf
    for _ in range(max(1, repeats)):
        flow_out: list[np.ndarray] = []
        t0 = time.perf_counter()
        for a, b in zip(evens[:-1], evens[1:], strict=True):
            flow_out.extend(engine.interpolate(a, b, [0.5]))
        flow_time = min(flow_time, time.perf_counter() - t0)

    mi_all, mi_fps = minterpolate_k2(evens, extra[1::2], repeats)
    kept = [psnr(mi_all[2 * k], evens[k]) for k in range(len(evens))]
    if _mean_psnr(kept) < KEPT_MIN_PSNR:
        raise RuntimeError(
            f"{path.name}: minterpolate output is not aligned with the source "
            f"(kept frames come back at {_mean_psnr(kept):.1f} dB)"
        )
    mi_out = mi_all[1::2]

    blend_out = [
        ((a.astype(np.uint16) + b.astype(np.uint16) + 1) // 2).astype(np.uint8)
        for a, b in zip(evens[:-1], evens[1:], strict=True)
    ]
    n = len(truth)
    h, w = frames[0].shape[:2]
    return ClipResult(
        name=path.name,
        size=f"{w}x{h}",
        pairs=n,
        flow_psnr=_mean_psnr([psnr(o, g) for o, g in zip(flow_out, truth, strict=True)]),
        mi_psnr=_mean_psnr([psnr(o, g) for o, g in zip(mi_out, truth, strict=True)]),
        blend_psnr=_mean_psnr([psnr(o, g) for o, g in zip(blend_out, truth, strict=True)]),
        flow_ssim=float(np.mean([ssim(o, g) for o, g in zip(flow_out, truth, strict=True)])),
        mi_ssim=float(np.mean([ssim(o, g) for o, g in zip(mi_out, truth, strict=True)])),
        flow_fps=n / flow_time,
        mi_fps=mi_fps,
        kept_psnr=_mean_psnr(kept),
    )


def render(results: list[ClipResult], quality: str) -> str:
    lines = [
        f"flow quality preset: `{quality}`; K=2 (odd frames held out); PSNR in dB (RGB), SSIM on luma; "
        f"throughput = synthesised frames/s; cores: {os.cpu_count()}",
        "",
        "| clip | size | frames synth | flow PSNR | minterp PSNR | Δ dB | blend PSNR | flow SSIM | minterp SSIM "
        "| flow fps | minterp fps | speed ratio | minterp kept-frame PSNR |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.size} | {r.pairs} | {r.flow_psnr:.2f} | {r.mi_psnr:.2f} | {r.flow_psnr - r.mi_psnr:+.2f} "
            f"| {r.blend_psnr:.2f} | {r.flow_ssim:.4f} | {r.mi_ssim:.4f} | {r.flow_fps:.1f} | {r.mi_fps:.1f} "
            f"| {r.flow_fps / r.mi_fps:.2f}x | {r.kept_psnr:.1f} |"
        )
    fp = float(np.mean([r.flow_psnr for r in results]))
    mp = float(np.mean([r.mi_psnr for r in results]))
    bp = float(np.mean([r.blend_psnr for r in results]))
    fs = float(np.mean([r.flow_ssim for r in results]))
    ms = float(np.mean([r.mi_ssim for r in results]))
    ratios = [r.flow_fps / r.mi_fps for r in results]
    lines.append(
        f"| **average** | | {sum(r.pairs for r in results)} | {fp:.2f} | {mp:.2f} | {fp - mp:+.2f} | {bp:.2f} "
        f"| {fs:.4f} | {ms:.4f} | | | {float(np.mean(ratios)):.2f}x (min {min(ratios):.2f}x) | |"
    )
    worst = min(r.flow_psnr - r.mi_psnr for r in results)
    lines += [
        "",
        f"- mean PSNR gain of flow over minterpolate: {fp - mp:+.2f} dB (target >= +1.5 dB): "
        f"{'met' if fp - mp >= 1.5 else 'NOT met'}",
        f"- worst clip: {worst:+.2f} dB (target no clip below -0.25 dB): {'met' if worst >= -0.25 else 'NOT met'}",
        f"- throughput ratio flow/minterpolate: mean {float(np.mean(ratios)):.2f}x, min {min(ratios):.2f}x "
        f"(target >= 3x): {'met' if min(ratios) >= 3.0 else 'NOT met'}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips", nargs="*", type=Path, help="video files to benchmark")
    ap.add_argument("--fetch", action="store_true", help="apt-get download the sample clips into .bench/ and use them")
    ap.add_argument("--max-frames", type=int, default=61, help="frames decoded per clip (default 61)")
    ap.add_argument("--quality", default="medium", help="flow engine quality preset (default medium)")
    ap.add_argument("--repeats", type=int, default=3, help="timing runs per method; the fastest counts (default 3)")
    args = ap.parse_args(argv)
    clips = list(args.clips)
    if args.fetch:
        clips += fetch_clips()
    if not clips:
        ap.error("give clip paths or --fetch")
    results = []
    seen: dict[str, Path] = {}
    for clip in clips:
        digest = _content_digest(clip, args.max_frames)
        if digest in seen:
            print(f"... {clip}: same frames as {seen[digest].name}, skipped", file=sys.stderr, flush=True)
            continue
        seen[digest] = clip
        print(f"... {clip}", file=sys.stderr, flush=True)
        results.append(bench_clip(clip, args.max_frames, args.quality, args.repeats))
    print(render(results, args.quality))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
