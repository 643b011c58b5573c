import numpy as np
import pytest

from slowmo.engines.blend import BlendEngine
from slowmo.sample import render_frame
from slowmo.scenes import PairKind, classify_pair
from slowmo.synthesis import SynthesisReport, fill_pair, synthesize


def moving_frames(n, w=96, h=64):
    return [render_frame(i, w, h, fps=12.0) for i in range(n)]


@pytest.mark.parametrize("k", [2, 3, 5, 8, 16])
def test_frame_count_and_source_frames_in_place(k):
    frames = moving_frames(6)
    report = SynthesisReport()
    out = list(synthesize(frames, k, BlendEngine(), report))
    assert len(out) == (6 - 1) * k + 1 == report.output_frames
    for i, src in enumerate(frames):
        assert np.array_equal(out[i * k], src), f"output {i * k} is not source frame {i}"
    assert report.source_frames == 6 and report.interpolated_pairs == 5


def test_slots_are_at_j_over_k():
    a = render_frame(0, 96, 64, 12.0)
    b = np.clip(a.astype(np.int16) + 12, 0, 255).astype(np.uint8)  # a gentle brightness ramp, not a cut
    kind, slots = fill_pair(a, b, 4, BlendEngine())
    assert kind is PairKind.MOTION
    for t, slot in zip([0.25, 0.5, 0.75], slots, strict=True):
        expected = (1 - t) * a.astype(np.float64) + t * b.astype(np.float64)
        assert np.abs(slot - expected).max() <= 0.5 + 1e-9


def test_repeats_are_copied_not_interpolated():
    a = render_frame(3, 64, 48, 12.0)
    report = SynthesisReport()
    out = list(synthesize([a, a.copy(), a.copy()], 4, BlendEngine(), report))
    assert report.repeated_pairs == 2 and report.interpolated_pairs == 0
    assert all(np.array_equal(f, a) for f in out)


def test_never_synthesises_across_a_cut():
    a = render_frame(0, 160, 90, 24.0, scene=0)
    b = render_frame(1, 160, 90, 24.0, scene=1)
    assert classify_pair(a, b) is PairKind.CUT
    report = SynthesisReport()
    out = list(synthesize([a, b], 5, BlendEngine(), report))
    assert report.cuts == [1]
    # t = 0.2, 0.4 show the frame before the cut; t = 0.6, 0.8 the frame after it
    assert [np.array_equal(f, a) for f in out[1:5]] == [True, True, False, False]
    assert [np.array_equal(f, b) for f in out[1:5]] == [False, False, True, True]


def test_large_motion_is_not_a_cut():
    frames = [render_frame(i, 192, 108, fps=4.0) for i in range(4)]  # ball moves ~1/7 of the width per frame
    assert all(classify_pair(x, y) is PairKind.MOTION for x, y in zip(frames, frames[1:], strict=False))


def test_cut_indices_are_global_with_first_index():
    a = render_frame(0, 160, 90, 24.0, scene=0)
    b = render_frame(1, 160, 90, 24.0, scene=1)
    report = SynthesisReport()
    list(synthesize([a, b], 2, BlendEngine(), report, first_index=40))
    assert report.cuts == [41]
