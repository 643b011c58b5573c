"""`slowmo estimate`: exact counts from the plan, a calibration on the input, the cloud's figures; nothing written."""

from __future__ import annotations

import json
import os

import pytest

from slowmo.foresight.estimate import RUN_START_S, Calibration, PlanCounts, free_cores, local_seconds


@pytest.fixture(scope="module")
def small_clip(make_clip):
    return make_clip("estimate", width=160, height=90, fps=24, frames=36, audio=True, cut_at=None)


@pytest.mark.parametrize("extra", [[], ["--range", "0.5:1@8", "--ease", "0.1"], ["--trim", "0.25:1.2"]])
def test_estimate_counts_exactly_what_run_makes_and_writes_nothing(small_clip, tmp_path, run_cli, monkeypatch, extra):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("estimate", small_clip, "--factor", "4", "--engine", "blend", "--json", *extra)
    assert code == 0, err
    estimate = json.loads(out)
    assert list(tmp_path.iterdir()) == []  # nothing written
    code, out, err = run_cli("run", small_clip, "-o", tmp_path / "out.mp4", "--factor", "4", "--engine", "blend",
                             "--no-progress", *extra)
    assert code == 0, err
    report = json.loads(out)
    assert estimate["output_frames"] == report["output_frames"]
    assert estimate["output_duration_s"] == pytest.approx(report["output_duration_s"])
    assert estimate["output_fps"] == report["output_fps"]
    assert estimate["synthesised_frames"] < estimate["output_frames"]
    assert estimate["local_seconds"] > 0 and estimate["output_size_bytes"] > 0 and estimate["fits"] is True
    calibration = estimate["calibration"]
    assert calibration["pairs"] >= 3 and calibration["encode_s_per_frame"] > 0 and calibration["bytes_per_frame"] > 0


def test_estimate_with_cloud_has_gpu_seconds_wall_clock_cost_and_fit(small_clip, run_cli):
    code, out, err = run_cli("estimate", small_clip, "--factor", "8", "--range", "0.5:1", "--cloud", "--json")
    assert code == 0, err
    cloud = json.loads(out)["cloud"]
    assert cloud["gpuSeconds"] > 0 and cloud["wallClockSeconds"] > 0 and cloud["costUsd"] >= 0
    assert cloud["fits"] is True and cloud["modelSourceFrames"] == 36
    # 1 s of 36 frames slowed 8x over 0.5 s: fewer output frames than x8 everywhere, never undercounted
    assert 2 <= cloud["modelFactor"] < 8


def test_human_form_names_each_figure(small_clip, run_cli):
    code, out, err = run_cli("estimate", small_clip, "--factor", "4", "--engine", "blend")
    assert code == 0, err
    assert "output: 141 frames" in out and "time on this machine with --jobs 1: about" in out and "fits the limits" in out


def test_over_a_limit_is_reported_not_refused(small_clip, run_cli, monkeypatch):
    monkeypatch.setenv("SLOWMO_MAX_OUTPUT_FRAMES", "100")
    code, out, err = run_cli("estimate", small_clip, "--factor", "4", "--engine", "blend", "--json")
    assert code == 0, err
    estimate = json.loads(out)
    assert estimate["fits"] is False and "over the 100 frame limit" in estimate["limit_exceeded"]


def test_bad_specs_get_one_line(small_clip, run_cli, assert_one_line_error):
    assert_one_line_error(run_cli("estimate", small_clip, "--factor", "4", "--range", "1:9"), "lies outside the clip")


def test_local_time_adds_the_stages_and_scales_by_their_overlap():
    cal = Calibration(pairs=3, decode_s_per_frame=0.01, engine_s_per_pair=0.1, engine_s_per_frame=0.02,
                      classify_s_per_frame=0.005, encode_s_per_frame=0.03, bytes_per_frame=1000, startup_s=0.5,
                      measured_in_s=1.0, overlap=0.8, compare_s_per_frame=0.05)
    counts = PlanCounts(source_frames=10, pairs_synthesised=9, synthesised_frames=27, output_frames=37)
    stages = 10 * (0.01 + 0.005) + 9 * 0.1 + 27 * 0.02 + 37 * 0.03
    assert local_seconds(counts, cal, compare=False) == pytest.approx(RUN_START_S + 0.5 + 0.8 * stages)
    assert local_seconds(counts, cal, compare=True) == pytest.approx(RUN_START_S + 0.5 + 0.8 * (stages + 37 * 0.05))


def test_estimate_calibrates_a_k64_job_quickly_and_models_jobs_and_png(run_cli, clip):
    code, out, err = run_cli("estimate", clip, "-k", "64", "--json")
    assert code == 0, err
    video = json.loads(out)
    assert video["calibration"]["measured_in_s"] <= 10 and video["output_kind"] == "video" and video["jobs"] >= 1
    code, out, err = run_cli("estimate", clip, "-k", "64", "-o", "frames/", "--jobs", "2", "--json")
    assert code == 0, err
    png = json.loads(out)
    assert png["output_kind"] == "png" and png["jobs"] == 2
    assert png["output_size_bytes"] > 5 * video["output_size_bytes"]  # PNG frames are far larger than H.264


def test_run_says_its_plan_before_any_work(run_cli, clip, tmp_path):
    """Without -v and with stderr not a terminal (a log, a pipe): the plan is the first line; -q leaves it out."""
    code, out, err = run_cli("run", clip, "-o", tmp_path / "o.mp4", "-k", "2", "--engine", "blend")
    assert code == 0, err
    first = err.splitlines()[0]
    assert first.startswith("slowmo: plan: 47 output frames (24 fps video), 1.96 s, about ") and "roughly" in first
    code, out, err = run_cli("run", clip, "-o", tmp_path / "q.mp4", "-k", "2", "--engine", "blend", "-q")
    assert code == 0 and err == ""


def test_a_run_that_fails_after_its_plan_still_has_one_error_line(clip, tmp_path, assert_one_line_error):
    """The plan line comes first, then the one error; the helper that checks for one error line ignores the plan.
    The run fails in its encoder: no file may grow past 4 KB (RLIMIT_FSIZE, as a full disk stops a write)."""
    import resource
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-m", "slowmo.cli", "run", str(clip), "-o", str(tmp_path / "o.mp4"),  # noqa: S603
                          "-k", "2", "--engine", "blend"], capture_output=True, text=True, check=False,
                         env={**os.environ, "PYTHONPATH": str(root / "layers" / "slowmo_core")},
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096)))  # noqa: PLW1509
    assert run.returncode == 1 and run.stderr.startswith("slowmo: plan: 47 output frames"), run.stderr
    assert_one_line_error((run.returncode, run.stdout, run.stderr), "")


def test_workers_gain_only_the_cores_other_processes_leave_free():
    """A --jobs 2 run on a 2-core machine already at load 4 gained nothing over one process; the estimate had
    divided the work by 2 / 1.3 whatever the load."""
    assert free_cores(2, 1.0) == 2 and free_cores(8, 3.0) == 6  # the estimating process itself is not load
    assert free_cores(2, 4.0) == 1 and free_cores(4, 0.0) == 4
    cal = Calibration(pairs=3, decode_s_per_frame=0.01, engine_s_per_pair=0.02, engine_s_per_frame=0.01,
                      classify_s_per_frame=0.001, encode_s_per_frame=0.01, bytes_per_frame=1000, startup_s=0.5,
                      measured_in_s=1.0)
    counts = PlanCounts(source_frames=100, pairs_synthesised=99, output_frames=397, synthesised_frames=297)
    idle = local_seconds(counts, cal, compare=False, jobs=2, cores=free_cores(2, 1.0))
    busy = local_seconds(counts, cal, compare=False, jobs=2, cores=free_cores(2, 4.0))
    serial = local_seconds(counts, cal, compare=False, jobs=1)
    assert idle < serial < busy  # busy: no gain, and the workers' start on top
