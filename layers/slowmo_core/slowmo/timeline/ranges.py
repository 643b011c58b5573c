"""Extract in time ranges: split a video's frames into ranges that are decoded in parallel, and join what
the ranges found into exactly what one pass over the whole video finds.

The cloud's Extract is three steps (slowmo.cloud.media): read the container's packet index, then a
Distributed Map of *scans* (decode one range, time every frame, classify every pair of consecutive frames),
then, once every cut is known, a Distributed Map of *cuts* (decode the frames of a group of planned chunks
and write their lossless chunk files). A chunk's end depends on the cuts before it (slowmo.timeline.chunks), so the
chunks can only be planned once all scans are in: hence two passes, each split across Lambdas.

The rules that make the ranges add up to the single pass:

- A range owns the frames whose presentation time lies in [start, end) (ticks of the video stream's
  timebase, ``None`` for an open edge). Ranges are cut at packet times, so each owns about
  ``range_frames`` frames; together they own every frame once.
- A range also decodes the frame just before its start (``previous``), so the pair that straddles the
  edge is classified by the range after it: every pair of consecutive frames is classified exactly once,
  on the same two decoded pictures the single pass sees.
- Decoding starts at a key packet one GOP before the first frame needed (``seek_point``), so an open
  GOP's leading frames, which reference the GOP before, are already behind the frames kept.
- ``join_scans`` checks that each range's ``previous`` is the frame the range before it ended on:
  a seek that landed late, or a decoder that skipped a frame, fails the job instead of losing a frame.

Light module (standard library only), unit-tested without video: tests/unit/test_ranges.py.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Source frames per range by default: about 3 minutes of 30 fps, so each scan and cut of 1080p stays well
# inside a Lambda's 15 minutes (slowmo.foresight.capacity models it; the stack's ExtractRangeFrames sets it).
DEFAULT_RANGE_FRAMES = 5400
# A range whose decode from a seek cannot be trusted is decoded again from the start of the file. This many
# frames of 1080p (three default ranges; fewer for larger frames, frames_per_range) fit one Extract call: the
# capacity model gives a scan of one range about 14 % of the 15 minutes. A file that needs more is refused with
# its reason rather than left to time out.
RESCAN_FRAMES = 3 * DEFAULT_RANGE_FRAMES


PIXELS_1080P = 1920 * 1080
NO_PTS = -(2**63)  # AV_NOPTS_VALUE: a packet the container gives no presentation time (AVI's B-frames, raw streams)


def frames_per_range(range_frames: int, width: int, height: int) -> int:
    """The stack's frames per range (set for 1080p) for frames of this size: fewer for larger frames, so a
    4K range decodes about as many pixels as a 1080p one; never more. 0 (one range) stays 0."""
    if range_frames <= 0:
        return 0
    return max(2, range_frames * PIXELS_1080P // max(PIXELS_1080P, width * height))


class RangeError(RuntimeError):
    """The ranges do not join into one sequence of frames (never expected; the job fails with this)."""


@dataclass(frozen=True)
class TimeRange:
    index: int
    start: int | None  # first owned presentation time (ticks); None: from the first frame
    end: int | None  # owned times are below this; None: to the last frame
    seek: int | None  # key packet time to start decoding at; None: the start of the file
    through: int = 0  # packets from the start of the file to this range's end (what a decode from the start costs)

    def owns(self, pts: int) -> bool:
        return (self.start is None or pts >= self.start) and (self.end is None or pts < self.end)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "start": self.start, "end": self.end, "seek": self.seek, "through": self.through}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TimeRange:
        def opt(v):
            return None if v is None else int(v)

        return cls(int(d["index"]), opt(d.get("start")), opt(d.get("end")), opt(d.get("seek")), int(d.get("through", 0)))


def time_indexed(packet_pts: Sequence[int]) -> bool:
    """Every packet carries its own presentation time: only then can a decoder be started by time and the
    frames it delivers be matched to the index (AVI leaves B-frames without one; raw streams all)."""
    ordered = sorted(packet_pts)
    return bool(ordered) and ordered[0] != NO_PTS and all(b != a for a, b in zip(ordered, ordered[1:], strict=False))


def clean_point(keyframes: Sequence[int], seek: int | None) -> int | None:
    """The first key packet after ``seek``: frames from there on decode from references the decoder has.
    Before it, an open GOP's leading pictures miss theirs, and the decoder says so (the caller discards them)."""
    if seek is None:
        return None
    i = bisect.bisect_right(keyframes, seek)
    return keyframes[i] if i < len(keyframes) else None


def seek_point(keyframes: Sequence[int], first_needed: int) -> int | None:
    """The key packet to start decoding at so that the frame at ``first_needed`` decodes as in a single pass:
    the key packet before the last one at or before it (one whole GOP of margin), or None (from the start)."""
    i = bisect.bisect_right(keyframes, first_needed) - 2
    return keyframes[i] if i >= 0 else None


def split_ranges(packet_pts: Sequence[int], keyframes: Sequence[int], range_frames: int) -> list[TimeRange]:
    """Ranges of about ``range_frames`` packets each (one range for a short video or range_frames <= 0).

    A last range shorter than a quarter of the others joins the one before it. A container whose packets do not
    all carry distinct presentation times (AVI, elementary streams) cannot be cut by time: one range, the single
    pass."""
    ordered = sorted(packet_pts)
    keys = sorted(keyframes)
    n = len(ordered)
    if range_frames <= 0 or n <= range_frames or not time_indexed(ordered):
        return [TimeRange(0, None, None, None, n)]
    cuts = list(range(range_frames, n, range_frames))
    if cuts and n - cuts[-1] < max(1, range_frames // 4):
        cuts.pop()
    edges = [None, *(ordered[i] for i in cuts), None]
    ends = [*cuts, n]
    ranges = []
    for index, (start, end) in enumerate(zip(edges, edges[1:], strict=False)):
        if start is None:
            seek = None
        else:  # the frame before the range's start is decoded too (the pair across the edge)
            previous = ordered[bisect.bisect_left(ordered, start) - 1]
            seek = seek_point(keys, previous)
        ranges.append(TimeRange(index, start, end, seek, ends[index]))
    return ranges


@dataclass
class Scan:
    """What one range's decode found. ``cuts`` are positions in ``pts``: position i means a cut between the
    frame before pts[i] (``previous`` when i == 0) and pts[i]. ``crcs`` are the owned frames' CRC-32s;
    ``preroll`` the [pts, crc] of frames decoded before the range's start, from the clean point on, which the
    range before it owns: the two decodes must agree on them."""

    index: int
    previous: int | None
    pts: list[int] = field(default_factory=list)
    durations: list[int] = field(default_factory=list)
    cuts: list[int] = field(default_factory=list)
    crcs: list[int] = field(default_factory=list)
    preroll: list[list[int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "previous": self.previous, "pts": self.pts, "durations": self.durations,
                "cuts": self.cuts, "crcs": self.crcs, "preroll": self.preroll}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scan:
        return cls(int(d["index"]), None if d.get("previous") is None else int(d["previous"]),
                   [int(p) for p in d["pts"]], [int(p) for p in d["durations"]], [int(c) for c in d["cuts"]],
                   [int(c) for c in d.get("crcs", [])], [[int(p), int(c)] for p, c in d.get("preroll", [])])


class SeekMismatch(RangeError):
    """Ranges whose decode from a seek disagrees with the frames before their start as the range before
    them decoded those: the key packet they started at was no clean random access point for this file."""

    def __init__(self, ranges: list[int]):
        super().__init__(f"ranges {ranges} decoded the frames before their start differently")
        self.ranges = ranges


@dataclass
class Joined:
    pts: list[int]
    durations: list[int]
    cuts: list[int]  # global index of the first frame after each cut
    crcs: list[int]


def join_scans(ranges: Sequence[TimeRange], scans: Sequence[Scan]) -> Joined:
    """The single pass's frames, from the ranges' scans. Raises SeekMismatch naming every range whose seeked
    decode disagrees with the range before it (on the frame before its start, or on any pre-roll frame's CRC:
    decode those from the start of the file and join again), RangeError where the ranges cannot join at all."""
    by_index = {s.index: s for s in scans}
    missing = [r.index for r in ranges if r.index not in by_index]
    if missing:
        raise RangeError(f"no scan for ranges {missing}")
    joined = Joined([], [], [], [])
    crc_at: dict[int, int] = {}
    suspect: list[int] = []
    for rng in ranges:
        scan = by_index[rng.index]
        if not scan.pts:
            continue  # a range whose packets the decoder did not show (an open GOP's leading frames)
        stray = [p for p in scan.pts if not rng.owns(p)]
        if stray:
            raise RangeError(f"range {rng.index} delivered frames at {stray[:3]} outside [{rng.start}, {rng.end})")
        if any(b <= a for a, b in zip(scan.pts, scan.pts[1:], strict=False)):
            raise RangeError(f"range {rng.index} delivered frames out of order")
        expected_previous = joined.pts[-1] if joined.pts else None
        disagrees = any(crc_at.get(p, c) != c for p, c in scan.preroll)
        if scan.previous != expected_previous or disagrees:
            if rng.seek is None:
                raise RangeError(f"range {rng.index} starts after frame {scan.previous}, but the frame before it is "
                                 f"{expected_previous}: a frame would be lost or repeated")
            suspect.append(rng.index)
        offset = len(joined.pts)
        # a cut at position 0 of the very first frame has no pair: not a cut
        joined.cuts.extend(offset + c for c in scan.cuts if offset + c > 0)
        joined.pts.extend(scan.pts)
        joined.durations.extend(scan.durations)
        joined.crcs.extend(scan.crcs)
        crc_at.update(zip(scan.pts, scan.crcs, strict=False))
    if suspect:
        raise SeekMismatch(suspect)
    return joined


def cut_groups(chunks: Sequence[dict[str, Any]], pts: Sequence[int], keyframes: Sequence[int],
               group_frames: int, ranges: Sequence[TimeRange] = ()) -> list[dict[str, Any]]:
    """The cut pass's Map items: consecutive planned chunks (dicts with index, start, end: global source
    frames) grouped until a group spans about ``group_frames`` frames (0: one group), each with where to
    seek, the presentation times of its first and last frame and the ``ranges`` whose scans hold its frames
    (the worker checks it decoded exactly those frames, with the scans' CRCs)."""
    groups: list[list[dict[str, Any]]] = []
    span = group_frames if group_frames > 0 else len(pts) + 1
    for chunk in chunks:
        if groups and int(groups[-1][-1]["end"]) - int(groups[-1][0]["start"]) < span:
            groups[-1].append(chunk)
        else:
            groups.append([chunk])
    keys = sorted(keyframes)
    items = []
    for index, group in enumerate(groups):
        first, last = int(group[0]["start"]), int(group[-1]["end"])
        items.append({"index": index, "chunks": [{"index": int(c["index"]), "start": int(c["start"]),
                                                   "end": int(c["end"])} for c in group],
                      "seek": None if first == 0 else seek_point(keys, pts[first]),
                      "first": pts[first], "last": pts[last], "frames": last - first + 1,
                      # the scans holding these frames' CRCs, which the cut checks its decode against
                      "ranges": [r.index for r in ranges if (r.end is None or pts[first] < r.end)
                                 and (r.start is None or pts[last] >= r.start)]})
    return items
