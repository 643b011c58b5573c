"""FinishJobFunction: the outcome into the job record, and one operator notification."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
from cloud_fixtures import EVENTS_DIR, FakeContext, load_handler, running_stack


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        cloud = running_stack(monkeypatch, stack)
        job = json.loads((EVENTS_DIR / "finish_job_succeeded.json").read_text())["jobId"]
        cloud.client("dynamodb").put_item(TableName=cloud.jobs_table, Item={
            "jobId": {"S": job}, "status": {"S": "PROCESSING"}, "chunksDone": {"N": "4"}, "chunksTotal": {"N": "4"},
            "source": {"M": {"bucket": {"S": "in"}, "key": {"S": "uploads/clip.mp4"}}},
            "options": {"M": {"factor": {"N": "8"}}}})
        yield cloud


def test_success_records_outputs_and_notifies(cloud):
    event = json.loads((EVENTS_DIR / "finish_job_succeeded.json").read_text())
    result = load_handler("finish_job")(event, FakeContext())
    assert result == {"jobId": event["jobId"], "status": "SUCCEEDED", "reason": ""}
    status, job = cloud.api("GET", f"/jobs/{event['jobId']}", resource="/jobs/{jobId}",
                            path_parameters={"jobId": event["jobId"]})
    assert job["status"] == "SUCCEEDED" and job["outputs"] == event["outputs"] and job["finishedAt"]
    (message,) = cloud.operator_messages()
    assert message["Subject"] == f"slowmo: job {event['jobId']} succeeded"
    assert event["outputs"]["comparison"] in message["Message"]


def test_failure_prefers_the_chunks_own_reason(cloud):
    event = json.loads((EVENTS_DIR / "finish_job_failed.json").read_text())
    cloud.client("dynamodb").update_item(
        TableName=cloud.jobs_table, Key={"jobId": {"S": event["jobId"]}},
        UpdateExpression="SET chunkError = :e, chunkCause = :c, failedChunk = :i",
        ExpressionAttributeValues={":e": {"S": "InferenceFailed"}, ":i": {"N": "2"},
                                   ":c": {"S": "ClientError: Received server error (500) from model."}})
    result = load_handler("finish_job")(event, FakeContext())
    assert result["status"] == "FAILED"
    assert result["reason"] == "chunk 2: InferenceFailed: ClientError: Received server error (500) from model."
    (message,) = cloud.operator_messages()
    assert "FAILED" in message["Message"] and "chunk 2" in message["Message"]


def test_failure_of_a_lambda_step_shows_its_error_message(cloud):
    event = json.loads((EVENTS_DIR / "finish_job_failed.json").read_text())
    event["error"] = {"Error": "InputError", "Cause": json.dumps({"errorMessage": "clip.mp4: would make 3000000 frames",
                                                                   "errorType": "InputError", "stackTrace": []})}
    result = load_handler("finish_job")(event, FakeContext())
    assert result["reason"] == "InputError: clip.mp4: would make 3000000 frames"
