"""ClaimJobFunction: an upload event or an API submission -> one job, claimed by one execution."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
from cloud_fixtures import EVENTS_DIR, FakeContext, eventbridge_object_created, load_handler, running_stack

from slowmo.errors import InputError


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        yield running_stack(monkeypatch, stack)


def _upload(cloud, key, metadata=None):
    s3 = cloud.client("s3")
    s3.put_object(Bucket=cloud.input_bucket, Key=key, Body=b"video bytes", Metadata=metadata or {})
    head = s3.head_object(Bucket=cloud.input_bucket, Key=key)
    return eventbridge_object_created(cloud.input_bucket, key, size=11, etag=head["ETag"], version_id=head["VersionId"])


def _claim(event, arn="arn:aws:states:us-east-1:123456789012:execution:slowmo-slow-motion:e1"):
    return load_handler("claim_job")({"input": event, "executionArn": arn}, FakeContext())


def test_upload_options_come_from_folders_then_metadata_then_defaults(cloud):
    event = _upload(cloud, "uploads/factor=8/audio=drop/clip.mp4", {"slowmo-factor": "16", "slowmo-compare": "false"})
    claim = _claim(event)
    assert claim["claimed"] is True
    assert claim["options"]["factor"] == 16  # metadata wins over the folder
    assert claim["options"]["audio"] == "drop" and claim["options"]["compare"] is False
    assert claim["options"]["engine"] == "blend"  # DEFAULT_ENGINE of the test stack
    item = cloud.client("dynamodb").get_item(TableName=cloud.jobs_table, Key={"jobId": {"S": claim["jobId"]}})["Item"]
    assert item["status"]["S"] == "RUNNING" and item["executionArn"]["S"].endswith(":e1")


def test_second_execution_for_the_same_upload_is_a_duplicate(cloud):
    event = _upload(cloud, "uploads/clip.mp4")
    first = _claim(event)
    again = _claim(event)  # the same execution retrying its claim step
    other = _claim(event, "arn:aws:states:us-east-1:123456789012:execution:slowmo-slow-motion:e2")
    assert first["claimed"] and again["claimed"] and not other["claimed"]
    assert first["jobId"] == again["jobId"] == other["jobId"]


def test_reupload_of_the_same_key_is_a_new_job(cloud):
    first = _claim(_upload(cloud, "uploads/clip.mp4"))
    second = _claim(_upload(cloud, "uploads/clip.mp4"), "arn:aws:states:us-east-1:123456789012:execution:x:e9")
    assert first["jobId"] != second["jobId"] and second["claimed"]


def test_url_encoded_key_is_found(cloud):
    event = _upload(cloud, "uploads/my clip.mp4")
    event["detail"]["object"]["key"] = "uploads/my+clip.mp4"
    assert _claim(event)["source"]["key"] == "uploads/my clip.mp4"


def test_api_submission_is_claimed_as_given(cloud):
    event = json.loads((EVENTS_DIR / "claim_job_api.json").read_text())
    result = load_handler("claim_job")(event, FakeContext())
    assert result["jobId"] == event["input"]["jobRequest"]["jobId"] and result["claimed"]


@pytest.mark.parametrize("key, metadata, message", [
    ("uploads/factor=99/clip.mp4", None, "factor"),
    ("uploads/clip.mp4", {"slowmo-audio": "loud"}, "audio"),
    ("uploads/readme.txt", None, "not a video"),
])
def test_bad_uploads_become_rejected_jobs_claimed_once(cloud, key, metadata, message):
    event = _upload(cloud, key, metadata)
    claim = _claim(event)
    assert claim["claimed"] is True and message in claim["rejected"]
    item = cloud.client("dynamodb").get_item(TableName=cloud.jobs_table, Key={"jobId": {"S": claim["jobId"]}})["Item"]
    assert item["source"]["M"]["key"]["S"] == key
    duplicate = _claim(event, "arn:aws:states:us-east-1:123456789012:execution:slowmo-slow-motion:e2")
    assert duplicate["jobId"] == claim["jobId"] and not duplicate["claimed"] and duplicate["rejected"] is None


def test_empty_and_missing_objects_are_rejected(cloud, monkeypatch):
    s3 = cloud.client("s3")
    s3.put_object(Bucket=cloud.input_bucket, Key="uploads/empty.mp4", Body=b"")
    head = s3.head_object(Bucket=cloud.input_bucket, Key="uploads/empty.mp4")
    empty = eventbridge_object_created(cloud.input_bucket, "uploads/empty.mp4", size=0, etag=head["ETag"],
                                       version_id=head["VersionId"])
    assert "empty (0 bytes)" in _claim(empty)["rejected"]
    gone = eventbridge_object_created(cloud.input_bucket, "uploads/gone.mp4", size=5, etag="abc", version_id=None)
    assert "does not exist" in _claim(gone)["rejected"]
    monkeypatch.setenv("SLOWMO_MAX_FILE_BYTES", "5")
    assert "limit" in _claim(_upload(cloud, "uploads/big.mp4"))["rejected"]


def test_input_that_names_no_object_still_raises(cloud):
    with pytest.raises(InputError, match="Object Created"):
        _claim({"detail-type": "Something Else", "detail": {}})
