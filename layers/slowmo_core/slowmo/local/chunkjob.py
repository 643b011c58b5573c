"""One chunk of a local run: its source frames in, its finished part of the output on disk.

The serial run and every worker of a parallel run call `render_chunk`, so a chunk comes out the same
whichever executor made it. A chunk writes the output frames the plan gives it (slowmo.timeline.plan: those
whose source time lies within the chunk; start*K .. end*K at constant rate), less the boundary frame
the previous chunk already wrote (the plan chunk's `skip`): an MP4 segment of its own (and a
comparison segment), or its numbered PNG frames. Concatenating the segments in order gives the run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from slowmo.errors import InputError
from slowmo.timeline.chunks import Chunk

VIDEO_SEGMENT = "video.mp4"
COMPARE_SEGMENT = "compare.mp4"
FRAMES_FOLDER = "frames"
PROGRESS_BATCH = 8  # frames per progress report (a parallel worker sends each one between processes)


@dataclass(frozen=True)
class RenderSettings:
    """What every chunk of one run shares. Picklable: it travels to the worker processes."""

    factor: int
    engine: str
    width: int
    height: int
    output_fps: Fraction
    sequence: bool  # PNG frames, else an MP4 segment
    encode: dict = field(default_factory=dict)  # codec, crf, preset, color (VideoWriter options)
    compare: bool = False
    compare_labels: tuple[str, str] = ("", "")
    engine_options: dict = field(default_factory=dict)
    fallback: str = "off"  # see fallback.py
    plan: Any = None  # slowmo.timeline.plan.Plan (picklable); None: today's t = j/K contract for `factor`


def render_chunk(frames: Iterable, chunk: Chunk, settings: RenderSettings, folder: Path, engine,
                 on_frames: Callable[[int], object] | None = None, *, open_ended: bool = False) -> dict:
    """Synthesise chunk from its source frames (chunk.start .. chunk.end) into folder.

    open_ended: the chunk runs to the end of the stream, wherever that is (the frame count of a
    variable-rate input is known only once it is decoded). Otherwise fewer frames than the chunk
    spans means the input is truncated. Returns the chunk's record: its real range, the frames it
    wrote and what synthesis found (cuts, repeats).
    """
    from slowmo.media.compare import SideBySide
    from slowmo.media.encode import PngSequenceWriter, VideoWriter
    from slowmo.synthesis.frames import SynthesisReport, synthesize

    factor = settings.factor
    if settings.plan is not None:
        planned = settings.plan.chunks[chunk.index]
        outputs = settings.plan.chunk_frames(planned)  # indices from chunk.start
        skip, first_number = planned.skip, planned.first_output + planned.skip
        left = [f.index for f in outputs]  # the comparison shows the real frame at or before each output
    else:
        outputs = factor
        skip = 1 if chunk.index > 0 else 0  # the boundary frame: the previous chunk wrote it
        first_number = chunk.start * factor + skip
        left = None
    report = SynthesisReport()
    written = pending = 0
    with ExitStack() as stack:
        if settings.sequence:
            writer = stack.enter_context(PngSequenceWriter(folder / FRAMES_FOLDER, settings.width, settings.height,
                                                           first_number=first_number))
        else:
            writer = stack.enter_context(VideoWriter(folder / VIDEO_SEGMENT, settings.width, settings.height,
                                                     settings.output_fps, **settings.encode))
        side = compare_writer = None
        if settings.compare:
            side = SideBySide(settings.width, settings.height, *settings.compare_labels)
            compare_writer = stack.enter_context(VideoWriter(folder / COMPARE_SEGMENT, side.width, side.height,
                                                             settings.output_fps, **settings.encode))
        recent: dict[int, Any] = {}  # the last two source frames read (the comparison's left side)

        def remember(source):
            for number, frame in enumerate(source):
                recent[number] = frame
                recent.pop(number - 2, None)
                yield frame

        current_source = None
        source = remember(frames) if compare_writer is not None else frames
        for local_index, frame in enumerate(synthesize(source, outputs, engine, report, first_index=chunk.start,
                                                       fallback=settings.fallback)):
            if compare_writer is not None:
                current_source = recent[left[local_index] if left is not None else local_index // factor]
            if local_index < skip:
                continue
            writer.write(frame)
            if compare_writer is not None:
                compare_writer.write(side.compose(current_source, frame))
            written += 1
            pending += 1
            if on_frames is not None and pending >= PROGRESS_BATCH:
                on_frames(pending)
                pending = 0
    if on_frames is not None and pending:
        on_frames(pending)
    end = chunk.start + report.source_frames - 1
    if report.source_frames < 2 or (not open_ended and end != chunk.end):
        raise InputError(f"decoded only {report.source_frames} of the {chunk.end - chunk.start + 1} frames "
                         f"{chunk.start}..{chunk.end}: the input is truncated or corrupt")
    return {"index": chunk.index, "start": chunk.start, "end": end, "frames": written,
            "interpolated_pairs": report.interpolated_pairs, "repeated_pairs": report.repeated_pairs,
            "cuts": list(report.cuts), "fallback": report.fallback}


def chunk_files(folder: Path) -> dict[str, int]:
    """Every file a finished chunk folder holds, relative to it, with its size in bytes."""
    files = {}
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            files[str(path.relative_to(folder))] = path.stat().st_size
    return files


def join_segments(segments: list[tuple[Path, int]], output: Path, fps: Fraction) -> None:
    """Stream-copy the chunks' MP4 segments, given with their frame counts, into one video in order.

    Every segment has the same encoder settings and frame rate and starts on a keyframe, so joining
    only shifts each segment's timestamps by the duration of those before it. The concat demuxer
    would take that duration from each segment's container, which x264's B-frame delay leaves a few
    ticks short; the listing gives each segment's exact duration instead (the frames it holds / fps,
    written as the difference of cumulative microseconds so rounding does not add up), and the
    track timescale is the encoder's, a multiple of the rate, so every timestamp lands on a tick.
    """
    from slowmo.media.encode import _timescale
    from slowmo.media.ffmpeg import run_ffmpeg

    fps = Fraction(fps)
    listing = output.with_name(output.name + ".txt")
    frames_before = 0
    with open(listing, "w") as fh:
        for segment, frames in segments:
            start_us = round(Fraction(frames_before) / fps * 1_000_000)
            end_us = round(Fraction(frames_before + frames) / fps * 1_000_000)
            frames_before += frames
            fh.write("file '" + str(Path(segment).absolute()).replace("'", "'\\''") + "'\n")
            fh.write(f"duration {end_us - start_us}us\n")
    try:
        run_ffmpeg(["-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(listing), "-map", "0:v:0",
                    "-c", "copy", "-video_track_timescale", str(_timescale(fps)),
                    "-movflags", "+faststart", "-y", str(output)])
    finally:
        listing.unlink(missing_ok=True)
