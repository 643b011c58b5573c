"""A denied call fails the run it happens in: live, not replayed (the replayed proofs are in test_iam.py)."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from cloud_fixtures import TEMPLATE_PATH, running_stack
from iam_harness import strip_policies

pytestmark = pytest.mark.slow


def test_a_denied_call_fails_the_run_naming_function_action_and_resource(monkeypatch, make_clip):
    """Live, not replayed: with FinishJob's policies gone the job cannot finish, and leaving the
    harness raises naming FinishJobFunction, the action and the table."""
    clip = make_clip("iam", width=160, height=90, fps=24, frames=7, audio=True)
    text = strip_policies(TEMPLATE_PATH.read_text(), "FinishJobFunction")
    with pytest.raises(AssertionError) as failure, ExitStack() as stack:
        cloud = running_stack(monkeypatch, stack, chunk_frames=4, default_factor=2, template_text=text)
        cloud.wait(cloud.start(cloud.upload(clip, "uploads/clip.mp4")))
    message = str(failure.value)
    assert "FinishJobFunction is not allowed dynamodb:" in message
    assert f"arn:aws:dynamodb:us-east-1:123456789012:table/{cloud.jobs_table}" in message


def test_a_stack_name_with_capitals_can_deploy_and_invoke_the_endpoint(monkeypatch, make_clip):
    """SageMaker lower-cases names in its ARNs (the harness authorises against the lower-case ARN):
    IAM resources built from a capitalised stack name would deny POST /endpoint and every chunk."""
    clip = make_clip("iam", width=160, height=90, fps=24, frames=7, audio=True)
    with ExitStack() as stack:
        cloud = running_stack(monkeypatch, stack, chunk_frames=4, default_factor=2, stack_name="SlowmoTest")
        monkeypatch.setenv("MODEL_DATA_URL", "s3://slowmo-input/models/film/model.tar.gz")
        status, body = cloud.api("POST", "/endpoint", {"instanceType": "ml.g4dn.xlarge"})
        assert status == 202, body
        cloud.endpoint_ready()
        status, body = cloud.api("GET", "/endpoint")
        assert status == 200 and body["scaling"]["max"] >= 1, body
        desc = cloud.wait(cloud.start(cloud.upload(clip, "uploads/clip.mp4")))
        assert desc["status"] == "SUCCEEDED", (desc.get("cause"), cloud.lambdas.errors)
    assert not cloud.iam.denials
