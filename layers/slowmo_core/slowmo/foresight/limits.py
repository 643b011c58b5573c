"""Limits on what a job may ask for, enforced identically by the CLI and the cloud pipeline.

Each limit can be changed with an environment variable (SLOWMO_MAX_WIDTH, ...), which the SAM
template sets on every function from stack parameters.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from slowmo.errors import InputError


@dataclass(frozen=True)
class Limits:
    max_width: int = 7680
    max_height: int = 4320
    max_duration_s: float = 3600.0
    max_file_bytes: int = 20 * 1024**3
    max_output_frames: int = 2_000_000

    @classmethod
    def from_env(cls, environ=None) -> Limits:
        env = os.environ if environ is None else environ
        base = cls()

        def read(name: str, default, kind):
            raw = env.get(name)
            if raw in (None, ""):
                return default
            try:
                return kind(raw)
            except ValueError:
                raise InputError(f"{name} must be a number, got {raw!r}") from None

        return cls(
            max_width=read("SLOWMO_MAX_WIDTH", base.max_width, int),
            max_height=read("SLOWMO_MAX_HEIGHT", base.max_height, int),
            max_duration_s=read("SLOWMO_MAX_DURATION_S", base.max_duration_s, float),
            max_file_bytes=read("SLOWMO_MAX_FILE_BYTES", base.max_file_bytes, int),
            max_output_frames=read("SLOWMO_MAX_OUTPUT_FRAMES", base.max_output_frames, int),
        )

    def check_file_size(self, size: int, name: str = "input") -> None:
        if size > self.max_file_bytes:
            raise InputError(f"{name}: {size / 1024**2:.0f} MiB is over the {self.max_file_bytes / 1024**2:.0f} MiB limit")

    def check_video(self, width: int, height: int, duration_s: float, output_frames: int, name: str = "input") -> None:
        # Orientation-agnostic: a portrait 2160x3840 clip is as big as a landscape one.
        long_side, short_side = max(width, height), min(width, height)
        if long_side > max(self.max_width, self.max_height) or short_side > min(self.max_width, self.max_height):
            raise InputError(f"{name}: {width}x{height} is over the {self.max_width}x{self.max_height} resolution limit")
        if duration_s > self.max_duration_s:
            raise InputError(f"{name}: {duration_s:.1f} s is over the {self.max_duration_s:.0f} s duration limit")
        if output_frames > self.max_output_frames:
            raise InputError(f"{name}: would make {output_frames} frames, over the {self.max_output_frames} frame limit")
