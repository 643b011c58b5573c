"""The jobs API refuses what it must (4xx with a message), presigns briefly, and never logs a URL or a secret."""

from __future__ import annotations

import json
from contextlib import ExitStack
from urllib.parse import parse_qs, urlparse

import pytest
from cloud_fixtures import running_stack

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY-NOT-A-REAL-KEY"


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        cloud = running_stack(monkeypatch, stack)
        s3 = cloud.client("s3")
        s3.put_object(Bucket=cloud.input_bucket, Key="library/clip.mov", Body=b"video bytes")
        s3.put_object(Bucket=cloud.input_bucket, Key="library/empty.mp4", Body=b"")
        s3.create_bucket(Bucket="someone-elses-bucket")
        s3.put_object(Bucket="someone-elses-bucket", Key="private/clip.mp4", Body=b"video bytes")
        yield cloud


def _no_execution_started(cloud):
    return not cloud.client("stepfunctions").list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]


@pytest.mark.parametrize("body, status, message", [
    ({"source": "s3://someone-elses-bucket/private/clip.mp4"}, 400, "must be in the input bucket"),
    ({"bucket": "someone-elses-bucket", "key": "private/clip.mp4"}, 400, "must be in the input bucket"),
    ({"source": "https://example.com/clip.mp4"}, 400, "not an S3 object URI"),
    ({"key": "library/missing.mp4"}, 400, "does not exist"),
    ({"key": "library/empty.mp4"}, 400, "empty (0 bytes)"),
    ({"key": "library/clip.mov", "options": {"factor": 1}}, 400, "factor"),
    ({"key": "library/clip.mov", "options": {"factor": 65}}, 400, "factor"),
    ({"key": "library/clip.mov", "options": {"factor": "eight"}}, 400, "factor"),
    ({"key": "library/clip.mov", "options": {"speed": 2}}, 400, "unknown option 'speed'"),
    ({"key": "library/clip.mov", "priority": "high"}, 400, "unknown field 'priority'"),
    ({"key": "library/clip.mov", "options": "fast"}, 400, "'options' must be a JSON object"),
    ({"upload": {"filename": "clip.mp4", "acl": "public-read"}}, 400, "unknown field upload.'acl'"),
    ({"upload": {"filename": "clip.mp4"}, "key": "x.mp4"}, 400, "only the field 'upload'"),
    ({"upload": "clip.mp4"}, 400, "'upload' must be a JSON object"),
    ({}, 400, "say which video"),
])
def test_bad_job_requests_are_refused_with_a_message(cloud, body, status, message):
    got, answer = cloud.api("POST", "/jobs", body)
    assert got == status and message in answer["message"], answer
    assert _no_execution_started(cloud)


def test_file_size_limit_is_checked_at_submission(cloud, monkeypatch):
    monkeypatch.setenv("SLOWMO_MAX_FILE_BYTES", "5")
    got, answer = cloud.api("POST", "/jobs", {"key": "library/clip.mov"})
    assert got == 400 and "limit" in answer["message"]
    assert _no_execution_started(cloud)


def _raw_post(cloud, raw: str):
    from cloud_fixtures import FakeContext, api_event, load_handler

    event = api_event("POST", "/jobs")
    event["body"] = raw
    resp = load_handler("api")(event, FakeContext(function_name="ApiFunction"))
    return resp["statusCode"], json.loads(resp["body"])


@pytest.mark.parametrize("raw, message", [
    (json.dumps({"key": "library/clip.mov", "options": {"factor": 8}, "clientToken": "x" * 20_000}), "larger than"),
    ("{not json", "not valid JSON"),
    ("[1, 2, 3]", "must be a JSON object"),
])
def test_oversized_or_malformed_bodies_are_refused(cloud, raw, message):
    status, answer = _raw_post(cloud, raw)
    assert status in (400, 413) and message in answer["message"]
    assert _no_execution_started(cloud)


def test_presigned_urls_are_short_lived_even_if_configured_longer(cloud, monkeypatch):
    monkeypatch.setenv("UPLOAD_URL_SECONDS", "604800")
    status, body = cloud.api("POST", "/jobs", {"upload": {"filename": "clip.mp4"}})
    assert status == 201
    query = parse_qs(urlparse(body["upload"]["url"]).query)
    assert int(query["X-Amz-Expires"][0]) <= 900 and body["upload"]["expiresIn"] <= 900
    assert body["upload"]["key"].startswith("api-uploads/")  # never under the upload rule's prefix


def test_presigned_url_and_secrets_never_reach_the_logs(cloud, monkeypatch, capsys, caplog):
    """Everything ApiFunction logs (its Powertools logger at DEBUG, and any other logger) during a presign
    request holds neither the URL, nor its signature, nor the secret key that signed it."""
    import io
    import logging
    import sys

    from cloud_fixtures import load_handler

    from slowmo.cloud import aws

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    aws.reset()
    load_handler("api")
    logger = sys.modules["slowmo_fn_api"].logger
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    level = logger.log_level
    logger.setLevel("DEBUG")
    caplog.set_level(logging.DEBUG)
    try:
        status, body = cloud.api("POST", "/jobs", {"upload": {"filename": "clip.mp4"}})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert status == 201
    url = body["upload"]["url"]
    signature = parse_qs(urlparse(url).query)["X-Amz-Signature"][0]
    captured = capsys.readouterr()
    logged = stream.getvalue() + captured.out + captured.err + caplog.text
    assert "upload URL issued" in stream.getvalue()  # the handler did log this request...
    assert body["upload"]["key"] in stream.getvalue()  # ...naming the key it granted
    assert url not in logged and signature not in logged and "X-Amz-Signature" not in logged
    assert "X-Amz-Credential" not in logged and SECRET not in logged


def test_retry_needs_a_failed_job(cloud):
    table = cloud.client("dynamodb")
    table.put_item(TableName=cloud.jobs_table, Item={"jobId": {"S": "job-running"}, "status": {"S": "RUNNING"},
                                                     "source": {"M": {"bucket": {"S": cloud.input_bucket},
                                                                      "key": {"S": "library/clip.mov"}}}})
    status, body = cloud.api("POST", "/jobs/job-running/retry", resource="/jobs/{jobId}/retry",
                             path_parameters={"jobId": "job-running"})
    assert status == 409 and "only a FAILED job" in body["message"]
    status, body = cloud.api("POST", "/jobs/job-nope/retry", resource="/jobs/{jobId}/retry",
                             path_parameters={"jobId": "job-nope"})
    assert status == 404
    assert _no_execution_started(cloud)


def test_client_without_credentials_sends_nothing(monkeypatch, tmp_path):
    """The CLI signs every call; with no credentials it stops before any request leaves the machine."""
    import urllib.request

    import botocore.session

    from slowmo.cloud.client import CloudError, SlowmoClient

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    sent = []
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", lambda *a, **k: sent.append(a) or None)
    client = SlowmoClient("https://abc123.execute-api.us-east-1.amazonaws.com/v1", session=botocore.session.Session())
    with pytest.raises(CloudError, match="no AWS credentials"):
        client.status("job-1")
    assert sent == []


def test_endpoint_model_override_is_limited_to_what_its_role_may_read(cloud):
    status, body = cloud.api("POST", "/endpoint", {"modelDataUrl": "s3://someone-elses-bucket/model.tar.gz"})
    assert status == 400 and "models/" in body["message"]
    assert not cloud.client("sagemaker").list_endpoints()["Endpoints"]
