"""Turn a stream of source frames into the stream of output frames a plan asks for.

The plan (slowmo.timeline.plan) lists the output frames: a source frame itself, or a time t between source
frames i and i+1. The slots between each consecutive pair are filled according to what the pair is:
motion -> the engine synthesises frames at those t; repeat -> copies; hard cut -> the frame before
the cut for slots before the midpoint, the frame after it from the midpoint on. Nothing is ever
synthesised across a cut. Every pair is classified, with or without slots, so the cuts reported do
not depend on the output rate or the chunking.

Given a whole number K instead of a list of output frames, the slots are today's t = j/K. A fractional K
(2.5) has no such pattern: its output frames come from the plan, and a number that is not whole is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import count
from numbers import Number

import numpy as np

from slowmo.synthesis.engines.base import Engine, interpolate_many, pair_window
from slowmo.synthesis.fallback import KEEP, guard_pair
from slowmo.timeline.plan import OutputFrame
from slowmo.timeline.scenes import PairKind, Signature, classify_pair, signature
from slowmo.timeline.timing import slot_times


@dataclass
class SynthesisReport:
    source_frames: int = 0
    output_frames: int = 0
    interpolated_pairs: int = 0
    repeated_pairs: int = 0
    cuts: list[int] = field(default_factory=list)  # source index of the first frame after each cut
    fallback: dict[str, list[int]] = field(default_factory=dict)  # fallback action -> second frame of each such pair

    def to_dict(self) -> dict:
        return {
            "source_frames": self.source_frames,
            "output_frames": self.output_frames,
            "interpolated_pairs": self.interpolated_pairs,
            "repeated_pairs": self.repeated_pairs,
            "cuts": list(self.cuts),
            "fallback": {action: list(pairs) for action, pairs in self.fallback.items()},
        }


def fill_pair(
    a: np.ndarray, b: np.ndarray, factor_or_ts: int | Sequence[float], engine: Engine,
    sig_a: Signature | None = None, sig_b: Signature | None = None,
) -> tuple[PairKind, list[np.ndarray]]:
    """The frames at times ts (or t = j/K for a whole number K) between a and b, and what kind of pair it was."""
    kind = classify_pair(eight_bit(a), eight_bit(b), sig_a, sig_b)
    ts = slot_times(factor_or_ts) if isinstance(factor_or_ts, Number) else list(factor_or_ts)
    if kind is PairKind.MOTION and ts:
        return kind, _checked_count(engine, engine.interpolate(a, b, ts), ts)
    return kind, _fill_without_engine(kind, a, b, ts)


def _fill_without_engine(kind: PairKind, a: np.ndarray, b: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]:
    if kind is PairKind.REPEAT:
        return [a.copy() for _ in ts]
    if kind is PairKind.CUT:
        return [(a if t < 0.5 else b).copy() for t in ts]
    assert not ts, "motion slots are the engine's"
    return []


def _checked_count(engine: Engine, frames: list[np.ndarray], ts: Sequence[float]) -> list[np.ndarray]:
    if len(frames) != len(ts):
        raise RuntimeError(f"engine {engine.name} returned {len(frames)} frames for {len(ts)} slots")
    return frames


def eight_bit(frame: np.ndarray) -> np.ndarray:
    """The frame at 8 bits per channel: what cut and repeat detection look at, whatever the working depth
    (their thresholds are in 8-bit grey levels)."""
    return frame if frame.dtype == np.uint8 else (frame >> 8).astype(np.uint8)


def _guard(a: np.ndarray, b: np.ndarray, ts, frames: list, mode: str):
    """The fallback (fallback.py) for 8-bit frames as is; for 16-bit frames the risk is measured on their
    8-bit view (optical flow takes 8-bit images) and the fallback mixes them in float, back to 16 bits."""
    if a.dtype == np.uint8 or mode == "off":
        return guard_pair(a, b, ts, frames, mode)
    from slowmo.synthesis.fallback import apply_fallback, pair_risk

    risk = pair_risk(eight_bit(a), eight_bit(b))
    mixed, choice = apply_fallback(a.astype(np.float32), b.astype(np.float32), ts,
                                   [f.astype(np.float32) for f in frames], risk, mode)
    return [np.clip(f + np.float32(0.5), 0, 65535).astype(np.uint16) for f in mixed], choice


def constant_rate_frames(factor: int) -> Iterator[OutputFrame]:
    """Today's contract as an endless list of output frames: source i, then t = j/K up to the next.
    A fractional K is refused (ValueError): its frames are the plan's (Plan.frames)."""
    ts = slot_times(factor)
    for i in count():
        yield OutputFrame(i)
        for t in ts:
            yield OutputFrame(i, t)


def synthesize(
    frames: Iterable[np.ndarray],
    outputs: int | Iterable[OutputFrame],
    engine: Engine,
    report: SynthesisReport | None = None,
    *,
    first_index: int = 0,
    fallback: str = "off",
) -> Iterator[np.ndarray]:
    """Yield the output frames `outputs` lists, reading source frames as they are needed.

    outputs: OutputFrames whose indices count from the first frame given, in order (Plan.frames or
    Plan.chunk_frames), or a whole number K for today's constant-rate contract. first_index is the
    global index of the first frame given, so that a chunk reports cuts in the numbering of the
    whole video. Stops when either the frames or the output list end. fallback "auto" replaces
    unreliable synthesis (see fallback.py).
    """
    report = report if report is not None else SynthesisReport()
    pending = iter(constant_rate_frames(outputs) if isinstance(outputs, Number) else outputs)
    upcoming = next(pending, None)
    previous = previous_view = previous_sig = None
    # Pairs wait here, in output order, until `pair_window(engine)` of them can go to the engine together
    # (film batches their model calls across pairs); the frames are those of one call per pair.
    window = pair_window(engine)
    held: list[tuple] = []  # ("source", frame) or ("pair", a, b, ts, kind, local)

    def release() -> Iterator[np.ndarray]:
        motion = [h for h in held if h[0] == "pair" and h[4] is PairKind.MOTION and h[3]]
        made = iter(interpolate_many(engine, [(h[1], h[2], h[3]) for h in motion]))
        for item in held:
            if item[0] == "source":
                report.output_frames += 1
                yield item[1]
                continue
            _, a, b, ts, kind, local = item
            if kind is PairKind.MOTION and ts:
                between = _checked_count(engine, next(made), ts)
            else:
                between = _fill_without_engine(kind, a, b, ts)
            if kind is PairKind.MOTION and between and engine.name != "blend":  # a cross-fade needs no fallback
                between, choice = _guard(a, b, ts, between, fallback)
                if choice is not None and choice.action != KEEP:
                    report.fallback.setdefault(choice.action, []).append(first_index + local)
            if kind is PairKind.CUT:
                report.cuts.append(first_index + local)
            elif kind is PairKind.REPEAT:
                report.repeated_pairs += 1
            else:
                report.interpolated_pairs += 1
            for out in between:
                report.output_frames += 1
                yield out
        held.clear()

    for local, frame in enumerate(frames):
        if upcoming is None:
            break
        report.source_frames += 1
        view = eight_bit(frame)  # made once per frame; the next pair reuses it
        sig = signature(view)
        if previous is not None:
            ts = []
            while upcoming is not None and upcoming.index == local - 1 and not upcoming.is_source:
                ts.append(upcoming.t)
                upcoming = next(pending, None)
            held.append(("pair", previous, frame, ts, classify_pair(previous_view, view, previous_sig, sig), local))
        if upcoming is not None and upcoming.index < local:
            raise ValueError(f"output frame {upcoming} is out of order (source frame {local} already read)")
        if upcoming is not None and upcoming.index == local and upcoming.is_source:
            held.append(("source", frame))
            upcoming = next(pending, None)
        if sum(1 for h in held if h[0] == "pair") >= window:
            yield from release()
        previous, previous_view, previous_sig = frame, view, sig
    yield from release()
