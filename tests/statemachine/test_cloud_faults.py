"""Faults, on the real state machine (moto's interpreter) with the real handlers: lost and failing
inferences are retried ChunkAttempts times with the callback timeout from ChunkTimeoutSeconds, a crashed
Extract is retried without duplicating chunks, duplicate notifications are harmless, and a failed job
re-run reuses the chunks that finished."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
from cloud_fixtures import FakeContext, load_handler, running_stack, sns_event

pytestmark = pytest.mark.slow

FRAMES = 10  # chunk_frames=4 -> chunks 0-3, 3-6, 6-9


@pytest.fixture
def clip(make_clip):
    return make_clip("cloud-faults", width=64, height=48, fps=12, frames=FRAMES, audio=False)


def start_stack(monkeypatch, stack, **kw):
    return running_stack(monkeypatch, stack, chunk_frames=4, default_factor=4, **kw)


def requests_for(cloud, index: int, since: int = 0) -> int:
    return sum(1 for r in cloud.endpoint.requests[since:] if r["inferenceId"].split("-")[-2] == f"{index:05d}")


def chunks_requested(cloud, since: int = 0) -> set[int]:
    return {int(r["inferenceId"].split("-")[-2]) for r in cloud.endpoint.requests[since:]}


def job_of(cloud) -> dict:
    job_id = cloud.client("dynamodb").scan(TableName=cloud.jobs_table)["Items"][0]["jobId"]["S"]
    status, job = cloud.api("GET", f"/jobs/{job_id}", resource="/jobs/{jobId}", path_parameters={"jobId": job_id})
    assert status == 200
    return job


def work_keys(cloud, suffix: str) -> list[str]:
    pages = cloud.client("s3").get_paginator("list_objects_v2").paginate(Bucket=cloud.work_bucket, Prefix="jobs/")
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(suffix))


def test_lost_notification_times_out_and_the_chunk_is_tried_again(monkeypatch, clip):
    with ExitStack() as stack:
        cloud = start_stack(monkeypatch, stack, chunk_attempts=2, chunk_timeout_seconds=6)
        cloud.endpoint.drop[1] = 1  # chunk 1's first request is never answered
        desc = cloud.wait(cloud.start(cloud.upload(clip, "uploads/clip.mp4")))
        assert desc["status"] == "SUCCEEDED", (desc.get("cause"), cloud.lambdas.errors)
        assert requests_for(cloud, 1) == 2 and requests_for(cloud, 0) == 1 and requests_for(cloud, 2) == 1
        job = job_of(cloud)
        assert job["status"] == "SUCCEEDED" and job["progress"]["chunksDone"] == 3


def test_chunk_that_never_answers_fails_the_job_naming_it(monkeypatch, clip):
    with ExitStack() as stack:
        cloud = start_stack(monkeypatch, stack, chunk_attempts=2, chunk_timeout_seconds=4)
        cloud.endpoint.drop[2] = -1  # every request of chunk 2 is lost
        desc = cloud.wait(cloud.start(cloud.upload(clip, "uploads/clip.mp4")))
        assert desc["status"] == "FAILED"
        assert requests_for(cloud, 2) == 2  # ChunkAttempts
        job = job_of(cloud)
        assert job["status"] == "FAILED"
        assert job["error"].startswith("chunk 2: States.Timeout")
        assert "no answer from the endpoint within 4 s" in job["error"] and "(after 2 attempts)" in job["error"]
        messages = cloud.operator_messages()
        assert len(messages) == 1 and job["error"] in messages[0]["Message"]
        assert not cloud.client("s3").list_objects_v2(Bucket=cloud.output_bucket).get("Contents")


def test_failing_chunk_is_retried_then_named_and_a_rerun_reuses_finished_chunks(monkeypatch, clip):
    with ExitStack() as stack:
        cloud = start_stack(monkeypatch, stack, chunk_attempts=3,
                            fail_chunks={1: "ModelError: CUDA out of memory while interpolating"})
        desc = cloud.wait(cloud.start(cloud.upload(clip, "uploads/clip.mp4")))
        assert desc["status"] == "FAILED"
        assert requests_for(cloud, 1) == 3
        job = job_of(cloud)
        assert job["error"].startswith("chunk 1: InferenceFailed: ModelError: CUDA out of memory")
        assert job["error"].endswith("(after 3 attempts)")
        assert not cloud.client("s3").list_objects_v2(Bucket=cloud.output_bucket).get("Contents")
        cloud.operator_messages()

        # the model is fixed; run the failed job again
        finished = {int(k.split("/")[3]) for k in work_keys(cloud, "/output.chunk")}
        assert finished and 1 not in finished  # other chunks did finish before the job failed
        cloud.endpoint.fail.clear()
        before = len(cloud.endpoint.requests)
        status, answer = cloud.api("POST", f"/jobs/{job['jobId']}/retry", resource="/jobs/{jobId}/retry",
                                   path_parameters={"jobId": job["jobId"]})
        assert status == 202, answer
        arn = cloud.state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + answer["retry"]["executionName"]
        rerun = cloud.wait(arn)
        assert rerun["status"] == "SUCCEEDED", (rerun.get("cause"), cloud.lambdas.errors)
        # InvokeEndpointAsync only for the chunks that had no output
        assert chunks_requested(cloud, before) == {0, 1, 2} - finished
        job = job_of(cloud)
        assert job["status"] == "SUCCEEDED" and "error" not in job and set(job["outputs"]) == {"video", "comparison"}
        assert job["progress"] == {"chunksDone": 3, "chunksTotal": 3, "percent": 100.0}
        messages = cloud.operator_messages()
        assert len(messages) == 1 and "SUCCEEDED" in messages[0]["Message"]
        # a job that succeeded cannot be "retried"
        status, _ = cloud.api("POST", f"/jobs/{job['jobId']}/retry", resource="/jobs/{jobId}/retry",
                              path_parameters={"jobId": job["jobId"]})
        assert status == 409


class _LambdaTimeout(Exception):
    pass


_LambdaTimeout.__name__ = "Sandbox.Timedout"  # the errorType Lambda reports when a function times out


def test_extract_timeout_is_retried_without_duplicating_chunks(monkeypatch, clip):
    with ExitStack() as stack:
        cloud = start_stack(monkeypatch, stack)
        real = load_handler("extract")
        attempts = []
        jobs = set()

        def times_out_once(event, context):
            jobs.add(event["jobId"])
            result = real(event, context)  # every chunk of the group written...
            if event.get("step") == "cut":
                attempts.append(event["group"]["index"])
                if len(attempts) == 1:
                    raise _LambdaTimeout("Task timed out after 900.00 seconds")  # ...then killed before returning
            return result

        cloud.lambdas.overrides["ExtractFunction"] = times_out_once
        desc = cloud.wait(cloud.start(cloud.upload(clip, "uploads/clip.mp4")))
        assert desc["status"] == "SUCCEEDED", (desc.get("cause"), cloud.lambdas.errors)
        assert attempts.count(attempts[0]) == 2 and len(attempts) == len(set(attempts)) + 1  # that group, once more
        (job_id,) = jobs
        assert work_keys(cloud, "/input.chunk") == [f"jobs/{job_id}/chunks/{i:05d}/input.chunk" for i in range(3)]
        manifest = json.loads(cloud.client("s3").get_object(Bucket=cloud.work_bucket,
                                                            Key=f"jobs/{job_id}/manifest.json")["Body"].read())
        assert [c["index"] for c in manifest] == [0, 1, 2]
        assert len(cloud.endpoint.requests) == 3


def test_duplicate_notifications_are_ignored(monkeypatch, clip):
    with ExitStack() as stack:
        cloud = start_stack(monkeypatch, stack)
        desc = cloud.wait(cloud.start(cloud.upload(clip, "uploads/clip.mp4")))
        assert desc["status"] == "SUCCEEDED"
        resume = load_handler("resume")
        topic = cloud.topics["InferenceSuccessTopic"]

        # SNS delivers at least once: the same notification again, after its token was used and removed
        for message in list(cloud.endpoint.notifications):
            handled = resume(sns_event(message, topic), FakeContext(function_name="ResumeFunction"))
            assert [h["outcome"] for h in handled["handled"]] == ["unknown"]

        # ...or while the first delivery is still running: the token is there but already used
        invoked = [event for name, event in cloud.lambdas.calls if name == "InvokeEndpointFunction"]
        message = cloud.endpoint.notifications[0]
        token = next(e["taskToken"] for e in invoked
                     if f"{int(e['chunk']['index']):05d}" == message["inferenceId"].split("-")[-2])
        cloud.client("dynamodb").put_item(TableName=cloud.tokens_table, Item={
            "inferenceId": {"S": message["inferenceId"]}, "taskToken": {"S": token}, "jobId": {"S": "x"},
            "chunkIndex": {"N": "0"}, "expiresAt": {"N": "9999999999"}})
        handled = resume(sns_event(message, topic), FakeContext(function_name="ResumeFunction"))
        assert [h["outcome"] for h in handled["handled"]] == ["stale"]
        assert "Item" not in cloud.client("dynamodb").get_item(TableName=cloud.tokens_table,
                                                               Key={"inferenceId": {"S": message["inferenceId"]}})

        job = job_of(cloud)
        assert job["status"] == "SUCCEEDED" and job["progress"]["chunksDone"] == 3
        executions = cloud.client("stepfunctions").list_executions(stateMachineArn=cloud.state_machine_arn)
        assert [e["status"] for e in executions["executions"]] == ["SUCCEEDED"]


def test_a_permanent_model_error_fails_at_once_with_the_servers_reason(monkeypatch, clip):
    """A chunk whose input is gone is a 400 from the model server: not retried although ChunkAttempts
    allows 3, and the job names the server's own reason, not SageMaker's generic one."""
    with ExitStack() as stack:
        cloud = start_stack(monkeypatch, stack, chunk_attempts=3)
        cloud.endpoint.lose_input.add(1)
        desc = cloud.wait(cloud.start(cloud.upload(clip, "uploads/clip.mp4")))
        assert desc["status"] == "FAILED"
        assert requests_for(cloud, 1) == 1
        job = job_of(cloud)
        assert job["error"].startswith("chunk 1: InferenceRejected: InputError: input chunk not found: s3://"), job["error"]
        assert "Received client error" not in job["error"]


def test_a_source_read_that_breaks_part_way_is_resumed_and_the_job_succeeds(monkeypatch, clip):
    """Issue 20, finding 5. Extract's index step streams the whole source through the loopback ranged-GET
    server; its GetObject body breaks part-way twice (the harness's drop_after, as a reset connection does).
    The server reads on from the byte it reached, so the job succeeds with every frame, instead of failing
    with "could not read", an InputError that blamed the user's file."""
    from slowmo.cloud import s3http

    monkeypatch.setattr(s3http, "RESUME_BACKOFF_S", 0.0)
    with ExitStack() as stack:
        cloud = start_stack(monkeypatch, stack)
        real = load_handler("extract")

        size = clip.stat().st_size

        def extract(event, context):
            if event.get("step") == "index":  # its read of the whole file breaks part-way
                cloud.s3_limits.drop_after(cloud.input_bucket, "uploads/clip.mp4", size // 3, size // 3)
            return real(event, context)

        cloud.lambdas.overrides["ExtractFunction"] = extract
        desc = cloud.wait(cloud.start(cloud.upload(clip, "uploads/clip.mp4")))
        assert desc["status"] == "SUCCEEDED", (desc.get("cause"), cloud.lambdas.errors)
        assert cloud.s3_limits.broken_reads >= 1, size  # (the small box-header GETs take some drops unbroken)
        job = job_of(cloud)
        assert job["status"] == "SUCCEEDED" and job["progress"]["chunksDone"] == 3
