"""The plan of a job: which output frames exist, when each is shown, and where each comes from.

One pure function of the probe's per-frame timestamps and the job options. Every executor (the local
run, the cloud's extract / model server / encode / assemble, `estimate`) reads the plan and none of
them re-derives timing, so they agree at every edge: chunk boundaries, cuts, the last frame.

The rule (README, "Timing rules"; docs/timing.md):

- A *time map* sends source time (seconds from the first decoded frame) to output time (seconds from
  the first output frame) and back; both directions increase. The default is linear:
  output time = K x (source time - window start).
- Output frames sit on a constant grid at the output rate R: frame m is shown at m / R. Its source time
  is T = source_time(m / R). If T is a real frame's timestamp, the output frame *is* that frame;
  otherwise it is synthesised at t = (T - s_i) / (s_i+1 - s_i) between the two real frames that
  bracket T.
- For constant-rate input at R = source rate this is today's contract exactly: (n-1)K+1 frames,
  output frame iK is source frame i, the slots between are at t = j/K.
- No real frame is dropped: consecutive real frames must be at least one output frame apart in output
  time, so each has its own nearest output frame, within half an output frame of it. A real frame that the
  grid does not meet (K x i / source rate x R not whole: every other frame at -k 2.5, or at -k 1 --fps 60
  from 24 fps, where source frame i falls on output frame 2.5 i) is not shown as itself: the output
  frames either side of it are synthesised at their own times, each at most one output frame from it,
  as any output rate the source's grid does not divide has always been handled. K may be fractional
  (2.5) or 1 (real speed, another output rate); the rule is the same. The default R is
  the source's rate (nominal rate for variable-rate input), raised to the lowest standard rate that
  keeps that promise; an explicit rate that breaks it is refused.

Chunks are source frame ranges that overlap by one frame (`slowmo.timeline.chunks.plan_chunks`, snapped to
cuts). A chunk produces the output frames whose source time lies in [s_start, s_end]; when the shared
boundary frame falls on the output grid both neighbours produce it and the later chunk skips it
(`skip`), so concatenating the chunks' frames gives the single pass, whatever the timestamps.

Light module (standard library only): zip Lambdas and the model server's request builder import it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise
from typing import Any, NamedTuple

from slowmo.errors import InputError
from slowmo.timeline.timing import STANDARD_RATES, FrameTimes, factor_json, factor_value

PLAN_VERSION = 1
# A speed curve computes in floats: a source time this close to a real frame's timestamp is that frame.
FLOAT_EPSILON = 1e-9


class OutputFrame(NamedTuple):
    """Output frame = source frame `index` when t == 0, else synthesised at t between index and index+1."""

    index: int
    t: float = 0.0

    @property
    def is_source(self) -> bool:
        return self.t == 0.0

    def to_json(self) -> int | list:
        return self.index if self.is_source else [self.index, self.t]

    @classmethod
    def from_json(cls, item: int | Sequence) -> OutputFrame:
        if isinstance(item, int) and not isinstance(item, bool):
            return cls(item, 0.0)
        index, t = item
        return cls(int(index), float(t))


# ------------------------------------------------------------------------------------------ time maps


@dataclass(frozen=True)
class LinearTimeMap:
    """output time = factor x (source time - start): the plain `--factor K` run."""

    factor: Fraction
    start: Fraction = Fraction(0)

    def output_time(self, source_time):
        return (source_time - self.start) * self.factor

    def source_time(self, output_time):
        return self.start + output_time / self.factor

    @property
    def slowdown(self) -> Fraction:
        return self.factor

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "linear", "factor": _frac(self.factor), "start": _frac(self.start)}


def time_map_from_dict(data: dict[str, Any]):
    """Rebuild a serialised time map: "linear" here, "speedcurve" from slowmo.timeline.speedcurve."""
    kind = data.get("kind")
    if kind == "linear":
        return LinearTimeMap(Fraction(data["factor"]), Fraction(data.get("start", "0")))
    if kind == "speedcurve":
        from slowmo.timeline.speedcurve import SpeedCurve

        return SpeedCurve.from_dict(data)
    raise ValueError(f"unknown time map kind {kind!r}")


def _frac(value) -> str:
    value = Fraction(value)
    return f"{value.numerator}/{value.denominator}"


def _is_exact(value) -> bool:
    return isinstance(value, (int, Fraction))


# ------------------------------------------------------------------------------------------ the plan


@dataclass(frozen=True)
class PlanChunk:
    """Source frames start..end (inclusive, shared with the neighbours) and the output frames they make."""

    index: int
    start: int
    end: int
    first_output: int
    last_output: int
    skip: int = 0  # leading output frames the previous chunk already produced (0 or 1)

    @property
    def source_frames(self) -> int:
        return self.end - self.start + 1

    @property
    def output_frames(self) -> int:
        """Frames this chunk synthesises, including a shared boundary frame."""
        return self.last_output - self.first_output + 1

    @property
    def new_frames(self) -> int:
        """Frames this chunk adds to the assembled output."""
        return self.output_frames - self.skip

    def to_dict(self) -> dict[str, int]:
        return {"index": self.index, "start": self.start, "end": self.end, "firstOutput": self.first_output,
                "lastOutput": self.last_output, "skip": self.skip}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlanChunk:
        return cls(int(d["index"]), int(d["start"]), int(d["end"]), int(d["firstOutput"]), int(d["lastOutput"]),
                   int(d.get("skip", 0)))


@dataclass(frozen=True)
class Plan:
    source_times: tuple[Fraction, ...]  # every decoded frame, seconds from the first one
    constant_rate: bool
    source_fps: Fraction  # the constant rate, or the nominal rate of variable-rate input
    factor: int | Fraction  # the job's slowdown: int when whole, else a Fraction (2.5 = 5/2)
    output_fps: Fraction
    rate_reason: str
    time_map: Any  # LinearTimeMap, or any object with output_time / source_time / to_dict
    output_count: int
    window_start: Fraction = Fraction(0)
    window_end: Fraction | None = None  # None: through the last frame, inclusive; else [start, end)
    chunks: tuple[PlanChunk, ...] = ()
    _float_times: tuple[float, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "_float_times", tuple(float(s) for s in self.source_times))

    # -- the grid
    @property
    def output_duration(self) -> float:
        return float(Fraction(self.output_count) / self.output_fps)

    @property
    def slowdown(self) -> Fraction | None:
        """Output seconds per source second when it is one number (the linear map), else None."""
        return getattr(self.time_map, "slowdown", None)

    @property
    def source_frames(self) -> int:
        return len(self.source_times)

    def source_time_of(self, output_index: int):
        return self.time_map.source_time(Fraction(output_index) / self.output_fps)

    def frame(self, output_index: int) -> OutputFrame:
        """Where output frame m comes from."""
        if not 0 <= output_index < self.output_count:
            raise IndexError(f"output frame {output_index} is outside 0..{self.output_count - 1}")
        return self._locate(self.source_time_of(output_index))

    def _locate(self, source_time) -> OutputFrame:
        times = self.source_times if _is_exact(source_time) else self._float_times
        last = len(times) - 1
        i = bisect.bisect_right(times, source_time) - 1
        if not _is_exact(source_time):
            if i < last and times[i + 1] - source_time <= FLOAT_EPSILON:
                return OutputFrame(i + 1)
            if i >= 0 and source_time - times[i] <= FLOAT_EPSILON:
                return OutputFrame(i)
        i = min(max(i, 0), last)
        if i == last or times[i] >= source_time:
            return OutputFrame(i)
        return OutputFrame(i, float((source_time - times[i]) / (times[i + 1] - times[i])))

    def frames(self, first: int = 0, last: int | None = None) -> Iterator[OutputFrame]:
        """Output frames first..last (inclusive; default: to the end), in order."""
        last = self.output_count - 1 if last is None else last
        for m in range(first, last + 1):
            yield self._locate(self.source_time_of(m))

    def chunk_frames(self, chunk: PlanChunk) -> list[OutputFrame]:
        """A chunk's output frames, indexed from its own first source frame (what the model server runs)."""
        return [OutputFrame(f.index - chunk.start, f.t) for f in self.frames(chunk.first_output, chunk.last_output)]

    @property
    def first_frame(self) -> int:
        return self.frame(0).index

    @property
    def last_frame(self) -> int:
        """Index of the last source frame the output needs (the upper bracket of the last output frame)."""
        f = self.frame(self.output_count - 1)
        return f.index if f.is_source else f.index + 1

    # -- serialisation
    def to_dict(self) -> dict[str, Any]:
        source: dict[str, Any] = {"count": len(self.source_times), "fps": _frac(self.source_fps),
                                  "constant": self.constant_rate}
        if not self.constant_rate:
            denominator = math.lcm(*(s.denominator for s in self.source_times))
            source["timebase"] = f"1/{denominator}"
            source["ticks"] = [int(s * denominator) for s in self.source_times]
        return {
            "version": PLAN_VERSION,
            "source": source,
            "factor": factor_json(self.factor),  # 8 as always; 2.5, or "7/3"
            "outputFps": _frac(self.output_fps),
            "outputCount": self.output_count,
            "outputDuration": round(self.output_duration, 6),
            "rateReason": self.rate_reason,
            "timeMap": self.time_map.to_dict(),
            "window": [_frac(self.window_start), None if self.window_end is None else _frac(self.window_end)],
            "chunks": [c.to_dict() for c in self.chunks],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        if d.get("version") != PLAN_VERSION:
            raise ValueError(f"unsupported plan version {d.get('version')!r}")
        source = d["source"]
        fps = Fraction(source["fps"])
        if source["constant"]:
            times = tuple(Fraction(i) / fps for i in range(int(source["count"])))
        else:
            timebase = Fraction(source["timebase"])
            times = tuple(tick * timebase for tick in source["ticks"])
        start, end = d["window"]
        return cls(
            source_times=times, constant_rate=bool(source["constant"]), source_fps=fps, factor=factor_value(Fraction(str(d["factor"]))),
            output_fps=Fraction(d["outputFps"]), rate_reason=d["rateReason"], time_map=time_map_from_dict(d["timeMap"]),
            output_count=int(d["outputCount"]), window_start=Fraction(start),
            window_end=None if end is None else Fraction(end),
            chunks=tuple(PlanChunk.from_dict(c) for c in d["chunks"]),
        )


# ------------------------------------------------------------------------------------------ planning


def _ms(seconds) -> str:
    return f"{float(seconds) * 1000:.1f} ms"


def _rate_text(fps: Fraction) -> str:
    return f"{float(fps):.3f}".rstrip("0").rstrip(".")


def lowest_keeping_rate(output_times: Sequence) -> Fraction | None:
    """The lowest output rate at which consecutive real frames are at least one output frame apart."""
    gaps = [b - a for a, b in pairwise(output_times) if b > a]
    if not gaps:
        return None
    return 1 / Fraction(min(gaps)).limit_denominator(10**9)


def choose_output_rate(times: FrameTimes, output_times: Sequence, fps: Fraction | None) -> tuple[Fraction, str]:
    """The output rate and why: the requested one (refused if it would drop real frames), else the default."""
    needed = lowest_keeping_rate(output_times)
    if fps is not None:
        fps = Fraction(fps)
        if needed is not None and fps < needed * (1 - Fraction(1, 10**9)):
            raise InputError(f"an output rate of {_rate_text(fps)} fps would skip real frames of this video (its frames "
                             f"are as little as {_ms(1 / needed)} of output apart); use --fps {math.ceil(needed)} or more, "
                             f"or a larger factor")
        return fps, "the requested output rate"
    if times.constant:
        base, why = times.fps, "the source's constant frame rate"
    else:
        base = times.fps
        why = (f"variable frame rate (intervals {_ms(times.shortest_interval)} to "
               f"{_ms(max(b - a for a, b in pairwise(times.times)))}): the nominal rate")
    if needed is None or base >= needed * (1 - Fraction(1, 10**9)):
        return base, f"{why}, {_rate_text(base)} fps; every real frame has an output frame of its own"
    raised = next((r for r in STANDARD_RATES if r >= needed), Fraction(math.ceil(needed)))
    return raised, (f"{why} would put two real frames on one output frame ({_ms(1 / needed)} of output apart): "
                    f"raised to {_rate_text(raised)} fps so that no real frame is dropped")


def make_plan(
    times: FrameTimes,
    factor,
    *,
    fps: Fraction | None = None,
    time_map=None,
    window: tuple | None = None,
    chunk_frames: int | None = None,
    cuts: Sequence[int] = (),
) -> Plan:
    """Plan a job from the decoded frames' times.

    fps: the output rate (None: choose it, see choose_output_rate). time_map: the caller's map (e.g. a
    speed curve), whose output time 0 is the window start; default linear with this factor. window:
    (start, end) in source seconds, end exclusive, either None for the clip's edge. chunk_frames: chunk
    size in source frames (None: one chunk). cuts: known cut positions (source index of the frame after).
    """
    from slowmo.timeline.chunks import plan_chunks

    source = times.times
    if len(source) < 2:
        raise InputError(f"has only {len(source)} frame; need at least 2 to interpolate")
    start = Fraction(0) if window is None or window[0] is None else max(Fraction(0), Fraction(window[0]))
    end = None if window is None or window[1] is None else Fraction(window[1])
    if end is not None and end > source[-1]:
        end = None  # past the last frame: through the last frame
    if time_map is None:
        time_map = LinearTimeMap(Fraction(factor), start)
    lo = bisect.bisect_left(source, start)
    hi = len(source) if end is None else bisect.bisect_left(source, end)
    inside = [time_map.output_time(s) for s in source[lo:hi]]
    output_fps, reason = choose_output_rate(times, inside, fps)

    last_time = source[-1] if end is None else end
    span = time_map.output_time(last_time) * output_fps
    if end is None:
        count = (math.floor(span) if _is_exact(span) else math.floor(span + FLOAT_EPSILON)) + 1
    else:
        count = math.ceil(span) if _is_exact(span) else math.ceil(span - FLOAT_EPSILON)
    if count < 1:
        raise InputError("the window holds no output frame")
    factor = factor_value(factor)
    plan = Plan(source, times.constant, times.fps, factor, output_fps, reason, time_map, count, start, end)

    first_src, last_src = plan.first_frame, plan.last_frame
    if last_src - first_src < 1:
        raise InputError("the window holds fewer than 2 frames; need at least 2 to interpolate")
    size = chunk_frames or (last_src - first_src + 1)
    ranges = plan_chunks(last_src - first_src + 1, max(2, size), [c - first_src for c in cuts])
    chunks: list[PlanChunk] = []
    for rng in ranges:
        a, b = rng.start + first_src, rng.end + first_src
        first_out = 0 if not chunks else _first_output_at_or_after(plan, source[a])
        last_out = count - 1 if b == last_src else _last_output_at_or_before(plan, source[b])
        skip = 1 if chunks and first_out == chunks[-1].last_output else 0
        chunks.append(PlanChunk(len(chunks), a, b, first_out, last_out, skip))
    return Plan(source, times.constant, times.fps, factor, output_fps, reason, time_map, count, start, end,
                tuple(chunks))


def _grid_position(plan: Plan, source_time):
    return plan.time_map.output_time(source_time) * plan.output_fps


def _first_output_at_or_after(plan: Plan, source_time) -> int:
    position = _grid_position(plan, source_time)
    m = math.ceil(position) if _is_exact(position) else math.ceil(position - FLOAT_EPSILON)
    return min(max(m, 0), plan.output_count - 1)


def _last_output_at_or_before(plan: Plan, source_time) -> int:
    position = _grid_position(plan, source_time)
    m = math.floor(position) if _is_exact(position) else math.floor(position + FLOAT_EPSILON)
    return min(max(m, 0), plan.output_count - 1)


def plan_job(info, options, *, chunk_frames: int | None = None, cuts: Sequence[int] = (), time_map=None,
             window: tuple | None = None) -> Plan:
    """The plan for a probed video (slowmo.media.probe.VideoInfo) and validated JobOptions."""
    try:
        if time_map is None and window is None and hasattr(options, "curve_spec"):
            from slowmo.timeline.speedcurve import (
                curve_and_window,  # trim, ranges and ease (docs/creative.md)
            )

            time_map, window = curve_and_window(options.curve_spec, options.factor, info.frame_times.times, info.duration)
        return make_plan(info.frame_times, options.factor, fps=options.fps, time_map=time_map, window=window,
                         chunk_frames=chunk_frames, cuts=cuts)
    except InputError as exc:
        name = str(info.path).replace("\\", "/").rsplit("/", 1)[-1]
        raise InputError(f"{name}: {exc}") from None
