"""slowmo.media.mp4header: the facts admission needs, read from an MP4/MOV index alone, agree with the full probe;
anything it cannot read with certainty is None (the full probe decides then)."""

from __future__ import annotations

import pytest

from slowmo.media.mp4header import read_file_header
from slowmo.media.probe import probe

VARIANTS = {
    "faststart mp4": [],
    "index at the end (mov)": ["-c", "copy"],
    "rotated 90": ["-c", "copy"],  # -display_rotation is an input option, added below
    "10-bit HEVC": ["-c:v", "libx265", "-x265-params", "log-level=error", "-pix_fmt", "yuv420p10le", "-an"],
    "10-bit H.264": ["-c:v", "libx264", "-pix_fmt", "yuv420p10le", "-an"],
}


@pytest.fixture(scope="module")
def variants(clip, ffmpeg_media):
    made = {"faststart mp4": clip}
    made["index at the end (mov)"] = ffmpeg_media("index-at-end.mov", ["-i", str(clip), *VARIANTS["index at the end (mov)"]])
    made["rotated 90"] = ffmpeg_media("header-rotated.mp4", ["-display_rotation", "90", "-i", str(clip), "-c", "copy"])
    made["10-bit HEVC"] = ffmpeg_media("header-hevc10.mp4", ["-i", str(clip), *VARIANTS["10-bit HEVC"]])
    made["10-bit H.264"] = ffmpeg_media("header-h264-10.mp4", ["-i", str(clip), *VARIANTS["10-bit H.264"]])
    made["29.97 fps"] = ffmpeg_media("header-ntsc.mp4", ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=30000/1001",
                                                          "-frames:v", "50"])
    return made


@pytest.mark.parametrize("name", [*VARIANTS, "29.97 fps"])
def test_index_facts_agree_with_the_full_probe(variants, name):
    path = variants[name]
    header, info = read_file_header(path), probe(path)
    assert header is not None, name
    assert (header.width, header.height) == (info.width, info.height)
    assert header.frames == info.frame_count
    assert header.bit_depth == info.bit_depth
    assert header.has_audio == info.has_audio
    assert header.duration_s == pytest.approx(info.duration, abs=1 / float(info.fps))
    assert header.fps == pytest.approx(float(info.fps), rel=0.01)


def test_what_the_index_cannot_say_is_none(clip, ffmpeg_media, tmp_path):
    fragmented = ffmpeg_media("header-fragmented.mp4", ["-i", str(clip), "-c", "copy", "-movflags",
                                                        "+frag_keyframe+empty_moov"])
    matroska = ffmpeg_media("header.mkv", ["-i", str(clip), "-c", "copy"])
    audio_only = ffmpeg_media("header-audio.mp4", ["-i", str(clip), "-vn", "-c", "copy"])
    text = tmp_path / "notes.mp4"
    text.write_text("a shopping list, not a video\n" * 50)
    at_end = ffmpeg_media("header-index-at-end.mp4", ["-i", str(clip), "-c", "copy"])
    cut_short = tmp_path / "cut.mp4"
    data = at_end.read_bytes()
    cut_short.write_bytes(data[: len(data) // 2])  # the upload stopped before the index
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path in (fragmented, matroska, audio_only, text, cut_short, empty):
        assert read_file_header(path) is None, path.name


def test_only_the_box_headers_and_the_index_are_read(ffmpeg_media, make_clip):
    from slowmo.media.mp4header import read_header

    longer = make_clip("header-longer", width=320, height=180, fps=24, frames=96, audio=False)
    at_end = ffmpeg_media("header-longer-at-end.mp4", ["-i", str(longer), "-c", "copy"])
    data = at_end.read_bytes()
    reads: list[tuple[int, int]] = []

    def read(offset: int, length: int) -> bytes:
        reads.append((offset, length))
        return data[offset : offset + length]

    header = read_header(read, len(data))
    assert header is not None and header.frames == 96
    moov_size = max(length for _, length in reads)
    assert sum(length for _, length in reads) <= moov_size + 16 * (len(reads) - 1)
    assert moov_size < len(data) / 4  # the media data (mdat) was skipped, not read
