"""Audio for a slowed video: stretched with pitch preserved, kept at normal speed, or dropped.

Whatever is kept is padded with silence or trimmed to the video's exact duration.

A speed curve (ranges, ease, trim) stretches the audio along the same time map as the video. The
bundled ffmpeg's rubberband filter takes one tempo, not Rubber Band's key-frame map (its options:
https://ffmpeg.org/ffmpeg-filters.html#rubberband; a `tempo` command exists, but a tempo changed on
the fly drifts by tens of ms, measured), so the curve is cut into constant-tempo segments
(`SpeedCurve.constant_segments`), each stretched on its own and cut to its exact length in samples.
Each segment is fed `SEGMENT_PREROLL_S` of the audio before it, and that part of its output is thrown
away, so the stretcher's start-up never reaches the output.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from fractions import Fraction

from slowmo.errors import InputError
from slowmo.media.ffmpeg import run_ffmpeg

AUDIO_BITRATE = "192k"
SEGMENT_PREROLL_S = 0.2
DEFAULT_SAMPLE_RATE = 48000
# window=short: a click stretched 4x lands 14 ms early with it and 30 ms with the standard window (measured)
_CURVE_STRETCH = "rubberband=tempo={tempo:.9f}:pitchq=quality:transients=smooth:window=short"


@functools.cache
def has_rubberband() -> bool:
    return "rubberband" in run_ffmpeg(["-filters"], check=False).stdout


def atempo_chain(tempo: float) -> list[str]:
    """atempo accepts 0.5..100 per instance: chain halvings for stronger slow-downs."""
    parts = []
    while tempo < 0.5:
        parts.append("atempo=0.5")
        tempo /= 0.5
    parts.append(f"atempo={tempo:.9f}")
    return parts


def audio_filter(mode: str, slowdown: Fraction) -> str:
    """The -af chain for a mode; slowdown is how many times longer the video plays than the source."""
    if mode == "original" or (mode == "stretch" and slowdown == 1):
        return "apad"
    if mode == "stretch":
        tempo = float(1 / Fraction(slowdown))
        if has_rubberband():
            # Rubber Band keeps the pitch and sounds far cleaner than WSOLA at large slow-downs.
            return f"rubberband=tempo={tempo:.9f}:pitchq=quality:transients=smooth,apad"
        return ",".join([*atempo_chain(tempo), "apad"])
    raise InputError(f"audio mode {mode!r} keeps no audio")


def curve_audio_graph(segments, mode: str, *, sample_rate: int, source_offset: float = 0.0, source: str = "1:a:0",
                      label: str = "aout", delay: float | None = None) -> str:
    """A filter_complex that follows a time map: `segments` are (source start, source end, output start,
    output end) in seconds with a constant tempo each (from SpeedCurve.constant_segments).

    stretch: each segment is stretched to exactly round(output end * rate) - round(output start * rate)
    samples, so rounding never accumulates and every segment boundary is on the curve to the sample.
    original: the audio of the window at normal speed (trimmed with the video), padded with silence.
    source_offset: the audio clock's time of source time 0 (the first video frame), so that audio is
    cut by timestamps, sample-accurately, wherever the keyframes are. delay (slowmo.media.probe's audio_delay),
    when known, replaces it: the audio is first aligned so that its time 0 is the first frame (align_filter).
    """
    if not segments:
        raise ValueError("no audio segments")
    align = ""
    if delay is not None:
        align, source_offset = align_filter(delay) or "asetpts=PTS-STARTPTS,", 0.0
    segments = [(s0 + source_offset, s1 + source_offset, o0, o1) for s0, s1, o0, o1 in segments]
    lo = segments[0][0]
    head = f"[{source}]{align}aresample={sample_rate}"
    if mode == "original":
        return f"{head},atrim=start={lo:.9f},asetpts=PTS-STARTPTS,apad[{label}]"
    if mode != "stretch":
        raise InputError(f"audio mode {mode!r} keeps no audio")
    branches = []
    for k, (s0, s1, o0, o1) in enumerate(segments):
        samples = round(o1 * sample_rate) - round(o0 * sample_rate)
        tempo = (s1 - s0) / (o1 - o0)
        if abs(tempo - 1) < 1e-9:
            chain = f"atrim=start={s0:.9f}:end={s1:.9f},asetpts=PTS-STARTPTS"
        else:
            # Feed the preroll too; drop what it became, so only settled output is kept.
            fed = max(lo, s0 - SEGMENT_PREROLL_S) if s0 > lo else s0
            settle = round((s0 - fed) * sample_rate / tempo)
            chain = (f"atrim=start={fed:.9f}:end={s1:.9f},asetpts=PTS-STARTPTS,{_CURVE_STRETCH.format(tempo=tempo)},"
                     f"atrim=start_sample={settle}:end_sample={settle + samples},asetpts=PTS-STARTPTS")
        branches.append(f"[seg{k}]{chain},apad=whole_len={samples},atrim=end_sample={samples}[out{k}]")
    n = len(segments)
    split = f"{head},asplit={n}" + "".join(f"[seg{k}]" for k in range(n)) if n > 1 else f"{head},anull[seg0]"
    joined = "".join(f"[out{k}]" for k in range(n)) + f"concat=n={n}:v=0:a=1,apad[{label}]"
    return ";".join([split, *branches, joined])


# An audio start this close to the first frame is left alone: well under one video frame at any rate.
ALIGN_TOLERANCE_S = 0.0005


def align_filter(delay: float) -> str:
    """Filters that put the first frame's moment at audio time 0, before any stretch: ``delay`` seconds of
    silence first when the sound starts after the picture, or the first -``delay`` seconds cut when it starts
    before (slowmo.media.probe's audio_delay). A stretch then stretches the silence too, so the sound stays on its
    frame: at factor 8, a phone clip whose audio starts 60 ms late would otherwise lead by 420 ms."""
    if abs(delay) < ALIGN_TOLERANCE_S:
        return ""
    if delay > 0:
        return f"asetpts=PTS-STARTPTS,adelay=delays={delay * 1000:.3f}:all=1,"
    return f"asetpts=PTS-STARTPTS,atrim=start={-delay:.9f},asetpts=PTS-STARTPTS,"


def audio_args(mode: str, slowdown, *, segments=None, sample_rate: int | None = None,
               source_offset: float = 0.0, delay: float | None = None) -> list[str]:
    """ffmpeg arguments that map input 1's first audio stream, filtered: along a speed curve's
    segments (curve_audio_graph) when given, else at one tempo, 1/slowdown, its start first aligned with
    the first video frame (align_filter)."""
    if segments:
        graph = curve_audio_graph(segments, mode, sample_rate=sample_rate or DEFAULT_SAMPLE_RATE,
                                  source_offset=source_offset, delay=delay)
        return ["-filter_complex", graph, "-map", "[aout]"]
    return ["-map", "1:a:0", "-af", align_filter(delay or 0.0) + audio_filter(mode, slowdown)]


def mux_audio(video_path: str, source_path: str, out_path: str, *, mode: str, slowdown: Fraction, duration: float,
              segments=None, sample_rate: int | None = None, source_offset: float = 0.0,
              delay: float | None = None, subtitles: Sequence[str] = ()) -> None:
    """Copy video_path's video and source_path's first audio stream, filtered, into out_path.

    With `segments` (a speed curve's constant-tempo pieces, see curve_audio_graph) the audio follows
    the curve and covers only the curve's source window; otherwise one tempo, 1/slowdown.
    subtitles: retimed subtitle files (slowmo.media.subtitles.retime_subtitles) added as tracks.
    """
    from slowmo.media.subtitles import subtitle_mux_args

    audio = ["-map", "0:v:0", *audio_args(mode, slowdown, segments=segments, sample_rate=sample_rate,
                                          source_offset=source_offset, delay=delay)]
    sub_inputs, sub_maps = subtitle_mux_args(subtitles, out_path, 2)
    run_ffmpeg([
        "-loglevel", "error",
        "-i", video_path, "-i", source_path, *sub_inputs,
        *audio, *sub_maps,
        "-c:v", "copy",
        "-c:a", "aac", "-b:a", AUDIO_BITRATE,
        "-t", f"{duration:.6f}",
        "-movflags", "+faststart",
        "-y", out_path,
    ])
    if not os.path.exists(out_path):
        raise InputError(f"audio mux produced no file at {out_path}")


def plan_audio(plan, info) -> dict:
    """mux_audio's arguments for following a plan's time map: for the whole clip at one factor, one tempo
    and the audio's start aligned with the first frame (``delay``, when it is not already); for a trim or
    a speed curve, its constant-tempo segments.

    info: the probe (slowmo.media.probe.VideoInfo) or its to_dict() form, as the cloud's plan.json keeps it.
    """
    from slowmo.timeline.speedcurve import audio_segments

    facts = info if isinstance(info, dict) else vars(info)
    curve = hasattr(plan.time_map, "constant_segments")
    if not curve and plan.window_start == 0 and plan.window_end is None:
        delay = facts.get("audio_delay") or 0.0  # the whole clip at one tempo: align its start, then stretch
        return {"delay": float(delay)} if abs(float(delay)) >= ALIGN_TOLERANCE_S else {}
    end = float(plan.window_end) if plan.window_end is not None else float(facts["duration"])
    offset = 0.0
    if facts.get("audio_start") is not None:  # where source time 0 (the first frame) is on the audio's clock
        offset = max(0.0, float(facts.get("start_time") or 0.0) - max(0.0, float(facts["audio_start"])))
    delay = facts.get("audio_delay")
    return {"segments": audio_segments(plan.time_map, float(plan.window_start), end),
            "sample_rate": facts.get("audio_sample_rate"), "source_offset": offset,
            **({"delay": float(delay)} if delay is not None else {})}
