"""Guards that only the whole cloud run can show: the real state machine (moto) and the real handlers. The
output plays at the rate the request asked for, and a source the decoder delivers short fails the job."""

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


def test_a_source_the_decoder_delivers_short_fails_the_job_with_the_reason(monkeypatch, index_longer_than_stream):
    # 24 frames in the index, 18 decoded without an error: the job fails instead of publishing 18 frames as complete
    with ExitStack() as stack:
        cloud = running_stack(monkeypatch, stack, chunk_frames=8, default_factor=2)
        desc = cloud.wait(cloud.start(cloud.upload(index_longer_than_stream, "uploads/trimmed.mp4")))
        assert desc["status"] == "FAILED", desc
        assert "trimmed.mp4: is truncated or corrupt: decoded 18 of 24 frames" in desc.get("cause", "")
        messages = cloud.operator_messages()
        assert len(messages) == 1 and "decoded 18 of 24 frames" in messages[0]["Message"]
        assert not cloud.client("s3").list_objects_v2(Bucket=cloud.output_bucket).get("Contents")
