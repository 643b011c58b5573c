"""No job is left stranded: an execution that ends outside every Catch (an uncatchable error, a stop) is
settled by the EventBridge rule on this state machine's execution status, through SettleJobFunction."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
from aws_semantics import PAYLOAD_LIMIT
from cloud_fixtures import running_stack

pytestmark = pytest.mark.slow


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        yield running_stack(monkeypatch, stack, chunk_frames=4, default_factor=4)


def _job(cloud) -> dict:
    items = cloud.client("dynamodb").scan(TableName=cloud.jobs_table)["Items"]
    assert len(items) == 1
    job_id = items[0]["jobId"]["S"]
    status, job = cloud.api("GET", f"/jobs/{job_id}", resource="/jobs/{jobId}", path_parameters={"jobId": job_id})
    assert status == 200
    return job


def test_an_uncatchable_error_ends_failed_notified_and_retryable(cloud, make_clip):
    def oversized_index(event, context):  # a result over 256 KiB: States.DataLimitExceeded, which no Catch handles
        return {"ranges": {"Bucket": cloud.work_bucket, "Key": "x"}, "rangeCount": 1, "pad": "x" * PAYLOAD_LIMIT}

    cloud.lambdas.overrides["ExtractFunction"] = oversized_index
    clip = make_clip("stranded", width=320, height=180, fps=24, frames=8, audio=False)
    execution = cloud.start(cloud.upload(clip, "uploads/clip.mp4"))
    desc = cloud.wait(execution)
    assert desc["status"] == "FAILED" and desc["error"] == "States.DataLimitExceeded", desc
    assert _job(cloud)["status"] == "RUNNING"  # the Catch never ran: stranded, as on AWS
    assert cloud.operator_messages() == []

    answer = cloud.execution_ended(execution)
    assert answer["settled"] and answer["status"] == "FAILED"
    job = _job(cloud)
    assert job["status"] == "FAILED" and "States.DataLimitExceeded" in job["error"], job
    assert job["error"].startswith("the execution failed")
    messages = cloud.operator_messages()
    assert len(messages) == 1 and job["jobId"] in messages[0]["Message"] and "DataLimitExceeded" in messages[0]["Message"]

    # the same event again (EventBridge delivers at least once) changes nothing and tells no one twice
    assert cloud.execution_ended(execution)["settled"] is None
    assert cloud.operator_messages() == []

    # retryable: the API takes the FAILED job over with a new execution
    cloud.lambdas.overrides.pop("ExtractFunction")
    status, retried = cloud.api("POST", f"/jobs/{job['jobId']}/retry", {}, resource="/jobs/{jobId}/retry",
                                path_parameters={"jobId": job["jobId"]})
    assert status == 202, retried
    executions = cloud.client("stepfunctions").list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]
    rerun = next(e["executionArn"] for e in executions if e["executionArn"] != execution)
    assert cloud.wait(rerun)["status"] == "SUCCEEDED"
    assert _job(cloud)["status"] == "SUCCEEDED"


def test_a_job_the_state_machine_recorded_failed_is_left_alone(cloud, make_clip):
    def bad_index(event, context):
        raise ValueError("bad index")

    cloud.lambdas.overrides["ExtractFunction"] = bad_index
    clip = make_clip("recorded", width=320, height=180, fps=24, frames=8, audio=False)
    execution = cloud.start(cloud.upload(clip, "uploads/clip.mp4"))
    assert cloud.wait(execution)["status"] == "FAILED"
    recorded = _job(cloud)
    assert recorded["status"] == "FAILED" and "bad index" in recorded["error"]
    assert len(cloud.operator_messages()) == 1  # RecordFailure's
    assert cloud.execution_ended(execution)["settled"] is None
    assert _job(cloud)["error"] == recorded["error"] and cloud.operator_messages() == []


def test_the_rule_ignores_other_state_machines_and_successes():
    from cloud_fixtures import translated_template

    rule = translated_template()["Resources"]["SettleJobFunctionExecutionEnded"]["Properties"]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.states"] and set(pattern["detail"]["status"]) == {"FAILED", "TIMED_OUT", "ABORTED"}
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": "SlowMotionStateMachine"}]
    target = rule["Targets"][0]
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    uploads = [r["Properties"] for r in translated_template()["Resources"].values()
               if r["Type"] == "AWS::Events::Rule" and "aws.s3" in json.dumps(r["Properties"].get("EventPattern"))]
    assert uploads and all("DeadLetterConfig" in t for r in uploads for t in r["Targets"])
