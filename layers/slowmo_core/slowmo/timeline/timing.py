"""The timing rules: which output frame is which, when it is shown, how long the result lasts.

With a whole factor K, between source frames i and i+1 the output holds K-1 synthesised frames at
t = j/K (j = 1..K-1). Output frame i*K is source frame i, so n source frames give (n-1)*K+1.

A fractional factor (2.5 = 5/2) or another output rate is the planner's business (slowmo.timeline.plan):
the output grid then meets a source frame only where K x i (in output frames) is a whole number, and
every other output frame is synthesised at its own t. `slot_times` and `source_position` describe the
whole-K pattern only and refuse anything else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise

MIN_FACTOR = 2  # the smallest whole slowdown, and the least a --range @K or -k alone may ask for
MAX_FACTOR = 64
MIN_SLOWDOWN = 1  # -k 1: real speed, with another output rate (--fps) or slow ranges
MAX_FACTOR_DENOMINATOR = 1000  # 2.5, 1.25, 2.333 and 7/3 are fine; 2.33333 is refused (say 7/3)


class Factor(Fraction):
    """A fractional slowdown (2.5 is 5/2). It is a Fraction in every computation and prints as the user
    wrote it: `2.5` where a short decimal says it exactly, else `7/3`. Whole factors stay plain ints."""

    def __str__(self) -> str:
        return factor_text(Fraction(self))


def factor_text(factor) -> str:
    """A factor as people write it: 8, 2.5, 7/3."""
    factor = Fraction(factor)
    if factor.denominator == 1:
        return str(factor.numerator)
    decimal = _short_decimal(factor)
    return decimal if decimal is not None else f"{factor.numerator}/{factor.denominator}"


def _short_decimal(value: Fraction) -> str | None:
    """value as a decimal of at most 6 places when that is exact, else None."""
    for places in range(1, 7):
        scaled = value * 10**places
        if scaled.denominator == 1:
            whole, rest = divmod(abs(scaled.numerator), 10**places)
            return f"{'-' if value < 0 else ''}{whole}.{rest:0{places}d}"
    return None


def factor_value(factor):
    """A factor in its canonical form: int when whole (so whole factors behave exactly as before), else a Factor."""
    factor = Fraction(factor)
    return factor.numerator if factor.denominator == 1 else Factor(factor)


def factor_json(factor):
    """A factor for JSON: 8 (int), 2.5 (a number when a short decimal says it exactly), else "7/3"."""
    factor = Fraction(factor)
    if factor.denominator == 1:
        return factor.numerator
    return float(factor) if _short_decimal(factor) is not None else f"{factor.numerator}/{factor.denominator}"


def parse_slowdown(value, *, low=MIN_FACTOR, high=MAX_FACTOR) -> int | Factor:
    """A slowdown from 8, '8', 2.5, '2.5' or '5/2', within [low, high]; ValueError (with the reason) otherwise.
    Whole numbers come back as int."""
    if isinstance(value, bool):
        raise ValueError("not a number")
    text = str(value).strip()
    try:
        number = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError("not a number") from None
    if not low <= number <= high:
        raise ValueError("out of range")
    if number.denominator > MAX_FACTOR_DENOMINATOR:
        raise ValueError("too fine")
    return factor_value(number)


def slot_times(factor: int) -> list[float]:
    """The t values of the synthesised frames between two source frames, in display order (whole K only)."""
    _whole(factor)
    return [j / factor for j in range(1, factor)]


def _whole(factor) -> None:
    if isinstance(factor, bool) or not isinstance(factor, int):
        raise ValueError(f"factor {factor} is not a whole number: its output frames come from the plan "
                         "(slowmo.timeline.plan), not from t = j/K")


def output_frame_count(source_frames: int, factor) -> int:
    """Output frames of n source frames at factor K on the source's own rate: (n-1)K+1, the whole frames of
    (n-1)K output intervals for a fractional K (the planner's count: the last frame is kept only when it
    falls on the grid)."""
    if source_frames < 1:
        return 0
    return math.floor((source_frames - 1) * Fraction(factor)) + 1


def source_position(output_index: int, factor: int) -> tuple[int, int]:
    """(source pair index i, slot j): output frame i*K+j lies at t=j/K between source i and i+1 (whole K)."""
    _whole(factor)
    return divmod(output_index, factor)


@dataclass(frozen=True)
class Timeline:
    source_frames: int
    source_fps: Fraction
    factor: int | Fraction
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


def make_timeline(source_frames: int, source_fps: Fraction, factor, output_fps: Fraction | None = None) -> Timeline:
    return Timeline(source_frames, Fraction(source_fps), factor, Fraction(output_fps) if output_fps else Fraction(source_fps))


# -- timestamps ------------------------------------------------------------------------------------
# A frame whose timestamp is within this fraction of a frame interval of a constant-rate grid is on
# that grid: the offset is timestamp noise (a coarse container timebase, a muxer's rounding), not a
# frame captured at another time. A quarter of an interval is far above rounding noise (a 1/1000 s
# timebase at 60 fps is off by at most 0.03 of an interval) and well below the half interval at which
# it would become unclear which grid slot a frame belongs to.
JITTER_TOLERANCE = Fraction(1, 4)

COMMON_RATES = [Fraction(n, 1001) for n in (24000, 30000, 60000, 120000, 240000)]
STANDARD_RATES = sorted([*COMMON_RATES, *(Fraction(n) for n in (12, 15, 24, 25, 30, 48, 50, 60, 90, 100, 120, 240))])


def snap_rate(fps: Fraction) -> Fraction:
    """The exact standard rate a measured rate stands for (29.97 -> 30000/1001), else a short fraction."""
    for rate in COMMON_RATES:
        if abs(float(fps) - float(rate)) < 0.002:
            return rate
    if abs(float(fps) - round(float(fps))) < 0.01:
        return Fraction(round(float(fps)))
    return Fraction(fps).limit_denominator(1001)


@dataclass(frozen=True)
class FrameTimes:
    """When each decoded frame is shown, in exact seconds from the first one.

    constant: every timestamp is within JITTER_TOLERANCE of a grid at `fps`; then `times` *is* that
    grid (i / fps), so constant-rate input keeps today's exact contract. Otherwise `times` are the
    stream's own timestamps and `fps` is the nominal rate (that of the median interval).
    """

    times: tuple[Fraction, ...]
    fps: Fraction
    constant: bool

    @property
    def count(self) -> int:
        return len(self.times)

    @property
    def shortest_interval(self) -> Fraction:
        gaps = [b - a for a, b in pairwise(self.times) if b > a]
        return min(gaps) if gaps else 1 / self.fps


def _on_grid(relative: list[float], fps: Fraction) -> bool:
    rate = float(fps)
    slack = float(JITTER_TOLERANCE) / rate
    return all(abs(t - i / rate) <= slack for i, t in enumerate(relative))


def frame_times(pts: list[int], timebase: Fraction, fallback_fps: Fraction | None = None) -> FrameTimes:
    """Classify decoded presentation timestamps (in timebase units) as constant or variable rate."""
    ordered = sorted(pts)
    if not ordered:
        return FrameTimes((), fallback_fps or Fraction(25), True)
    fps = fallback_fps or Fraction(25)
    if len(ordered) == 1:
        return FrameTimes((Fraction(0),), fps, True)
    first = ordered[0]
    relative = [float((p - first) * timebase) for p in ordered]
    gaps = sorted(b - a for a, b in pairwise(ordered) if b > a)
    if not gaps:  # every frame on one timestamp: nothing to measure, keep the order
        return FrameTimes(tuple(Fraction(i) / fps for i in range(len(ordered))), fps, True)
    median_gap = gaps[len(gaps) // 2]
    # The nominal rate: the mean of the intervals near the median one. A coarse timebase (1/1000)
    # alternates 33 and 34 ticks at 30 fps; their mean is the true rate.
    regular = [g for g in gaps if abs(g - median_gap) <= max(1, median_gap // 20)]
    nominal = snap_rate(Fraction(len(regular)) / (timebase * sum(regular)))
    span = Fraction(ordered[-1] - first) * timebase
    average = Fraction(len(ordered) - 1) / span
    for rate in (nominal, snap_rate(average), average.limit_denominator(1001)):
        if rate > 0 and _on_grid(relative, rate):
            return FrameTimes(tuple(Fraction(i) / rate for i in range(len(ordered))), rate, True)
    # Variable rate: the nominal rate is the standard rate the average is close to (a phone's 29.6
    # is 30), else the rate of the typical interval.
    nearest = min(STANDARD_RATES, key=lambda r: abs(float(r) - float(average)))
    if abs(float(nearest) / float(average) - 1) < 0.02:
        nominal = nearest
    times = tuple(Fraction(p - first) * timebase for p in ordered)
    return FrameTimes(times, nominal, False)
