"""The inference round trip's guards (slowmo.cloud.inference) against moto S3/DynamoDB, with Step Functions
and SageMaker runtime played by botocore's Stubber: it checks every call's parameters against the real
service model, and answers with the errors the real services send."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import ANY, Stubber
from cloud_fixtures import aws_test_environment

from slowmo.cloud.inference import AsyncInferenceResult, TokenStore, resume_task, submit_chunk
from slowmo.cloud.layout import JobLayout

LAYOUT = JobLayout("job-1", "slowmo-work", "slowmo-out")
CHUNK = {"index": 2, "start": 30, "end": 45}
OPTIONS = {"factor": 8, "engine": "film"}


@pytest.fixture
def aws(monkeypatch):
    from moto import mock_aws

    aws_test_environment(monkeypatch)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=LAYOUT.work_bucket)
        dynamodb = boto3.resource("dynamodb")
        dynamodb.create_table(TableName="tokens", BillingMode="PAY_PER_REQUEST",
                              KeySchema=[{"AttributeName": "inferenceId", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "inferenceId", "AttributeType": "S"}])
        yield s3, TokenStore("tokens", dynamodb=dynamodb)


def _notification(inference_id: str) -> AsyncInferenceResult:
    return AsyncInferenceResult.from_message({
        "inferenceId": inference_id, "invocationStatus": "Completed",
        "requestParameters": {"inputLocation": "s3://slowmo-work/jobs/job-1/chunks/00002/request.json"},
        "responseParameters": {"outputLocation": "s3://slowmo-work/async/out/inf-1.out"}})


def test_a_task_token_survives_a_throttled_send_task_success(aws):
    # SNS delivers the notification again when the Lambda fails, so the token must still be there then
    s3, tokens = aws
    s3.put_object(Bucket="slowmo-work", Key="async/out/inf-1.out", Body=b'{"status": "succeeded"}')
    tokens.put("inf-1", "tok-1", "job-1", 2)
    sfn = boto3.client("stepfunctions")
    expected = {"taskToken": "tok-1", "output": ANY}
    with Stubber(sfn) as stub:
        # https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html (throttling is
        # one of the common errors every action can return)
        stub.add_client_error("send_task_success", service_error_code="ThrottlingException", http_status_code=400,
                              expected_params=expected)
        stub.add_response("send_task_success", {}, expected_params=expected)
        with pytest.raises(Exception, match="ThrottlingException"):
            resume_task(_notification("inf-1"), tokens=tokens, s3=s3, sfn=sfn)
        kept = tokens.get("inf-1")
        assert kept is not None and kept["taskToken"] == "tok-1"
        assert resume_task(_notification("inf-1"), tokens=tokens, s3=s3, sfn=sfn) == "succeeded"
        stub.assert_no_pending_responses()
    assert tokens.get("inf-1") is None  # done with: removed only after the success was delivered


def _submit(s3, tokens, expect: str, options=OPTIONS, chunk=CHUNK):
    """submit_chunk with only the expected call answered: any other call fails the test (Stubber refuses it)."""
    sfn = boto3.client("stepfunctions")
    runtime = boto3.client("sagemaker-runtime")
    with Stubber(sfn) as sfn_stub, Stubber(runtime) as runtime_stub:
        if expect == "reuse":
            sfn_stub.add_response("send_task_success", {}, {"taskToken": "tok-2", "output": ANY})
        else:
            runtime_stub.add_response(
                "invoke_endpoint_async", {"InferenceId": "x", "OutputLocation": "s3://o/x.out"},
                {"EndpointName": "slowmo-film", "InputLocation": ANY, "InferenceId": ANY, "ContentType": ANY,
                 "Accept": ANY, "InvocationTimeoutSeconds": ANY, "RequestTTLSeconds": ANY})
        result = submit_chunk(layout=LAYOUT, chunk=chunk, options=options, task_token="tok-2",
                              endpoint_name="slowmo-film", tokens=tokens, s3=s3, runtime=runtime, sfn=sfn)
        sfn_stub.assert_no_pending_responses()
        runtime_stub.assert_no_pending_responses()
    return result


@pytest.mark.parametrize("made_for", [
    {"chunk": {"index": 2, "start": 31, "end": 45}},            # another frame range
    {"options": {"factor": 8, "engine": "flow"}},              # another engine
    {"options": {"factor": 4, "engine": "film"}},              # another factor
])
def test_a_finished_chunk_is_reused_only_for_the_same_request(aws, made_for):
    s3, tokens = aws
    assert "reused" not in _submit(s3, tokens, "invoke", **made_for)
    s3.put_object(Bucket="slowmo-work", Key=LAYOUT.chunk_output_key(2), Body=b"frames made for that request")

    # this request differs: the stored output must not stand in for it, the endpoint is asked again
    assert "reused" not in _submit(s3, tokens, "invoke")


def test_a_finished_chunk_is_reused_for_the_same_request(aws):
    s3, tokens = aws
    _submit(s3, tokens, "invoke")
    s3.put_object(Bucket="slowmo-work", Key=LAYOUT.chunk_output_key(2), Body=b"frames made for this request")
    assert _submit(s3, tokens, "reuse")["reused"] is True


def test_an_output_without_the_request_it_was_made_for_is_not_reused(aws):
    # an output chunk whose request.json is gone (or was never written) cannot be shown to match this request
    s3, tokens = aws
    s3.put_object(Bucket="slowmo-work", Key=LAYOUT.chunk_output_key(2), Body=b"frames made for an unknown request")
    assert "reused" not in _submit(s3, tokens, "invoke")


def test_an_output_whose_request_record_is_unreadable_is_not_reused(aws):
    s3, tokens = aws
    s3.put_object(Bucket="slowmo-work", Key=LAYOUT.chunk_output_key(2), Body=b"frames")
    s3.put_object(Bucket="slowmo-work", Key=LAYOUT.chunk_request_key(2), Body=b"{not json")
    assert "reused" not in _submit(s3, tokens, "invoke")
