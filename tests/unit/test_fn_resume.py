"""ResumeFunction: SageMaker's SNS notification -> SendTaskSuccess / SendTaskFailure for the waiting chunk."""

from __future__ import annotations

import json
from contextlib import ExitStack
from unittest import mock

import pytest
from cloud_fixtures import (
    EVENTS_DIR,
    FakeContext,
    load_handler,
    running_stack,
    sagemaker_notification,
    sns_event,
)


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        yield running_stack(monkeypatch, stack)


def _token_for(cloud, inference_id: str, token: str = "tok-1") -> None:
    cloud.client("dynamodb").put_item(TableName=cloud.tokens_table, Item={
        "inferenceId": {"S": inference_id}, "taskToken": {"S": token}, "jobId": {"S": "job-1"},
        "chunkIndex": {"N": "3"}, "expiresAt": {"N": "9999999999"}})


def _run(event):
    sfn = mock.MagicMock()
    sfn.exceptions.TaskTimedOut = type("TaskTimedOut", (Exception,), {})
    sfn.exceptions.TaskDoesNotExist = type("TaskDoesNotExist", (Exception,), {})
    sfn.exceptions.InvalidToken = type("InvalidToken", (Exception,), {})
    from slowmo.cloud import aws

    real = aws.client
    with mock.patch.object(aws, "client", side_effect=lambda name: sfn if name == "stepfunctions" else real(name)):
        result = load_handler("resume")(event, FakeContext(function_name="ResumeFunction"))
    return result, sfn


def test_success_notification_resumes_the_chunk_with_the_model_response(cloud):
    message = sagemaker_notification(inference_id="inf-1", endpoint_name="slowmo-film",
                                     input_location="s3://slowmo-work/jobs/job-1/chunks/00003/request.json",
                                     output_location="s3://slowmo-work/async/out/inf-1.out")
    cloud.client("s3").put_object(Bucket="slowmo-work", Key="async/out/inf-1.out",
                                  Body=json.dumps({"status": "succeeded", "output_frames": 121}).encode())
    _token_for(cloud, "inf-1")
    result, sfn = _run(sns_event(message, cloud.topics["InferenceSuccessTopic"]))
    assert result == {"handled": [{"inferenceId": "inf-1", "outcome": "succeeded"}]}
    kwargs = sfn.send_task_success.call_args.kwargs
    assert kwargs["taskToken"] == "tok-1"
    assert json.loads(kwargs["output"]) == {"inferenceId": "inf-1", "chunk": 3,
                                            "response": {"status": "succeeded", "output_frames": 121}}
    assert "Item" not in cloud.client("dynamodb").get_item(TableName=cloud.tokens_table,
                                                           Key={"inferenceId": {"S": "inf-1"}})


def test_error_notification_fails_the_chunk_with_sagemakers_reason(cloud):
    event = json.loads((EVENTS_DIR / "resume_error_sns.json").read_text())
    inference_id = json.loads(event["Records"][0]["Sns"]["Message"])["inferenceId"]
    _token_for(cloud, inference_id, "tok-err")
    result, sfn = _run(event)
    assert result["handled"][0]["outcome"] == "failed"
    kwargs = sfn.send_task_failure.call_args.kwargs
    assert kwargs["taskToken"] == "tok-err" and kwargs["error"] == "InferenceFailed"
    assert kwargs["cause"].startswith("ClientError: Received server error (500) from model")


def test_unknown_inference_is_ignored(cloud):
    event = json.loads((EVENTS_DIR / "resume_success_sns.json").read_text())
    result, sfn = _run(event)
    assert result["handled"][0]["outcome"] == "unknown"
    sfn.send_task_success.assert_not_called()


def test_stale_token_is_not_an_error(cloud):
    _token_for(cloud, "inf-2", "tok-old")
    message = sagemaker_notification(inference_id="inf-2", endpoint_name="slowmo-film", input_location="s3://x/y",
                                     failure_reason="ModelError: boom")
    sfn_error = None

    def fail(**kwargs):
        raise sfn_error

    from slowmo.cloud import aws

    real = aws.client
    sfn = mock.MagicMock()
    sfn.exceptions.TaskTimedOut = type("TaskTimedOut", (Exception,), {})
    sfn.exceptions.TaskDoesNotExist = type("TaskDoesNotExist", (Exception,), {})
    sfn.exceptions.InvalidToken = type("InvalidToken", (Exception,), {})
    sfn_error = sfn.exceptions.TaskTimedOut("timed out")
    sfn.send_task_failure.side_effect = fail
    with mock.patch.object(aws, "client", side_effect=lambda name: sfn if name == "stepfunctions" else real(name)):
        result = load_handler("resume")(sns_event(message, "arn:aws:sns:us-east-1:123456789012:t"), FakeContext())
    assert result["handled"][0]["outcome"] == "stale"
