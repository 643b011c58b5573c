"""Preview: the scan finds the risky pair, the window covers it, the CLI renders exactly that excerpt."""

import json

import numpy as np

from slowmo.foresight.preview import PairScore, hardest_window, scan, summarise
from slowmo.synthesis import fallback
from tests.unit.test_confidence import shifted, texture


def score(index, residual, motion=0.0, kind="motion"):
    return PairScore(index, index / 24, kind, 0.0, residual, motion, fallback.KEEP)


def test_window_with_the_most_residual_wins():
    scores = [score(i, r) for i, r in enumerate([0.0, 1.0, 0.0, 5.0, 4.0, 0.0, 2.0])]
    assert hardest_window(scores, 2) == 3  # pairs 3 and 4
    assert hardest_window(scores, 1) == 3
    assert hardest_window(scores, 100) == 0  # longer than the clip: the whole clip


def test_equal_residual_goes_to_more_motion_then_earliest():
    scores = [score(i, 0.0, m) for i, m in enumerate([0.01, 0.02, 0.05, 0.01])]
    assert hardest_window(scores, 1) == 2
    flat = [score(i, 0.0, 0.0) for i in range(4)]
    assert hardest_window(flat, 2) == 0


def sequence_with_one_hard_pair():
    """Eight frames panning smoothly; between frames 5 and 6 the right 5/8 turn into new content."""
    base = texture(seed=7, w=360)
    frames = [np.ascontiguousarray(shifted(base, 2 * i, 0)[:, :320]) for i in range(8)]
    frames[6] = frames[6].copy()
    frames[6][:, 120:] = texture(seed=8)[:, 120:]
    frames[7] = frames[6].copy()
    return frames


def test_scan_scores_every_pair_and_finds_the_hard_one():
    scores = scan(sequence_with_one_hard_pair(), fps=24.0)
    assert [s.index for s in scores] == list(range(7))
    assert scores[5].kind == "motion"
    assert max(scores, key=lambda s: s.risk).index == 5
    assert max(scores, key=lambda s: s.residual).index == 5
    assert scores[5].kind == "motion" and fallback.RISK_FLOOR <= scores[5].risk < fallback.RISK_FULL
    assert all(s.risk < 0.1 for s in scores if s.index not in (5, 6))
    assert scores[6].kind == "repeat" and scores[6].risk == 0.0
    risk, counts, hardest = summarise(scores)
    assert hardest[0]["pair"] == 5
    assert counts["repeat"] == 1 and counts["motion"] == 6
    assert risk["max"] == scores[5].risk


def test_preview_cli_renders_the_window_side_by_side(clip, run_cli, tmp_path):
    from slowmo.media.probe import probe

    out = tmp_path / "preview.mp4"
    code, stdout, stderr = run_cli("preview", clip, "-o", out, "-k", "4", "--pairs", "5", "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    window = report["window"]
    assert window["last_pair"] - window["first_pair"] + 1 == 5
    assert report["pairs_scanned"] == 23  # 24 frames
    assert report["fallback_pairs"]["cut"] == 1
    info = probe(out)
    assert (info.width, info.height) == (640, 180)
    assert info.frame_count == 5 * 4 + 1
    assert list(tmp_path.iterdir()) == [out]  # nothing else left behind


def test_preview_refuses_a_non_video_output(clip, run_cli, tmp_path):
    code, _, stderr = run_cli("preview", clip, "-o", tmp_path / "p.txt")
    assert code != 0
    assert len(stderr.strip().splitlines()) == 1 and "preview must be a video file" in stderr
    assert not (tmp_path / "p.txt").exists()
