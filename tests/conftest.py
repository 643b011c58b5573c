"""Shared fixtures: generated media (no committed binaries) and an in-process CLI runner."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
PLAN_LINE = "slowmo: plan: "
# what `run` says before any work starts (slowmo.cli._announce): its plan and what becomes of saved work
ANNOUNCED = (PLAN_LINE, "slowmo: resuming: ", "slowmo: no earlier work to resume", "slowmo: discarding ")
PROGRESS_LINE = re.compile(r"slowmo: \d+/\d+ frames \(\d+%\), [\d.]+ fps, (ETA \S+|ETA unknown|done in \S+)")


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def make_clip(media_dir):
    """make_clip(name, **kwargs) -> path of a synthetic MP4, rendered once per session per name."""
    from slowmo.foresight.sample import make_clip as render

    cache: dict[str, Path] = {}

    def make(name: str, **kwargs) -> Path:
        if name not in cache:
            cache[name] = render(media_dir / f"{name}.mp4", **kwargs)
        return cache[name]

    return make


@pytest.fixture(scope="session")
def ffmpeg_media(media_dir):
    """ffmpeg_media(name, args) -> path: run the bundled ffmpeg with args writing media_dir/name."""
    from slowmo.media.ffmpeg import run_ffmpeg

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
        # the plan `run` prints before it starts and progress lines (stderr is not a terminal here: one every few
        # seconds) are not error output
        lines = [line for line in err.strip().splitlines()
                 if not PROGRESS_LINE.fullmatch(line) and not line.startswith(ANNOUNCED)]
        assert len(lines) == 1 and lines[0].startswith("slowmo: error: ") and text in lines[0], err

    return check


def shorten_edit_list(source: Path, dest: Path, keep: float) -> Path:
    """Copy an MP4 whose video track's edit list now presents only the first `keep` share of its samples.

    The sample table (the index) still lists every frame, so a probe that counts packets sees them all, but
    a decoder honours the edit list and delivers fewer frames, cleanly: no error on stderr. That is the file
    the decoded-versus-probed frame count check exists for. Edit list entries are (track duration in the movie
    timescale, media time, rate): https://apple-docs.everest.mt/docs/quicktime-file-format/edit_list_atom/edit_list_table/
    """
    import struct

    data = bytearray(source.read_bytes())

    def boxes(start: int, end: int):
        while start < end:
            size, kind = struct.unpack(">I4s", data[start:start + 8])
            yield kind, start, size
            start += size

    def child(start: int, size: int, kind: bytes):
        return next(((s, n) for k, s, n in boxes(start + 8, start + size) if k == kind), None)

    moov = next((s, n) for k, s, n in boxes(0, len(data)) if k == b"moov")
    for kind, trak, trak_size in boxes(moov[0] + 8, moov[0] + moov[1]):
        if kind != b"trak":
            continue
        mdia = child(trak, trak_size, b"mdia")
        hdlr = child(*mdia, b"hdlr")
        if data[hdlr[0] + 16:hdlr[0] + 20] != b"vide":
            continue
        edts = child(trak, trak_size, b"edts")
        assert edts is not None, f"{source.name}: the video track has no edit list to shorten"
        elst = child(*edts, b"elst")[0]
        version = data[elst + 8]
        layout = ">Q" if version == 1 else ">I"
        (duration,) = struct.unpack_from(layout, data, elst + 16)
        struct.pack_into(layout, data, elst + 16, int(duration * keep))
        dest.write_bytes(bytes(data))
        return dest
    raise AssertionError(f"{source.name}: no video track")


@pytest.fixture(scope="session")
def index_longer_than_stream(make_clip, media_dir) -> Path:
    """24 frames in the index (a cut at 12), an edit list that presents 18 of them: decodes cleanly, 18 frames."""
    full = make_clip("edit-list-source", width=160, height=90, fps=24, frames=24, audio=False)
    return shorten_edit_list(full, media_dir / "edit-list-shortened.mp4", 18 / 24)


# 50i footage: a 50p master, and the same moments woven into top-field-first frames (field k is master frame k)
MASTER_50P = "testsrc2=size=720x576:rate=50:duration=0.6"


@pytest.fixture(scope="session")
def master_50p(ffmpeg_media):
    return ffmpeg_media("master-50p.mkv", ["-f", "lavfi", "-i", MASTER_50P, "-c:v", "ffv1"])


@pytest.fixture(scope="session")
def tff_50i(ffmpeg_media):
    """25 frames/s of woven fields, with a tone: field k is the 50p master's frame k (tinterlace=interleave_top)."""
    return ffmpeg_media("tff-50i.mp4", [
        "-f", "lavfi", "-i", MASTER_50P, "-f", "lavfi", "-i", "sine=duration=0.6",
        "-vf", "tinterlace=interleave_top,setfield=tff", "-c:v", "libx264", "-crf", "12", "-flags", "+ildct+ilme",
        "-x264-params", "tff=1", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
