"""DeployEndpointFunction: POST/GET/DELETE /endpoint drive slowmo.cloud.endpoint against (moto's) SageMaker."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
from cloud_fixtures import EVENTS_DIR, FakeContext, load_handler, running_stack


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        cloud = running_stack(monkeypatch, stack)
        monkeypatch.setenv("MODEL_DATA_URL", "s3://models-bucket/film/model.tar.gz")
        monkeypatch.setenv("SAGEMAKER_ROLE_ARN", cloud.role_arn)
        monkeypatch.setenv("ENDPOINT_INSTANCE_TYPE", "ml.g4dn.xlarge")
        monkeypatch.setenv("ENDPOINT_MAX_INSTANCES", "2")
        yield cloud


def _call(name: str):
    event = json.loads((EVENTS_DIR / name).read_text())
    if event["body"]:  # moto's SageMaker knows instance types only up to g4dn
        event["body"] = event["body"].replace("ml.g5.xlarge", "ml.g4dn.xlarge")
    resp = load_handler("deploy_endpoint")(event, FakeContext(function_name="DeployEndpointFunction"))
    return resp["statusCode"], json.loads(resp["body"])


def test_deploy_status_delete(cloud):
    status, body = _call("api_post_endpoint.json")
    assert status == 202, body
    sm = cloud.client("sagemaker")
    endpoint = sm.describe_endpoint(EndpointName="slowmo-film")
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
