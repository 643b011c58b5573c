"""Text subtitles kept through the slow-down: each cue retimed through the plan's time map.

A text track (mov_text, SubRip, ASS/SSA, WebVTT...) is read as ASS, which every text codec converts to with
its styling, on the file's own clock (-copyts). Each cue's start and end, in seconds from the first frame,
go through the plan's time map (``output_time``: a plain factor, or a speed curve with its ramps), cues
outside the plan's source window are dropped and those across its edges cut to it. The result is muxed as
mov_text into MP4/MOV and as ASS into Matroska (``subtitle_mux_args``), after the video (and audio).

Bitmap tracks (PGS, VobSub, DVB) are not retimed: slowmo.media.fidelity warns that they are dropped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slowmo.media.ffmpeg import run_ffmpeg
from slowmo.media.probe import TEXT_SUBTITLE_CODECS

_DIALOGUE = re.compile(r"^Dialogue:\s*([^,]*),(\d+):(\d{2}):(\d{2})[.](\d{2}),(\d+):(\d{2}):(\d{2})[.](\d{2}),(.*)$")


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    layer: str
    rest: str  # the ASS fields after the times: style, name, margins, effect, text


def text_subtitle_indexes(video: Any) -> list[int]:
    """Positions (0:s:i) of the text subtitle streams of a VideoInfo or its dict form."""
    subs = video.get("subtitles") if isinstance(video, Mapping) else getattr(video, "subtitles", ())
    return [i for i, codec in enumerate(subs or ()) if codec in TEXT_SUBTITLE_CODECS]


def _seconds(h: str, m: str, s: str, cs: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(cs) / 100


def _stamp(t: float) -> str:
    cs = max(0, round(t * 100))
    return f"{cs // 360000}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"


def read_ass(source: str, index: int) -> tuple[list[str], list[Cue]]:
    """Subtitle stream 0:s:index of source as ASS: its header lines and its cues, on the file's clock."""
    proc = run_ffmpeg(["-loglevel", "error", "-copyts", "-i", source, "-map", f"0:s:{index}", "-c:s", "ass",
                       "-f", "ass", "-"])
    header, cues = [], []
    for line in proc.stdout.splitlines():
        if m := _DIALOGUE.match(line):
            g = m.groups()
            cues.append(Cue(_seconds(*g[1:5]), _seconds(*g[5:9]), g[0], g[9]))
        elif not cues:
            header.append(line)
    return header, cues


def retime_cues(cues: Sequence[Cue], time_map, *, start_time: float = 0.0, window_start: float = 0.0,
                window_end: float | None = None) -> list[Cue]:
    """The cues on the output's clock. start_time: the first frame's time on the file's clock (the probe's);
    the window [window_start, window_end) is the plan's, in seconds from the first frame."""
    out = []
    for cue in cues:
        s0, s1 = cue.start - start_time, cue.end - start_time
        lo, hi = max(s0, window_start), s1 if window_end is None else min(s1, window_end)
        if hi <= lo:
            continue
        o0, o1 = float(time_map.output_time(lo)), float(time_map.output_time(hi))
        out.append(Cue(max(0.0, o0), max(0.0, o1), cue.layer, cue.rest))
    return out


def with_gap_cues(cues: Sequence[Cue]) -> list[Cue]:
    """The cues with an empty cue in every gap between two of them. A fragmented MP4 (the cloud's streamed
    Assemble) loses mov_text's own gap samples at fragment boundaries, so a cue would last until the next one;
    an explicit empty cue keeps the gap."""
    out: list[Cue] = []
    for cue in sorted(cues, key=lambda c: c.start):
        if out and cue.start > out[-1].end:
            blank = out[-1].rest.rsplit(",", 1)[0] + ","  # the same style and margins, no text
            out.append(Cue(out[-1].end, cue.start, out[-1].layer, blank))
        out.append(cue)
    return out


def write_ass(path: str | os.PathLike, header: Sequence[str], cues: Sequence[Cue]) -> None:
    lines = list(header)
    lines += [f"Dialogue: {c.layer},{_stamp(c.start)},{_stamp(c.end)},{c.rest}" for c in cues]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def retime_subtitles(video: Any, plan, workdir: str | os.PathLike, *, fragmented: bool = False) -> list[str]:
    """Every text subtitle track of the source, retimed through plan's time map, as ASS files in workdir
    (in track order); [] when the source has none. video: the VideoInfo or its dict form (plan.json's).
    fragmented: the output is a fragmented MP4, so gaps between cues are written as empty cues."""
    facts = video if isinstance(video, Mapping) else vars(video)
    files = []
    for index in text_subtitle_indexes(video):
        header, cues = read_ass(str(facts["path"]), index)
        retimed = retime_cues(cues, plan.time_map, start_time=float(facts.get("start_time") or 0.0),
                              window_start=float(plan.window_start),
                              window_end=None if plan.window_end is None else float(plan.window_end))
        path = Path(workdir) / f"subtitles-{index}.ass"
        write_ass(path, header, with_gap_cues(retimed) if fragmented else retimed)
        files.append(str(path))
    return files


def subtitle_codec_for(out_path: str | os.PathLike) -> str:
    """mov_text for MP4/MOV (the only text track QuickTime and MP4 players show), ASS for Matroska."""
    return "ass" if Path(out_path).suffix.lower() in (".mkv", ".mka") else "mov_text"


def subtitle_mux_args(files: Sequence[str], out_path: str | os.PathLike, first_input: int) -> tuple[list[str], list[str]]:
    """(input arguments, map and codec arguments) that add the retimed subtitle files as tracks; their inputs
    are numbered from first_input."""
    inputs, maps = [], []
    for k, name in enumerate(files):
        inputs += ["-i", str(name)]
        maps += ["-map", f"{first_input + k}:s:0"]
    if files:
        maps += ["-c:s", subtitle_codec_for(out_path)]
    return inputs, maps


def mux_subtitles(video_path: str, out_path: str, files: Sequence[str]) -> None:
    """Copy video_path's streams and add the subtitle files as tracks (the run without audio)."""
    inputs, maps = subtitle_mux_args(files, out_path, 1)
    run_ffmpeg(["-loglevel", "error", "-i", video_path, *inputs, "-map", "0", *maps, "-c:v", "copy", "-c:a", "copy",
                "-movflags", "+faststart", "-y", out_path])
