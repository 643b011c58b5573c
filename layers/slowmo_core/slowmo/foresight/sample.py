"""Render synthetic clips: the demo's sample and the test suite's media (no binaries committed)."""

from __future__ import annotations

import functools
import math
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from slowmo.media.encode import VideoWriter
from slowmo.media.ffmpeg import run_ffmpeg


@functools.lru_cache(maxsize=8)
def _background(width: int, height: int, seed: int) -> np.ndarray:
    """The static backdrop of a scene: built once per size and scene, read-only (frames draw on a copy)."""
    backdrop = _render_background(width, height, seed)
    backdrop.setflags(write=False)
    return backdrop


def _render_background(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size=(height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    texture = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    y, x = np.mgrid[0:height, 0:width]
    # Each scene has its own pattern and palette, so a cut between scenes is a real cut.
    fx, fy = (9.0, 13.0) if seed % 2 == 0 else (5.0, 21.0)
    stripes = ((np.sin(x / fx) + np.cos(y / fy)) * 30).astype(np.int16)
    tint = np.array([0, 0, 0] if seed % 2 == 0 else [60, -20, -50], dtype=np.int16)
    return np.clip(texture.astype(np.int16) // 2 + 64 + stripes[..., None] + tint, 0, 255).astype(np.uint8)


def render_frame(index: int, width: int, height: int, fps: float, scene: int = 0) -> np.ndarray:
    """A textured background with a ball crossing fast and a rotating bar: real motion to interpolate."""
    frame = _background(width, height, scene).copy()
    t = index / fps
    cx = int((0.1 + 0.8 * ((t * 0.6) % 1.0)) * width)
    cy = int(height * (0.5 + 0.3 * math.sin(t * 3.0)))
    radius = max(3, min(width, height) // 8)
    color = (230, 60, 40) if scene == 0 else (40, 90, 230)
    cv2.circle(frame, (cx, cy), radius, color, thickness=-1, lineType=cv2.LINE_AA)
    cv2.circle(frame, (cx - radius // 3, cy - radius // 3), max(1, radius // 4), (255, 240, 200), -1, cv2.LINE_AA)
    angle = t * 2.0
    length = min(width, height) // 3
    center = (width // 4, height // 4)
    tip = (int(center[0] + length * math.cos(angle)), int(center[1] + length * math.sin(angle)))
    cv2.line(frame, center, tip, (250, 250, 80), thickness=max(2, radius // 4), lineType=cv2.LINE_AA)
    return frame


def make_clip(
    path: str | os.PathLike,
    *,
    width: int = 320,
    height: int = 180,
    fps: Fraction | int = 24,
    frames: int = 24,
    audio: bool = True,
    cut_at: int | None = None,
    crf: int = 18,
) -> Path:
    """Write an H.264 MP4 of synthetic motion; with cut_at, frames from that index show another scene."""
    path = Path(path)
    fps = Fraction(fps)
    with tempfile.TemporaryDirectory() as tmp:
        silent = Path(tmp) / "silent.mp4"
        with VideoWriter(silent, width, height, fps, crf=crf, preset="veryfast") as writer:
            for i in range(frames):
                scene = 1 if cut_at is not None and i >= cut_at else 0
                writer.write(render_frame(i, width, height, float(fps), scene))
        if audio:
            seconds = frames / float(fps)
            run_ffmpeg([
                "-loglevel", "error", "-i", str(silent),
                "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds:.6f}",
                "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest", "-y", str(path),
            ])
        else:
            os.replace(silent, path)
    return path
