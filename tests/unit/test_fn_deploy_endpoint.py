"""DeployEndpointFunction: POST/GET/DELETE /endpoint drive slowmo.cloud.endpoint against (moto's) SageMaker."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
from cloud_fixtures import EVENTS_DIR, FakeContext, load_handler, running_stack
from iam_harness import acting_as


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        cloud = running_stack(monkeypatch, stack)
        monkeypatch.setenv("MODEL_DATA_URL", "s3://models-bucket/film/model.tar.gz")
        monkeypatch.setenv("ENDPOINT_INSTANCE_TYPE", "ml.g4dn.xlarge")
        monkeypatch.setenv("ENDPOINT_MAX_INSTANCES", "2")
        yield cloud


def _call(name: str):
    event = json.loads((EVENTS_DIR / name).read_text())
    if event["body"]:  # moto's SageMaker knows instance types only up to g4dn
        event["body"] = event["body"].replace("ml.g5.xlarge", "ml.g4dn.xlarge")
    with acting_as("DeployEndpointFunction"):  # checked against the function's role
        resp = load_handler("deploy_endpoint")(event, FakeContext(function_name="DeployEndpointFunction"))
    return resp["statusCode"], json.loads(resp["body"])


def test_deploy_status_delete(cloud):
    status, body = _call("api_post_endpoint.json")
    assert status == 202, body
    sm = cloud.client("sagemaker")
    endpoint = sm.describe_endpoint(EndpointName=cloud.endpoint_name)
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    output = config["AsyncInferenceConfig"]["OutputConfig"]
    assert output["S3OutputPath"] == "s3://slowmo-work/async/out/"
    assert output["NotificationConfig"]["SuccessTopic"] == cloud.topics["InferenceSuccessTopic"]
    assert output["NotificationConfig"]["ErrorTopic"] == cloud.topics["InferenceErrorTopic"]
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.g4dn.xlarge"

    status, body = _call("api_get_endpoint.json")
    assert status == 200 and body["exists"] is True

    status, body = _call("api_delete_endpoint.json")
    assert status == 200
    status, body = _call("api_get_endpoint.json")
    assert body["exists"] is False


def test_deploy_without_a_model_is_a_400(cloud, monkeypatch):
    monkeypatch.setenv("MODEL_DATA_URL", "")
    status, body = _call("api_post_endpoint.json")
    assert status == 400 and "FilmModelS3Uri" in body["message"]


def _api(cloud, method: str, body=None):
    return cloud.api(method, "/endpoint", body)


def test_scaling_is_registered_only_once_the_endpoint_is_in_service(cloud):
    """Application Auto Scaling refuses a variant whose endpoint is Creating or Updating (the harness
    answers as SageMaker does): POST leaves scaling pending, the first GET after InService registers it."""
    status, body = _api(cloud, "POST", {"instanceType": "ml.g4dn.xlarge"})
    assert status == 202, body
    assert "pending" in body["scaling"]
    targets = cloud.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")
    assert targets["ScalableTargets"] == []
    status, body = _api(cloud, "GET")
    assert status == 200 and body["status"] == "Creating" and "scaling" not in body
    cloud.endpoint_ready()
    status, body = _api(cloud, "GET")
    assert status == 200 and body["scaling"]["min"] == 0 and body["scaling"]["max"] == 2, body
    assert len(body["scaling"]["policies"]) == 2


def test_changing_the_instance_type_deregisters_scaling_first(cloud):
    """An UpdateEndpoint that changes a registered variant's instance type fails (SageMaker, "Update
    endpoints that use auto scaling"): the deploy deregisters, updates, and registers again once InService."""
    assert _api(cloud, "POST", {"instanceType": "ml.g4dn.xlarge", "maxInstances": 3})[0] == 202
    cloud.endpoint_ready()
    assert _api(cloud, "GET")[1]["scaling"]["max"] == 3
    status, body = _api(cloud, "POST", {"instanceType": "ml.g4dn.2xlarge", "maxInstances": 3})
    assert status == 202, body
    assert body["endpoint_action"] == "updated" and body["scaling_removed"] is True and "pending" in body["scaling"]
    status, body = _api(cloud, "GET")
    assert body["status"] == "Updating" and "scaling" not in body
    cloud.endpoint_ready()
    status, body = _api(cloud, "GET")
    assert body["scaling"]["max"] == 3, body
    config = cloud.client("sagemaker").describe_endpoint_config(EndpointConfigName=body["endpoint_config_name"])
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.g4dn.2xlarge"


def test_a_deploy_while_updating_is_refused_with_a_reason(cloud):
    assert _api(cloud, "POST", {"instanceType": "ml.g4dn.xlarge"})[0] == 202
    status, body = _api(cloud, "POST", {"instanceType": "ml.g4dn.2xlarge"})
    assert status == 409 and "Creating" in body["message"]


@pytest.mark.parametrize("change", [{}, {"instanceType": "ml.g4dn.2xlarge"}], ids=["same model", "new settings"])
def test_a_failed_endpoint_is_deleted_not_updated_and_the_next_post_creates_it(cloud, change):
    """Issue 20, finding 2. A Failed endpoint accepts only DeleteEndpoint ("DeleteEndpoint is the only operation
    that can be performed on a failed endpoint", EndpointStatus in
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html; the harness refuses
    UpdateEndpoint and AddTags on it). POST deletes it and answers 409 with SageMaker's reason; the next POST
    creates it again."""
    assert _api(cloud, "POST", {"instanceType": "ml.g4dn.xlarge"})[0] == 202
    cloud.lifecycle.fail(cloud.endpoint_name, "The primary container did not pass the ping health check.")
    before = len(cloud.iam.log)
    status, body = _api(cloud, "POST", {"instanceType": "ml.g4dn.xlarge", **change})
    assert status == 409, body
    assert "ping health check" in body["message"] and "POST /endpoint again" in body["message"]
    made = [r.operation for r in cloud.iam.log[before:] if r.service == "sagemaker"]
    assert "DeleteEndpoint" in made and "UpdateEndpoint" not in made and "AddTags" not in made, made
    assert cloud.lifecycle.status(cloud.endpoint_name) is None  # deleted
    status, body = _api(cloud, "GET")
    assert status == 200 and body["exists"] is False
    status, body = _api(cloud, "POST", {"instanceType": "ml.g4dn.xlarge", **change})
    assert status == 202 and body["endpoint_action"] == "created", body
    assert cloud.lifecycle.status(cloud.endpoint_name) == "Creating"


def test_an_endpoint_being_deleted_is_a_409_that_says_when_to_post_again(cloud):
    assert _api(cloud, "POST", {"instanceType": "ml.g4dn.xlarge"})[0] == 202
    cloud.lifecycle.deleting(cloud.endpoint_name)
    status, body = _api(cloud, "POST", {"instanceType": "ml.g4dn.xlarge"})
    assert status == 409 and "being deleted" in body["message"], body
    assert cloud.lifecycle.status(cloud.endpoint_name) == "Deleting"


def test_an_instance_quota_of_zero_is_a_400_naming_the_quota_and_nothing_is_created(cloud):
    """CreateEndpoint over the account's per-type quota answers ResourceLimitExceeded and creates nothing
    (Errors of https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html); the caller
    gets a 400 naming the Service Quotas quota to raise, not a 500."""
    cloud.lifecycle.instance_quota["ml.g4dn.xlarge"] = 0  # new accounts get 0 of many GPU types
    status, body = _api(cloud, "POST", {"instanceType": "ml.g4dn.xlarge"})
    assert status == 400, body
    assert "'ml.g4dn.xlarge for endpoint usage'" in body["message"] and "Service Quotas" in body["message"]
    assert cloud.lifecycle.status(cloud.endpoint_name) is None
    cloud.lifecycle.instance_quota["ml.g4dn.xlarge"] = 2  # after the increase the same POST works
    assert _api(cloud, "POST", {"instanceType": "ml.g4dn.xlarge"})[0] == 202


def test_max_instances_above_the_instance_quota_is_refused_before_anything_is_created(cloud):
    """Issue 20, finding 6. Scaling out past the account's "<type> for endpoint usage" quota fails later and
    silently (https://docs.aws.amazon.com/sagemaker/latest/dg/regions-quotas.html): POST /endpoint reads the
    quota (Service Quotas ListServiceQuotas, with the function's own role) and says so up front."""
    cloud.lifecycle.instance_quota["ml.g4dn.xlarge"] = 1
    before = len(cloud.iam.log)
    status, body = _api(cloud, "POST", {"instanceType": "ml.g4dn.xlarge", "maxInstances": 2})
    assert status == 400, body
    assert "quota of 1" in body["message"] and "'ml.g4dn.xlarge for endpoint usage'" in body["message"]
    made = [(r.service, r.operation) for r in cloud.iam.log[before:]]
    assert ("service-quotas", "ListServiceQuotas") in made
    assert not [op for service, op in made if service == "sagemaker" and op.startswith("Create")], made
    status, body = _api(cloud, "POST", {"instanceType": "ml.g4dn.xlarge", "maxInstances": 1})
    assert status == 202 and body["instance_quota"] == 1, body


def test_resource_limit_exceeded_from_create_endpoint_is_a_400_naming_the_quota(cloud):
    """The quota allows maxInstances, but another endpoint of the account holds the instances: CreateEndpoint
    answers ResourceLimitExceeded (the harness counts instances in use, as SageMaker does) and the caller gets a
    400 quoting it, not a 500."""
    sm = cloud.client("sagemaker")
    sm.create_model(ModelName="other", ExecutionRoleArn=cloud.sagemaker_role_arn,
                    PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"})
    sm.create_endpoint_config(EndpointConfigName="other", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "other", "InstanceType": "ml.g4dn.xlarge", "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName="other", EndpointConfigName="other")
    cloud.lifecycle.instance_quota["ml.g4dn.xlarge"] = 1
    status, body = _api(cloud, "POST", {"instanceType": "ml.g4dn.xlarge", "maxInstances": 1})
    assert status == 400, body
    assert "current utilization of 1" in body["message"] and "Service Quotas" in body["message"], body
    assert cloud.lifecycle.status(cloud.endpoint_name) is None


def test_scaling_is_registered_when_the_endpoint_goes_in_service_without_anyone_asking(cloud):
    """Issue 20, finding 7. Nobody calls GET /endpoint: the stack's EventBridge rule on the endpoint's state
    change (SageMaker Endpoint State Change, IN_SERVICE) runs DeployEndpointFunction, which registers the
    scalable target (min 0) and both policies; a repeated event changes nothing; other states and other
    endpoints are not matched."""
    assert _api(cloud, "POST", {"instanceType": "ml.g4dn.xlarge", "maxInstances": 2})[0] == 202
    autoscaling = cloud.client("application-autoscaling")
    assert cloud.endpoint_state_changed("CREATING") is None
    cloud.endpoint_ready()
    assert cloud.endpoint_state_changed(name="someone-elses-endpoint") is None
    result = cloud.endpoint_state_changed("IN_SERVICE")
    assert result["endpoint"] == cloud.endpoint_name and result["scaling"]["max"] == 2, result
    targets = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [
        (f"endpoint/{cloud.endpoint_name}/variant/AllTraffic", 0, 2)]
    assert cloud.endpoint_state_changed("IN_SERVICE")["scaling"]["max"] == 2  # SageMaker may send it twice
    policies = autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert len(policies) == 2
