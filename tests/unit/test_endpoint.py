"""Endpoint deploy / status / delete against moto (sagemaker, application-autoscaling, cloudwatch)."""

import boto3
import pytest
from moto import mock_aws

from slowmo.cloud import endpoint
from slowmo.errors import InputError

REGION = "us-east-1"


@pytest.fixture
def clients(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        yield endpoint.Clients(boto3.client("sagemaker", region_name=REGION),
                               boto3.client("application-autoscaling", region_name=REGION),
                               boto3.client("cloudwatch", region_name=REGION))


def settings(**kw):
    base = dict(
        name="slowmo-film", model_data_url="s3://models/slowmo/model.tar.gz",
        role_arn="arn:aws:iam::123456789012:role/sm", output_path="s3://work/async/out/",
        failure_path="s3://work/async/failures/", success_topic="arn:aws:sns:us-east-1:123456789012:ok",
        error_topic="arn:aws:sns:us-east-1:123456789012:err", region=REGION, max_instances=3,
        instance_type="ml.g4dn.xlarge",  # moto validates against an old instance list (no g5/g6)
    )
    return endpoint.EndpointSettings(**{**base, **kw})


def test_deploy_creates_everything(clients):
    done = endpoint.deploy(settings(), clients=clients, poll=0)
    assert (done["model"], done["endpoint_config"], done["endpoint_action"]) == ("created", "created", "created")
    sm = clients.sagemaker
    cfg = sm.describe_endpoint_config(EndpointConfigName=done["endpoint_config_name"])
    async_cfg = cfg["AsyncInferenceConfig"]
    assert async_cfg["ClientConfig"]["MaxConcurrentInvocationsPerInstance"] == 1
    variant = endpoint.endpoint_config_spec(settings(), done["model_name"])["ProductionVariants"][0]
    assert (variant["ModelDataDownloadTimeoutInSeconds"], variant["ContainerStartupHealthCheckTimeoutInSeconds"]) == (
        1200, 1500)  # cold start: a failed load fails the health check within this, never goes InService
    out = async_cfg["OutputConfig"]
    assert out["S3OutputPath"] == "s3://work/async/out/" and out["S3FailurePath"] == "s3://work/async/failures/"
    assert out["NotificationConfig"]["SuccessTopic"].endswith(":ok")
    assert out["NotificationConfig"]["ErrorTopic"].endswith(":err")
    model = sm.describe_model(ModelName=done["model_name"])
    assert model["PrimaryContainer"]["Image"] == (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/" + endpoint.DJL_GPU_TAG)
    target = clients.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"][0]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (
        "endpoint/slowmo-film/variant/AllTraffic", 0, 3)
    pols = {p["PolicyName"]: p for p in clients.autoscaling.describe_scaling_policies(
        ServiceNamespace="sagemaker")["ScalingPolicies"]}
    tt = pols["slowmo-film-backlog-target"]["TargetTrackingScalingPolicyConfiguration"]
    assert tt["CustomizedMetricSpecification"]["MetricName"] == "ApproximateBacklogSizePerInstance"
    assert pols["slowmo-film-wake-from-zero"]["PolicyType"] == "StepScaling"
    alarm = clients.cloudwatch.describe_alarms(AlarmNames=["slowmo-film-has-backlog-without-capacity"])["MetricAlarms"][0]
    assert alarm["MetricName"] == "HasBacklogWithoutCapacity"
    assert alarm["AlarmActions"] == [pols["slowmo-film-wake-from-zero"]["PolicyARN"]]
    st = endpoint.status("slowmo-film", clients=clients)
    assert st["exists"] and st["status"] == "InService" and st["scaling"]["min"] == 0
    assert st["scaling"]["policies"] == ["slowmo-film-backlog-target", "slowmo-film-wake-from-zero"]


def test_deploy_twice_is_harmless_and_changes_update(clients):
    first = endpoint.deploy(settings(), clients=clients, poll=0)
    again = endpoint.deploy(settings(), clients=clients, poll=0)
    assert (again["model"], again["endpoint_config"], again["endpoint_action"]) == ("existing", "existing", "existing")
    assert again["model_name"] == first["model_name"]
    assert len(clients.sagemaker.list_endpoint_configs()["EndpointConfigs"]) == 1
    assert len(clients.autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]) == 2
    assert len(clients.cloudwatch.describe_alarms()["MetricAlarms"]) == 1
    # moto does not implement UpdateEndpoint: record the call on a thin proxy instead
    updates = []

    class UpdateRecorder:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def update_endpoint(self, **kw):
            updates.append(kw)

    proxied = endpoint.Clients(UpdateRecorder(clients.sagemaker), clients.autoscaling, clients.cloudwatch)
    changed = endpoint.deploy(settings(model_data_url="s3://models/slowmo/v2.tar.gz"), clients=proxied, poll=0)
    assert (changed["model"], changed["endpoint_config"], changed["endpoint_action"]) == ("created", "created", "updated")
    assert updates == [{"EndpointName": "slowmo-film", "EndpointConfigName": changed["endpoint_config_name"]}]


def test_delete_tears_down_and_is_idempotent(clients):
    endpoint.deploy(settings(), clients=clients, poll=0)
    # a second config left behind by an earlier deploy (the endpoint update itself is not in moto)
    model_name = endpoint.model_spec(settings())["ModelName"]
    old_cfg = endpoint.endpoint_config_spec(settings(instance_type="ml.g4dn.2xlarge"), model_name)
    clients.sagemaker.create_endpoint_config(**old_cfg)
    gone = endpoint.delete("slowmo-film", clients=clients)
    assert gone["endpoint_deleted"] and gone["scalable_target"] and len(gone["policies"]) == 2
    assert len(gone["endpoint_configs"]) == 2 and len(gone["models"]) == 1
    sm = clients.sagemaker
    assert sm.list_endpoints()["Endpoints"] == [] and sm.list_models()["Models"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert clients.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert clients.cloudwatch.describe_alarms()["MetricAlarms"] == []
    assert endpoint.status("slowmo-film", clients=clients) == {"endpoint": "slowmo-film", "exists": False}
    again = endpoint.delete("slowmo-film", clients=clients)
    assert not again["endpoint_deleted"] and again["models"] == []


def test_delete_leaves_other_endpoints_alone(clients):
    endpoint.deploy(settings(name="slowmo-film-b"), clients=clients, poll=0)
    endpoint.delete("slowmo-film", clients=clients)
    assert [e["EndpointName"] for e in clients.sagemaker.list_endpoints()["Endpoints"]] == ["slowmo-film-b"]
    assert len(clients.sagemaker.list_models()["Models"]) == 1


def test_image_uri_per_region():
    assert endpoint.image_uri("eu-west-1") == f"763104351884.dkr.ecr.eu-west-1.amazonaws.com/{endpoint.DJL_GPU_TAG}"
    assert endpoint.image_uri("af-south-1").startswith("626614931356.dkr.ecr.af-south-1.amazonaws.com/")
    assert endpoint.image_uri("cn-north-1").endswith(".amazonaws.com.cn/" + endpoint.DJL_GPU_TAG)
    assert endpoint.image_uri("us-west-2", "ml.c6i.2xlarge").endswith(endpoint.DJL_CPU_TAG)
    assert endpoint.is_gpu_instance("ml.p4d.24xlarge") and not endpoint.is_gpu_instance("ml.m5.large")


def test_bad_settings():
    for kw, text in [({"name": "bad name"}, "endpoint name"), ({"model_data_url": "/tmp/m.tar.gz"}, "s3://"),
                     ({"role_arn": ""}, "role"), ({"min_instances": 4}, "min <= max"),
                     ({"startup_health_check_timeout": 30}, "60..3600"), ({"model_download_timeout": 7200}, "60..3600")]:
        with pytest.raises(InputError, match=text):
            endpoint.deploy(settings(**kw), clients=object())
