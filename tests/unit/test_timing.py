from fractions import Fraction

import pytest

from slowmo.timeline.timing import make_timeline, output_frame_count, slot_times, source_position


@pytest.mark.parametrize("n,k,expected", [(2, 2, 3), (24, 8, 185), (10, 3, 28), (5, 64, 257), (1, 4, 1), (0, 4, 0)])
def test_output_frame_count(n, k, expected):
    assert output_frame_count(n, k) == expected


@pytest.mark.parametrize("k", [2, 3, 5, 8, 64])
def test_slot_times_are_j_over_k(k):
    ts = slot_times(k)
    assert len(ts) == k - 1
    assert ts == [j / k for j in range(1, k)]
    assert all(0 < t < 1 for t in ts)


def test_source_position_maps_every_kth_output_to_a_source_frame():
    assert source_position(0, 5) == (0, 0)
    assert source_position(10, 5) == (2, 0)
    assert source_position(13, 5) == (2, 3)


def test_timeline_default_plays_k_times_longer():
    tl = make_timeline(31, Fraction(30), 8)
    assert tl.output_frames == 241
    assert tl.output_fps == 30
    assert tl.slowdown == 8
    assert tl.output_duration == pytest.approx(241 / 30)


def test_timeline_with_output_fps_changes_slowdown():
    tl = make_timeline(31, Fraction(30000, 1001), 8, Fraction(240))
    assert tl.slowdown == Fraction(8) * Fraction(30000, 1001) / 240
    assert tl.output_duration == pytest.approx(241 / 240)
