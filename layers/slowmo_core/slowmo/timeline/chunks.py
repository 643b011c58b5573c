"""Chunks: frame ranges of the source that can be processed independently and reassembled.

Consecutive chunks overlap by exactly one frame (chunk k ends on the frame chunk k+1 starts on), so
every pair of consecutive source frames belongs to exactly one chunk. Chunk k's output covers output
frames start*K .. end*K; assembling drops the first output frame of every chunk after the first,
which reproduces a single pass frame for frame.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass

DEFAULT_CHUNK_FRAMES = 121


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # first source frame
    end: int  # last source frame, inclusive (the next chunk's start)

    @property
    def source_frames(self) -> int:
        return self.end - self.start + 1

    def output_frames(self, factor: int) -> int:
        return (self.end - self.start) * factor + 1

    def output_range(self, factor: int) -> tuple[int, int]:
        """First and last output frame index (inclusive) this chunk produces."""
        return self.start * factor, self.end * factor

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Chunk:
        return cls(int(d["index"]), int(d["start"]), int(d["end"]))


def plan_chunks(frame_count: int, chunk_frames: int = DEFAULT_CHUNK_FRAMES, cuts: Sequence[int] = ()) -> list[Chunk]:
    """Split frames 0..frame_count-1 into chunks of about chunk_frames source frames.

    cuts are source indices of the first frame after a hard cut. A boundary that falls within a
    quarter chunk of a cut moves onto it (the chunk ends on the last frame of the shot), so chunks
    follow shots where they can, and a scene is not split for a few frames.
    """
    if frame_count < 2:
        raise ValueError("need at least 2 frames to plan chunks")
    if chunk_frames < 2:
        raise ValueError("chunk_frames must be at least 2")
    step = chunk_frames - 1
    slack = step // 4
    ends_at_cut = sorted({c - 1 for c in cuts if 1 <= c - 1 < frame_count - 1})
    chunks: list[Chunk] = []
    start = 0
    last = frame_count - 1
    while start < last:
        end = min(start + step, last)
        if end < last:
            lo = bisect.bisect_left(ends_at_cut, max(start + 1, end - slack))
            hi = bisect.bisect_right(ends_at_cut, end + slack)
            candidates = ends_at_cut[lo:hi]
            if candidates:
                end = min(candidates, key=lambda e: (abs(e - end), e))
            if last - end < max(1, slack):
                end = last  # avoid a runt final chunk of a few frames
        chunks.append(Chunk(len(chunks), start, end))
        start = end
    return chunks


def assemble(chunk_outputs: Iterable[Iterable]) -> Iterator:
    """Concatenate the output frame streams of consecutive chunks into the single-pass stream."""
    for k, frames in enumerate(chunk_outputs):
        iterator = iter(frames)
        if k > 0:
            next(iterator, None)  # the shared boundary frame, already emitted by the previous chunk
        yield from iterator
