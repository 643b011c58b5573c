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
    from slowmo.media.probe import probe

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
    # --fps is a true output rate (issue 10): still 3x slower, so 12 fps at 3x on a 36 fps grid puts 9 output
    # frames in every source interval (t = 1/9, 2/9, ...): 6 intervals x 9 + 1
    assert video.fps == Fraction(36) and video.frame_count == (7 - 1) * 9 + 1
    assert video.duration == pytest.approx(55 / 36, abs=1e-3)


def test_a_source_whose_edit_list_presents_fewer_frames_is_processed_whole(monkeypatch, index_longer_than_stream,
                                                                          tmp_path):
    # 24 frames in the index, an edit list presenting 18: a valid file (a tail trimmed in an editor). The decoder
    # delivers 18 cleanly, the probe counts 18 (issue 10), and the job publishes all 18 slowed down, not "truncated".
    from slowmo.cloud.layout import parse_s3_uri
    from slowmo.media.probe import probe

    with ExitStack() as stack:
        cloud = running_stack(monkeypatch, stack, chunk_frames=8, default_factor=2)
        desc = cloud.wait(cloud.start(cloud.upload(index_longer_than_stream, "uploads/trimmed.mp4")))
        assert desc["status"] == "SUCCEEDED", (desc.get("cause"), cloud.lambdas.errors)
        bucket, key = parse_s3_uri(json.loads(desc["output"])["outputs"]["video"])
        cloud.client("s3").download_file(bucket, key, str(tmp_path / "video.mp4"))
    assert probe(tmp_path / "video.mp4").frame_count == (18 - 1) * 2 + 1
