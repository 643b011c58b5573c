"""The timing rules: which output frame is which, when it is shown, how long the result lasts.

With factor K, between source frames i and i+1 the output holds K-1 synthesised frames at
t = j/K (j = 1..K-1). Output frame i*K is source frame i, so n source frames give (n-1)*K+1.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

MIN_FACTOR = 2
MAX_FACTOR = 64


def slot_times(factor: int) -> list[float]:
    """The t values of the synthesised frames between two source frames, in display order."""
    return [j / factor for j in range(1, factor)]


def output_frame_count(source_frames: int, factor: int) -> int:
    if source_frames < 1:
        return 0
    return (source_frames - 1) * factor + 1


def source_position(output_index: int, factor: int) -> tuple[int, int]:
    """(source pair index i, slot j): output frame i*K+j lies at t=j/K between source i and i+1."""
    return divmod(output_index, factor)


@dataclass(frozen=True)
class Timeline:
    source_frames: int
    source_fps: Fraction
    factor: int
    output_fps: Fraction

    @property
    def output_frames(self) -> int:
        return output_frame_count(self.source_frames, self.factor)

    @property
    def output_duration(self) -> float:
        return float(self.output_frames / self.output_fps)

    @property
    def source_duration(self) -> float:
        return float(self.source_frames / self.source_fps)

    @property
    def slowdown(self) -> Fraction:
        """How many times longer one second of source lasts in the output (1 = real time)."""
        return Fraction(self.factor) * self.source_fps / self.output_fps

    def output_timestamp(self, output_index: int) -> float:
        return float(output_index / self.output_fps)


def make_timeline(source_frames: int, source_fps: Fraction, factor: int, output_fps: Fraction | None = None) -> Timeline:
    return Timeline(source_frames, Fraction(source_fps), factor, Fraction(output_fps) if output_fps else Fraction(source_fps))
