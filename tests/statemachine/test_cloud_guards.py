"""The cloud output plays at the rate the request asked for: the real state machine (moto) and handlers, the
published video probed."""

from __future__ import annotations

import json
from contextlib import ExitStack
from fractions import Fraction

import pytest
from cloud_fixtures import running_stack

pytestmark = pytest.mark.slow


def test_requested_output_rate_is_the_published_videos_rate(monkeypatch, make_clip, tmp_path):
    from slowmo.cloud.layout import parse_s3_uri
    from slowmo.probe import probe

    clip = make_clip("cloud-rate", width=96, height=64, fps=12, frames=7, audio=True)
    with ExitStack() as stack:
        cloud = running_stack(monkeypatch, stack, chunk_frames=4, default_factor=4)
        cloud.client("s3").upload_file(str(clip), cloud.input_bucket, "library/clip.mp4")
        status, job = cloud.api("POST", "/jobs", {"key": "library/clip.mp4",
                                                  "options": {"factor": 3, "fps": "36", "compare": False}})
        assert status == 202, job
        desc = cloud.wait(f"{cloud.state_machine_arn.replace(':stateMachine:', ':execution:')}:{job['jobId']}")
        assert desc["status"] == "SUCCEEDED", (desc.get("cause"), cloud.lambdas.errors)
        bucket, key = parse_s3_uri(json.loads(desc["output"])["outputs"]["video"])
        cloud.client("s3").download_file(bucket, key, str(tmp_path / "video.mp4"))
    video = probe(tmp_path / "video.mp4")
    # 3x the frames at 3x the rate: real speed, only smoother, and the audio is not stretched out of sync
    assert video.fps == Fraction(36) and video.frame_count == (7 - 1) * 3 + 1
    assert video.duration == pytest.approx(19 / 36, abs=1e-3)
