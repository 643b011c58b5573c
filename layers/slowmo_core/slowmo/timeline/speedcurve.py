"""Trim, slow ranges and easing: the specs users write, their validation, and the speed curve.

A *time map* sends source time (seconds on the source's own clock) to output time (seconds from the
start of the output) and back. Both directions are strictly increasing, so every output instant has
exactly one source instant. The planner samples it on the output frame grid; the audio follows it.

The speed curve is built from its *slowdown rate* r(s) = d(output time)/d(source time):

- with no range, r is the constant factor x source fps / output fps over the whole clip. That is the
  linear map of the plain `--factor K` run (output frame i*K is source frame i), exactly;
- with ranges, r = 1 outside every range (the source plays at normal speed) and r = K x source fps /
  output fps inside a range `START:END@K`, i.e. inside a range the output is what `--factor K` gives;
- with `--ease E`, r moves from 1 to the range's rate over the first E seconds of source time inside
  the range, and back over the last E seconds, following smoothstep h(u) = 3u^2 - 2u^3. h and its first
  derivative are continuous, so the rate is C1 (the speed never jumps and its change starts and
  ends gently) and the map itself is C2. Without ease the rate steps at the range's edges (C0 map).

The output time is the integral of r from the trim start; it has a closed form on every piece
(constant: r*ds; ramp: E*(r0*u + (r1 - r0)*(u^3 - u^4/2))). The inverse is exact on constant pieces
and found by safeguarded Newton iteration on ramps.

Light module (standard library only): the option parser that zip Lambdas import uses it.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from typing import Any, Protocol

from slowmo.errors import InputError
from slowmo.timeline.timing import MAX_FACTOR, MAX_FACTOR_DENOMINATOR, MIN_FACTOR, factor_text, parse_slowdown

MAX_RANGES = 64

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_TRIM_RE = re.compile(rf"^\s*({_NUMBER})?\s*:\s*({_NUMBER})?\s*$")
_RANGE_RE = re.compile(rf"^\s*({_NUMBER})\s*:\s*({_NUMBER})\s*(?:@\s*([^\s]*))?\s*$")


class TimeMap(Protocol):
    """What the planner and the audio need from any map between source and output time."""

    def output_time(self, source_time: float) -> float: ...

    def source_time(self, output_time: float) -> float: ...


# ---------------------------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Trim:
    """A source window [start, end) in seconds; None on a side means the clip's own edge."""

    start: float | None = None
    end: float | None = None

    def __str__(self) -> str:
        return f"{_num(self.start) if self.start is not None else ''}:{_num(self.end) if self.end is not None else ''}"


@dataclass(frozen=True)
class SlowRange:
    """Source seconds [start, end) slowed by factor (None: the job's --factor); a factor is above 1 and may be
    fractional (2.5: int when whole, else a Fraction)."""

    start: float
    end: float
    factor: int | Fraction | None = None

    def __str__(self) -> str:
        return f"{_num(self.start)}:{_num(self.end)}" + (f"@{factor_text(self.factor)}" if self.factor is not None else "")


def _num(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def parse_trim(text: Any) -> Trim:
    """`START:END` in source seconds, either side may be empty (`2:`, `:5.5`)."""
    if isinstance(text, Trim):
        return text
    match = _TRIM_RE.match(text) if isinstance(text, str) else None
    if not match or (match.group(1) is None and match.group(2) is None):
        raise InputError(f"trim {text!r} is not valid; write START:END in source seconds, either side may be empty, "
                         "e.g. 1.5:4 or 2: or :3")
    start = float(match.group(1)) if match.group(1) is not None else None
    end = float(match.group(2)) if match.group(2) is not None else None
    if start is not None and end is not None and end <= start:
        raise InputError(f"trim {text} ends before it starts; write START:END with START < END, e.g. {_num(end)}:{_num(start)}")
    return Trim(start, end)


def parse_range(text: Any) -> SlowRange:
    """`START:END` or `START:END@K` in source seconds, K above 1 and at most 64: 8, 2.5 or 5/2."""
    if isinstance(text, SlowRange):
        return text
    match = _RANGE_RE.match(text) if isinstance(text, str) else None
    if not match:
        raise InputError(f"range {text!r} is not valid; write START:END or START:END@K in source seconds, e.g. 2.0:3.5@8")
    start, end = float(match.group(1)), float(match.group(2))
    factor = None
    if match.group(3) is not None:
        raw = match.group(3)
        try:
            factor = parse_slowdown(raw, low=1, high=MAX_FACTOR) if re.fullmatch(r"[\d./]+", raw) else None
        except ValueError as exc:
            if str(exc) == "too fine":
                raise InputError(f"range {text.strip()}: the factor after @ is finer than 1/{MAX_FACTOR_DENOMINATOR}; give "
                                 f"at most 3 decimal places, or a fraction such as 7/3") from None
            factor = None
        if factor is None or factor == 1:
            raise InputError(f"range {text.strip()}: the factor after @ must be above 1 and at most {MAX_FACTOR}: whole from "
                             f"{MIN_FACTOR} to {MAX_FACTOR} or fractional, e.g. {_num(start)}:{_num(end)}@8 or "
                             f"{_num(start)}:{_num(end)}@2.5")
    if end <= start:
        raise InputError(f"range {text.strip()} ends before it starts; write START:END with START < END, "
                         f"e.g. {_num(end)}:{_num(start)}")
    return SlowRange(start, end, factor)


def parse_ease(text: Any) -> float:
    """Seconds of source time over which the speed ramps in and out of each range (0: no ramp)."""
    try:
        value = float(text) if not isinstance(text, bool) else math.nan
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise InputError(f"ease {text!r} is not valid; give the ramp length in source seconds, 0 or more, e.g. 0.25")
    return value


@dataclass(frozen=True)
class CurveSpec:
    """What the user asked for: trim, slow ranges, ease. Serialisable with the same syntax."""

    trim: Trim | None = None
    ranges: tuple[SlowRange, ...] = ()
    ease: float = 0.0

    @property
    def is_plain(self) -> bool:
        """True when the job is the whole clip at one factor: today's output, exactly."""
        return self.trim is None and not self.ranges

    def to_dict(self) -> dict[str, Any]:
        return {"trim": str(self.trim) if self.trim else None, "ranges": [str(r) for r in self.ranges], "ease": self.ease}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CurveSpec:
        return parse_spec(data.get("trim"), data.get("ranges"), data.get("ease"))


def parse_spec(trim: Any = None, ranges: Any = None, ease: Any = None) -> CurveSpec:
    """One spec from the CLI's or the API's values; ranges may be a list or one comma-separated string.

    Checks what can be checked without the clip: syntax, factors, order, overlaps, and the ease
    against the shortest range. `check_against_clip` does the rest once the clip is probed.
    """
    parsed_trim = parse_trim(trim) if trim not in (None, "") else None
    if ranges is None or ranges == "":
        items: list[Any] = []
    elif isinstance(ranges, str):
        items = [part for part in ranges.split(",") if part.strip()]
    elif isinstance(ranges, (list, tuple)):
        items = list(ranges)
    else:
        raise InputError(f"ranges {ranges!r} is not valid; give a list of START:END@K strings, e.g. [\"2.0:3.5@8\"]")
    if len(items) > MAX_RANGES:
        raise InputError(f"{len(items)} ranges given; at most {MAX_RANGES} are allowed")
    parsed = tuple(sorted((parse_range(item) for item in items), key=lambda r: r.start))
    for before, after in pairwise(parsed):
        if after.start < before.end:
            raise InputError(f"ranges {before} and {after} overlap; give ranges that do not overlap "
                             f"(they may touch, e.g. {before} and {_num(before.end)}:{_num(max(after.end, before.end + 1))})")
    parsed_ease = parse_ease(ease) if ease not in (None, "") else 0.0
    if parsed_ease > 0:
        if not parsed:
            raise InputError("ease needs at least one range to ramp into; add --range START:END, or leave ease out")
        shortest = min(parsed, key=lambda r: r.end - r.start)
        half = (shortest.end - shortest.start) / 2
        if parsed_ease > half + 1e-9:
            raise InputError(f"ease {_num(parsed_ease)} s is longer than half the shortest range ({shortest}, "
                             f"{_num(shortest.end - shortest.start)} s); use an ease of {_num(half)} s or less")
    return CurveSpec(parsed_trim, parsed, parsed_ease)


def source_window(spec: CurveSpec, duration: float, first_time: float = 0.0) -> tuple[float, float]:
    """The processed part of the source, [start, end) in source seconds."""
    start = first_time if spec.trim is None or spec.trim.start is None else max(first_time, spec.trim.start)
    end = duration if spec.trim is None or spec.trim.end is None else min(duration, spec.trim.end)
    return start, end


def frames_in_window(frame_times: Sequence[float], start: float, end: float) -> range:
    """Indices of the frames whose timestamps lie in [start, end): frame accuracy from timestamps."""
    eps = 1e-6  # timestamps are rounded to the container's timebase; do not lose a frame to that
    first = bisect.bisect_left(frame_times, start - eps)
    last = bisect.bisect_left(frame_times, end - eps)
    return range(first, last)


def check_against_clip(spec: CurveSpec, frame_times: Sequence[float], duration: float) -> None:
    """Refuse a spec that does not fit this clip: one line saying what is wrong and what is valid."""
    first_time = frame_times[0] if frame_times else 0.0
    start, end = source_window(spec, duration, first_time)
    if spec.trim is not None:
        kept = frames_in_window(frame_times, start, end)
        if len(kept) < 2:
            raise InputError(f"trim {spec.trim} leaves {len(kept)} frame(s) of the clip ({_num(round(first_time, 3))} to "
                             f"{_num(round(duration, 3))} s); it must keep at least 2 frames")
    for r in spec.ranges:
        if r.start < start - 1e-6 or r.end > end + 1e-6:
            where = "the trimmed clip" if spec.trim is not None else "the clip"
            raise InputError(f"range {r} lies outside {where} ({_num(round(start, 3))} to {_num(round(end, 3))} s); "
                             f"give a range within {_num(round(start, 3))}:{_num(round(end, 3))}")


# ---------------------------------------------------------------------------------------------- curve


def smoothstep(u: float) -> float:
    return u * u * (3.0 - 2.0 * u)


def _smoothstep_integral(u: float) -> float:
    """Integral of smoothstep from 0 to u."""
    return u ** 3 - u ** 4 / 2.0


@dataclass(frozen=True)
class _Piece:
    source_start: float
    source_end: float
    rate_start: float
    rate_end: float  # equal to rate_start on a constant piece
    output_start: float

    @property
    def length(self) -> float:
        return self.source_end - self.source_start

    @property
    def constant(self) -> bool:
        return self.rate_start == self.rate_end

    def rate(self, s: float) -> float:
        if self.constant:
            return self.rate_start
        u = min(1.0, max(0.0, (s - self.source_start) / self.length))
        return self.rate_start + (self.rate_end - self.rate_start) * smoothstep(u)

    def elapsed(self, s: float) -> float:
        """Output seconds from the piece's start to source time s (s inside the piece)."""
        if self.constant:
            return self.rate_start * (s - self.source_start)
        u = (s - self.source_start) / self.length
        return self.length * (self.rate_start * u + (self.rate_end - self.rate_start) * _smoothstep_integral(u))

    @property
    def output_length(self) -> float:
        return self.elapsed(self.source_end)

    def invert(self, out: float) -> float:
        """Source time at which `out` output seconds have elapsed in this piece."""
        if self.constant:
            return self.source_start + out / self.rate_start
        lo, hi = 0.0, 1.0
        u = min(1.0, max(0.0, out / self.output_length))
        for _ in range(60):
            value = self.length * (self.rate_start * u + (self.rate_end - self.rate_start) * _smoothstep_integral(u)) - out
            if abs(value) < 1e-13:
                break
            if value > 0:
                hi = u
            else:
                lo = u
            derivative = self.length * (self.rate_start + (self.rate_end - self.rate_start) * smoothstep(u))
            step = u - value / derivative
            u = step if lo < step < hi else (lo + hi) / 2
        return self.source_start + u * self.length


class SpeedCurve:
    """A monotone time map made of constant-rate pieces and smoothstep ramps (see the module doc).

    Output time 0 is source time `start` (the trim start). Before the first piece and after the last
    the edge rate continues, so the map is defined for every time and stays monotone.
    """

    def __init__(self, pieces: Iterable[tuple[float, float, float, float]], start: float):
        built: list[_Piece] = []
        out = 0.0
        position = start
        for s0, s1, r0, r1 in pieces:
            if s1 - s0 <= 1e-12:
                continue
            if abs(s0 - position) > 1e-9:
                raise ValueError(f"pieces must be contiguous: {s0} after {position}")
            if r0 <= 0 or r1 <= 0:
                raise ValueError("rates must be positive")
            piece = _Piece(position, s1, r0, r1, out)
            built.append(piece)
            out += piece.output_length
            position = s1
        if not built:
            raise ValueError("a speed curve needs at least one piece")
        self.start = start
        self.end = position
        self._pieces = built
        self._source_starts = [p.source_start for p in built]
        self._output_starts = [p.output_start for p in built]
        self.duration = out  # output seconds from start to end

    @property
    def pieces(self) -> list[tuple[float, float, float, float]]:
        return [(p.source_start, p.source_end, p.rate_start, p.rate_end) for p in self._pieces]

    def _piece_at_source(self, s: float) -> _Piece:
        return self._pieces[max(0, bisect.bisect_right(self._source_starts, s) - 1)]

    def rate(self, source_time: float) -> float:
        """Output seconds per source second at this source time (the slowdown; 1 = normal speed)."""
        if source_time <= self.start:
            return self._pieces[0].rate_start
        if source_time >= self.end:
            return self._pieces[-1].rate_end
        return self._piece_at_source(source_time).rate(source_time)

    def speed(self, source_time: float) -> float:
        """Playback speed relative to the source: 1 / rate."""
        return 1.0 / self.rate(source_time)

    def output_time(self, source_time: float) -> float:
        if source_time <= self.start:
            return (source_time - self.start) * self._pieces[0].rate_start
        if source_time >= self.end:
            return self.duration + (source_time - self.end) * self._pieces[-1].rate_end
        piece = self._piece_at_source(source_time)
        return piece.output_start + piece.elapsed(source_time)

    def source_time(self, output_time: float) -> float:
        if output_time <= 0:
            return self.start + output_time / self._pieces[0].rate_start
        if output_time >= self.duration:
            return self.end + (output_time - self.duration) / self._pieces[-1].rate_end
        piece = self._pieces[max(0, bisect.bisect_right(self._output_starts, output_time) - 1)]
        return min(piece.source_end, max(piece.source_start, piece.invert(output_time - piece.output_start)))

    def constant_segments(self, max_ramp_step: float = 0.05) -> list[tuple[float, float, float, float]]:
        """(source start, source end, output start, output end) pieces of constant tempo.

        Constant pieces are kept whole; each ramp is cut into steps of at most max_ramp_step source
        seconds, and each step's tempo is its exact average, so every step starts and ends exactly on
        the curve. Audio stretched segment by segment is therefore in sync at every step boundary.
        """
        segments = []
        for piece in self._pieces:
            steps = 1 if piece.constant else max(1, math.ceil(piece.length / max_ramp_step - 1e-9))
            for k in range(steps):
                s0 = piece.source_start + piece.length * k / steps
                s1 = piece.source_end if k == steps - 1 else piece.source_start + piece.length * (k + 1) / steps
                segments.append((s0, s1, self.output_time(s0), self.output_time(s1)))
        return segments

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "speedcurve", "start": self.start, "pieces": [list(p) for p in self.pieces]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpeedCurve:
        return cls((tuple(p) for p in data["pieces"]), data["start"])


def build_curve(spec: CurveSpec, *, factor, rate_scale: float, start: float, end: float) -> SpeedCurve:
    """The speed curve for a spec over the processed window [start, end).

    factor is the job's --factor (the default for ranges without @K); rate_scale is source fps /
    output fps, so that inside a range the output is what --factor K gives for the whole clip.
    """
    if end <= start:
        raise ValueError("the window must not be empty")
    if not spec.ranges:
        rate = float(factor) * rate_scale
        return SpeedCurve([(start, end, rate, rate)], start)
    pieces = []
    position = start
    for r in spec.ranges:
        rate = float(r.factor if r.factor is not None else factor) * rate_scale
        a, b = max(r.start, start), min(r.end, end)
        ease = min(spec.ease, (b - a) / 2)
        pieces.append((position, a, 1.0, 1.0))
        if ease > 0:
            pieces += [(a, a + ease, 1.0, rate), (a + ease, b - ease, rate, rate), (b - ease, b, rate, 1.0)]
        else:
            pieces.append((a, b, rate, rate))
        position = b
    pieces.append((position, end, 1.0, 1.0))
    return SpeedCurve(pieces, start)


def curve_and_window(spec: CurveSpec, factor, frame_times: Sequence, duration: float):
    """What the planner takes for a spec: (time map or None, window or None).

    frame_times: every decoded frame's time in seconds from the first; duration: from the first frame
    to the end of the last. None means the planner's own default: its exact linear map, the whole clip.
    A trim alone keeps that exact linear map, started at the trim; ranges bring a speed curve.
    """
    if spec.is_plain:
        return None, None
    times = [float(t) for t in frame_times]
    check_against_clip(spec, times, duration)
    start, end = source_window(spec, duration, times[0] if times else 0.0)
    trim = spec.trim
    window = (start if trim and trim.start is not None else None, end if trim and trim.end is not None else None)
    if not spec.ranges:
        return None, window
    return build_curve(spec, factor=factor, rate_scale=1.0, start=start, end=end), window


def audio_segments(time_map, start: float, end: float) -> list[tuple[float, float, float, float]]:
    """Constant-tempo (source start, source end, output start, output end) pieces covering [start, end)."""
    if isinstance(time_map, SpeedCurve):
        return time_map.constant_segments()
    return [(float(start), float(end), float(time_map.output_time(start)), float(time_map.output_time(end)))]


def capacity_terms(spec: CurveSpec, factor: int, frames: int, fps: float) -> tuple[int, int]:
    """(source frames processed, factor) that a per-clip capacity model can take for this spec.

    The capacity model (slowmo.foresight.capacity) counts (frames - 1) x factor + 1 output frames over the
    whole clip (rounded down for a fractional factor, which a plain spec or a trim passes through as given). For a trim or slow ranges this gives the frames of the trimmed window and the smallest
    whole factor whose count is at least the curve's, so a model of the work never undercounts it.
    Constant-rate timestamps (i / fps) are assumed: the facts an index gives before any decoding.
    """
    if spec.is_plain or frames < 2:
        return frames, factor
    times = [i / fps for i in range(frames)]
    duration = frames / fps
    check_against_clip(spec, times, duration)
    start, end = source_window(spec, duration)
    kept = frames_in_window(times, start, end)
    if not spec.ranges:
        return max(2, len(kept)), factor
    curve = build_curve(spec, factor=factor, rate_scale=1.0, start=start, end=end)
    output = math.floor(curve.output_time(times[kept[-1]]) * fps + 1e-9) + 1
    return max(2, len(kept)), max(MIN_FACTOR, min(MAX_FACTOR, math.ceil((output - 1) / max(1, len(kept) - 1))))
