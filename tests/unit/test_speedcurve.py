"""The speed curve on numbers alone: specs, validation messages, the map, its inverse and its smoothness."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest

from slowmo.errors import InputError
from slowmo.timeline.speedcurve import (
    CurveSpec,
    SlowRange,
    SpeedCurve,
    Trim,
    build_curve,
    check_against_clip,
    frames_in_window,
    parse_range,
    parse_spec,
    parse_trim,
    source_window,
)

FPS = 24
FRAMES_4S = [i / FPS for i in range(4 * FPS)]  # a 4 s clip at 24 fps


def curve_for(ranges=(), ease=0.0, trim=None, factor=4, rate_scale=1.0, duration=4.0, frames=FRAMES_4S):
    spec = parse_spec(trim, list(ranges), ease)
    check_against_clip(spec, frames, duration)
    start, end = source_window(spec, duration, frames[0])
    return build_curve(spec, factor=factor, rate_scale=rate_scale, start=start, end=end)


# ------------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("text, expected", [
    ("1:3", Trim(1.0, 3.0)),
    ("1.5:", Trim(1.5, None)),
    (":2.25", Trim(None, 2.25)),
    (" .5 : 2 ", Trim(0.5, 2.0)),
])
def test_trim_syntax_either_side_may_be_empty(text, expected):
    assert parse_trim(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("1:2", SlowRange(1.0, 2.0, None)),
    ("2.0:3.5@8", SlowRange(2.0, 3.5, 8)),
    ("7:8@64", SlowRange(7.0, 8.0, 64)),
    ("0:0.5@2", SlowRange(0.0, 0.5, 2)),
])
def test_range_syntax(text, expected):
    assert parse_range(text) == expected


def test_spec_round_trips_through_its_dict_with_the_same_syntax():
    spec = parse_spec("0.5:3.5", ["2:3@8", "1:1.5"], "0.25")
    assert [str(r) for r in spec.ranges] == ["1:1.5", "2:3@8"]  # sorted by start
    assert spec.to_dict() == {"trim": "0.5:3.5", "ranges": ["1:1.5", "2:3@8"], "ease": 0.25}
    assert CurveSpec.from_dict(spec.to_dict()) == spec
    assert parse_spec(None, "1:1.5,2:3@8", 0.25).ranges == spec.ranges  # the upload convention's form


@pytest.mark.parametrize("trim, ranges, ease, says, valid", [
    (None, ["2:1"], None, "range 2:1 ends before it starts", "e.g. 1:2"),
    (None, ["1:1"], None, "range 1:1 ends before it starts", "START < END"),
    (None, ["1:3", "2:3.5"], None, "ranges 1:3 and 2:3.5 overlap", "may touch"),
    (None, ["1:2", "3:3.5"], "0.3", "ease 0.3 s is longer than half the shortest range (3:3.5, 0.5 s)",
     "use an ease of 0.25 s or less"),
    (None, ["1:2@99"], None, "the factor after @ must be above 1 and at most 64: whole from 2 to 64 or fractional", "e.g. 1:2@8"),
    (None, ["1:2@1"], None, "above 1 and at most 64", "@2.5"),
    (None, ["1:2@0.5"], None, "above 1 and at most 64", "@2.5"),
    (None, ["1:2@2.33333"], None, "finer than 1/1000", "7/3"),
    (None, ["1:2@8x"], None, "above 1 and at most 64", "@8"),
    (None, ["1-2"], None, "range '1-2' is not valid", "e.g. 2.0:3.5@8"),
    (None, ["1:2@"], None, "the factor after @", "above 1 and at most 64"),
    (None, ["a:b"], None, "is not valid", "START:END@K"),
    ("1;2", [], None, "trim '1;2' is not valid", "e.g. 1.5:4"),
    (":", [], None, "trim ':' is not valid", "either side may be empty"),
    ("3:1", [], None, "trim 3:1 ends before it starts", "START < END"),
    (None, [], "-1", "ease '-1' is not valid", "0 or more"),
    (None, [], "soon", "ease 'soon' is not valid", "e.g. 0.25"),
    (None, [], "0.25", "ease needs at least one range", "--range"),
])
def test_bad_specs_get_one_line_saying_what_is_wrong_and_what_is_valid(trim, ranges, ease, says, valid):
    with pytest.raises(InputError) as caught:
        parse_spec(trim, ranges, ease)
    message = str(caught.value)
    assert says in message and valid in message and "\n" not in message


@pytest.mark.parametrize("trim, ranges, says", [
    (None, ["3:5"], "range 3:5 lies outside the clip (0 to 4 s); give a range within 0:4"),
    ("1:3", ["0.5:1.5"], "range 0.5:1.5 lies outside the trimmed clip (1 to 3 s)"),
    ("3.99:", [], "trim 3.99: leaves 0 frame(s)"),
    ("1:1.04", [], "trim 1:1.04 leaves 1 frame(s)"),
    ("9:", [], "it must keep at least 2 frames"),
])
def test_specs_that_do_not_fit_the_clip_are_refused(trim, ranges, says):
    spec = parse_spec(trim, ranges)
    with pytest.raises(InputError, match=None) as caught:
        check_against_clip(spec, FRAMES_4S, 4.0)
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_trim_keeps_frames_by_timestamp_half_open():
    # frames at k/24; [1, 2) keeps frames 24..47; timestamps rounded by a timebase still count
    assert frames_in_window(FRAMES_4S, 1.0, 2.0) == range(24, 48)
    rounded = [round(t, 4) for t in FRAMES_4S]  # e.g. 1/24 -> 0.0417
    assert frames_in_window(rounded, 1 / 24, 3 / 24) == range(1, 3)
    check_against_clip(parse_spec("1:1.05"), FRAMES_4S, 4.0)  # frames 24 and 25 (1.0417 s): two, accepted


# ------------------------------------------------------------------------------------------- the map


def test_no_range_is_exactly_the_linear_factor_map():
    curve = curve_for(factor=4)
    for i in range(len(FRAMES_4S)):
        s = i / FPS
        assert curve.output_time(s) == pytest.approx(4 * s, abs=1e-12)
        assert curve.source_time(4 * s) == pytest.approx(s, abs=1e-12)
    # with --fps 96 on 24 fps footage at factor 4 the linear map plays at real speed
    assert curve_for(factor=4, rate_scale=24 / 96).output_time(2.0) == pytest.approx(2.0)


def test_a_trimmed_plain_map_starts_at_the_trim():
    curve = curve_for(trim="1:3", factor=8)
    assert (curve.start, curve.end) == (1.0, 3.0)
    assert curve.output_time(1.0) == 0 and curve.output_time(2.5) == pytest.approx(12.0)
    assert curve.duration == pytest.approx(16.0)


def test_range_1_to_2_at_factor_4_on_a_4s_clip_lasts_7s():
    curve = curve_for(["1:2"], factor=4)
    assert curve.duration == pytest.approx(7.0)
    assert curve.output_time(1.0) == pytest.approx(1.0)  # normal speed before the range
    assert curve.output_time(1.5) == pytest.approx(3.0)  # 4x inside it
    assert curve.output_time(2.0) == pytest.approx(5.0)
    assert curve.output_time(3.0) == pytest.approx(6.0)  # normal speed after
    assert [curve.rate(s) for s in (0.5, 1.5, 2.5)] == [1.0, 4.0, 1.0]


def test_each_range_takes_its_own_factor_or_the_default():
    curve = curve_for(["0.5:1@8", "2:3"], factor=3)
    assert curve.rate(0.75) == 8 and curve.rate(2.5) == 3 and curve.rate(1.5) == 1
    assert curve.duration == pytest.approx(0.5 * 8 + 1 * 3 + (4 - 1.5))


def test_a_range_over_the_whole_clip_equals_the_plain_factor():
    whole = curve_for(["0:4@6"], factor=2)
    plain = curve_for(factor=6)
    for k in range(0, 97):
        s = k / 24
        assert whole.output_time(s) == pytest.approx(plain.output_time(s), abs=1e-12)


def test_the_inverse_is_exact_everywhere_including_the_ramps():
    curve = curve_for(["1:2@8", "2.5:3.5@4"], ease=0.3)
    for k in range(0, 1001):
        s = 4.0 * k / 1000
        assert curve.source_time(curve.output_time(s)) == pytest.approx(s, abs=1e-9)
    for k in range(0, 1001):
        o = curve.duration * k / 1000
        assert curve.output_time(curve.source_time(o)) == pytest.approx(o, abs=1e-9)


def test_the_map_is_strictly_increasing_and_extends_past_both_ends():
    curve = curve_for(["1:2@8"], ease=0.5, trim="0.5:3")
    samples = [curve.output_time(-1 + 5 * k / 2000) for k in range(2001)]
    assert all(b > a for a, b in pairwise(samples))
    assert curve.output_time(0.5) == 0 and curve.output_time(0.25) == pytest.approx(-0.25)


def test_ease_ramps_the_rate_smoothly_c1_with_the_same_area_as_a_smoothstep():
    curve = curve_for(["1:2@4"], ease=0.25)
    # rate: 1 up to 1 s, smoothstep to 4 by 1.25 s, flat 4, back to 1 over 1.75..2 s
    assert curve.rate(1.0) == pytest.approx(1.0) and curve.rate(1.25) == pytest.approx(4.0)
    assert curve.rate(1.125) == pytest.approx(2.5)  # the ramp's midpoint: half-way in rate
    assert curve.rate(1.875) == pytest.approx(2.5)
    # the rate has no jump and its slope is 0 at both ends of each ramp (C1)
    h = 1e-6
    for edge in (1.0, 1.25, 1.75, 2.0):
        assert abs(curve.rate(edge + h) - curve.rate(edge - h)) < 1e-4
        assert abs(curve.rate(edge + h) - curve.rate(edge)) / h < 1e-3
    # each ramp adds (4 - 1) * 0.25 / 2 output seconds less than a hard step would
    hard = curve_for(["1:2@4"])
    assert hard.duration - curve.duration == pytest.approx(2 * 3 * 0.25 / 2)


def test_without_ease_the_rate_steps_at_the_range_edges():
    curve = curve_for(["1:2@4"])
    assert curve.rate(1.0 - 1e-9) == 1 and curve.rate(1.0 + 1e-9) == 4


def test_constant_segments_tile_the_curve_exactly_for_the_audio():
    curve = curve_for(["1:2@8"], ease=0.3)
    segments = curve.constant_segments(max_ramp_step=0.05)
    assert segments[0][0] == 0 and segments[-1][1] == 4
    for (s0, s1, o0, o1), following in zip(segments, segments[1:] + [None], strict=True):
        assert o0 == pytest.approx(curve.output_time(s0), abs=1e-12) and o1 == pytest.approx(curve.output_time(s1), abs=1e-12)
        assert s1 - s0 <= 0.05 + 1e-12 or curve.rate(s0 + 1e-9) == curve.rate(s1 - 1e-9)
        if following is not None:
            assert following[0] == s1 and following[2] == o1
    assert len(segments) == 1 + 6 + 1 + 6 + 1  # two ramps of 0.3 s in steps of 0.05 s


def test_the_curve_serialises():
    curve = curve_for(["1:2@8"], ease=0.25)
    again = SpeedCurve.from_dict(curve.to_dict())
    assert again.pieces == curve.pieces
    assert math.isclose(again.output_time(1.6), curve.output_time(1.6))


def test_capacity_terms_never_undercount_the_work():
    from slowmo.timeline.speedcurve import capacity_terms

    assert capacity_terms(parse_spec(), 8, 96, 24.0) == (96, 8)  # plain: unchanged
    assert capacity_terms(parse_spec("1:3"), 8, 96, 24.0) == (48, 8)  # trim: the window's frames
    # 4 s at 24 fps, 1:2 slowed 4x: 168 output frames from 96 source frames -> factor 2 counts 191 >= 168
    frames, factor = capacity_terms(parse_spec(None, ["1:2"]), 4, 96, 24.0)
    assert (frames, factor) == (96, 2) and (frames - 1) * factor + 1 >= 168
    frames, factor = capacity_terms(parse_spec(None, ["0:4@8"]), 2, 96, 24.0)
    assert (frames, factor) == (96, 8)  # a range over the whole clip is the plain factor
