"""InvokeEndpointFunction: request JSON in S3, InferenceId -> token in DynamoDB, InvokeEndpointAsync."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
from cloud_fixtures import EVENTS_DIR, FakeContext, load_handler, running_stack


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        yield running_stack(monkeypatch, stack)


def _event(cloud):
    event = json.loads((EVENTS_DIR / "invoke_endpoint.json").read_text())
    return event


def test_submits_the_chunk_and_remembers_the_token(cloud):
    cloud.endpoint.accept = lambda name, location, inference_id: (200, {
        "X-Amzn-SageMaker-OutputLocation": f"s3://slowmo-work/async/out/{inference_id}.out"},
        json.dumps({"InferenceId": inference_id})) if cloud.endpoint.requests.append(
        {"endpoint": name, "input": location, "inferenceId": inference_id}) is None else None
    event = _event(cloud)
    result = load_handler("invoke_endpoint")(event, FakeContext(function_name="InvokeEndpointFunction"))
    job, index = event["jobId"], event["chunk"]["index"]
    assert result["inferenceId"].startswith(f"{job}-{index:05d}-") and len(result["inferenceId"]) <= 64
    assert result["outputLocation"].endswith(".out")
    sent = cloud.endpoint.requests[0]
    assert sent["endpoint"] == cloud.endpoint_name and sent["inferenceId"] == result["inferenceId"]
    assert sent["input"] == f"s3://slowmo-work/jobs/{job}/chunks/{index:05d}/request.json"
    request = json.loads(cloud.client("s3").get_object(Bucket="slowmo-work",
                                                       Key=f"jobs/{job}/chunks/{index:05d}/request.json")["Body"].read())
    assert request["inputs"] == [f"s3://slowmo-work/jobs/{job}/chunks/{index:05d}/input.chunk"]
    assert request["output"] == f"s3://slowmo-work/jobs/{job}/chunks/{index:05d}/output.chunk"
    assert request["factor"] == 8 and request["engine"] == "film" and request["first_index"] == 45
    assert request["fps"] == "30000/1001" and request["chunk_index"] == index
    token = cloud.client("dynamodb").get_item(TableName=cloud.tokens_table,
                                              Key={"inferenceId": {"S": result["inferenceId"]}})["Item"]
    assert token["taskToken"]["S"] == event["taskToken"] and int(token["expiresAt"]["N"]) > 0


def test_missing_endpoint_says_to_deploy_it(cloud):
    cloud.endpoint.deployed = False
    with pytest.raises(Exception, match="POST /endpoint"):
        load_handler("invoke_endpoint")(_event(cloud), FakeContext())


@pytest.mark.parametrize("chunk_timeout", [None, "7200"], ids=["default", "ChunkTimeoutSeconds=7200"])
def test_a_queued_request_expires_before_its_chunk_gives_up_on_it(cloud, monkeypatch, chunk_timeout):
    """Issue 20, finding 6. SageMaker keeps an asynchronous request queued for RequestTTLSeconds and then
    processes it for up to InvocationTimeoutSeconds (InvokeEndpointAsync,
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointAsync.html). The chunk
    waits ChunkTimeoutSeconds for its notification and is then sent again: a request still queued after that
    burns GPU time for nobody, ahead of its own retry. Run with the function's environment as template.yaml
    gives it (the parameter's default, then another value)."""
    from iam_harness import translated_template

    if chunk_timeout:
        cloud.parameters["ChunkTimeoutSeconds"] = chunk_timeout
    variables = translated_template()["Resources"]["InvokeEndpointFunction"]["Properties"]["Environment"]["Variables"]
    env = cloud.resolver().resolve(variables)
    for name in ("CHUNK_TIMEOUT_SECONDS", "INVOCATION_TIMEOUT_SECONDS", "REQUEST_TTL_SECONDS"):
        monkeypatch.delenv(name, raising=False)
        if name in env:
            monkeypatch.setenv(name, str(env[name]))
    load_handler("invoke_endpoint")(_event(cloud), FakeContext(function_name="InvokeEndpointFunction"))
    sent = cloud.endpoint.request_headers[-1]
    ttl, processing = int(sent["x-amzn-sagemaker-requestttlseconds"]), int(sent["x-amzn-sagemaker-invocationtimeoutseconds"])
    waits = int(env["CHUNK_TIMEOUT_SECONDS"])
    assert waits == int(chunk_timeout or 3600)
    assert 60 <= ttl and ttl + processing <= waits, (ttl, processing, waits)
    assert ttl == waits - processing  # as long as the chunk can still use the answer, no shorter
