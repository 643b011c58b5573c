"""The AWS limits the stand-ins enforce (tests/aws_semantics.py, tests/cloud_fixtures.py), each shown biting.

Each rule's AWS page is named where the rule is implemented. These tests drive the stand-ins directly with
small state machines and calls of their own, so a rule that stopped biting fails here, not silently.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import ExitStack

import pytest
from aws_semantics import PAYLOAD_LIMIT, S3Limits, StepFunctionsLimits, payload_bytes
from cloud_fixtures import ACCOUNT, REGION, aws_test_environment

ROLE = f"arn:aws:iam::{ACCOUNT}:role/test"


@pytest.fixture
def aws(monkeypatch):
    from moto import mock_aws

    aws_test_environment(monkeypatch)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


def _run(definition: dict, execution_input: dict | None = None, timeout: float = 30) -> dict:
    import boto3

    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(name=f"m{time.monotonic_ns()}", definition=json.dumps(definition),
                                   roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(execution_input or {}))["executionArn"]
    deadline = time.monotonic() + timeout
    while (desc := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return desc


CAUGHT = {"Caught": {"Type": "Pass", "Result": "caught", "End": True}}


def _big_pass(size: int) -> dict:
    return {"Type": "Pass", "Result": {"blob": "x" * (size - len('{"blob":""}'))},
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": True}


def test_a_state_output_of_exactly_256_kib_passes_one_byte_more_is_data_limit_exceeded_and_uncaught(aws):
    with StepFunctionsLimits():
        ok = _run({"StartAt": "Big", "States": {"Big": {**_big_pass(PAYLOAD_LIMIT), "Catch": []}}})
        assert ok["status"] == "SUCCEEDED", ok
        assert payload_bytes(json.loads(ok["output"])) == PAYLOAD_LIMIT
        over = _run({"StartAt": "Big", "States": {"Big": _big_pass(PAYLOAD_LIMIT + 1), **CAUGHT}})
    assert over["status"] == "FAILED" and over["error"] == "States.DataLimitExceeded", over


def test_states_runtime_is_not_caught_by_states_all(aws):
    missing = {"Type": "Pass", "Parameters": {"x.$": "$.nowhere"},
               "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": True}
    with StepFunctionsLimits():
        desc = _run({"StartAt": "Missing", "States": {"Missing": missing, **CAUGHT}}, {"here": 1})
    assert desc["status"] == "FAILED" and desc["error"] == "States.Runtime", desc


def test_a_map_collected_result_over_the_limit_fails_even_with_result_path_null(aws):
    """Twelve items answering 24 KB each: every answer is small, their collected results are not."""
    item = {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "Result": {"blob": "y" * 24_000}, "End": True}}}
    state_map = {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {**item, "ProcessorConfig": {"Mode": "INLINE"}},
                 "ResultPath": None, "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2, "IntervalSeconds": 1}],
                 "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": True}
    items = {"items": list(range(12))}
    assert PAYLOAD_LIMIT < 12 * 24_000
    with StepFunctionsLimits() as limits:
        desc = _run({"StartAt": "Fan", "States": {"Fan": state_map, **CAUGHT}}, items)
        assert desc["status"] == "FAILED" and desc["error"] == "States.DataLimitExceeded", desc
        assert limits.largest["Fan"] > PAYLOAD_LIMIT
        assert limits.retries == []  # States.ALL neither caught nor retried it
        # the same Map whose items answer with almost nothing stays small
        quiet = {**state_map, "ItemProcessor": {**state_map["ItemProcessor"],
                                                "States": {"Echo": {**item["States"]["Echo"], "OutputPath": None}}}}
        assert _run({"StartAt": "Fan", "States": {"Fan": quiet, **CAUGHT}}, items)["status"] == "SUCCEEDED"


def test_a_history_over_its_event_limit_fails_the_execution(aws):
    loop = {"Count": {"Type": "Pass", "Next": "Again"},
            "Again": {"Type": "Choice", "Choices": [{"Variable": "$.stop", "BooleanEquals": True, "Next": "Done"}],
                      "Default": "Count"},
            "Done": {"Type": "Succeed"}}
    with StepFunctionsLimits() as limits:
        limits.history_limit = 40  # the rule at a size a test can reach; the real one is 25,000
        desc = _run({"StartAt": "Count", "States": loop}, {"stop": False}, timeout=20)
    assert desc["status"] == "FAILED", desc


def test_a_distributed_maps_children_have_histories_of_their_own(aws):
    """The limit is per execution: a Distributed Map's iterations are child executions with histories of their
    own, so a map run with more events in all than one execution may hold still succeeds (the 2,000-chunk job
    does). The parent's own history is held to the limit by the test above."""
    work = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": True}}}
    fan = {"StartAt": "Fan", "States": {"Fan": {
        "Type": "Map", "ItemsPath": "$.items", "ResultPath": None, "End": True,
        "ItemProcessor": {**work, "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}}}}}
    with StepFunctionsLimits() as limits:
        limits.history_limit = 40  # about 6 events an item: 72 in the map run, a handful in each child
        assert _run(fan, {"items": list(range(12))}, timeout=30)["status"] == "SUCCEEDED"


def test_a_failed_child_fails_the_map_run_at_its_threshold(aws):
    """ToleratedFailure 0 (the default): the first failed child fails the Map Run with
    States.ExceedToleratedFailureThreshold, which a Catch can take; moto alone would run every item and succeed."""
    child = {"StartAt": "Odd", "States": {
        "Odd": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 3, "Next": "Boom"}], "Default": "Ok"},
        "Boom": {"Type": "Fail", "Error": "ChildFailed"}, "Ok": {"Type": "Pass", "End": True}}}
    fan = {"StartAt": "Fan", "States": {"Fan": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1, "ResultPath": None, "End": True,
        "ItemProcessor": {**child, "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}}}}}
    with StepFunctionsLimits():
        desc = _run(fan, {"items": list(range(20))})
        assert desc["status"] == "FAILED" and desc["error"] == "States.ExceedToleratedFailureThreshold", desc
        tolerant = {"StartAt": "Fan", "States": {"Fan": {**fan["States"]["Fan"], "ToleratedFailureCount": 1}}}
        assert _run(tolerant, {"items": list(range(20))})["status"] == "SUCCEEDED"


def test_retry_waits_are_logged(aws):
    failing = {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
               "Parameters": {"Bucket": "nowhere", "Key": "k"},
               "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2, "IntervalSeconds": 1, "BackoffRate": 1}],
               "End": True}
    with StepFunctionsLimits() as limits:
        assert _run({"StartAt": "Get", "States": {"Get": failing}})["status"] == "FAILED"
    assert [seconds for state, _, seconds in limits.retries if state == "Get"] == [1, 1]


# ------------------------------------------------------------------------------------------- SageMaker
def _endpoint_config(sagemaker, name: str, instances: int = 1) -> None:
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                           PrimaryContainer={"Image": "123.dkr.ecr.us-east-1.amazonaws.com/x:1"})
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.g4dn.xlarge",
        "InitialInstanceCount": instances}])


def test_a_failed_or_deleting_endpoint_accepts_only_delete(aws):
    import boto3
    from aws_semantics import EndpointLifecycle
    from botocore.exceptions import ClientError

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    with EndpointLifecycle(ACCOUNT, REGION) as lifecycle:
        _endpoint_config(sagemaker, "a")
        _endpoint_config(sagemaker, "b")
        sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="a")
        lifecycle.fail("e", "ping health check failed")
        described = sagemaker.describe_endpoint(EndpointName="e")
        assert described["EndpointStatus"] == "Failed"
        with pytest.raises(ClientError, match="only operation allowed is DeleteEndpoint"):
            sagemaker.update_endpoint(EndpointName="e", EndpointConfigName="b")
        with pytest.raises(ClientError, match="only operation allowed is DeleteEndpoint"):
            sagemaker.add_tags(ResourceArn=described["EndpointArn"], Tags=[{"Key": "k", "Value": "v"}])
        lifecycle.deleting("e")
        with pytest.raises(ClientError, match="only operation allowed is DeleteEndpoint"):
            sagemaker.update_endpoint(EndpointName="e", EndpointConfigName="b")
        sagemaker.delete_endpoint(EndpointName="e")


def test_instances_over_the_quota_are_refused_with_resource_limit_exceeded(aws):
    import boto3
    from aws_semantics import EndpointLifecycle
    from botocore.exceptions import ClientError

    sagemaker = boto3.client("sagemaker", region_name=REGION)
    with EndpointLifecycle(ACCOUNT, REGION) as lifecycle:
        lifecycle.instance_quota["ml.g4dn.xlarge"] = 0  # a new account's default for many GPU types
        _endpoint_config(sagemaker, "a")
        with pytest.raises(ClientError) as refused:
            sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="a")
        assert refused.value.response["Error"]["Code"] == "ResourceLimitExceeded"
        assert "ml.g4dn.xlarge for endpoint usage" in refused.value.response["Error"]["Message"]
        assert not sagemaker.list_endpoints()["Endpoints"]  # nothing was created
        lifecycle.instance_quota["ml.g4dn.xlarge"] = 1
        sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="a")
        with pytest.raises(ClientError, match="current utilization of 1"):  # e holds the only one
            sagemaker.create_endpoint(EndpointName="e2", EndpointConfigName="a")
        quotas = boto3.client("service-quotas", region_name=REGION).list_service_quotas(ServiceCode="sagemaker")
        assert [(q["QuotaName"], q["Value"]) for q in quotas["Quotas"]] == [("ml.g4dn.xlarge for endpoint usage", 1.0)]


# ------------------------------------------------------------------------------------------- S3
def test_s3_single_put_and_part_size_limits(aws):
    import boto3
    from aws_semantics import PART_MAX, SINGLE_PUT_LIMIT
    from botocore.exceptions import ClientError

    assert SINGLE_PUT_LIMIT == 5_000_000_000 and PART_MAX == 5 * 1024**3
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="bkt")
    with S3Limits() as limits:
        limits.single_put_limit = limits.part_max = 6 * 2**20  # the rules at sizes a test can send
        s3.put_object(Bucket="bkt", Key="fits", Body=b"\0" * (6 * 2**20))
        with pytest.raises(ClientError, match="EntityTooLarge"):
            s3.put_object(Bucket="bkt", Key="over", Body=b"\0" * (6 * 2**20 + 1))
        upload = s3.create_multipart_upload(Bucket="bkt", Key="mp")["UploadId"]
        s3.upload_part(Bucket="bkt", Key="mp", UploadId=upload, PartNumber=1, Body=b"\0" * (5 * 2**20))
        with pytest.raises(ClientError, match="EntityTooLarge"):
            s3.upload_part(Bucket="bkt", Key="mp", UploadId=upload, PartNumber=2, Body=b"\0" * (6 * 2**20 + 1))
        with pytest.raises(ClientError, match="between 1 and 10000"):  # moto's own check, kept
            s3.upload_part(Bucket="bkt", Key="mp", UploadId=upload, PartNumber=10_001, Body=b"\0")
        assert [(n, size) for _, n, size in limits.parts] == [(1, 5 * 2**20)]


def test_a_get_object_body_can_break_part_way(aws):
    import boto3
    from botocore.exceptions import ResponseStreamingError

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="bkt")
    s3.put_object(Bucket="bkt", Key="k", Body=bytes(range(256)) * 40)
    with S3Limits() as limits:
        limits.drop_after("bkt", "k", 1000)
        body = s3.get_object(Bucket="bkt", Key="k")["Body"]
        assert len(body.read(600)) == 600 and len(body.read(600)) == 400
        with pytest.raises(ResponseStreamingError):
            body.read(600)
        assert limits.broken_reads == 1
        assert len(s3.get_object(Bucket="bkt", Key="k")["Body"].read()) == 10_240  # the next read is whole


# ------------------------------------------------------------------------------------------- Lambda
def test_lambda_account_concurrency_throttles_the_invocation_over_the_quota(monkeypatch):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
    from cloud_fixtures import running_stack

    with ExitStack() as stack:
        cloud = running_stack(monkeypatch, stack, account_concurrency=1)
        inside, release = threading.Event(), threading.Event()

        def slow(event, context):
            inside.set()
            release.wait(10)
            return {"ok": True}

        cloud.lambdas.overrides["FinishJobFunction"] = slow
        lam = boto3.client("lambda", region_name=REGION)
        first = threading.Thread(target=lambda: lam.invoke(FunctionName="FinishJobFunction", Payload=b"{}"))
        first.start()
        assert inside.wait(10)
        once = Config(retries={"total_max_attempts": 1})  # the SDK would retry a 429 on its own
        with pytest.raises(ClientError) as throttled:
            boto3.client("lambda", region_name=REGION, config=once).invoke(FunctionName="FinishJobFunction", Payload=b"{}")
        release.set()
        first.join(10)
        assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
        assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert cloud.lambdas.throttled == ["FinishJobFunction"] and cloud.lambdas.peak == 1
