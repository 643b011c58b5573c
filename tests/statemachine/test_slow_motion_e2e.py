"""The REAL statemachine/slow_motion.asl.json, run by moto's Step Functions interpreter, with every Lambda
task running its real handler in-process and the SageMaker async endpoint played by the real model-server
handler plus SageMaker's own SNS notification format (see tests/cloud_fixtures.py)."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
from cloud_fixtures import running_stack

pytestmark = pytest.mark.slow

FACTOR = 4
FRAMES = 10  # chunk_frames=4 -> chunks 0-3, 3-6, 6-9: three Map items


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        yield running_stack(monkeypatch, stack, chunk_frames=4, default_factor=FACTOR)


@pytest.fixture
def failing_cloud(monkeypatch):
    with ExitStack() as stack:
        yield running_stack(monkeypatch, stack, chunk_frames=4, default_factor=FACTOR,
                            fail_chunks={1: "ModelError: CUDA out of memory while interpolating chunk 1"})


@pytest.fixture
def upload_clip(make_clip):
    return make_clip("cloud-e2e", width=96, height=64, fps=12, frames=FRAMES, audio=True)


def _download(cloud, uri: str, dest):
    from slowmo.cloud.layout import parse_s3_uri

    bucket, key = parse_s3_uri(uri)
    cloud.client("s3").download_file(bucket, key, str(dest))
    return dest


def test_upload_becomes_slow_motion_video_and_comparison(cloud, upload_clip, tmp_path):
    from slowmo.media.probe import probe

    event = cloud.upload(upload_clip, "uploads/audio=drop/clip.mp4")
    execution = cloud.start(event)
    desc = cloud.wait(execution)
    assert desc["status"] == "SUCCEEDED", (desc.get("error"), desc.get("cause"), cloud.lambdas.errors, cloud.endpoint.errors)

    # every chunk went through the endpoint and came back through the SNS -> ResumeFunction path
    assert len(cloud.endpoint.requests) == 3
    assert all(n["invocationStatus"] == "Completed" for n in cloud.endpoint.notifications)
    assert cloud.lambdas.count("ResumeFunction") == 3
    assert cloud.lambdas.count("EncodeChunkFunction") == 3
    # Extract ran in time ranges (EXTRACT_RANGE_FRAMES=4 on 10 frames): three scans, then two groups of chunks cut
    steps = [event.get("step") for name, event in cloud.lambdas.calls if name == "ExtractFunction"]
    assert sorted(steps) == sorted(["index", "scan", "scan", "scan", "plan", "cut", "cut"])
    # Assemble joined the video and the comparison in calls of their own, then published both
    joins = [(event.get("step"), event.get("kind")) for name, event in cloud.lambdas.calls if name == "AssembleFunction"]
    assert sorted(joins[:2]) == [("join", "compare"), ("join", "video")] and joins[2:] == [("publish", None)]

    output = json.loads(desc["output"])
    video = probe(_download(cloud, output["outputs"]["video"], tmp_path / "video.mp4"))
    compare = probe(_download(cloud, output["outputs"]["comparison"], tmp_path / "compare.mp4"))
    expected = (FRAMES - 1) * FACTOR + 1
    assert video.frame_count == expected
    assert compare.frame_count == expected
    assert (video.width, video.height) == (96, 64)
    assert compare.width == 2 * 96
    assert not video.has_audio  # audio=drop from the key folder
    # published under outputs/, nothing left under the temporary prefix
    keys = [o["Key"] for o in cloud.client("s3").list_objects_v2(Bucket=cloud.output_bucket).get("Contents", [])]
    assert all(k.startswith("outputs/") for k in keys) and len(keys) == 2

    job_id = output["outputs"]["video"].split("/")[4]
    status, job = cloud.api("GET", f"/jobs/{job_id}", resource="/jobs/{jobId}", path_parameters={"jobId": job_id})
    assert status == 200
    assert job["status"] == "SUCCEEDED"
    assert job["progress"] == {"chunksDone": 3, "chunksTotal": 3, "percent": 100.0}
    assert job["outputs"] == output["outputs"]
    assert job["options"]["factor"] == FACTOR and job["options"]["audio"] == "drop"

    messages = cloud.operator_messages()
    assert len(messages) == 1 and "SUCCEEDED" in messages[0]["Message"]
    assert output["outputs"]["video"] in messages[0]["Message"]


def test_audio_is_kept_and_stretched_by_default(cloud, upload_clip, tmp_path):
    from slowmo.media.probe import probe

    desc = cloud.wait(cloud.start(cloud.upload(upload_clip, "uploads/factor=2/clip.mp4")))
    assert desc["status"] == "SUCCEEDED", (desc.get("cause"), cloud.lambdas.errors)
    output = json.loads(desc["output"])
    video = probe(_download(cloud, output["outputs"]["video"], tmp_path / "video.mp4"))
    assert video.frame_count == (FRAMES - 1) * 2 + 1
    assert video.has_audio


def test_duplicate_trigger_runs_the_job_once(cloud, upload_clip):
    event = cloud.upload(upload_clip, "uploads/clip.mp4")
    first = cloud.wait(cloud.start(event))
    second = cloud.wait(cloud.start(event))  # EventBridge delivered the same event again
    assert first["status"] == "SUCCEEDED"
    assert second["status"] == "SUCCEEDED"
    steps = [event.get("step") for name, event in cloud.lambdas.calls if name == "ExtractFunction"]
    assert steps.count("index") == 1 and steps.count("plan") == 1  # the second execution extracted nothing
    assert "jobId" not in json.loads(second["output"]) or json.loads(second["output"]).get("claimed") is False


def test_inference_error_fails_the_job_with_its_reason(failing_cloud, upload_clip):
    cloud = failing_cloud
    desc = cloud.wait(cloud.start(cloud.upload(upload_clip, "uploads/clip.mp4")))
    assert desc["status"] == "FAILED"
    assert "CUDA out of memory" in desc.get("cause", "")
    failed = [n for n in cloud.endpoint.notifications if n["invocationStatus"] == "Failed"]
    # SageMaker's own reason is generic; the model's words come from the response body the endpoint
    # config asks to include on the error topic
    assert failed and "Received server error (500)" in failed[0]["failureReason"]

    jobs = cloud.client("dynamodb").scan(TableName=cloud.jobs_table)["Items"]
    job_id = jobs[0]["jobId"]["S"]
    status, job = cloud.api("GET", f"/jobs/{job_id}", resource="/jobs/{jobId}", path_parameters={"jobId": job_id})
    assert status == 200 and job["status"] == "FAILED"
    assert "chunk 1" in job["error"] and "CUDA out of memory" in job["error"]
    assert "outputs" not in job

    messages = cloud.operator_messages()
    assert len(messages) == 1
    assert "FAILED" in messages[0]["Message"] and "CUDA out of memory" in messages[0]["Message"]
    assert not cloud.client("s3").list_objects_v2(Bucket=cloud.output_bucket).get("Contents")


def test_not_a_video_is_rejected_and_the_operator_told(cloud, tmp_path):
    note = tmp_path / "notes.mp4"
    note.write_bytes(b"this is not a video")
    event = cloud.upload(note, "uploads/factor=1/notes.mp4")
    desc = cloud.wait(cloud.start(event))
    assert desc["status"] == "FAILED"
    messages = cloud.operator_messages()
    assert len(messages) == 1 and "factor" in messages[0]["Message"]


def test_api_submission_runs_through_the_same_state_machine(cloud, upload_clip, tmp_path):
    cloud.client("s3").upload_file(str(upload_clip), cloud.input_bucket, "library/clip.mov")
    status, job = cloud.api("POST", "/jobs", {"key": "library/clip.mov", "options": {"factor": 3, "compare": False}})
    assert status == 202, job
    arn = f"{cloud.state_machine_arn.replace(':stateMachine:', ':execution:')}:{job['jobId']}"
    desc = cloud.wait(arn)
    assert desc["status"] == "SUCCEEDED", (desc.get("cause"), cloud.lambdas.errors)
    status, again = cloud.api("POST", "/jobs", {"key": "library/clip.mov", "options": {"factor": 3, "compare": False}})
    assert status == 200 and again["jobId"] == job["jobId"] and again["status"] == "SUCCEEDED"
    assert set(again["outputs"]) == {"video"}


def test_missing_endpoint_fails_the_job_with_what_to_do(cloud, upload_clip):
    cloud.endpoint.deployed = False
    desc = cloud.wait(cloud.start(cloud.upload(upload_clip, "uploads/clip.mp4")))
    assert desc["status"] == "FAILED"
    assert "POST /endpoint" in desc["cause"]
    messages = cloud.operator_messages()
    assert len(messages) == 1 and "POST /endpoint" in messages[0]["Message"]
