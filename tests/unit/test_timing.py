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


@pytest.mark.parametrize("n,k,expected", [(48, Fraction(5, 2), 118), (49, Fraction(5, 2), 121), (72, Fraction(5, 2), 178),
                                          (10, Fraction(7, 3), 22), (48, 1, 48)])
def test_output_frame_count_of_a_fractional_factor_is_the_whole_frames_of_its_intervals(n, k, expected):
    assert output_frame_count(n, k) == expected


@pytest.mark.parametrize("k", [Fraction(5, 2), 2.5])
def test_slot_times_and_source_position_refuse_a_factor_that_is_not_whole(k):
    with pytest.raises(ValueError, match="not a whole number.*plan"):
        slot_times(k)
    with pytest.raises(ValueError, match="not a whole number"):
        source_position(5, k)


def test_factors_print_and_serialise_as_written():
    from slowmo.timeline.timing import Factor, factor_json, factor_text, factor_value, parse_slowdown

    assert [factor_text(v) for v in (8, Fraction(5, 2), Fraction(5, 4), Fraction(7, 3))] == ["8", "2.5", "1.25", "7/3"]
    assert [factor_json(v) for v in (8, Fraction(5, 2), Fraction(7, 3))] == [8, 2.5, "7/3"]
    assert type(factor_value(Fraction(8))) is int and isinstance(factor_value(Fraction(5, 2)), Factor)
    assert str(parse_slowdown("5/2")) == "2.5" and f"x{parse_slowdown('2.5')}" == "x2.5"
    assert parse_slowdown("2.5") * 2 == 5 and type(parse_slowdown("2.5") * 2) is Fraction  # plain arithmetic
    for bad, why in (("abc", "not a number"), ("0.5", "out of range"), ("65", "out of range"), ("2.0001", "too fine")):
        with pytest.raises(ValueError, match=why):
            parse_slowdown(bad, low=1)


def test_a_fractional_factor_survives_pickling_for_the_workers():
    import pickle

    from slowmo.timeline.timing import parse_slowdown

    for value in ("2.5", "7/3"):
        factor = parse_slowdown(value)
        again = pickle.loads(pickle.dumps(factor))  # noqa: S301 - our own object
        assert again == factor and type(again) is type(factor) and str(again) == str(factor)
