import json

import pytest

from slowmo.media.probe import probe


def test_run_with_default_flow_engine(run_cli, clip, tmp_path):
    out = tmp_path / "slow.mp4"
    code, stdout, err = run_cli("run", clip, "-o", out, "--factor", "3", "--no-progress")
    assert code == 0, err
    report = json.loads(stdout)
    assert report["engine"] == "flow" and report["output_frames"] == 70
    assert probe(out).frame_count == 70


def test_probe_prints_json(run_cli, clip):
    code, stdout, _ = run_cli("probe", clip)
    assert code == 0
    assert json.loads(stdout)["frame_count"] == 24


def test_eval_prints_one_json_line(run_cli, make_clip):
    moving = make_clip("eval", width=160, height=90, frames=9, audio=False)
    code, stdout, err = run_cli("eval", moving, "--factor", "2", "--engine", "blend")
    assert code == 0, err
    lines = stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["frames_scored"] == 4
    assert result["psnr"] == result["blend_psnr"]  # blend against blend: same frames, same score
    assert 10 < result["psnr"] < 100 and 0 < result["ssim"] <= 1


def test_missing_file(run_cli, tmp_path, assert_one_line_error):
    assert_one_line_error(run_cli("run", tmp_path / "nope.mp4", "-o", tmp_path / "o.mp4", "-k", "2"), "no such file")


def test_empty_file(run_cli, tmp_path, assert_one_line_error):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert_one_line_error(run_cli("run", empty, "-o", tmp_path / "o.mp4", "-k", "2"), "empty")


def test_non_video_file(run_cli, tmp_path, assert_one_line_error):
    text = tmp_path / "readme.txt"
    text.write_text("hello\n" * 100)
    assert_one_line_error(run_cli("run", text, "-o", tmp_path / "o.mp4", "-k", "2"), "is a text file, not a video")
    binary = tmp_path / "noise.mp4"
    binary.write_bytes(bytes(range(256)) * 64)
    assert_one_line_error(run_cli("run", binary, "-o", tmp_path / "o.mp4", "-k", "2"), "not a video")


@pytest.mark.parametrize("factor,message", [("0", "factor must be a number from 1 to 64"),
                                            ("1000", "factor must be a number from 1 to 64"),
                                            ("1", "factor 1 keeps real speed")])
def test_bad_factor(run_cli, clip, tmp_path, factor, message, assert_one_line_error):
    code, out, err = run_cli("run", clip, "-o", tmp_path / "o.mp4", "--factor", factor)
    assert_one_line_error((code, out, err), message)
    assert not (tmp_path / "o.mp4").exists()


def test_a_fractional_factor_runs_and_reports_as_json(run_cli, clip, tmp_path):
    code, out, err = run_cli("run", clip, "-o", tmp_path / "o.mp4", "--factor", "2.5", "-q")
    assert code == 0, err
    report = json.loads(out)
    assert report["factor"] == 2.5 and report["output_frames"] == int((24 - 1) * 2.5) + 1


def test_film_without_model_says_what_to_do(run_cli, clip, tmp_path, assert_one_line_error):
    code, out, err = run_cli("run", clip, "-o", tmp_path / "o.mp4", "-k", "2", "--engine", "film")
    assert_one_line_error((code, out, err), "--model")


def test_usage_errors_are_one_line(run_cli):
    code, out, err = run_cli("run")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_help_has_examples(run_cli):
    with pytest.raises(SystemExit) as exit_info:
        run_cli("run", "--help")
    assert exit_info.value.code == 0


def test_output_may_not_overwrite_input(run_cli, clip, assert_one_line_error):
    assert_one_line_error(run_cli("run", clip, "-o", clip, "-k", "2"), "overwrite the input")


def test_run_refuses_at_once_an_output_the_disk_cannot_hold(run_cli, clip, tmp_path, monkeypatch, assert_one_line_error):
    """The capacity model's local disk need against the destination's free space (the OS call is the boundary):
    one line naming what does not fit, before any frame is made, and nothing written."""
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda path: usage(10**6, 950_000, 50_000) if str(path).startswith(str(tmp_path)) else real(path))
    out = tmp_path / "slow.mp4"
    result = run_cli("run", clip, "-o", out, "--factor", "64", "--engine", "blend", "--no-progress")
    assert_one_line_error(result, "slow.mp4 needs about")
    assert f"of disk at {tmp_path}" in result[2] and "only 0 MB is free" in result[2]
    assert list(tmp_path.iterdir()) == []  # nothing written, not even the work folder


def test_unknown_fallback_mode_is_one_line(run_cli, clip, tmp_path, assert_one_line_error):
    assert_one_line_error(run_cli("run", clip, "-o", tmp_path / "o.mp4", "-k", "2", "--fallback", "sometimes"), "--fallback")
    assert not (tmp_path / "o.mp4").exists()


def test_run_reports_the_pairs_the_fallback_changed(run_cli, clip, tmp_path):
    import json

    code, out, err = run_cli("run", clip, "-o", tmp_path / "o.mp4", "-k", "2", "--fallback", "off", "--quiet")
    assert code == 0, err
    assert json.loads(out)["fallback"] == {}  # off: nothing measured, nothing changed


def test_a_warning_is_printed_once(run_cli, clip, tmp_path):
    code, out, err = run_cli("run", clip, "-o", tmp_path / "o.mp4", "-k", "2", "--engine", "blend", "--resume")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line.lower()]
    assert warnings == ["slowmo: warning: no earlier work to resume; starting from the beginning"]
    assert json.loads(out)["warnings"] == ["no earlier work to resume; starting from the beginning"]
