"""ApiFunction: POST /jobs (presigned upload, start a job), GET /jobs/{id}."""

from __future__ import annotations

import json
from contextlib import ExitStack
from urllib.parse import parse_qs, urlparse

import pytest
from cloud_fixtures import EVENTS_DIR, FakeContext, load_handler, running_stack


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        cloud = running_stack(monkeypatch, stack)
        cloud.client("s3").put_object(Bucket=cloud.input_bucket, Key="library/clip.mov", Body=b"not decoded here")
        yield cloud


def test_upload_url_is_presigned_for_the_input_bucket(cloud):
    status, body = cloud.api("POST", "/jobs", {"upload": {"filename": "../My Clip.MP4"}})
    assert status == 201
    upload = body["upload"]
    assert upload["method"] == "PUT" and upload["bucket"] == cloud.input_bucket
    assert upload["key"].startswith("api-uploads/") and upload["key"].endswith("/My_Clip.MP4")
    query = parse_qs(urlparse(upload["url"]).query)
    assert query["X-Amz-Expires"] == ["900"] and "X-Amz-Signature" in query
    assert body["next"]["body"] == {"key": upload["key"]}


def test_upload_url_refuses_non_videos(cloud):
    status, body = cloud.api("POST", "/jobs", {"upload": {"filename": "notes.txt"}})
    assert status == 400 and "video" in body["message"]


def test_post_job_starts_one_execution_and_is_idempotent(cloud):
    cloud.lambdas.overrides["ClaimJobFunction"] = lambda event, ctx: {"jobId": "x", "claimed": False,
                                                                      "source": {}, "options": {}}
    status, job = cloud.api("POST", "/jobs", {"key": "library/clip.mov", "options": {"factor": 16, "audio": "drop"}})
    assert status == 202
    assert job["status"] == "QUEUED" and job["options"]["factor"] == 16 and job["options"]["audio"] == "drop"
    assert job["source"]["key"] == "library/clip.mov" and job["source"]["version_id"]
    executions = cloud.client("stepfunctions").list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]
    assert [e["name"] for e in executions] == [job["jobId"]]

    status, again = cloud.api("POST", "/jobs", {"source": f"s3://{cloud.input_bucket}/library/clip.mov",
                                                "options": {"audio": "drop", "factor": 16}})
    assert status == 200 and again["jobId"] == job["jobId"]
    status, other = cloud.api("POST", "/jobs", {"key": "library/clip.mov", "options": {"factor": 16, "audio": "drop"},
                                                "clientToken": "run-2"})
    assert status == 202 and other["jobId"] != job["jobId"]


@pytest.mark.parametrize("body, message", [
    ({"key": "library/clip.mov", "options": {"factor": 1}}, "factor"),
    ({"key": "library/clip.mov", "options": {"speed": 2}}, "unknown option"),
    ({"key": "library/missing.mov"}, "does not exist"),
    ({"source": "s3://someone-elses-bucket/clip.mov"}, "input bucket"),
    ({}, "which video"),
])
def test_bad_submissions_are_400_with_one_line(cloud, body, message):
    status, reply = cloud.api("POST", "/jobs", body)
    assert status == 400 and message in reply["message"] and "\n" not in reply["message"]


def test_get_job_reports_status_and_progress(cloud):
    cloud.client("dynamodb").put_item(TableName=cloud.jobs_table, Item={
        "jobId": {"S": "job-abc"}, "status": {"S": "PROCESSING"}, "chunksDone": {"N": "3"},
        "chunksTotal": {"N": "12"}, "source": {"M": {"bucket": {"S": "b"}, "key": {"S": "k.mp4"}}}})
    event = json.loads((EVENTS_DIR / "api_get_job.json").read_text())
    event["path"] = "/jobs/job-abc"
    event["pathParameters"] = {"jobId": "job-abc"}
    resp = load_handler("api")(event, FakeContext())
    assert resp["statusCode"] == 200
    job = json.loads(resp["body"])
    assert job["status"] == "PROCESSING" and job["progress"] == {"chunksDone": 3, "chunksTotal": 12, "percent": 25.0}


def test_get_unknown_job_is_404(cloud):
    status, body = cloud.api("GET", "/jobs/nope", resource="/jobs/{jobId}", path_parameters={"jobId": "nope"})
    assert status == 404


def test_retry_of_a_failed_job_starts_a_rerun_execution(cloud):
    from cloud_fixtures import FakeContext, load_handler

    cloud.lambdas.overrides["ClaimJobFunction"] = lambda event, ctx: {"jobId": "x", "claimed": False, "source": {},
                                                                      "options": {}, "rejected": None}
    event = json.loads((EVENTS_DIR / "api_post_job_retry.json").read_text())
    job_id = event["pathParameters"]["jobId"]
    cloud.client("dynamodb").put_item(TableName=cloud.jobs_table, Item={
        "jobId": {"S": job_id}, "status": {"S": "FAILED"}, "failureReason": {"S": "chunk 1: InferenceFailed: boom"},
        "source": {"M": {"bucket": {"S": cloud.input_bucket}, "key": {"S": "library/clip.mov"}}},
        "options": {"M": {"factor": {"N": "8"}}}, "trigger": {"S": "api"}})
    resp = load_handler("api")(event, FakeContext(function_name="ApiFunction"))
    assert resp["statusCode"] == 202
    name = json.loads(resp["body"])["retry"]["executionName"]
    assert name.startswith(f"{job_id}-retry-") and len(name) <= 80
    sfn = cloud.client("stepfunctions")
    execution = sfn.describe_execution(executionArn=cloud.state_machine_arn.replace(":stateMachine:", ":execution:")
                                       + ":" + name)
    request = json.loads(execution["input"])["jobRequest"]
    assert request["jobId"] == job_id and request["rerun"] is True and request["options"] == {"factor": 8}


def test_dry_run_answers_the_estimate_and_starts_nothing(cloud, clip):
    cloud.client("s3").upload_file(str(clip), cloud.input_bucket, "library/real.mp4")
    body = {"key": "library/real.mp4", "options": {"factor": 8, "ranges": ["0.25:0.5@4"], "ease": 0.05}, "dryRun": True}
    status, answer = cloud.api("POST", "/jobs", body)
    assert status == 200, answer
    assert answer["dryRun"] is True and answer["options"]["ranges"] == ["0.25:0.5@4"]
    estimate = answer["estimate"]
    assert answer["fits"] is True and estimate["gpuSeconds"] > 0 and estimate["costUsd"] >= 0
    assert estimate["wallClockSeconds"] > 0
    executions = cloud.client("stepfunctions").list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]
    assert executions == []
    status, _ = cloud.api("GET", f"/jobs/{answer['jobId']}")
    assert status == 404  # nothing recorded


@pytest.mark.parametrize("body, message", [
    ({"key": "library/clip.mov", "dryRun": "yes"}, "'dryRun' must be true or false"),
    ({"key": "library/clip.mov", "options": {"ranges": ["1:3", "2:4"]}, "dryRun": True}, "overlap"),
    ({"key": "library/clip.mov", "options": {"ranges": ["1:2@99"]}}, "from 2 to 64"),
])
def test_bad_dry_runs_and_bad_ranges_are_a_400(cloud, body, message):
    status, answer = cloud.api("POST", "/jobs", body)
    assert status == 400 and message in answer["message"]
