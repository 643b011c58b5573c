"""Trim, slow ranges and ease through the real state machine: the plan carries them to every chunk, and
the published video has the frames and duration of a local run with the same options (moto, in-process
handlers and the model server standing in for SageMaker, as in test_slow_motion_e2e.py)."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
from cloud_fixtures import running_stack

pytestmark = pytest.mark.slow

FRAMES = 12  # at 12 fps: 1 s; chunk_frames=4 -> four Map items


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        yield running_stack(monkeypatch, stack, chunk_frames=4, default_factor=4)


@pytest.fixture
def ramp_clip(make_clip):
    return make_clip("cloud-ramp", width=96, height=64, fps=12, frames=FRAMES, audio=True)


@pytest.mark.parametrize("folders, options", [
    ("uploads/ranges=0.25:0.75@4/ease=0.1/clip.mp4", {"factor": 4, "ranges": ("0.25:0.75@4",), "ease": 0.1}),
    ("uploads/trim=0.2:0.8/factor=3/clip.mp4", {"factor": 3, "trim": "0.2:0.8"}),
    # fractional slowdowns and real-speed frame-rate conversion: every chunk is timed by the plan
    ("uploads/factor=2.5/clip.mp4", {"factor": 2.5}),
    ("uploads/factor=1/fps=30/clip.mp4", {"factor": 1, "fps": 30}),
    ("uploads/ranges=0.25:0.75@2.5/clip.mp4", {"factor": 4, "ranges": ("0.25:0.75@2.5",)}),
])
def test_cloud_run_with_ranges_or_trim_matches_the_local_plan(cloud, ramp_clip, tmp_path, folders, options):
    from slowmo.cloud.layout import parse_s3_uri
    from slowmo.media.probe import probe
    from slowmo.options import JobOptions
    from slowmo.timeline.plan import plan_job

    desc = cloud.wait(cloud.start(cloud.upload(ramp_clip, folders)))
    assert desc["status"] == "SUCCEEDED", (desc.get("cause"), cloud.lambdas.errors, cloud.endpoint.errors)
    bucket, key = parse_s3_uri(json.loads(desc["output"])["outputs"]["video"])
    cloud.client("s3").download_file(bucket, key, str(tmp_path / "video.mp4"))
    video = probe(tmp_path / "video.mp4")

    local = plan_job(probe(ramp_clip), JobOptions(**options, engine="film", compare=True), chunk_frames=4)
    assert video.frame_count == local.output_count
    assert video.duration == pytest.approx(local.output_duration, abs=1 / 12)
    assert video.has_audio  # the audio followed the same curve, and was cut to the video's length
    # every chunk request carried its slice of the plan: the Map ran one item per planned chunk
    assert len(cloud.endpoint.requests) == len(local.chunks) > 1


def test_bad_ranges_in_an_upload_fail_the_job_with_one_line(cloud, ramp_clip):
    desc = cloud.wait(cloud.start(cloud.upload(ramp_clip, "uploads/ranges=0.2:0.6,0.4:0.9/clip.mp4")))
    assert desc["status"] == "FAILED"
    messages = cloud.operator_messages()
    assert len(messages) == 1 and "overlap" in messages[0]["Message"]
