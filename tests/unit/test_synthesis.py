import cv2
import numpy as np
import pytest

from slowmo.foresight.sample import render_frame
from slowmo.synthesis.engines.blend import BlendEngine
from slowmo.synthesis.frames import SynthesisReport, fill_pair, synthesize
from slowmo.timeline.scenes import PairKind, classify_pair


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


class RecordingEngine:
    """An engine that records every pair it is asked about and answers with frames no copy could equal."""

    name = "recording"

    def __init__(self):
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []

    def interpolate(self, frame0, frame1, ts):
        self.pairs.append((frame0, frame1))
        return [np.full_like(frame0, 7) for _ in ts]


def test_repeats_never_reach_the_engine():
    a = render_frame(3, 64, 48, 12.0)
    noisy = np.clip(a.astype(np.int16) + np.random.default_rng(0).integers(-2, 3, a.shape), 0, 255).astype(np.uint8)
    b = render_frame(4, 64, 48, 12.0)  # the ball has moved
    engine = RecordingEngine()
    report = SynthesisReport()
    out = list(synthesize([a, a.copy(), noisy, b], 4, engine, report))
    # the exact repeat and the repeat within codec noise are copied; only the real motion is asked for
    assert len(engine.pairs) == 1 and engine.pairs[0][1] is b
    assert report.repeated_pairs == 2 and report.interpolated_pairs == 1
    assert all(np.array_equal(f, a) for f in out[1:4] + out[5:8])  # copies of the frame before
    assert all((f == 7).all() for f in out[9:12])


def _static_background(w=96, h=64):
    rng = np.random.default_rng(5)
    return cv2.resize(rng.integers(40, 200, (h // 8, w // 8, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize("case", ["small object moves", "a few grey levels"])
def test_small_motion_is_interpolated_not_copied(case):
    a = _static_background()
    b = a.copy()
    if case == "small object moves":  # a 3x3 speck moves 2 px on a static background: 0.3% of the pixels change
        a[30:33, 40:43] = 250
        b[30:33, 42:45] = 250
    else:  # every pixel 3 grey levels brighter: just past codec noise, well short of a cut
        b = np.clip(a.astype(np.int16) + 3, 0, 255).astype(np.uint8)
    engine = RecordingEngine()
    report = SynthesisReport()
    out = list(synthesize([a, b], 4, engine, report))
    assert report.interpolated_pairs == 1 and report.repeated_pairs == 0 and report.cuts == []
    assert len(engine.pairs) == 1
    assert all((f == 7).all() for f in out[1:4])  # the slots hold what the engine made

def test_fallback_replaces_only_the_unreliable_area_of_a_risky_pair():
    from slowmo.synthesis import fallback
    from slowmo.synthesis.engines.flow import FlowEngine
    from tests.unit.test_preview import sequence_with_one_hard_pair

    frames = sequence_with_one_hard_pair()[4:7]  # pair (4, 5) is easy, pair (5, 6) has new content on the right
    engine = FlowEngine()
    auto_report, off_report = SynthesisReport(), SynthesisReport()
    auto = list(synthesize(frames, 2, engine, auto_report, first_index=4, fallback="auto"))
    off = list(synthesize(frames, 2, engine, off_report, first_index=4, fallback="off"))
    assert len(auto) == len(off) == 5
    assert np.array_equal(auto[1], off[1])  # the easy pair is untouched
    assert auto_report.fallback == {fallback.WEIGHTED: [6]} and off_report.fallback == {}
    fade = ((frames[1].astype(np.uint16) + frames[2]) // 2).astype(np.int16)
    assert np.array_equal(auto[3][:, 20:60], off[3][:, 20:60])  # the explained left part: the engine's frame
    # the new content: the cross-fade (the map is ~0 there, not exactly), far from the engine's guess
    auto_to_fade = np.abs(auto[3][:, 200:].astype(np.int16) - fade[:, 200:]).mean()
    off_to_fade = np.abs(off[3][:, 200:].astype(np.int16) - fade[:, 200:]).mean()
    assert auto_to_fade < 0.2 * off_to_fade


def test_the_midpoint_slot_of_a_cut_shows_the_frame_after_it():
    # with an even factor one slot sits at t = 0.5 exactly: from the midpoint on, the new shot is shown
    a = render_frame(0, 160, 90, 24.0, scene=0)
    b = render_frame(1, 160, 90, 24.0, scene=1)
    kind, slots = fill_pair(a, b, 2, RecordingEngine())
    assert kind is PairKind.CUT and np.array_equal(slots[0], b)


def test_an_engine_returning_the_wrong_number_of_frames_is_named():
    class ShortEngine(RecordingEngine):
        def interpolate(self, frame0, frame1, ts):
            return super().interpolate(frame0, frame1, ts)[:-1]

    a = render_frame(0, 64, 48, 12.0)
    with pytest.raises(RuntimeError, match="engine recording returned 2 frames for 3 slots"):
        fill_pair(a, render_frame(1, 64, 48, 12.0), 4, ShortEngine())


def test_a_fractional_plan_keeps_the_frames_the_grid_meets_and_blends_the_rest_at_their_t():
    from fractions import Fraction

    from slowmo.timeline.plan import make_plan
    from slowmo.timeline.timing import FrameTimes

    frames = moving_frames(7)
    plan = make_plan(FrameTimes(tuple(Fraction(i, 12) for i in range(7)), Fraction(12), True), Fraction(5, 2))
    report = SynthesisReport()
    out = list(synthesize(frames, plan.frames(), BlendEngine(), report))
    assert len(out) == plan.output_count == 16 == report.output_frames  # 6 x 2.5 + 1
    for m, f in enumerate(plan.frames()):
        if f.is_source:
            assert np.array_equal(out[m], frames[f.index]) and m == f.index * 5 // 2
        else:
            expected = (1 - f.t) * frames[f.index].astype(np.float64) + f.t * frames[f.index + 1].astype(np.float64)
            assert np.abs(out[m] - expected).max() <= 0.5 + 1e-9
    assert [f.index for f in plan.frames() if f.is_source] == [0, 2, 4, 6]


def test_a_fractional_factor_without_a_plan_is_refused():
    from fractions import Fraction

    with pytest.raises(ValueError, match="not a whole number"):
        list(synthesize(moving_frames(3), Fraction(5, 2), BlendEngine()))
