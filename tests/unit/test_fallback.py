"""The fallback choice: which result a pair publishes, and what each result is, pixel by pixel."""

import numpy as np
import pytest

from slowmo.synthesis import fallback
from slowmo.synthesis.confidence import PairRisk


def risk_of(value, reliability=None):
    rel = reliability if reliability is not None else np.ones((9, 16), np.float32)
    return PairRisk(risk=value, inconsistency=value, residual=0.0, motion=0.0, reliability=rel)


@pytest.mark.parametrize(
    ("value", "mode", "action"),
    [
        (0.0, "auto", fallback.KEEP),
        (fallback.RISK_FLOOR - 1e-6, "auto", fallback.KEEP),
        (fallback.RISK_FLOOR, "auto", fallback.WEIGHTED),
        (fallback.RISK_FULL - 1e-6, "auto", fallback.WEIGHTED),
        (fallback.RISK_FULL, "auto", fallback.CROSSFADE),
        (1.0, "auto", fallback.CROSSFADE),
        (1.0, "off", fallback.KEEP),
    ],
)
def test_choice_follows_the_risk(value, mode, action):
    assert fallback.choose(risk_of(value), mode).action == action


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="auto, off"):
        fallback.choose(risk_of(0.0), "sometimes")


def frames():
    a = np.full((36, 64, 3), 40, np.uint8)
    b = np.full((36, 64, 3), 200, np.uint8)
    synth = [np.full((36, 64, 3), 123, np.uint8), np.full((36, 64, 3), 77, np.uint8)]
    return a, b, [0.25, 0.75], synth


def test_a_sure_pair_publishes_the_engine_frames_untouched():
    a, b, ts, synth = frames()
    out, choice = fallback.apply_fallback(a, b, ts, synth, risk_of(0.0))
    assert choice.action == fallback.KEEP
    assert all(o is s for o, s in zip(out, synth, strict=True))


def test_a_hopeless_pair_publishes_the_cross_fade():
    a, b, ts, synth = frames()
    out, choice = fallback.apply_fallback(a, b, ts, synth, risk_of(0.9))
    assert choice.action == fallback.CROSSFADE
    assert out[0].min() == out[0].max() == 80  # 0.75 * 40 + 0.25 * 200
    assert out[1].min() == out[1].max() == 160  # 0.25 * 40 + 0.75 * 200


def test_weighted_keeps_the_reliable_area_and_fades_the_rest():
    a, b, ts, synth = frames()
    rel = np.zeros((9, 16), np.float32)
    rel[:, :8] = 1.0  # left half reliable
    out, choice = fallback.apply_fallback(a, b, ts, synth, risk_of((fallback.RISK_FLOOR + fallback.RISK_FULL) / 2, rel))
    assert choice.action == fallback.WEIGHTED
    assert np.all(out[0][:, :24] == 123)  # far left: the engine's frame
    assert np.all(out[0][:, 40:] == 80)  # far right: the cross-fade at t = 0.25
    assert np.all(out[1][:, 40:] == 160)
    middle = out[0][:, 28:36].astype(int)
    assert middle.min() >= 80 and middle.max() <= 123  # in between: a mix of the two


def test_off_never_changes_a_frame():
    a, b, ts, synth = frames()
    out, choice = fallback.apply_fallback(a, b, ts, synth, risk_of(1.0), "off")
    assert choice.action == fallback.KEEP
    assert all(o is s for o, s in zip(out, synth, strict=True))
