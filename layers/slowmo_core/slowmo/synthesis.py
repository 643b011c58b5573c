"""Turn a stream of source frames into the stream of output frames for a factor K.

For each consecutive pair the K-1 slots are filled according to what the pair is:
motion -> the engine synthesises frames at t = j/K; repeat -> copies; hard cut -> the frame before
the cut for slots before the midpoint, the frame after it from the midpoint on. Nothing is ever
synthesised across a cut.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from .engines.base import Engine
from .fallback import KEEP, guard_pair
from .scenes import PairKind, Signature, classify_pair, signature
from .timing import slot_times


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
    a: np.ndarray, b: np.ndarray, factor: int, engine: Engine, sig_a: Signature | None = None, sig_b: Signature | None = None
) -> tuple[PairKind, list[np.ndarray]]:
    """The K-1 frames between a and b, and what kind of pair it was."""
    kind = classify_pair(a, b, sig_a, sig_b)
    ts = slot_times(factor)
    if kind is PairKind.REPEAT:
        return kind, [a.copy() for _ in ts]
    if kind is PairKind.CUT:
        return kind, [(a if t < 0.5 else b).copy() for t in ts]
    frames = engine.interpolate(a, b, ts)
    if len(frames) != len(ts):
        raise RuntimeError(f"engine {engine.name} returned {len(frames)} frames for {len(ts)} slots")
    return kind, frames


def synthesize(
    frames: Iterable[np.ndarray],
    factor: int,
    engine: Engine,
    report: SynthesisReport | None = None,
    *,
    first_index: int = 0,
    fallback: str = "off",
) -> Iterator[np.ndarray]:
    """Yield source frame 0, then for every following source frame the K-1 slots and the frame.

    first_index is the global index of the first frame given, so that a chunk reports cuts in the
    numbering of the whole video. fallback "auto" replaces unreliable synthesis (see fallback.py).
    """
    report = report if report is not None else SynthesisReport()
    previous = previous_sig = None
    for index, frame in enumerate(frames, start=first_index):
        report.source_frames += 1
        sig = signature(frame)
        if previous is not None:
            kind, between = fill_pair(previous, frame, factor, engine, previous_sig, sig)
            if kind is PairKind.MOTION and engine.name != "blend":  # a cross-fade needs no fallback
                between, choice = guard_pair(previous, frame, slot_times(factor), between, fallback)
                if choice is not None and choice.action != KEEP:
                    report.fallback.setdefault(choice.action, []).append(index)
            if kind is PairKind.CUT:
                report.cuts.append(index)
            elif kind is PairKind.REPEAT:
                report.repeated_pairs += 1
            else:
                report.interpolated_pairs += 1
            for out in between:
                report.output_frames += 1
                yield out
        report.output_frames += 1
        yield frame
        previous, previous_sig = frame, sig
