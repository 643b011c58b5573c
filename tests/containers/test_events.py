"""Every event in events/ through `sam local invoke`, in its function's image, against a moto server seeded with
the sample job the events describe (tools/containers/sample_job.py). The events run in a job's order, so each
finds what the ones before it left; each result is checked, and a failure names its event."""

from __future__ import annotations

import json
import os
import subprocess  # noqa: S404
import time

import pytest
import sample_job as world
from conftest import BUILT_TEMPLATE, ROOT, last_json_line

# event -> the function `sam local invoke` runs it in; the order is a job's
INVOKED = [
    ("api_post_job_upload_url", "ApiFunction"),
    ("claim_job_upload", "ClaimJobFunction"),
    ("settle_job_execution_failed", "SettleJobFunction"),
    ("claim_job_api", "ClaimJobFunction"),
    ("extract", "ExtractFunction"),
    ("extract_scan", "ExtractFunction"),
    ("extract_plan", "ExtractFunction"),
    ("extract_cut", "ExtractFunction"),
    ("invoke_endpoint", "InvokeEndpointFunction"),
    ("resume_success_sns", "ResumeFunction"),
    ("resume_error_sns", "ResumeFunction"),
    ("encode_chunk", "EncodeChunkFunction"),
    ("assemble", "AssembleFunction"),
    ("finish_job_succeeded", "FinishJobFunction"),
    ("api_get_job", "ApiFunction"),
    ("finish_job_failed", "FinishJobFunction"),
    ("api_post_job_retry", "ApiFunction"),
    ("api_post_job", "ApiFunction"),
    ("api_post_endpoint", "DeployEndpointFunction"),
    ("endpoint_in_service", "DeployEndpointFunction"),
    ("api_get_endpoint", "DeployEndpointFunction"),
    ("api_delete_endpoint", "DeployEndpointFunction"),
]
# events that no function receives as they are: each is part of one that does, and must stay equal to it
EMBEDDED = {
    "eventbridge_s3_object_created": lambda: world.load_event("claim_job_upload")["input"],
    "sagemaker_async_success_message": lambda: json.loads(world.load_event("resume_success_sns")["Records"][0]["Sns"]["Message"]),
    "sagemaker_async_error_message": lambda: json.loads(world.load_event("resume_error_sns")["Records"][0]["Sns"]["Message"]),
}


@pytest.fixture(scope="module")
def stack(moto_server, tmp_path_factory):
    """The sample stack on the moto server, the env-vars file for sam local invoke, boto3 clients on the
    server, and the results so far (later checks read earlier ones)."""
    from moto.sagemaker.models import FakeEndpointConfig

    # moto's list of instance types stops before the G5 family, which SageMaker hosts
    # (https://aws.amazon.com/sagemaker/pricing/, "Real-time inference" and "Asynchronous inference")
    known = FakeEndpointConfig.validate_instance_type
    FakeEndpointConfig.validate_instance_type = lambda self, t: None if t.startswith("ml.g5.") else known(self, t)
    tmp = tmp_path_factory.mktemp("sam-local")
    clip = world.render_clip(tmp / "clip.mov")
    puts = world.seed(moto_server, clip)
    env_file = tmp / "env.json"
    env_file.write_text(json.dumps({"Parameters": world.function_env(moto_server)}))
    return {"endpoint": moto_server, "env_file": env_file, "clip": clip, "puts": puts, "results": {},
            "clients": world.clients(moto_server), "tmp": tmp}


def sam_invoke(stack: dict, function: str, event: str) -> tuple[object, str]:
    """sam local invoke FUNCTION -e events/EVENT.json; returns the function's result and its log."""
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    started = time.monotonic()
    proc = subprocess.run(  # noqa: S603 - our own command line
        [str(ROOT / ".venv/bin/sam"), "local", "invoke", function, "--template", str(BUILT_TEMPLATE),
         "--event", str(ROOT / "events" / f"{event}.json"), "--env-vars", str(stack["env_file"]),
         "--skip-pull-image", "--region", world.REGION],
        capture_output=True, text=True, check=False, env=env, timeout=900, cwd=ROOT)
    stack.setdefault("timings", {})[event] = round(time.monotonic() - started, 1)
    result = last_json_line(proc.stdout)
    assert proc.returncode == 0 and result is not None, f"events/{event}.json in {function}: {proc.stderr[-3000:]}"
    assert not (isinstance(result, dict) and "errorMessage" in result), \
        f"events/{event}.json in {function} failed: {result['errorType']}: {result['errorMessage']}"
    return result, proc.stderr


def s3_json(stack: dict, bucket: str, key: str):
    return json.loads(stack["clients"]["s3"].get_object(Bucket=bucket, Key=key)["Body"].read())


def job_item(stack: dict) -> dict:
    item = stack["clients"]["dynamodb"].get_item(TableName=world.JOBS_TABLE, Key={"jobId": {"S": world.JOB_ID}})
    return item.get("Item", {})


def api_body(result: dict):
    return json.loads(result["body"]) if result.get("body") else None


def put_token(stack: dict, inference_id: str, token: str) -> None:
    """What InvokeEndpoint stores before SageMaker can answer: the resume events find their task by it."""
    stack["clients"]["dynamodb"].put_item(TableName=world.TOKENS_TABLE, Item={
        "inferenceId": {"S": inference_id}, "taskToken": {"S": token}, "jobId": {"S": world.JOB_ID},
        "chunkIndex": {"N": str(world.CHUNK)}, "expiresAt": {"N": str(int(time.time()) + 3600)}})


def run_endpoint(stack: dict, index: int) -> dict:
    """The SageMaker endpoint, stood in for by the real model-server handler in this process (the blend
    engine: FILM's weights are not here); it writes the chunk's output where the handler's request says."""
    from slowmo.cloud.layout import JobLayout
    from slowmo.modelserver.handler import handle_request
    from slowmo.synthesis.engines import create_engine

    s3 = stack["clients"]["s3"]
    layout = JobLayout(world.JOB_ID, world.WORK_BUCKET, world.OUTPUT_BUCKET)
    request = s3_json(stack, world.WORK_BUCKET, layout.chunk_request_key(index))
    return handle_request(request, s3=s3, engine=create_engine("blend"))


def check(stack: dict, event: str, result) -> None:
    """What each event's function must have done."""
    s3, ddb = stack["clients"]["s3"], stack["clients"]["dynamodb"]
    layout_prefix = f"jobs/{world.JOB_ID}"
    if event == "api_post_job_upload_url":
        assert result["statusCode"] == 201
        upload = api_body(result)["upload"]
        assert upload["bucket"] == world.INPUT_BUCKET and upload["key"].endswith("/clip.mp4")
        assert upload["url"].startswith(f"{stack['endpoint']}/{world.INPUT_BUCKET}/") and "X-Amz-Signature=" in upload["url"]
    elif event == "claim_job_upload":
        assert result["claimed"] is True and result["rejected"] is None, result
        assert result["source"]["key"] == world.UPLOAD_KEY and result["options"]["factor"] == 8
        stack["upload_job"] = result["jobId"]
    elif event == "settle_job_execution_failed":
        # the execution that claimed the upload's job died where no Catch reaches: the safety net fails the job
        assert result == {"settled": stack["upload_job"], "status": "FAILED"}, result
        item = stack["clients"]["dynamodb"].get_item(TableName=world.JOBS_TABLE, Key={"jobId": {"S": stack["upload_job"]}})
        assert item["Item"]["status"]["S"] == "FAILED" and "DataLimitExceeded" in json.dumps(item["Item"])
        assert any(stack["upload_job"] in m for m in operator_messages(stack)), "the operator was not told"
    elif event == "endpoint_in_service":
        assert result["endpoint"] == world.ENDPOINT and result["scaling"]["max"] == 2, result
        targets = stack["clients"]["application-autoscaling"].describe_scalable_targets(
            ServiceNamespace="sagemaker")["ScalableTargets"]
        assert [(t["ResourceId"], t["MinCapacity"]) for t in targets] == [(f"endpoint/{world.ENDPOINT}/variant/AllTraffic", 0)]
    elif event == "claim_job_api":
        assert result == {**result, "jobId": world.JOB_ID, "claimed": True, "rejected": None}
        assert job_item(stack)["status"]["S"] == "RUNNING"
    elif event == "extract":
        ranges = s3_json(stack, result["ranges"]["Bucket"], result["ranges"]["Key"])
        assert result["rangeCount"] == len(ranges) == 3  # 72 frames in ranges of 32
        assert ranges[1] == world.load_event("extract_scan")["range"], "events/extract_scan.json: not this clip's range"
    elif event == "extract_scan":
        assert result["frames"] == 32
        # the other ranges, as the ScanRanges map would scan them, so that extract_plan.json finds every scan
        from slowmo.cloud.layout import JobLayout
        from slowmo.cloud.media import scan_range

        sample = world.load_event("extract")
        layout = JobLayout(world.JOB_ID, world.WORK_BUCKET, world.OUTPUT_BUCKET)
        ranges = s3_json(stack, world.WORK_BUCKET, f"{layout_prefix}/extract/ranges.json")
        for item in ranges:
            if item != world.load_event("extract_scan")["range"]:
                scan_range(s3=s3, layout=layout, source=sample["source"], options=sample["options"], item=item)
    elif event == "extract_plan":
        plan = s3_json(stack, world.WORK_BUCKET, f"{layout_prefix}/plan.json")
        manifest = s3_json(stack, result["manifest"]["Bucket"], result["manifest"]["Key"])
        groups = s3_json(stack, result["groups"]["Bucket"], result["groups"]["Key"])
        assert result["chunkCount"] == len(manifest) == 5 and plan["cuts"] == [40]
        assert world.load_event("extract_cut")["group"] in groups, "events/extract_cut.json: not a group of this plan"
        chunk = next(c for c in manifest if c["index"] == world.CHUNK)
        for name in ("encode_chunk", "invoke_endpoint"):
            assert world.load_event(name)["chunk"] == chunk, f"events/{name}.json: not chunk {world.CHUNK} of this plan"
        stack["manifest"], stack["groups"] = manifest, groups
    elif event == "extract_cut":
        assert result["chunks"] == 2
        for index in (3, 4):
            assert s3.head_object(Bucket=world.WORK_BUCKET, Key=f"{layout_prefix}/chunks/{index:05d}/input.chunk")["ContentLength"] > 0
    elif event == "invoke_endpoint":
        assert result["chunk"] == world.CHUNK and result["inferenceId"].startswith(f"{world.JOB_ID}-{world.CHUNK:05d}-")
        token = ddb.get_item(TableName=world.TOKENS_TABLE, Key={"inferenceId": {"S": result["inferenceId"]}})["Item"]
        assert token["taskToken"]["S"] == world.load_event("invoke_endpoint")["taskToken"]
        request = s3_json(stack, world.WORK_BUCKET, f"{layout_prefix}/chunks/{world.CHUNK:05d}/request.json")
        assert request["factor"] == 8 and request["first_index"] == 45
        # SageMaker's side: the chunk is synthesised and the response written where the success event says
        response = run_endpoint(stack, world.CHUNK)
        message = json.loads(world.load_event("resume_success_sns")["Records"][0]["Sns"]["Message"])
        bucket, key = message["responseParameters"]["outputLocation"].removeprefix("s3://").split("/", 1)
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(response).encode())
        put_token(stack, world.INFERENCE_ID, "AQCEAAAAKgAAAAMAAAAAAAAAAcVEXAMPLETOKEN-success")
    elif event == "resume_success_sns":
        assert result == {"handled": [{"inferenceId": world.INFERENCE_ID, "outcome": "succeeded"}]}
        assert "Item" not in ddb.get_item(TableName=world.TOKENS_TABLE, Key={"inferenceId": {"S": world.INFERENCE_ID}})
        put_token(stack, world.INFERENCE_ID, "AQCEAAAAKgAAAAMAAAAAAAAAAcVEXAMPLETOKEN-error")  # for the next event
    elif event == "resume_error_sns":
        assert result == {"handled": [{"inferenceId": world.INFERENCE_ID, "outcome": "failed"}]}
    elif event == "encode_chunk":
        for key in result.values() if isinstance(result, dict) else []:
            if isinstance(key, str) and key.startswith(layout_prefix):
                assert s3.head_object(Bucket=world.WORK_BUCKET, Key=key)["ContentLength"] > 0
        listed = s3.list_objects_v2(Bucket=world.WORK_BUCKET, Prefix=f"{layout_prefix}/chunks/{world.CHUNK:05d}/")
        assert any(o["Key"].endswith(".mp4") for o in listed.get("Contents", [])), listed
        # the rest of the job, as the state machine would run it, so that assemble.json has every segment
        from slowmo.cloud.layout import JobLayout
        from slowmo.cloud.media import cut_range, encode_chunk

        layout = JobLayout(world.JOB_ID, world.WORK_BUCKET, world.OUTPUT_BUCKET)
        source = world.load_event("extract")["source"]
        for group in stack["groups"]:
            if group != world.load_event("extract_cut")["group"]:
                cut_range(s3=s3, layout=layout, source=source, item=group)
        for chunk in stack["manifest"]:
            if chunk["index"] != world.CHUNK:
                run_endpoint_for(stack, chunk)
                encode_chunk(s3=s3, layout=layout, chunk=chunk)
    elif event == "assemble":
        outputs = result["outputs"]
        assert set(outputs) == {"video", "comparison"}, outputs
        video = stack["tmp"] / "assembled.mp4"
        bucket, key = outputs["video"].removeprefix("s3://").split("/", 1)
        s3.download_file(bucket, key, str(video))
        from slowmo.media.probe import probe

        info = probe(video)
        plan = s3_json(stack, world.WORK_BUCKET, f"{layout_prefix}/plan.json")
        from slowmo.timeline.plan import Plan

        assert info.frame_count == Plan.from_dict(plan["timing"]).output_count == 71 * 8 + 1  # every slot, every real frame
        assert info.has_audio
    elif event == "finish_job_succeeded":
        assert result["status"] == "SUCCEEDED" and job_item(stack)["status"]["S"] == "SUCCEEDED"
        assert any(world.JOB_ID in m for m in operator_messages(stack)), "no notification reached the operator"
    elif event == "api_get_job":
        assert result["statusCode"] == 200 and api_body(result)["status"] == "SUCCEEDED"
        assert api_body(result)["jobId"] == world.JOB_ID
    elif event == "finish_job_failed":
        assert result["status"] == "FAILED" and result["reason"], result
        assert job_item(stack)["status"]["S"] == "FAILED"
    elif event == "api_post_job_retry":
        assert result["statusCode"] == 202, api_body(result)
        name = api_body(result)["retry"]["executionName"]
        executions = stack["clients"]["stepfunctions"].list_executions(
            stateMachineArn=world.function_env("")["STATE_MACHINE_ARN"])["executions"]
        assert name in {e["name"] for e in executions}
    elif event == "api_post_job":
        assert result["statusCode"] in (200, 202), api_body(result)
        body = api_body(result)
        assert body["jobId"] and body["options"]["factor"] == 16
    elif event == "api_post_endpoint":
        assert result["statusCode"] == 202, api_body(result)
        endpoints = stack["clients"]["sagemaker"].list_endpoints()["Endpoints"]
        assert world.ENDPOINT in {e["EndpointName"] for e in endpoints}
        config = stack["clients"]["sagemaker"].describe_endpoint_config(
            EndpointConfigName=stack["clients"]["sagemaker"].describe_endpoint(EndpointName=world.ENDPOINT)["EndpointConfigName"])
        assert config["ProductionVariants"][0]["InstanceType"] == "ml.g5.xlarge"
    elif event == "api_get_endpoint":
        assert result["statusCode"] == 200, api_body(result)
        body = api_body(result)
        assert body["endpoint"] == world.ENDPOINT and body["exists"] is True, body
    elif event == "api_delete_endpoint":
        assert result["statusCode"] == 200, api_body(result)
        endpoints = stack["clients"]["sagemaker"].list_endpoints()["Endpoints"]
        assert world.ENDPOINT not in {e["EndpointName"] for e in endpoints}
    else:
        raise AssertionError(f"events/{event}.json has no check")


def run_endpoint_for(stack: dict, chunk: dict) -> None:
    from slowmo.cloud.inference import build_chunk_request
    from slowmo.cloud.layout import JobLayout
    from slowmo.modelserver.handler import handle_request
    from slowmo.synthesis.engines import create_engine

    layout = JobLayout(world.JOB_ID, world.WORK_BUCKET, world.OUTPUT_BUCKET)
    sample = world.load_event("invoke_endpoint")
    request = build_chunk_request(layout, chunk, sample["options"], sample["fps"])
    handle_request(request, s3=stack["clients"]["s3"], engine=create_engine("blend"))


def operator_messages(stack: dict) -> list[str]:
    """What reached the operator's subscription since the last look (read and removed)."""
    sqs = stack["clients"]["sqs"]
    url = sqs.get_queue_url(QueueName="slowmo-operator")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [m["Body"] for m in messages]


def test_every_event_has_a_function_or_is_part_of_one():
    names = {p.stem for p in (ROOT / "events").glob("*.json")}
    assert names == {e for e, _ in INVOKED} | set(EMBEDDED)


@pytest.mark.parametrize("event", sorted(EMBEDDED))
def test_embedded_events_equal_their_part_of_the_invoked_one(event):
    assert world.load_event(event) == EMBEDDED[event](), f"events/{event}.json differs from the event that carries it"


@pytest.mark.parametrize(("event", "function"), INVOKED, ids=[e for e, _ in INVOKED])
def test_event_in_its_image(stack, event, function):
    result, _log = sam_invoke(stack, function, event)
    stack["results"][event] = result
    check(stack, event, result)
