"""Admission in the cloud: the real state machine and handlers on moto. A job the capacity model says the stack
cannot finish is refused at the claim (upload) or at POST /jobs (API) with one line naming the limit and the
longest input that fits, before Extract runs and before the endpoint is called."""

from __future__ import annotations

import re
from contextlib import ExitStack

import pytest
from cloud_fixtures import input_object_state, running_stack

pytestmark = pytest.mark.slow

# The async endpoint's InvocationTimeoutSeconds may be as low as 1 s; a 320x180 chunk of 3 pairs at factor 64
# is 189 synthesised frames, about 2 s of FILM by the model: over it. (At the template's 900 s it fits.)
TIGHT = {"INVOCATION_TIMEOUT_SECONDS": "1"}
# the line names what would fit: a shorter input, or (when not even one pair fits) a lower factor
REFUSAL = re.compile(r"^(?:InputError: )?clip\.mp4: needs \d+ s of endpoint time in Interpolate \(limit 1 s\); at factor 64 with "
                     r"compare, (?:no length of 320x180 fits; this input fits at factor \d+|180p24 fits up to [\d.]+ s)$")


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        yield running_stack(monkeypatch, stack, chunk_frames=4, default_factor=4)


@pytest.fixture
def upload_clip(make_clip):
    return make_clip("admission", width=320, height=180, fps=24, frames=10, audio=False)


def test_upload_the_stack_cannot_finish_fails_at_the_claim_with_one_line(cloud, upload_clip, monkeypatch):
    for name, value in TIGHT.items():
        monkeypatch.setenv(name, value)
    key = "uploads/factor=64/clip.mp4"
    event = cloud.upload(upload_clip, key)
    before = input_object_state(cloud, key)
    desc = cloud.wait(cloud.start(event))
    assert desc["status"] == "FAILED"
    job_id = cloud.client("dynamodb").scan(TableName=cloud.jobs_table)["Items"][0]["jobId"]["S"]
    status, job = cloud.api("GET", f"/jobs/{job_id}", resource="/jobs/{jobId}", path_parameters={"jobId": job_id})
    assert status == 200 and job["status"] == "FAILED"
    reason = job["error"]
    assert REFUSAL.match(reason), reason
    # nothing was spent: no Extract, no endpoint request, no chunk or output object
    assert cloud.lambdas.count("ExtractFunction") == 0
    assert cloud.endpoint.requests == []
    assert not cloud.client("s3").list_objects_v2(Bucket=cloud.work_bucket).get("Contents")
    assert not cloud.client("s3").list_objects_v2(Bucket=cloud.output_bucket).get("Contents")
    assert input_object_state(cloud, key) == before
    messages = cloud.operator_messages()
    assert len(messages) == 1 and reason in messages[0]["Message"]


def test_api_refuses_it_with_a_400_and_starts_nothing(cloud, upload_clip, monkeypatch):
    for name, value in TIGHT.items():
        monkeypatch.setenv(name, value)
    cloud.upload(upload_clip, "library/clip.mp4")
    status, answer = cloud.api("POST", "/jobs", {"key": "library/clip.mp4", "options": {"factor": 64}})
    assert status == 400 and REFUSAL.match(answer["message"]) and not answer["message"].startswith("InputError"), answer
    assert not cloud.client("stepfunctions").list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]
    assert not cloud.client("dynamodb").scan(TableName=cloud.jobs_table)["Items"]


def test_the_same_upload_at_a_factor_that_fits_runs_end_to_end(cloud, upload_clip, monkeypatch):
    for name, value in TIGHT.items():
        monkeypatch.setenv(name, value)
    desc = cloud.wait(cloud.start(cloud.upload(upload_clip, "uploads/factor=2/compare=false/clip.mp4")))
    assert desc["status"] == "SUCCEEDED", (desc.get("error"), desc.get("cause"), cloud.lambdas.errors)
    assert len(cloud.endpoint.requests) == 3  # 10 frames in chunks of 4: 0-3, 3-6, 6-9


def test_a_container_without_a_readable_index_is_judged_by_extract_before_any_chunk(cloud, upload_clip, monkeypatch,
                                                                                     ffmpeg_media):
    """Matroska has no MP4 index for the claim to read: Extract probes the file and refuses it the same way."""
    for name, value in TIGHT.items():
        monkeypatch.setenv(name, value)
    mkv = ffmpeg_media("admission.mkv", ["-i", str(upload_clip), "-c", "copy"])
    desc = cloud.wait(cloud.start(cloud.upload(mkv, "uploads/factor=64/clip.mkv")))
    assert desc["status"] == "FAILED"
    job_id = cloud.client("dynamodb").scan(TableName=cloud.jobs_table)["Items"][0]["jobId"]["S"]
    _, job = cloud.api("GET", f"/jobs/{job_id}", resource="/jobs/{jobId}", path_parameters={"jobId": job_id})
    assert re.search(r"clip\.mkv: needs \d+ s of endpoint time in Interpolate \(limit 1 s\)", job["error"]), job
    steps = [event.get("step") for name, event in cloud.lambdas.calls if name == "ExtractFunction"]
    assert steps[0] == "index" and steps[-1] == "plan" and "cut" not in steps  # refused before any chunk was cut
    assert cloud.endpoint.requests == []
    work = [o["Key"] for o in cloud.client("s3").list_objects_v2(Bucket=cloud.work_bucket).get("Contents", [])]
    assert not [k for k in work if "chunk" in k], work
