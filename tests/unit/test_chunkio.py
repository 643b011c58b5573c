"""Chunk format: bit-exact round trip, exact frame count, odd sizes, smaller than PNG, streaming."""

import io
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from slowmo.errors import InputError, SlowmoError
from slowmo.media import chunkio
from slowmo.media.ffmpeg import run_ffmpeg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import film_fixtures  # noqa: E402


def natural_frames(n=12, h=181, w=243):
    """Smooth moving content with a little sensor noise (PNG's and FFV1's typical input)."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for i in range(n):
        img = np.stack([
            120 + 90 * np.sin((xx + 4 * i) / 23.0),
            120 + 80 * np.cos((yy - 2 * i) / 17.0),
            (xx * 0.5 + yy * 0.3 + 6 * i) % 256,
        ], -1) + rng.normal(0, 2.0, (h, w, 3))
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.mark.parametrize("codec", sorted(chunkio.CODECS))
def test_round_trip_is_exact_with_odd_size(tmp_path, codec):
    frames = natural_frames()
    info = chunkio.write_chunk(iter(frames), tmp_path / "c.mkv", Fraction(30000, 1001), codec=codec)
    assert (info.frame_count, info.width, info.height) == (12, 243, 181)
    back = list(chunkio.read_chunk(info.path))
    assert len(back) == len(frames)
    for a, b in zip(frames, back, strict=True):
        assert psnr(a, b) >= 48
        np.testing.assert_array_equal(a, b)  # both codecs are in fact lossless
    assert info.to_dict()["fps"] == "30000/1001"


def decoded_video_frames(tmp_path, n=8, h=180, w=244):  # 4:2:0 needs even sizes
    """What the chunks really hold: frames decoded from ordinary 4:2:0 video (the extract stage's input)."""
    frames = natural_frames(n, h, w)
    src = chunkio.write_chunk(frames, tmp_path / "src.mkv", 24).path
    mp4 = str(tmp_path / "src.mp4")
    run_ffmpeg(["-loglevel", "error", "-y", "-i", src, "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", mp4])
    return list(chunkio.read_chunk(mp4))


def png_bytes(frames):
    return sum(len(cv2.imencode(".png", f[..., ::-1])[1]) for f in frames)


def test_default_codec_is_lossless_and_smaller_than_png(tmp_path):
    """The issue's bar for the default codec on real content: >= 48 dB round trip (it is exact) and < PNG."""
    frames = decoded_video_frames(tmp_path)
    png = png_bytes(frames)
    info = chunkio.write_chunk(frames, tmp_path / "c.mkv", 24)
    assert info.codec == chunkio.DEFAULT_CODEC == "utvideo"
    back = list(chunkio.read_chunk(info.path))
    assert min(psnr(a, b) for a, b in zip(frames, back, strict=True)) >= 48
    print(f"{info.codec} {info.size_bytes} B vs png {png} B ({info.size_bytes / png:.2f}x)")
    assert info.size_bytes < 0.8 * png  # measured 0.6x; FFV1 0.45x


def test_size_on_full_chroma_noise(tmp_path):
    """Independent per-channel noise at full resolution (no 4:2:0 source has it) is the hard case:
    FFV1 stays below PNG, Ut Video (the fast default) is about PNG's size. Documented, not hidden."""
    frames = natural_frames(8)
    png = png_bytes(frames)
    sizes = {c: chunkio.write_chunk(frames, tmp_path / f"{c}.mkv", 24, codec=c).size_bytes for c in ("ffv1", "utvideo")}
    print({c: f"{b / png:.2f}x png" for c, b in sizes.items()})
    assert sizes["ffv1"] < png
    assert sizes["utvideo"] < 1.15 * png  # measured 1.07x


def test_stream_chunk_feeds_a_consumer_while_encoding(tmp_path):
    frames = film_fixtures.moving_frames(20, 33, 47)
    sink = io.BytesIO()
    info = chunkio.stream_chunk(iter(frames), lambda f: sink.write(f.read()), 25, name="s3://b/k")
    assert (info.path, info.frame_count, info.size_bytes) == ("s3://b/k", 20, len(sink.getvalue()))
    (tmp_path / "s.mkv").write_bytes(sink.getvalue())
    back = list(chunkio.read_chunk(tmp_path / "s.mkv"))
    assert len(back) == 20
    for a, b in zip(frames, back, strict=True):
        np.testing.assert_array_equal(a, b)


def test_stream_chunk_never_ends_cleanly_when_frames_fail(tmp_path):
    """A consumer (multipart upload) must see an error, not EOF, so a partial chunk is never stored."""
    seen = {}

    def frames():
        yield from film_fixtures.moving_frames(5, 32, 32)
        raise InputError("engine blew up")

    def consume(f):
        try:
            while f.read(1 << 16):
                pass
            seen["end"] = "eof"
        except OSError:
            seen["end"] = "error"
            raise

    with pytest.raises(InputError, match="blew up"):
        chunkio.stream_chunk(frames(), consume, 30)
    assert seen["end"] == "error"


def test_stream_chunk_consumer_failure_does_not_hang():
    def consume(f):
        f.read(10)
        raise RuntimeError("upload refused")

    big = (np.zeros((360, 640, 3), np.uint8) for _ in range(200))  # far more than the pipes and queue hold
    with pytest.raises(RuntimeError, match="upload refused"):
        chunkio.stream_chunk(big, consume, 30)


def test_single_frame_and_many_tiny_frames(tmp_path):
    one = chunkio.write_chunk([natural_frames(1, 3, 5)[0]], tmp_path / "one.mkv", 25)
    assert one.frame_count == 1 and len(list(chunkio.read_chunk(one.path))) == 1
    many = film_fixtures.moving_frames(97, 9, 11)
    info = chunkio.write_chunk(many, tmp_path / "many.mkv", 240)
    assert chunkio.count_frames(info.path) == 97


def test_partial_reads(tmp_path):
    frames = film_fixtures.moving_frames(10, 32, 48)
    path = chunkio.write_chunk(frames, tmp_path / "c.mkv", 30).path
    part = list(chunkio.read_chunk(path, start=3, count=4))
    assert len(part) == 4
    np.testing.assert_array_equal(part[0], frames[3])
    np.testing.assert_array_equal(part[-1], frames[6])
    gen = chunkio.read_chunk(path)
    next(gen)
    gen.close()  # stopping early must not hang or raise


def test_errors(tmp_path):
    with pytest.raises(InputError, match="empty"):
        chunkio.write_chunk([], tmp_path / "e.mkv", 30)
    with pytest.raises(InputError, match="size changed"):
        chunkio.write_chunk([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 6, 3), np.uint8)], tmp_path / "s.mkv", 30)
    with pytest.raises(InputError, match="uint8"):
        chunkio.write_chunk([np.zeros((4, 4, 3), np.float32)], tmp_path / "f.mkv", 30)
    with pytest.raises(InputError, match="not found"):
        list(chunkio.read_chunk(tmp_path / "missing.mkv"))
    (tmp_path / "junk.mkv").write_bytes(b"\x00junk" * 100)
    with pytest.raises(SlowmoError):
        list(chunkio.read_chunk(tmp_path / "junk.mkv"))


def test_sixteen_bit_frames_round_trip_exactly(tmp_path):
    """16-bit frames (the path for input deeper than 8 bits) go into FFV1 gbrp16le and come back bit-exact."""
    rng = np.random.default_rng(7)
    frames = [rng.integers(0, 65536, size=(37, 51, 3), dtype=np.uint16) for _ in range(4)]
    info = chunkio.write_chunk(frames, tmp_path / "deep.mkv", 24)
    assert info.frame_count == 4 and chunkio.chunk_format(tmp_path / "deep.mkv") == (51, 37, 16)
    back = list(chunkio.read_chunk(tmp_path / "deep.mkv"))
    assert all(b.dtype == np.uint16 and np.array_equal(a, b) for a, b in zip(frames, back, strict=True))
    with pytest.raises(InputError, match="all alike"):
        chunkio.write_chunk([frames[0], frames[1].astype(np.uint8)], tmp_path / "mixed.mkv", 24)
