"""Interlaced input (issue 21, case 5): detected from the stream or by idet, deinterlaced by bwdif at field
rate (each field its own moment) or frame rate, and the result measured for combing with idet.

The 50i clips are woven from a 50p lavfi source (tinterlace=interleave_top: field k of the clip is frame k
of the 50p master), so the field-rate result can be compared with the moments it should hold."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from slowmo.media.decode import read_frames
from slowmo.media.encode import VideoWriter
from slowmo.media.fidelity import encode_options
from slowmo.media.interlace import (
    combed_fraction,
    deinterlace_filter,
    deinterlaced_info,
    detect_field_order,
    field_times,
)
from slowmo.media.probe import probe
from slowmo.synthesis.engines import create_engine
from slowmo.synthesis.frames import synthesize

MASTER = "testsrc2=size=720x576:rate=50:duration=0.6"  # the shared master_50p fixture's source (conftest.py)


@pytest.fixture(scope="module")
def untagged_50i(ffmpeg_media):
    # FFV1 in AVI carries no field order: only the picture says it is interlaced
    return ffmpeg_media("untagged-50i.avi", ["-f", "lavfi", "-i", MASTER, "-vf", "tinterlace=interleave_top",
                                             "-c:v", "ffv1"])


@pytest.fixture(scope="module")
def untagged_50p(ffmpeg_media):
    return ffmpeg_media("untagged-50p.avi", ["-f", "lavfi", "-i", MASTER, "-c:v", "ffv1"])


def _write(path, frames, fps, info):
    h, w = frames[0].shape[:2]
    with VideoWriter(path, w, h, fps, **encode_options(info)) as writer:
        for frame in frames:
            writer.write(frame)
    return probe(path)


def test_field_order_from_the_stream_and_from_the_picture(tff_50i, untagged_50i, untagged_50p, master_50p,
                                                         ffmpeg_media):
    tagged, untagged, progressive = probe(tff_50i), probe(untagged_50i), probe(master_50p)
    assert tagged.field_order == "tff" and detect_field_order(tagged, measure=False) == "tff"
    assert untagged.field_order is None
    assert detect_field_order(untagged, measure=False) is None
    assert detect_field_order(untagged) == "tff"  # combed, and the motion runs top field first
    assert probe(untagged_50p).field_order is None and detect_field_order(probe(untagged_50p)) is None
    bff = probe(ffmpeg_media("untagged-50i-bff.avi", ["-f", "lavfi", "-i", MASTER, "-vf", "tinterlace=interleave_bottom",
                                                      "-c:v", "ffv1"]))
    assert detect_field_order(bff) == "bff"
    assert detect_field_order(progressive) is None
    assert combed_fraction(str(tff_50i)) > 0.8 and combed_fraction(str(master_50p)) < 0.1


def test_field_rate_deinterlace_gives_every_field_as_a_frame(tff_50i, master_50p, tmp_path):
    info = probe(tff_50i)
    fields = deinterlaced_info(info, "field")
    assert (fields.fps, fields.frame_count, fields.field_order) == (50, 2 * info.frame_count, "progressive")
    assert fields.frame_times.times[:4] == (0, Fraction(1, 50), Fraction(2, 50), Fraction(3, 50))
    assert fields.deinterlace == "bwdif=mode=send_field:parity=tff:deint=all"
    frames = list(read_frames(fields))
    assert len(frames) == fields.frame_count == 30
    master = list(read_frames(probe(master_50p)))
    woven = list(read_frames(info))
    # field k is the master's moment k: closer to it than to the neighbouring moments, and than the woven frame
    for k in (5, 6, 11, 20, 21):
        here = np.abs(frames[k].astype(int) - master[k]).mean()
        assert here < np.abs(frames[k].astype(int) - master[k + 1]).mean()
        assert here < np.abs(frames[k].astype(int) - master[k - 1]).mean()
        assert here < np.abs(woven[k // 2].astype(int) - master[k]).mean()
    out = _write(tmp_path / "fields.mp4", frames, fields.fps, fields)
    assert out.field_order == "progressive" and out.frame_count == 30
    assert combed_fraction(out.path) < 0.1


def test_a_50i_clip_slowed_4x_at_field_rate_has_no_combing(tff_50i, tmp_path):
    info = deinterlaced_info(probe(tff_50i), "field")
    frames = list(synthesize(read_frames(info), 4, create_engine("blend")))
    assert len(frames) == (info.frame_count - 1) * 4 + 1
    out = _write(tmp_path / "slow.mp4", frames, info.fps, info)
    assert out.fps == 50 and combed_fraction(out.path, frames=len(frames)) < 0.1
    # without deinterlacing the same run is combed throughout
    combed = list(synthesize(read_frames(probe(tff_50i)), 4, create_engine("blend")))
    raw = _write(tmp_path / "raw.mp4", combed, Fraction(25), info)
    assert combed_fraction(raw.path, frames=len(combed)) > 0.5


def test_frame_rate_mode_and_off(tff_50i, tmp_path):
    info = probe(tff_50i)
    framewise = deinterlaced_info(info, "frame")
    assert (framewise.fps, framewise.frame_count) == (info.fps, info.frame_count)
    frames = list(read_frames(framewise))
    assert len(frames) == info.frame_count
    assert combed_fraction(_write(tmp_path / "frames.mp4", frames, info.fps, info).path) < 0.1
    assert deinterlaced_info(info, "off") is info


def test_filter_and_field_times_rules():
    assert deinterlace_filter("bff", "frame") == "bwdif=mode=send_frame:parity=bff:deint=all"
    with pytest.raises(ValueError):
        deinterlace_filter("progressive")
    from slowmo.timeline.timing import FrameTimes

    vfr = FrameTimes((Fraction(0), Fraction(1, 25), Fraction(3, 25)), Fraction(25), False)
    assert field_times(vfr).times == (0, Fraction(1, 50), Fraction(1, 25), Fraction(2, 25), Fraction(3, 25),
                                      Fraction(3, 25) + Fraction(1, 50))
