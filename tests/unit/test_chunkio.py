"""Chunk format: bit-exact round trip, exact frame count, odd sizes, smaller than PNG, streaming."""

import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from slowmo import chunkio
from slowmo.errors import InputError, SlowmoError

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


def test_smaller_than_png(tmp_path):
    frames = natural_frames(8)
    png = sum(len(cv2.imencode(".png", f[..., ::-1])[1]) for f in frames)
    info = chunkio.write_chunk(frames, tmp_path / "c.mkv", 24)
    print(f"ffv1 {info.size_bytes} B vs png {png} B ({info.size_bytes / png:.2f}x)")
    assert info.size_bytes < png


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
