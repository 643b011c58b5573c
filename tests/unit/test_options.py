from fractions import Fraction

import pytest

from slowmo.errors import InputError
from slowmo.foresight.limits import Limits
from slowmo.options import JobOptions, parse_factor, parse_fps


@pytest.mark.parametrize("value", ["2", 2, "64", 8, "8.0", "1", 1])
def test_valid_whole_factors_are_ints(value):
    factor = parse_factor(value)
    assert factor == int(float(value)) and type(factor) is int


@pytest.mark.parametrize("value, exact, text", [("2.5", Fraction(5, 2), "2.5"), (2.5, Fraction(5, 2), "2.5"),
                                                ("5/2", Fraction(5, 2), "2.5"), ("1.25", Fraction(5, 4), "1.25"),
                                                ("7/3", Fraction(7, 3), "7/3"), ("63.5", Fraction(127, 2), "63.5")])
def test_fractional_factors_are_exact_and_print_as_written(value, exact, text):
    factor = parse_factor(value)
    assert factor == exact and isinstance(factor, Fraction) and str(factor) == text


@pytest.mark.parametrize("value", [0, 0.5, 65, 64.5, 1000, "abc", "", True, "-4", "8x"])
def test_invalid_factors_are_refused_with_a_message(value):
    with pytest.raises(InputError, match="factor must be a number from 1 to 64, such as 8, 2.5 or 5/2"):
        parse_factor(value)


def test_a_factor_finer_than_a_thousandth_is_refused_with_the_fraction_to_write():
    with pytest.raises(InputError, match="factor 2.33333 is finer than 1/1000.*such as 7/3"):
        parse_factor("2.33333")


def test_fps_parsing():
    assert parse_fps("30000/1001") == Fraction(30000, 1001)
    assert parse_fps(240) == 240
    for bad in ("0", "-5", "x", "5000"):
        with pytest.raises(InputError, match="fps"):
            parse_fps(bad)


def test_from_dict_refuses_unknown_fields():
    with pytest.raises(InputError, match="unknown option.*colour"):
        JobOptions.from_dict({"factor": 4, "colour": "red"})


def test_from_dict_applies_defaults_then_body():
    opts = JobOptions.from_dict({"factor": 4}, defaults={"factor": 8, "engine": "blend"})
    assert (opts.factor, opts.engine, opts.audio) == (4, "blend", "stretch")
    assert JobOptions.from_dict(opts.to_dict()) == opts


@pytest.mark.parametrize("field,value", [("engine", "magic"), ("audio", "loud"), ("codec", "vp9"), ("crf", 99), ("crf", "18"), ("preset", "warp"), ("compare", "yes")])
def test_bad_values(field, value):
    with pytest.raises(InputError, match=field):
        JobOptions(**{field: value})


def test_limits_from_env_and_checks():
    limits = Limits.from_env({"SLOWMO_MAX_WIDTH": "1920", "SLOWMO_MAX_HEIGHT": "1080", "SLOWMO_MAX_DURATION_S": "60"})
    limits.check_video(1080, 1920, 10, 100)  # portrait 1080p is within a 1920x1080 limit
    with pytest.raises(InputError, match="3840x2160 is over the 1920x1080 resolution limit"):
        limits.check_video(3840, 2160, 10, 100)
    with pytest.raises(InputError, match="duration limit"):
        limits.check_video(640, 360, 61, 100)
    with pytest.raises(InputError, match="SLOWMO_MAX_WIDTH must be a number"):
        Limits.from_env({"SLOWMO_MAX_WIDTH": "big"})


def test_fallback_defaults_to_auto_and_refuses_other_values():
    assert JobOptions().fallback == "auto"
    assert JobOptions(fallback="off").to_dict()["fallback"] == "off"
    with pytest.raises(InputError, match="fallback must be one of auto, off"):
        JobOptions(fallback="sometimes")


def test_trim_ranges_and_ease_are_validated_and_normalised():
    opts = JobOptions(factor=4, trim=" 0.5 : 3.5", ranges=["2:3@8", "1:1.5"], ease="0.25")
    assert (opts.trim, opts.ranges, opts.ease) == ("0.5:3.5", ("1:1.5", "2:3@8"), 0.25)
    assert opts.curve_spec.ranges[1].factor == 8
    assert JobOptions(factor=4, ranges="1:1.5,2:3@8").ranges == opts.ranges  # the upload convention's form
    again = JobOptions.from_dict(opts.to_dict())
    assert again == opts


def test_plain_options_serialise_as_before():
    # a plain job's options must not grow new keys: the cloud's job id is a hash of them
    assert not {"trim", "ranges", "ease"} & {k for k, v in JobOptions(factor=4).to_dict().items() if v is not None}


@pytest.mark.parametrize("fields, says", [
    ({"ranges": ["2:1"]}, "ends before it starts"),
    ({"ranges": ["1:3", "2:4"]}, "overlap"),
    ({"ranges": ["1:2@65"]}, "above 1 and at most 64: whole from 2 to 64"),
    ({"ranges": ["1:2"], "ease": 0.6}, "longer than half the shortest range"),
    ({"trim": "x"}, "trim 'x' is not valid"),
    ({"ranges": 5}, "give a list of START:END@K strings"),
])
def test_bad_curve_options_are_refused_with_one_line(fields, says):
    with pytest.raises(InputError, match=says):
        JobOptions.from_dict({"factor": 4, **fields})
