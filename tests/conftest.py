"""Shared fixtures: generated media (no committed binaries) and an in-process CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def make_clip(media_dir):
    """make_clip(name, **kwargs) -> path of a synthetic MP4, rendered once per session per name."""
    from slowmo.sample import make_clip as render

    cache: dict[str, Path] = {}

    def make(name: str, **kwargs) -> Path:
        if name not in cache:
            cache[name] = render(media_dir / f"{name}.mp4", **kwargs)
        return cache[name]

    return make


@pytest.fixture(scope="session")
def ffmpeg_media(media_dir):
    """ffmpeg_media(name, args) -> path: run the bundled ffmpeg with args writing media_dir/name."""
    from slowmo.ffmpeg import run_ffmpeg

    def make(name: str, args: list[str]) -> Path:
        out = media_dir / name
        if not out.exists():
            run_ffmpeg(["-loglevel", "error", *args, "-y", str(out)])
        return out

    return make


@pytest.fixture(scope="session")
def clip(make_clip) -> Path:
    """320x180, 24 fps, 24 frames, AAC audio, a hard cut at frame 12."""
    return make_clip("standard", width=320, height=180, fps=24, frames=24, audio=True, cut_at=12)


@pytest.fixture
def run_cli(capsys):
    """run_cli(*args) -> (exit code, stdout, stderr) of `slowmo args...`, run in-process."""
    from slowmo.cli import main

    def run(*args: str):
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def assert_one_line_error():
    """assert_one_line_error((code, out, err), text): a failed run printed exactly one `slowmo: error:` line."""

    def check(result, text: str) -> None:
        code, out, err = result
        assert code != 0 and out == "" and "Traceback" not in err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("slowmo: error: ") and text in lines[0], err

    return check
