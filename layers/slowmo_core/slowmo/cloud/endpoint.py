"""Deploy, inspect and delete the FILM asynchronous inference endpoint (and its scale-to-zero scaling).

``deploy`` creates, in order and only what is missing (so a second call does no harm):

1. a SageMaker Model (DJL Serving image + model.tar.gz from ``slowmo.cloud.packaging``);
2. an EndpointConfig with AsyncInferenceConfig (S3 output/failure paths, SNS success/error topics,
   MaxConcurrentInvocationsPerInstance);
3. the Endpoint (or an UpdateEndpoint onto the new config when the model or settings changed);
4. Application Auto Scaling: the variant as a scalable target with MinCapacity 0, a target-tracking policy
   on ``ApproximateBacklogSizePerInstance``, and a step policy fired by a CloudWatch alarm on
   ``HasBacklogWithoutCapacity`` so that a request arriving while the endpoint has 0 instances wakes it
   (target tracking alone never scales out from 0: backlog per instance is undefined there).

Model and config names carry a hash of their settings, so a changed setting makes new resources (configs
are immutable in SageMaker) and an unchanged one is recognised. ``delete`` removes everything, in reverse.
boto3 is imported only when clients have to be created.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field

from slowmo.errors import InputError

VARIANT = "AllTraffic"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
NAMESPACE = "sagemaker"
DEFAULT_INSTANCE_TYPE = "ml.g5.xlarge"
MAX_INSTANCES_TAG = "slowmo:max-instances"  # on the endpoint: what GET /endpoint registers scaling with

# DJL Serving images (AWS Deep Learning Containers). The LMI image brings CUDA 12.4 and DJL's Python
# engine; TensorFlow comes from model/requirements.txt. The CPU image serves the flow/blend engines.
DJL_GPU_TAG = "djl-inference:0.29.0-lmi11.0.0-cu124"
DJL_CPU_TAG = "djl-inference:0.29.0-cpu-full"
DLC_ACCOUNT = "763104351884"
DLC_ACCOUNTS = {  # regions whose Deep Learning Containers live in another account
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "ap-northeast-3": "364406365360",
    "ap-south-2": "772153158452",
    "ap-southeast-3": "907027046896",
    "ap-southeast-4": "457447274322",
    "ca-west-1": "204538143572",
    "eu-central-2": "380420809688",
    "eu-south-1": "692866216735",
    "eu-south-2": "503227376785",
    "il-central-1": "780543022126",
    "me-central-1": "914824155844",
    "me-south-1": "217643126080",
    "cn-north-1": "727897471807",
    "cn-northwest-1": "727897471807",
    "us-gov-east-1": "446045086412",
    "us-gov-west-1": "442386744353",
}


def is_gpu_instance(instance_type: str) -> bool:
    family = instance_type.removeprefix("ml.").split(".")[0]
    return family[:1] in ("g", "p")


def image_uri(region: str, instance_type: str = DEFAULT_INSTANCE_TYPE) -> str:
    """The DJL Serving container for ``region`` (GPU image for ml.g*/ml.p*, CPU image otherwise)."""
    if not region:
        raise InputError("no AWS region: set AWS_REGION or pass region=")
    account = DLC_ACCOUNTS.get(region, DLC_ACCOUNT)
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    tag = DJL_GPU_TAG if is_gpu_instance(instance_type) else DJL_CPU_TAG
    return f"{account}.dkr.ecr.{region}{suffix}/{tag}"


@dataclass(frozen=True)
class EndpointSettings:
    name: str
    model_data_url: str
    role_arn: str
    output_path: str  # s3://bucket/async/out/
    failure_path: str = ""  # s3://bucket/async/failures/
    success_topic: str = ""
    error_topic: str = ""
    instance_type: str = DEFAULT_INSTANCE_TYPE
    max_instances: int = 2
    min_instances: int = 0
    max_concurrent_invocations: int = 1
    target_backlog_per_instance: float = 2.0
    scale_in_cooldown: int = 600
    scale_out_cooldown: int = 120
    wake_cooldown: int = 300
    # Cold start from zero: download and unpack model.tar.gz (SavedModel + wheels, a few GB), then the
    # offline pip install, the FILM load and one warm-up midpoint before /ping answers. SageMaker allows
    # 60..3600 s for each (API ProductionVariant: ModelDataDownloadTimeoutInSeconds,
    # ContainerStartupHealthCheckTimeoutInSeconds). Estimates, not measured here (docs/model-endpoint.md).
    model_download_timeout: int = 1200
    startup_health_check_timeout: int = 1500
    image_uri: str = ""
    region: str = ""
    environment: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)

    def validate(self) -> None:
        if not self.name or len(self.name) > 48 or not all(c.isalnum() or c == "-" for c in self.name):
            raise InputError(f"endpoint name {self.name!r} must be 1-48 letters, digits or hyphens")
        if not self.model_data_url.startswith("s3://"):
            raise InputError(f"model data must be an s3:// URI of model.tar.gz, got {self.model_data_url!r}")
        if not self.role_arn.startswith("arn:"):
            raise InputError("a SageMaker execution role ARN is required")
        if not self.output_path.startswith("s3://"):
            raise InputError("the async output path must be an s3:// URI")
        if not 0 <= self.min_instances <= self.max_instances or self.max_instances < 1:
            raise InputError(f"instances must satisfy 0 <= min <= max, max >= 1 (got {self.min_instances}, {self.max_instances})")
        if self.max_concurrent_invocations < 1:
            raise InputError("max_concurrent_invocations must be >= 1")
        for label, value in (("model_download_timeout", self.model_download_timeout),
                             ("startup_health_check_timeout", self.startup_health_check_timeout)):
            if not 60 <= value <= 3600:
                raise InputError(f"{label} must be 60..3600 seconds (SageMaker's range), got {value}")

    def resolved_image(self) -> str:
        return self.image_uri or image_uri(self.region, self.instance_type)


@dataclass
class Clients:
    sagemaker: object
    autoscaling: object
    cloudwatch: object
    quotas: object = None  # Service Quotas; None: the instance quota is not checked

    @classmethod
    def create(cls, region: str | None = None) -> Clients:
        import boto3

        kw = {"region_name": region} if region else {}
        return cls(boto3.client("sagemaker", **kw), boto3.client("application-autoscaling", **kw),
                   boto3.client("cloudwatch", **kw), boto3.client("service-quotas", **kw))


def instance_quota(instance_type: str, quotas) -> int | None:
    """The account's "<instance type> for endpoint usage" quota (instances, all endpoints together), or None when
    Service Quotas cannot say (not allowed, not listed). SageMaker's quotas: "Amazon SageMaker AI endpoints and
    quotas" (https://docs.aws.amazon.com/sagemaker/latest/dg/regions-quotas.html); ListServiceQuotas:
    https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_ListServiceQuotas.html."""
    if quotas is None:
        return None
    wanted = f"{instance_type} for endpoint usage"
    try:
        for quota in _paged(quotas.list_service_quotas, "Quotas", ServiceCode="sagemaker"):
            if quota.get("QuotaName") == wanted:
                return int(quota["Value"])
    except Exception:  # noqa: BLE001 - no permission or no Service Quotas here: SageMaker still says at create
        return None
    return None


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def resource_id(name: str) -> str:
    return f"endpoint/{name}/variant/{VARIANT}"


def names(name: str) -> dict:
    return {
        "target_policy": f"{name}-backlog-target",
        "wake_policy": f"{name}-wake-from-zero",
        "alarm": f"{name}-has-backlog-without-capacity",
    }


def model_spec(s: EndpointSettings) -> dict:
    env = {"SLOWMO_MODEL_DIR": "/opt/ml/model", "SERVING_FAIL_FAST": "true", **s.environment}
    spec = {"Image": s.resolved_image(), "ModelDataUrl": s.model_data_url, "Environment": env}
    return {"ModelName": f"{s.name}-{_digest([spec, s.role_arn])}", "ExecutionRoleArn": s.role_arn,
            "PrimaryContainer": spec}


def endpoint_config_spec(s: EndpointSettings, model_name: str) -> dict:
    output = {"S3OutputPath": s.output_path}
    if s.failure_path:
        output["S3FailurePath"] = s.failure_path
    notify = {}
    if s.success_topic:
        notify["SuccessTopic"] = s.success_topic
    if s.error_topic:
        notify["ErrorTopic"] = s.error_topic
    if notify:
        # Our result JSON is a few hundred bytes (under the 128 KB SageMaker includes). On the error
        # topic it is the only place the model server's own one-line reason reaches us: SageMaker's
        # failureReason is generic ("Received server error (500) from model..."). Valid values:
        # SUCCESS_NOTIFICATION_TOPIC | ERROR_NOTIFICATION_TOPIC (API_AsyncInferenceNotificationConfig).
        notify["IncludeInferenceResponseIn"] = ["SUCCESS_NOTIFICATION_TOPIC", "ERROR_NOTIFICATION_TOPIC"]
        output["NotificationConfig"] = notify
    body = {
        "ProductionVariants": [{
            "VariantName": VARIANT, "ModelName": model_name, "InstanceType": s.instance_type,
            "InitialInstanceCount": 1,
            "ModelDataDownloadTimeoutInSeconds": s.model_download_timeout,
            "ContainerStartupHealthCheckTimeoutInSeconds": s.startup_health_check_timeout,
        }],
        "AsyncInferenceConfig": {
            "ClientConfig": {"MaxConcurrentInvocationsPerInstance": s.max_concurrent_invocations},
            "OutputConfig": output,
        },
    }
    return {"EndpointConfigName": f"{s.name}-{_digest(body)}", **body}


class EndpointConflict(InputError):
    """The endpoint is in a state that does not allow this request now (HTTP 409); the message says what to do."""


class QuotaExceeded(InputError):
    """SageMaker refused the instances: the account's per-instance-type quota is too low (HTTP 400).

    CreateEndpoint and UpdateEndpoint answer ResourceLimitExceeded synchronously and create nothing (Errors of
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html); the quota is
    "<instance type> for endpoint usage" in Service Quotas
    (https://docs.aws.amazon.com/sagemaker/latest/dg/regions-quotas.html)."""


# EndpointStatus values in which only DeleteEndpoint is allowed: "DeleteEndpoint is the only operation that can
# be performed on a failed endpoint" (API_DescribeEndpoint, EndpointStatus), and Deleting is on its way out
ONLY_DELETE = ("Failed", "Deleting")


def _code(exc) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _missing(exc) -> bool:
    msg = str(getattr(exc, "response", {}).get("Error", {}).get("Message", exc)).lower()
    return _code(exc) in ("ObjectNotFoundException", "ResourceNotFound", "ResourceNotFoundException",
                          "NoSuchEntity") or any(s in msg for s in ("could not find", "does not exist", "not found", " found for "))


def _tags(s: EndpointSettings) -> list[dict]:
    return [{"Key": k, "Value": str(v)} for k, v in {"app": "slowmo", **s.tags}.items()]


def deploy(settings: EndpointSettings, *, clients: Clients | None = None, wait: bool = True,
           wait_timeout: float = 1800, poll: float = 30) -> dict:
    """Create or update everything; returns what was done (``created`` / ``existing`` / ``updated``)."""
    settings.validate()
    c = clients or Clients.create(settings.region or None)
    sm = c.sagemaker
    done: dict = {"endpoint": settings.name}
    # Scaling out past the account's instance quota fails silently later (the endpoint stays at what it
    # has, and chunks time out): say so now, before anything is created
    quota = instance_quota(settings.instance_type, c.quotas)
    if quota is not None and quota < settings.max_instances:
        raise QuotaExceeded(
            f"maxInstances {settings.max_instances} is above the account's '{settings.instance_type} for endpoint "
            f"usage' quota of {quota}: scaling would stop at {quota}. Ask for at least {settings.max_instances} in "
            f"Service Quotas (Amazon SageMaker), or deploy with maxInstances {quota} (EndpointMaxInstances)"
            if quota else
            f"the account's '{settings.instance_type} for endpoint usage' quota is 0: SageMaker would refuse the "
            f"endpoint. Ask for at least {settings.max_instances} in Service Quotas (Amazon SageMaker), or deploy "
            "with another instanceType")
    done["instance_quota"] = quota

    model = model_spec(settings)
    try:
        sm.describe_model(ModelName=model["ModelName"])
        done["model"] = "existing"
    except Exception as exc:  # noqa: BLE001 - botocore ClientError
        if not _missing(exc):
            raise
        sm.create_model(**model, Tags=_tags(settings))
        done["model"] = "created"
    done["model_name"] = model["ModelName"]

    config = endpoint_config_spec(settings, model["ModelName"])
    try:
        sm.describe_endpoint_config(EndpointConfigName=config["EndpointConfigName"])
        done["endpoint_config"] = "existing"
    except Exception as exc:  # noqa: BLE001
        if not _missing(exc):
            raise
        sm.create_endpoint_config(**config, Tags=_tags(settings))
        done["endpoint_config"] = "created"
    done["endpoint_config_name"] = config["EndpointConfigName"]

    try:
        ep = sm.describe_endpoint(EndpointName=settings.name)
    except Exception as exc:  # noqa: BLE001
        if not _missing(exc):
            raise
        ep = None
    scaling_tag = {"Key": MAX_INSTANCES_TAG, "Value": str(settings.max_instances)}
    if ep is not None and ep.get("EndpointStatus") in ONLY_DELETE:
        _clear_failed(ep, settings.name, c)  # raises EndpointConflict: POST again once it is gone
    if ep is None:
        with _quota_named(settings):
            sm.create_endpoint(EndpointName=settings.name, EndpointConfigName=config["EndpointConfigName"],
                               Tags=[*_tags(settings), scaling_tag])
        done["endpoint_action"] = "created"
    elif ep.get("EndpointConfigName") != config["EndpointConfigName"]:
        if ep.get("EndpointStatus") != "InService":
            raise EndpointConflict(f"endpoint {settings.name} is {ep.get('EndpointStatus')}; "
                                   "deploy again when GET /endpoint says InService")
        # An update that changes a scaled variant's instance type fails while the variant is a
        # registered scalable target, and scaling is blocked during any update: take it off first;
        # it is registered again once the endpoint is InService (SageMaker Developer Guide, "Update
        # endpoints that use auto scaling").
        done["scaling_removed"] = remove_scaling(settings.name, c)
        with _quota_named(settings):
            sm.update_endpoint(EndpointName=settings.name, EndpointConfigName=config["EndpointConfigName"])
        sm.add_tags(ResourceArn=ep["EndpointArn"], Tags=[scaling_tag])
        done["endpoint_action"] = "updated"
    else:
        sm.add_tags(ResourceArn=ep["EndpointArn"], Tags=[scaling_tag])
        done["endpoint_action"] = "existing"

    if wait:
        status = _wait_in_service(sm, settings.name, wait_timeout, poll)
        done["endpoint_status"] = status
    done["scaling"] = ensure_scaling(settings.name, c, settings)
    return done


def _clear_failed(ep: dict, name: str, c: Clients) -> None:
    """A Failed endpoint can only be deleted (API_DescribeEndpoint, EndpointStatus): delete it, with any scaling
    registered for it, and tell the caller why and to deploy again once it is gone. A Deleting one is on its way."""
    status = ep.get("EndpointStatus")
    if status == "Failed":
        reason = ep.get("FailureReason") or "no reason given"
        remove_scaling(name, c)
        _ignore_missing(c.sagemaker.delete_endpoint, EndpointName=name)
        raise EndpointConflict(f"endpoint {name} had failed ({reason}); SageMaker allows only deleting a failed "
                               "endpoint, so it is being deleted now: fix the cause, then POST /endpoint again "
                               "once GET /endpoint says it no longer exists")
    raise EndpointConflict(f"endpoint {name} is being deleted; POST /endpoint again once GET /endpoint says it "
                           "no longer exists")


class _quota_named:
    """ResourceLimitExceeded from CreateEndpoint/UpdateEndpoint -> QuotaExceeded naming the quota to raise."""

    def __init__(self, settings: EndpointSettings):
        self.settings = settings

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None or _code(exc) != "ResourceLimitExceeded":
            return False
        message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", exc))
        raise QuotaExceeded(
            f"SageMaker refused {self.settings.instance_type} for {self.settings.name}: the account's "
            f"'{self.settings.instance_type} for endpoint usage' quota is too low ({message.rstrip('.')}). "
            f"Ask for at least {self.settings.max_instances} in Service Quotas (Amazon SageMaker), or deploy "
            "with another instanceType; nothing was created, POST /endpoint again after the increase") from None


def ensure_scaling(name: str, c: Clients, settings: EndpointSettings | None = None) -> dict:
    """Register scale-to-zero once the endpoint is InService; until then say it is pending.

    Application Auto Scaling validates a SageMaker variant against the endpoint as it is, and cannot
    be configured while the endpoint is Creating or Updating (SageMaker Developer Guide, "Update
    endpoints that use auto scaling"). POST /endpoint therefore registers scaling only when the
    endpoint is already InService; otherwise the endpoint's InService state-change event does it
    (``on_state_change``; GET /endpoint too), with the instance limit the POST recorded on the endpoint as a tag."""
    ep = c.sagemaker.describe_endpoint(EndpointName=name)
    if ep.get("EndpointStatus") != "InService":
        return {"pending": f"registered once the endpoint is InService (it is {ep.get('EndpointStatus')}), "
                           "by the stack's rule on the endpoint's state change"}
    if settings is None:
        tags = {t["Key"]: t["Value"] for t in c.sagemaker.list_tags(ResourceArn=ep["EndpointArn"]).get("Tags", [])}
        settings = EndpointSettings(name=name, model_data_url="", role_arn="", output_path="",
                                    max_instances=int(tags.get(MAX_INSTANCES_TAG, 1)))
    return configure_scaling(settings, c)


def on_state_change(detail: dict, ours: str, *, clients: Clients | None = None) -> dict:
    """EventBridge's "SageMaker Endpoint State Change" for an endpoint that went InService: register its scaling
    now, whoever deployed it and whether or not anyone looks at GET /endpoint (SageMaker Developer Guide, "Events
    that Amazon SageMaker AI sends to Amazon EventBridge"; scaling can be registered only on an InService endpoint,
    "Autoscale an asynchronous endpoint"). Idempotent: SageMaker may send an event more than once."""
    name = str(detail.get("EndpointName") or "")
    if name.lower() != ours.lower():
        return {"endpoint": name, "ignored": f"not this stack's endpoint ({ours})"}
    c = clients or Clients.create()
    return {"endpoint": ours, "scaling": ensure_scaling(ours, c)}


def remove_scaling(name: str, c: Clients) -> bool:
    """Delete the scaling policies and deregister the variant; False when none was registered."""
    n = names(name)
    targets = c.autoscaling.describe_scalable_targets(
        ServiceNamespace=NAMESPACE, ResourceIds=[resource_id(name)], ScalableDimension=DIMENSION
    ).get("ScalableTargets", [])
    if not targets:
        return False
    for key in ("wake_policy", "target_policy"):
        _ignore_missing(c.autoscaling.delete_scaling_policy, PolicyName=n[key], ServiceNamespace=NAMESPACE,
                        ResourceId=resource_id(name), ScalableDimension=DIMENSION)
    c.autoscaling.deregister_scalable_target(ServiceNamespace=NAMESPACE, ResourceId=resource_id(name),
                                             ScalableDimension=DIMENSION)
    return True


def _wait_in_service(sm, name: str, timeout: float, poll: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        ep = sm.describe_endpoint(EndpointName=name)
        status = ep.get("EndpointStatus", "")
        if status == "InService":
            return status
        if status == "Failed":
            raise InputError(f"endpoint {name} failed: {ep.get('FailureReason', 'no reason given')}")
        if time.monotonic() > deadline:
            raise InputError(f"endpoint {name} is still {status} after {int(timeout)} s")
        time.sleep(poll)


def configure_scaling(s: EndpointSettings, c: Clients) -> dict:
    """Scalable target (min 0), backlog target tracking, and the wake-from-zero step policy + alarm."""
    n = names(s.name)
    rid = resource_id(s.name)
    c.autoscaling.register_scalable_target(
        ServiceNamespace=NAMESPACE, ResourceId=rid, ScalableDimension=DIMENSION,
        MinCapacity=s.min_instances, MaxCapacity=s.max_instances,
    )
    c.autoscaling.put_scaling_policy(
        PolicyName=n["target_policy"], ServiceNamespace=NAMESPACE, ResourceId=rid, ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": float(s.target_backlog_per_instance),
            "CustomizedMetricSpecification": {
                "MetricName": "ApproximateBacklogSizePerInstance",
                "Namespace": "AWS/SageMaker",
                "Dimensions": [{"Name": "EndpointName", "Value": s.name}],
                "Statistic": "Average",
            },
            "ScaleInCooldown": s.scale_in_cooldown,
            "ScaleOutCooldown": s.scale_out_cooldown,
        },
    )
    wake = c.autoscaling.put_scaling_policy(
        PolicyName=n["wake_policy"], ServiceNamespace=NAMESPACE, ResourceId=rid, ScalableDimension=DIMENSION,
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity",
            "MetricAggregationType": "Average",
            "Cooldown": s.wake_cooldown,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}],
        },
    )
    c.cloudwatch.put_metric_alarm(
        AlarmName=n["alarm"],
        AlarmDescription=f"slowmo: requests wait for {s.name} while it has no instance; add one",
        Namespace="AWS/SageMaker", MetricName="HasBacklogWithoutCapacity",
        Dimensions=[{"Name": "EndpointName", "Value": s.name}],
        Statistic="Average", Period=60, EvaluationPeriods=2, DatapointsToAlarm=2,
        Threshold=1.0, ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="missing",
        AlarmActions=[wake["PolicyARN"]],
    )
    return {"resource_id": rid, "min": s.min_instances, "max": s.max_instances, **n,
            "wake_policy_arn": wake["PolicyARN"]}


def status(name: str, *, clients: Clients | None = None, region: str | None = None) -> dict:
    """Endpoint status, instance counts and scaling state; ``{"exists": False}`` when there is none."""
    c = clients or Clients.create(region)
    try:
        ep = c.sagemaker.describe_endpoint(EndpointName=name)
    except Exception as exc:  # noqa: BLE001
        if _missing(exc):
            return {"endpoint": name, "exists": False}
        raise
    variants = ep.get("ProductionVariants") or [{}]
    out = {
        "endpoint": name, "exists": True, "status": ep.get("EndpointStatus"),
        "endpoint_config_name": ep.get("EndpointConfigName"),
        "current_instances": variants[0].get("CurrentInstanceCount"),
        "desired_instances": variants[0].get("DesiredInstanceCount"),
    }
    if ep.get("FailureReason"):
        out["failure_reason"] = ep["FailureReason"]
    targets = c.autoscaling.describe_scalable_targets(
        ServiceNamespace=NAMESPACE, ResourceIds=[resource_id(name)], ScalableDimension=DIMENSION
    ).get("ScalableTargets", [])
    if not targets and ep.get("EndpointStatus") == "InService":
        ensure_scaling(name, c)  # the POST that made it could not: the endpoint was not InService yet
        targets = c.autoscaling.describe_scalable_targets(
            ServiceNamespace=NAMESPACE, ResourceIds=[resource_id(name)], ScalableDimension=DIMENSION
        ).get("ScalableTargets", [])
    if targets:
        out["scaling"] = {"min": targets[0]["MinCapacity"], "max": targets[0]["MaxCapacity"]}
        pols = c.autoscaling.describe_scaling_policies(
            ServiceNamespace=NAMESPACE, ResourceId=resource_id(name), ScalableDimension=DIMENSION
        ).get("ScalingPolicies", [])
        out["scaling"]["policies"] = sorted(p["PolicyName"] for p in pols)
    alarms = c.cloudwatch.describe_alarms(AlarmNames=[names(name)["alarm"]]).get("MetricAlarms", [])
    if alarms:
        out["wake_alarm_state"] = alarms[0].get("StateValue")
    return out


def delete(name: str, *, clients: Clients | None = None, region: str | None = None) -> dict:
    """Remove alarm, policies, scalable target, endpoint, configs and models of ``name``; idempotent."""
    c = clients or Clients.create(region)
    n = names(name)
    removed: dict = {"endpoint": name}
    c.cloudwatch.delete_alarms(AlarmNames=[n["alarm"]])
    removed["alarm"] = n["alarm"]
    policies = []
    for key in ("wake_policy", "target_policy"):
        try:
            c.autoscaling.delete_scaling_policy(PolicyName=n[key], ServiceNamespace=NAMESPACE,
                                                ResourceId=resource_id(name), ScalableDimension=DIMENSION)
            policies.append(n[key])
        except Exception as exc:  # noqa: BLE001
            if not _missing(exc):
                raise
    removed["policies"] = policies
    try:
        c.autoscaling.deregister_scalable_target(ServiceNamespace=NAMESPACE, ResourceId=resource_id(name),
                                                 ScalableDimension=DIMENSION)
        removed["scalable_target"] = True
    except Exception as exc:  # noqa: BLE001
        if not _missing(exc):
            raise
        removed["scalable_target"] = False
    sm = c.sagemaker
    try:
        sm.delete_endpoint(EndpointName=name)
        removed["endpoint_deleted"] = True
    except Exception as exc:  # noqa: BLE001
        if not _missing(exc):
            raise
        removed["endpoint_deleted"] = False
    configs = [e["EndpointConfigName"] for e in _paged(sm.list_endpoint_configs, "EndpointConfigs", NameContains=name)
               if _ours(e["EndpointConfigName"], name)]
    for cfg in configs:
        _ignore_missing(sm.delete_endpoint_config, EndpointConfigName=cfg)
    models = [m["ModelName"] for m in _paged(sm.list_models, "Models", NameContains=name) if _ours(m["ModelName"], name)]
    for m in models:
        _ignore_missing(sm.delete_model, ModelName=m)
    removed["endpoint_configs"] = configs
    removed["models"] = models
    return removed


def _ours(resource: str, name: str) -> bool:
    suffix = resource[len(name) + 1:]
    return resource.startswith(name + "-") and len(suffix) == 10 and all(ch in "0123456789abcdef" for ch in suffix)


def _paged(fn, key: str, **kw):
    token = None
    while True:
        resp = fn(**kw, **({"NextToken": token} if token else {}))
        yield from resp.get(key, [])
        token = resp.get("NextToken")
        if not token:
            return


def _ignore_missing(fn, **kw) -> None:
    try:
        fn(**kw)
    except Exception as exc:  # noqa: BLE001
        if not _missing(exc):
            raise


def settings_dict(s: EndpointSettings) -> dict:
    return asdict(s)
