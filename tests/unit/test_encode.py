from fractions import Fraction

import numpy as np
import pytest

from slowmo.foresight.sample import render_frame
from slowmo.media.decode import read_frames
from slowmo.media.encode import PngSequenceWriter, VideoWriter, even_size
from slowmo.media.probe import probe


def write(path, frames, fps, **options):
    h, w = frames[0].shape[:2]
    with VideoWriter(path, w, h, fps, **options) as writer:
        for f in frames:
            writer.write(f)
    return probe(path)


def test_high_frame_rate_container_reports_480(tmp_path):
    frames = [render_frame(i, 64, 48, 480.0) for i in range(48)]
    info = write(tmp_path / "hfr.mp4", frames, Fraction(480))
    assert info.fps == 480
    assert info.frame_count == 48
    assert info.duration == pytest.approx(0.1, abs=1e-6)


def test_ntsc_times_sixteen(tmp_path):
    fps = Fraction(30000, 1001) * 16
    info = write(tmp_path / "ntsc16.mp4", [render_frame(i, 64, 48, 480.0) for i in range(32)], fps)
    assert info.fps == fps


@pytest.mark.parametrize("codec,name", [("h264", "h264"), ("h265", "hevc")])
def test_odd_sizes_are_padded_not_scaled(tmp_path, codec, name):
    frames = [render_frame(i, 65, 37, 24.0) for i in range(4)]
    info = write(tmp_path / f"odd-{codec}.mp4", frames, Fraction(24), codec=codec, crf=0)
    assert info.codec == name
    assert (info.width, info.height) == even_size(65, 37) == (66, 38)
    decoded = list(read_frames(info))
    assert len(decoded) == 4
    # The picture itself is unscaled: the original area matches closely, the extra column repeats the edge.
    import cv2

    error = np.abs(decoded[0][:37, :65].astype(int) - frames[0]).mean()
    stretched = cv2.resize(frames[0], (66, 38), interpolation=cv2.INTER_LINEAR)[:37, :65]
    if_stretched = np.abs(decoded[0][:37, :65].astype(int) - stretched).mean()
    assert error < 6 and error < if_stretched * 0.75  # 4:2:0 chroma costs a little; a stretch costs more
    assert np.abs(decoded[0][:, 65].astype(int) - decoded[0][:, 64]).mean() < 3


def test_png_sequence_is_lossless(tmp_path):
    frames = [render_frame(i, 33, 21, 24.0) for i in range(3)]
    with PngSequenceWriter(tmp_path / "seq", 33, 21) as writer:
        for f in frames:
            writer.write(f)
    import cv2

    files = sorted((tmp_path / "seq").glob("frame_*.png"))
    assert [p.name for p in files] == ["frame_000000.png", "frame_000001.png", "frame_000002.png"]
    for f, p in zip(frames, files, strict=True):
        assert np.array_equal(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB), f)


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "broken.mp4"
    with pytest.raises(ValueError), VideoWriter(target, 64, 48, Fraction(24)) as writer:
        writer.write(render_frame(0, 64, 48, 24.0))
        writer.write(np.zeros((10, 10, 3), np.uint8))
    assert not target.exists()
