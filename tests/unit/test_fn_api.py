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


# ------------------------------------------------------------------------------------------- uploads over 5 GB
API = "https://abc123.execute-api.us-east-1.amazonaws.com/v1"


class _Answer:
    def __init__(self, body: bytes, headers=None):
        self.body, self.headers = body, dict(headers or {})

    def read(self) -> bytes:
        return self.body

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def _client_on(cloud, sent: list):
    """SlowmoClient whose API calls reach the real ApiFunction handler and whose presigned URLs are sent to
    (moto's) S3 with plain HTTP, as a browser or curl would send them."""
    import io
    import urllib.error

    import requests

    from slowmo.cloud.client import SlowmoClient

    def opener(request, timeout=None):
        url = request.full_url
        if url.startswith(API):
            body = json.loads(request.data) if request.data else None
            status, answer = cloud.api(request.get_method(), url[len(API):], body)
            if status >= 400:
                raise urllib.error.HTTPError(url, status, "refused", {}, io.BytesIO(json.dumps(answer).encode()))
            return _Answer(json.dumps(answer).encode())
        data = request.data.read() if hasattr(request.data, "read") else request.data
        sent.append((urlparse(url).path, parse_qs(urlparse(url).query).get("partNumber"), len(data)))
        reply = requests.put(url, data=data, timeout=30)
        if reply.status_code >= 400:
            raise urllib.error.HTTPError(url, reply.status_code, reply.reason, {}, io.BytesIO(reply.content))
        return _Answer(reply.content, reply.headers)

    return SlowmoClient(API, opener=opener)


def test_a_file_over_the_single_put_limit_is_uploaded_in_presigned_parts(cloud, monkeypatch, tmp_path):
    """Issue 20, finding 4. One PUT carries at most 5 GB (https://docs.aws.amazon.com/AmazonS3/latest/userguide/
    upload-objects.html; the harness refuses more with EntityTooLarge), while MaxFileBytes admits 20 GiB. Over the
    limit the API hands out a multipart upload (CreateMultipartUpload, presigned UploadPart URLs,
    CompleteMultipartUpload: https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html). Shown at a
    limit a test can reach: 12 MiB for one PUT, 5 MiB parts (S3's smallest)."""
    from slowmo.cloud import api

    monkeypatch.setattr(api, "SINGLE_PUT_MAX", 12 * 2**20)
    monkeypatch.setattr(api, "MIN_PART_BYTES", 5 * 2**20)
    cloud.s3_limits.single_put_limit = 12 * 2**20
    video = tmp_path / "big.mp4"
    data = bytes(range(256)) * (13 * 2**20 // 256 + 7)
    video.write_bytes(data)
    sent: list = []
    key = _client_on(cloud, sent).upload(video)
    s3 = cloud.client("s3")
    assert key.startswith("api-uploads/") and s3.get_object(Bucket=cloud.input_bucket, Key=key)["Body"].read() == data
    assert [(n, size) for _, n, size in cloud.s3_limits.parts] == [(1, 5 * 2**20), (2, 5 * 2**20), (3, len(data) - 10 * 2**20)]
    assert [number for _, number, _ in sent] == [["1"], ["2"], ["3"]]  # only parts went out, no whole-file PUT
    assert not s3.list_multipart_uploads(Bucket=cloud.input_bucket).get("Uploads")


def test_a_file_over_max_file_bytes_is_refused_before_a_byte_is_sent(cloud, monkeypatch, tmp_path):
    monkeypatch.setenv("SLOWMO_MAX_FILE_BYTES", str(2**20))
    video = tmp_path / "big.mp4"
    video.write_bytes(b"\0" * (2**20 + 1))
    sent: list = []
    from slowmo.cloud.client import CloudError

    with pytest.raises(CloudError, match=r"HTTP 400: big.mp4: 1 MiB is over the 1 MiB limit"):
        _client_on(cloud, sent).upload(video)
    assert sent == [] and not cloud.client("s3").list_multipart_uploads(Bucket=cloud.input_bucket).get("Uploads")


def test_a_failed_part_aborts_the_multipart_upload(cloud, monkeypatch, tmp_path):
    from slowmo.cloud import api
    from slowmo.cloud.client import CloudError

    monkeypatch.setattr(api, "SINGLE_PUT_MAX", 6 * 2**20)
    monkeypatch.setattr(api, "MIN_PART_BYTES", 5 * 2**20)
    cloud.s3_limits.part_max = 4 * 2**20  # the harness refuses every full part: EntityTooLarge
    video = tmp_path / "big.mp4"
    video.write_bytes(b"\1" * (7 * 2**20))
    with pytest.raises(CloudError, match=r"part 1 of 2\) failed: HTTP 400"):
        _client_on(cloud, []).upload(video)
    assert not cloud.client("s3").list_multipart_uploads(Bucket=cloud.input_bucket).get("Uploads")
