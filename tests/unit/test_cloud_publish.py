"""Assemble publishes only complete outputs: staged under tmp/, copied into outputs/ together, and a failure
part way leaves neither a published output nor a temporary object behind."""

from __future__ import annotations

import pytest
from cloud_fixtures import aws_test_environment


@pytest.fixture
def s3(monkeypatch):
    from moto import mock_aws

    aws_test_environment(monkeypatch)
    with mock_aws():
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="out")
        yield client


def _listing(s3):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket="out").get("Contents", []))


def _stage(s3, names):
    staged = []
    for name in names:
        s3.put_object(Bucket="out", Key=f"tmp/job-1/{name}", Body=b"complete video " + name.encode())
        staged.append((f"tmp/job-1/{name}", f"outputs/job-1/{name}"))
    return staged


def test_all_outputs_are_published_and_the_temporary_objects_removed(s3):
    from slowmo.cloud.media import publish_all

    publish_all(s3, "out", _stage(s3, ["clip-x8.mp4", "clip-x8-compare.mp4"]))
    assert _listing(s3) == ["outputs/job-1/clip-x8-compare.mp4", "outputs/job-1/clip-x8.mp4"]
    assert s3.get_object(Bucket="out", Key="outputs/job-1/clip-x8.mp4")["Body"].read() == b"complete video clip-x8.mp4"
    # a presigned link plays in the browser only when the object says it is a video
    assert {s3.head_object(Bucket="out", Key=k)["ContentType"] for k in _listing(s3)} == {"video/mp4"}


def test_a_failed_publish_leaves_nothing_half_written(s3):
    from slowmo.cloud.media import publish_all

    class FailsOnSecondCopy:
        def __init__(self, real):
            self.real, self.copies = real, 0

        def copy(self, *args, **kwargs):
            self.copies += 1
            if self.copies == 2:
                raise ConnectionError("connection reset while copying")
            return self.real.copy(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self.real, name)

    flaky = FailsOnSecondCopy(s3)
    with pytest.raises(ConnectionError):
        publish_all(flaky, "out", _stage(s3, ["clip-x8.mp4", "clip-x8-compare.mp4"]))
    assert flaky.copies == 2  # the first output had been published, and was taken back
    assert _listing(s3) == []
