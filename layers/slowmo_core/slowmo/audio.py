"""Audio for a slowed video: stretched with pitch preserved, kept at normal speed, or dropped.

Whatever is kept is padded with silence or trimmed to the video's exact duration.
"""

from __future__ import annotations

import functools
import os
from fractions import Fraction

from .errors import InputError
from .ffmpeg import run_ffmpeg

AUDIO_BITRATE = "192k"


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


def mux_audio(video_path: str, source_path: str, out_path: str, *, mode: str, slowdown: Fraction, duration: float) -> None:
    """Copy video_path's video and source_path's first audio stream, filtered, into out_path."""
    run_ffmpeg([
        "-loglevel", "error",
        "-i", video_path, "-i", source_path,
        "-map", "0:v:0", "-map", "1:a:0",
        "-c:v", "copy",
        "-af", audio_filter(mode, slowdown),
        "-c:a", "aac", "-b:a", AUDIO_BITRATE,
        "-t", f"{duration:.6f}",
        "-movflags", "+faststart",
        "-y", out_path,
    ])
    if not os.path.exists(out_path):
        raise InputError(f"audio mux produced no file at {out_path}")
