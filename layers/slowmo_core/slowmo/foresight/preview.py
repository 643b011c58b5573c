"""`slowmo preview`: find the hardest stretch of a clip cheaply, render only it, side by side.

1. Scan: every consecutive pair of source frames gets the cheap risk signal of ``confidence.py``
   (a few milliseconds a pair on a thumbnail) and its kind (motion, repeat, cut; ``scenes.py``).
   Cuts and repeats are never synthesised, so they carry no risk.
2. Select: the window of ``pairs`` consecutive pairs with the largest total warp residual (the
   grey-level difference left after motion compensation); ties go to the window with the most
   motion, then the earliest.  On the tuning half of bench_flow_quality.py the residual predicts the
   flow engine's PSNR against the real frame far better (correlation -0.72 over 180 pairs) than the
   unexplained share ``risk`` (-0.41) or the motion (-0.39), so it is what "hardest" means here.
3. Render: only that window goes through the real synthesis path (the chosen engine, factor and
   fallback), composed beside the source slowed by repeating frames, and encoded.
4. Report: a per-pair risk summary (``PreviewReport``), printed by the CLI.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from slowmo.errors import InputError
from slowmo.media.compare import SideBySide
from slowmo.media.decode import read_frames
from slowmo.media.encode import VideoWriter
from slowmo.media.probe import probe
from slowmo.options import JobOptions
from slowmo.synthesis.confidence import pair_risk
from slowmo.synthesis.engines import create_engine
from slowmo.synthesis.fallback import KEEP, choose
from slowmo.synthesis.frames import SynthesisReport, synthesize
from slowmo.timeline.scenes import PairKind, classify_pair, signature

DEFAULT_PAIRS = 12  # pairs rendered: at K=8, 96 output frames, a few seconds on 2 cores at 720p
TOP_PAIRS = 5  # pairs listed in the summary


@dataclass(frozen=True)
class PairScore:
    """One source pair: frames ``index`` and ``index + 1``."""

    index: int
    time_s: float  # source time of the first frame
    kind: str  # motion, repeat or cut
    risk: float  # share of the picture unexplained; 0 for cuts and repeats (never synthesised)
    residual: float  # grey levels left after motion compensation; 0 for cuts and repeats
    motion: float
    fallback: str  # what --fallback auto would publish for it

    def to_dict(self) -> dict:
        return {"pair": self.index, "time_s": round(self.time_s, 3), "kind": self.kind, "risk": round(self.risk, 4),
                "residual": round(self.residual, 2), "motion": round(self.motion, 4), "fallback": self.fallback}


def scan(frames: Iterable[np.ndarray], fps: float) -> list[PairScore]:
    """Risk and kind of every consecutive pair; holds two frames at a time."""
    scores: list[PairScore] = []
    previous = previous_sig = None
    for index, frame in enumerate(frames):
        sig = signature(frame)
        if previous is not None:
            kind = classify_pair(previous, frame, previous_sig, sig)
            if kind is PairKind.MOTION:
                risk = pair_risk(previous, frame)
                action = choose(risk, "auto").action
                scores.append(PairScore(index - 1, (index - 1) / fps, kind.value, risk.risk, risk.residual, risk.motion, action))
            else:
                scores.append(PairScore(index - 1, (index - 1) / fps, kind.value, 0.0, 0.0, 0.0, KEEP))
        previous, previous_sig = np.array(frame, copy=True), sig
    return scores


def hardest_window(scores: Sequence[PairScore], pairs: int) -> int:
    """Index (into scores) of the first pair of the window of ``pairs`` pairs with the most residual."""
    if not scores:
        raise ValueError("no pairs to choose from")
    n = min(pairs, len(scores))
    residual = np.cumsum([0.0] + [s.residual for s in scores])
    motion = np.cumsum([0.0] + [s.motion for s in scores])
    best_start, best_key = 0, None
    for start in range(len(scores) - n + 1):
        key = (round(float(residual[start + n] - residual[start]), 9), round(float(motion[start + n] - motion[start]), 9))
        if best_key is None or key > best_key:  # strictly greater: the earliest of equal windows wins
            best_start, best_key = start, key
    return best_start


@dataclass
class PreviewReport:
    input: str
    output: str
    factor: int
    engine: str
    fallback: str
    pairs_scanned: int
    window: dict  # first/last pair, source start/end seconds
    risk: dict  # median, p90, max and where
    fallback_pairs: dict  # what --fallback auto would do over the whole clip
    hardest: list[dict] = field(default_factory=list)
    scan_s: float = 0.0
    render_s: float = 0.0

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def lines(self) -> list[str]:
        r, w, fb = self.risk, self.window, self.fallback_pairs
        out = [
            f"scanned {self.pairs_scanned} pairs in {self.scan_s:.1f} s; rendered pairs {w['first_pair']}-{w['last_pair']} "
            f"({w['start_s']:.2f}-{w['end_s']:.2f} s of the source) at x{self.factor} with {self.engine}, "
            f"fallback {self.fallback}, in {self.render_s:.1f} s -> {self.output}",
            f"risk (share of the picture the motion does not explain): median {r['median']:.2f}, "
            f"90th percentile {r['p90']:.2f}, max {r['max']:.2f} at {r['max_time_s']:.2f} s; warp residual "
            f"(grey levels) median {r['residual_median']:.1f}, max {r['residual_max']:.1f}",
            f"fallback auto: {fb.get('reliability-weighted', 0)} pairs reliability-weighted, {fb.get('cross-fade', 0)} "
            f"cross-faded, of {fb.get('motion', 0)} motion pairs ({fb.get('cut', 0)} cuts and {fb.get('repeat', 0)} "
            "repeats are never synthesised)",
            "hardest pairs (largest warp residual):",
        ]
        out += [
            f"  {p['time_s']:8.2f} s  pair {p['pair']:5d}  residual {p['residual']:5.1f}  risk {p['risk']:.2f}  "
            f"motion {p['motion']:.3f}  -> {p['fallback']}"
            for p in self.hardest
        ]
        return out


def summarise(scores: Sequence[PairScore]) -> tuple[dict, dict, list[dict]]:
    motion = [s for s in scores if s.kind == PairKind.MOTION.value]
    values = np.array([s.risk for s in motion] or [0.0])
    worst = max(motion, key=lambda s: s.risk) if motion else scores[0]
    residuals = np.array([s.residual for s in motion] or [0.0])
    risk = {"median": float(np.median(values)), "p90": float(np.percentile(values, 90)), "max": float(values.max()),
            "max_time_s": worst.time_s, "residual_median": float(np.median(residuals)),
            "residual_max": float(residuals.max())}
    counts: dict[str, int] = {"motion": len(motion)}
    for s in scores:
        if s.kind != PairKind.MOTION.value:
            counts[s.kind] = counts.get(s.kind, 0) + 1
        elif s.fallback != KEEP:
            counts[s.fallback] = counts.get(s.fallback, 0) + 1
    hardest = [s.to_dict() for s in sorted(motion, key=lambda s: (-s.residual, s.index))[:TOP_PAIRS]]
    return risk, counts, hardest


def make_preview(input_path: str | os.PathLike, output: str | os.PathLike, options: JobOptions, *,
                 pairs: int = DEFAULT_PAIRS, overwrite: bool = True) -> PreviewReport:
    """Render the hardest stretch of input_path side by side at output. overwrite: replace an existing output
    (False: refuse it). The output is never the input, by name, hard link or symlink."""
    if pairs < 1:
        raise InputError(f"--pairs must be at least 1, got {pairs}")
    final = Path(output)
    if final.suffix.lower() not in (".mp4", ".mov", ".m4v", ".mkv"):
        raise InputError(f"{final.name}: preview must be a video file (.mp4, .mov, .m4v or .mkv)")
    if _same_file(final, input_path):
        raise InputError("preview would overwrite the input; choose another path")
    if not overwrite and os.path.lexists(final):
        raise InputError(f"{output} already exists; add -y (--overwrite) to replace it")
    info = probe(input_path)
    vfr_fps = info.fps if info.is_vfr else None
    fps = float(info.fps)
    started = time.monotonic()
    scores = scan(read_frames(info, fps=vfr_fps), fps)
    if not scores:
        raise InputError(f"{Path(info.path).name}: fewer than two frames; nothing to preview")
    scan_s = time.monotonic() - started
    first = hardest_window(scores, pairs)
    last = min(len(scores), first + pairs) - 1
    first_frame, last_frame = scores[first].index, scores[last].index + 1

    started = time.monotonic()
    engine_opts = {"model_path": options.model} if options.engine == "film" and options.model else {}
    engine = create_engine(options.engine, **engine_opts)
    side = SideBySide(info.width, info.height, "original (frames repeated)", f"slowmo {engine.name} x{options.factor}")
    final.parent.mkdir(parents=True, exist_ok=True)
    temp_dir = Path(tempfile.mkdtemp(prefix=".slowmo-preview-", dir=final.parent))
    try:
        temp = temp_dir / f"preview{final.suffix}"
        with ExitStack() as stack:
            decoded = stack.enter_context(closing(read_frames(info, fps=vfr_fps)))
            window = _frames_between(decoded, first_frame, last_frame)
            writer = stack.enter_context(VideoWriter(temp, side.width, side.height, info.fps, codec=options.codec,
                                                     crf=options.crf, preset=options.preset, color=info.color))
            current = None
            for index, frame in enumerate(synthesize(window, options.factor, engine, SynthesisReport(),
                                                     first_index=first_frame, fallback=options.fallback)):
                if index % options.factor == 0:
                    current = frame
                writer.write(side.compose(current, frame))
        os.replace(temp, final)
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
    risk, counts, hardest = summarise(scores)
    return PreviewReport(
        input=str(input_path), output=str(final), factor=options.factor, engine=engine.name, fallback=options.fallback,
        pairs_scanned=len(scores),
        window={"first_pair": first_frame, "last_pair": last_frame - 1, "start_s": first_frame / fps, "end_s": last_frame / fps},
        risk=risk, fallback_pairs=counts, hardest=hardest, scan_s=round(scan_s, 3),
        render_s=round(time.monotonic() - started, 3),
    )


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def _frames_between(frames: Iterable[np.ndarray], first: int, last: int) -> Iterable[np.ndarray]:
    """Source frames first..last (inclusive) of a decoded stream."""
    for index, frame in enumerate(frames):
        if index > last:
            return
        if index >= first:
            yield frame
