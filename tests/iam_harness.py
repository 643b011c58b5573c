"""IAM as AWS enforces it, for the moto runs: every AWS call a handler, the state machine or the
model server makes is checked against the policy that principal really gets from template.yaml.

* ``translated_template()`` runs SAM's own translator (samtranslator, shipped with aws-sam-cli) on
  template.yaml, so policy templates (S3ReadPolicy, DynamoDBCrudPolicy, ...) are expanded exactly as
  a deploy expands them, and the roles SAM generates (``<Function>Role``, ``<StateMachine>Role``) are
  the ones checked.
* ``Resolver`` evaluates the intrinsics left in those policies (Ref, Fn::GetAtt, Fn::Sub, Fn::Join,
  Fn::Select, Fn::Split, Fn::If) against the harness's physical names.
* ``evaluate`` is a small IAM evaluator: an explicit Deny wins, otherwise an Allow must match both the
  action (case-insensitive, ``*``/``?`` wildcards) and the resource ARN (case-sensitive wildcards), and
  its conditions (StringEquals/StringLike/Bool on the keys the request supplies). Policy evaluation
  logic: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
* ``required`` maps one API call (service, operation, parameters) to the IAM actions and resource ARNs
  AWS authorises it against, from the Service Authorization Reference, including the permissions
  that an operation needs on top of its own (CreateModel -> iam:PassRole; RegisterScalableTarget for
  a SageMaker variant -> the three sagemaker actions; a target-tracking policy -> its CloudWatch alarms).
* ``IamEnforcer`` patches botocore at the client boundary (``BaseClient._make_api_call``), attributes
  each call to a principal and answers a denied call with AccessDenied, as AWS does. On exit it fails
  the test naming every denied (principal, action, resource). It also reproduces S3's answer for a
  missing key: 403 instead of 404 when the caller lacks s3:ListBucket on the bucket.
"""

from __future__ import annotations

import concurrent.futures
import copy
import functools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = ROOT / "template.yaml"
PARTITION = "aws"

STATE_MACHINE = "SlowMotionStateMachine"
SAGEMAKER_ROLE = "SageMakerExecutionRole"
# The access key moto's Step Functions interpreter signs its service-integration calls with
# (moto/stepfunctions/parser/asl/utils/boto_client.py): such a call is the state machine's role.
_STATE_MACHINE_ACCESS_KEY = "ak"


# ------------------------------------------------------------------------------------------- template
@functools.cache
def _translate(text: str) -> dict:
    import os

    from samcli.yamlhelper import yaml_parse
    from samtranslator.translator.transform import transform

    template = yaml_parse(text)
    for resource in template.get("Resources", {}).values():
        # what `sam package` does before a deploy: local code locations become S3/ECR locations
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function":
            if props.get("PackageType") == "Image":
                props["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/slowmo:test"
            else:
                props["CodeUri"] = "s3://packaged/code.zip"
        for key in ("DefinitionUri", "ContentUri"):
            if key in props:
                props[key] = f"s3://packaged/{key}.zip"

    class NoManagedPolicies:  # only managed policies named (not ARN'd) need IAM; we name none
        def load(self) -> dict:
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(template, {}, NoManagedPolicies())


def translated_template(text: str | None = None) -> dict:
    """template.yaml as CloudFormation receives it after the SAM transform (a fresh copy)."""
    return copy.deepcopy(_translate(text if text is not None else TEMPLATE_PATH.read_text()))


def principal_roles(translated: dict) -> dict[str, str]:
    """principal (function or state machine logical id, or a role's) -> logical id of its IAM role."""
    out = {}
    for logical, resource in translated["Resources"].items():
        props = resource.get("Properties") or {}
        if resource["Type"] == "AWS::Lambda::Function":
            out[logical] = props["Role"]["Fn::GetAtt"][0]
        elif resource["Type"] == "AWS::StepFunctions::StateMachine":
            out[logical] = props["RoleArn"]["Fn::GetAtt"][0]
        elif resource["Type"] == "AWS::IAM::Role" and logical == SAGEMAKER_ROLE:
            out[logical] = logical
    return out


def strip_policies(template_text: str, function: str) -> str:
    """template.yaml with one resource's ``Policies`` set to an empty list (the "Done when" check)."""
    from samcli.yamlhelper import yaml_dump, yaml_parse

    template = yaml_parse(template_text)
    template["Resources"][function]["Properties"]["Policies"] = []
    return yaml_dump(template)


# ------------------------------------------------------------------------------------------- intrinsics
@dataclass
class Resolver:
    """Evaluates CloudFormation intrinsics against the harness's physical resources."""

    stack_name: str
    region: str
    account: str
    refs: dict[str, str]  # logical id -> what Ref returns
    attrs: dict[tuple[str, str], str]  # (logical id, attribute) -> value
    parameters: dict[str, str] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)

    _NO_VALUE = object()

    def pseudo(self) -> dict[str, str]:
        return {"AWS::StackName": self.stack_name, "AWS::Region": self.region, "AWS::AccountId": self.account,
                "AWS::Partition": PARTITION, "AWS::URLSuffix": "amazonaws.com",
                "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.stack_name}/"
                                "1c2fa620-982a-11e3-aff7-50e2416294e0"}

    def ref(self, name: str) -> Any:
        pseudo = self.pseudo()
        if name in pseudo:
            return pseudo[name]
        if name == "AWS::NoValue":
            return self._NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise KeyError(f"Ref {name}: the IAM harness has no physical value for it")

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.conditions[name]))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(x) for x in node) if v is not self._NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.attrs[(logical, attr)]
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                values = {k: self.resolve(v) for k, v in variables.items()}

                def one(m: re.Match) -> str:
                    name = m.group(1)
                    if name in values:
                        return str(values[name])
                    if "." in name and not name.startswith("AWS::"):
                        logical, attr = name.split(".", 1)
                        return self.attrs[(logical, attr)]
                    return str(self.ref(name))

                return re.sub(r"\$\{([^}!]+)\}", one, text)
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(p) for p in self.resolve(parts))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.condition(cond) else no)
            if key == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return a == b
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Condition":
                return self.condition(arg)
        return {k: self.resolve(v) for k, v in node.items()}


# ------------------------------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class Request:
    """One authorisation AWS makes for a call: an action on a resource, with its condition keys."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str, case_sensitive: bool) -> re.Pattern:
    # IAM wildcards: * any run of characters, ? one character; nothing else is special
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, 0 if case_sensitive else re.IGNORECASE)


def _glob(pattern: str, text: str, *, case_sensitive: bool) -> bool:
    return _compiled(pattern, case_sensitive).fullmatch(text) is not None


def _conditions_hold(conditions: dict, context: dict[str, str]) -> bool:
    for operator, tests in (conditions or {}).items():
        for key, wanted in tests.items():
            value = context.get(key)
            if value is None:
                return False  # a condition on a key the request does not carry does not match
            wanted = [str(w) for w in _as_list(wanted)]
            if operator == "StringEquals" and value not in wanted:
                return False
            if operator == "StringLike" and not any(_glob(w, value, case_sensitive=True) for w in wanted):
                return False
            if operator == "Bool" and value.lower() not in [w.lower() for w in wanted]:
                return False
            if operator not in ("StringEquals", "StringLike", "Bool"):
                raise NotImplementedError(f"IAM harness: condition operator {operator}")
    return True


def _statement_matches(statement: dict, request: Request) -> bool:
    if "Action" in statement:
        if not any(_glob(a, request.action, case_sensitive=False) for a in _as_list(statement["Action"])):
            return False
    elif any(_glob(a, request.action, case_sensitive=False) for a in _as_list(statement["NotAction"])):
        return False
    if "Resource" in statement:
        if not any(_glob(r, request.resource, case_sensitive=True) for r in _as_list(statement["Resource"])):
            return False
    elif any(_glob(r, request.resource, case_sensitive=True) for r in _as_list(statement["NotResource"])):
        return False
    return _conditions_hold(statement.get("Condition"), dict(request.context))


def evaluate(statements: list[dict], request: Request) -> str:
    """'Allow', 'ExplicitDeny' or 'ImplicitDeny' for one request under one identity policy set."""
    matching = [s for s in statements if _statement_matches(s, request)]
    if any(s["Effect"] == "Deny" for s in matching):
        return "ExplicitDeny"
    return "Allow" if any(s["Effect"] == "Allow" for s in matching) else "ImplicitDeny"


# Managed policies SAM attaches by ARN; what matters here is that none of them grants data access.
# AWSLambdaBasicExecutionRole: logs only; AWSXrayWriteOnlyAccess: X-Ray only (IAM managed-policy reference).
MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": "*"}],
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": [
        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords",
                                       "xray:GetSamplingRules", "xray:GetSamplingTargets",
                                       "xray:GetSamplingStatisticSummaries"], "Resource": "*"}],
}


def role_statements(translated: dict, role_logical: str, resolver: Resolver) -> list[dict]:
    props = translated["Resources"][role_logical]["Properties"]
    statements = []
    for policy in props.get("Policies") or []:
        statements += _as_list(resolver.resolve(policy["PolicyDocument"])["Statement"])
    for arn in resolver.resolve(props.get("ManagedPolicyArns") or []):
        if arn not in MANAGED_POLICIES:
            raise KeyError(f"IAM harness: no statements known for managed policy {arn}")
        statements += MANAGED_POLICIES[arn]
    return statements


# ------------------------------------------------------------------------------------------- API -> IAM
@dataclass
class Arns:
    region: str
    account: str

    def s3(self, bucket: str, key: str | None = None) -> str:
        return f"arn:aws:s3:::{bucket}" + (f"/{key}" if key is not None else "")

    def table(self, name: str) -> str:
        return name if name.startswith("arn:") else f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"

    def sagemaker(self, kind: str, name: str) -> str:
        # SageMaker lower-cases resource names in its ARNs ("arn:aws:sagemaker:...:endpoint/my-endpoint"
        # for an endpoint created as "My-Endpoint"): IAM matches policies against that lower-case ARN.
        return f"arn:aws:sagemaker:{self.region}:{self.account}:{kind}/{name.lower()}"

    def function(self, name: str) -> str:
        return name if name.startswith("arn:") else f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"

    def alarm(self, name: str) -> str:
        return f"arn:aws:cloudwatch:{self.region}:{self.account}:alarm:{name}"


def _s3_object(arns: Arns, params: dict, read: bool) -> Request:
    # GetObject/HeadObject with a versionId are authorised as s3:GetObjectVersion
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions")
    action = ("s3:GetObjectVersion" if params.get("VersionId") else "s3:GetObject") if read else "s3:PutObject"
    return Request(action, arns.s3(params["Bucket"], params["Key"]))


def required(service: str, operation: str, params: dict, arns: Arns, *, state=None) -> list[Request]:
    """The authorisations AWS makes for one API call (Service Authorization Reference)."""
    p = params
    if service == "s3":
        if operation in ("GetObject", "HeadObject"):
            return [_s3_object(arns, p, read=True)]
        if operation in ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"):
            return [_s3_object(arns, p, read=False)]
        if operation == "AbortMultipartUpload":
            return [Request("s3:AbortMultipartUpload", arns.s3(p["Bucket"], p["Key"]))]
        if operation == "ListParts":
            return [Request("s3:ListMultipartUploadParts", arns.s3(p["Bucket"], p["Key"]))]
        if operation in ("CopyObject", "UploadPartCopy"):
            src = p["CopySource"]
            if isinstance(src, str):
                src_bucket, _, src_key = src.lstrip("/").partition("/")
                src = {"Bucket": src_bucket, "Key": src_key.split("?versionId=")[0]}
            return [Request("s3:PutObject", arns.s3(p["Bucket"], p["Key"])),
                    _s3_object(arns, {"Bucket": src["Bucket"], "Key": src["Key"], "VersionId": src.get("VersionId")},
                               read=True)]
        if operation == "DeleteObject":
            action = "s3:DeleteObjectVersion" if p.get("VersionId") else "s3:DeleteObject"
            return [Request(action, arns.s3(p["Bucket"], p["Key"]))]
        if operation == "DeleteObjects":
            return [Request("s3:DeleteObject", arns.s3(p["Bucket"], o["Key"])) for o in p["Delete"]["Objects"]]
        if operation in ("ListObjectsV2", "ListObjects", "HeadBucket"):
            return [Request("s3:ListBucket", arns.s3(p["Bucket"]))]
        if operation == "ListObjectVersions":
            return [Request("s3:ListBucketVersions", arns.s3(p["Bucket"]))]
    if service == "dynamodb":
        if operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "DescribeTable", "ConditionCheckItem"):
            return [Request(f"dynamodb:{operation}", arns.table(p["TableName"]))]
        if operation in ("Query", "Scan"):
            resource = arns.table(p["TableName"]) + (f"/index/{p['IndexName']}" if p.get("IndexName") else "")
            return [Request(f"dynamodb:{operation}", resource)]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [Request(f"dynamodb:{operation}", arns.table(t)) for t in p["RequestItems"]]
        if operation == "TransactWriteItems":
            out = []
            for item in p["TransactItems"]:
                (kind, body), = item.items()
                action = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                          "ConditionCheck": "ConditionCheckItem"}[kind]
                out.append(Request(f"dynamodb:{action}", arns.table(body["TableName"])))
            return out
    if service == "service-quotas" and operation == "ListServiceQuotas":
        # no resource-level permissions for ListServiceQuotas (Service Authorization Reference, "Actions,
        # resources, and condition keys for Service Quotas")
        return [Request("servicequotas:ListServiceQuotas", "*")]
    if service == "sns" and operation == "Publish":
        return [Request("sns:Publish", p["TopicArn"])]
    if service == "sqs" and operation == "SendMessage":
        return [Request("sqs:SendMessage", state.queue_arn(p["QueueUrl"]) if state else p["QueueUrl"])]
    if service == "lambda" and operation == "Invoke":
        return [Request("lambda:InvokeFunction", arns.function(p["FunctionName"]))]
    if service == "stepfunctions":
        if operation in ("StartExecution", "StartSyncExecution"):
            return [Request(f"states:{operation}", p["stateMachineArn"])]
        if operation in ("DescribeExecution", "StopExecution", "GetExecutionHistory"):
            return [Request(f"states:{operation}", p["executionArn"])]
        if operation in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"):
            # the token's own state machine (the template grants these on the state machine ARN)
            owner = state.token_owner(p["taskToken"]) if state else "*"
            return [Request(f"states:{operation}", owner)]
    if service == "sagemaker-runtime" and operation in ("InvokeEndpointAsync", "InvokeEndpoint"):
        return [Request(f"sagemaker:{operation}", arns.sagemaker("endpoint", p["EndpointName"]))]
    if service == "sagemaker":
        return _sagemaker(operation, p, arns, state)
    if service == "application-autoscaling":
        return _autoscaling(operation, p, arns, state)
    if service == "cloudwatch":
        if operation in ("PutMetricAlarm",):
            return [Request("cloudwatch:PutMetricAlarm", arns.alarm(p["AlarmName"]))]
        if operation in ("DeleteAlarms", "DescribeAlarms"):
            names = p.get("AlarmNames")
            if not names:
                return [Request(f"cloudwatch:{operation}", "*")]
            return [Request(f"cloudwatch:{operation}", arns.alarm(n)) for n in names]
        if operation == "PutMetricData":
            return [Request("cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", p["Namespace"]),))]
    raise NotImplementedError(f"IAM harness: no authorisation rule for {service}:{operation}; add one "
                              "from the Service Authorization Reference")


def _sagemaker(operation: str, p: dict, arns: Arns, state) -> list[Request]:
    kinds = {"Model": "model", "EndpointConfig": "endpoint-config", "Endpoint": "endpoint"}
    for suffix, kind in kinds.items():
        if operation in (f"Create{suffix}", f"Describe{suffix}", f"Delete{suffix}"):
            name = p[f"{suffix}Name"]
            out = [Request(f"sagemaker:{operation}", arns.sagemaker(kind, name))]
            if operation.startswith("Create") and p.get("Tags"):
                # tagging on create needs sagemaker:AddTags too (SageMaker Developer Guide, "Tagging
                # resources on creation", and the Service Authorization Reference's dependent actions)
                out.append(Request("sagemaker:AddTags", arns.sagemaker(kind, name)))
            if operation == "CreateModel":
                out.append(Request("iam:PassRole", p["ExecutionRoleArn"],
                                   (("iam:PassedToService", "sagemaker.amazonaws.com"),)))
            if operation == "CreateEndpoint":
                out.append(Request("sagemaker:CreateEndpoint", arns.sagemaker("endpoint-config", p["EndpointConfigName"])))
            return out
    if operation == "UpdateEndpoint":
        # authorised on the endpoint and on the endpoint config it moves to
        return [Request("sagemaker:UpdateEndpoint", arns.sagemaker("endpoint", p["EndpointName"])),
                Request("sagemaker:UpdateEndpoint", arns.sagemaker("endpoint-config", p["EndpointConfigName"]))]
    if operation == "UpdateEndpointWeightsAndCapacities":
        return [Request("sagemaker:UpdateEndpointWeightsAndCapacities", arns.sagemaker("endpoint", p["EndpointName"]))]
    if operation in ("ListModels", "ListEndpointConfigs", "ListEndpoints"):
        return [Request(f"sagemaker:{operation}", "*")]
    if operation in ("AddTags", "ListTags", "DeleteTags"):
        return [Request(f"sagemaker:{operation}", p.get("ResourceArn", "*"))]
    raise NotImplementedError(f"IAM harness: no authorisation rule for sagemaker:{operation}")


def _autoscaling(operation: str, p: dict, arns: Arns, state) -> list[Request]:
    # Application Auto Scaling actions support no resource-level permissions ("*"). What it does on
    # the caller's behalf is authorised against the caller too:
    # * registering a SageMaker variant: sagemaker:DescribeEndpoint, DescribeEndpointConfig and
    #   UpdateEndpointWeightsAndCapacities (SageMaker Developer Guide, "Auto scaling prerequisites"),
    #   checked against the endpoint and the config it runs now;
    # * a target-tracking policy creates and deletes CloudWatch alarms named "TargetTracking-<resource id>-..."
    #   (Application Auto Scaling User Guide, "Identity-based policy examples": cloudwatch:PutMetricAlarm,
    #   DescribeAlarms, DeleteAlarms for target tracking).
    out = [Request(f"application-autoscaling:{operation}", "*")]
    if p.get("ServiceNamespace") == "sagemaker" and operation == "RegisterScalableTarget":
        endpoint = p["ResourceId"].split("/")[1]
        out += [Request("sagemaker:DescribeEndpoint", arns.sagemaker("endpoint", endpoint)),
                Request("sagemaker:UpdateEndpointWeightsAndCapacities", arns.sagemaker("endpoint", endpoint))]
        config = state.endpoint_config_of(endpoint) if state else None
        if config:
            out.append(Request("sagemaker:DescribeEndpointConfig", arns.sagemaker("endpoint-config", config)))
    target_tracking = p.get("PolicyType") == "TargetTrackingScaling"
    if operation == "DeleteScalingPolicy" and state is not None:
        target_tracking = state.is_target_tracking(p)
    if operation in ("PutScalingPolicy", "DeleteScalingPolicy") and target_tracking:
        alarm = arns.alarm(f"TargetTracking-{p['ResourceId']}-AlarmHigh-00000000-0000-0000-0000-000000000000")
        actions = ["PutMetricAlarm", "DescribeAlarms", "DeleteAlarms"] if operation == "PutScalingPolicy" else ["DeleteAlarms"]
        out += [Request(f"cloudwatch:{a}", alarm) for a in actions]
    return out


# ------------------------------------------------------------------------------------------- enforcement
_current = threading.local()


def current_principal() -> str | None:
    stack = getattr(_current, "stack", None)
    return stack[-1] if stack else None


@contextmanager
def acting_as(principal: str | None) -> Iterator[None]:
    """Calls made in this block (and in threads it starts) are made with ``principal``'s role."""
    stack = getattr(_current, "stack", None)
    if stack is None:
        stack = _current.stack = []
    stack.append(principal)
    try:
        yield
    finally:
        stack.pop()


@dataclass
class Denial:
    principal: str
    action: str
    resource: str
    operation: str

    def __str__(self) -> str:
        return f"{self.principal} is not allowed {self.action} on {self.resource} (in {self.operation})"


@dataclass
class CallRecord:
    principal: str
    service: str
    operation: str
    requests: list[Request]


class IamEnforcer:
    """Checks every botocore call against the caller's translated policy; see the module docstring."""

    def __init__(self, stack, *, template_text: str | None = None):
        self.stack = stack  # the CloudStack: physical names, and lookups for tokens and endpoints
        self.translated = translated_template(template_text)
        self.resolver = stack.resolver()
        self.arns = Arns(stack.region, stack.account)
        self.roles = principal_roles(self.translated)
        self._statements: dict[str, list[dict]] = {}
        self.denials: list[Denial] = []
        self.log: list[CallRecord] = []
        self._lock = threading.Lock()
        self._patches: list = []

    def statements(self, principal: str) -> list[dict]:
        if principal not in self._statements:
            self._statements[principal] = role_statements(self.translated, self.roles[principal], self.resolver)
        return self._statements[principal]

    def allowed(self, principal: str, request: Request) -> bool:
        return evaluate(self.statements(principal), request) == "Allow"

    def check(self, principal: str, service: str, operation: str, params: dict) -> None:
        requests = required(service, operation, params, self.arns, state=self.stack)
        with self._lock:
            self.log.append(CallRecord(principal, service, operation, requests))
        for request in requests:
            if not self.allowed(principal, request):
                denial = Denial(principal, request.action, request.resource, f"{service}:{operation}")
                with self._lock:
                    self.denials.append(denial)
                raise access_denied(operation, str(denial))

    # -- the botocore boundary -------------------------------------------------------------------
    def _principal_of(self, client) -> str | None:
        creds = getattr(getattr(client, "_request_signer", None), "_credentials", None)
        if creds is not None and getattr(creds, "access_key", None) == _STATE_MACHINE_ACCESS_KEY:
            return STATE_MACHINE
        return current_principal()

    def __enter__(self) -> IamEnforcer:
        from botocore.client import BaseClient
        from botocore.exceptions import ClientError

        enforcer = self
        original = BaseClient._make_api_call

        def make_api_call(client, operation_name, api_params):
            principal = enforcer._principal_of(client)
            if principal is None:  # the test itself (setting up, asserting): not a role of the stack
                return original(client, operation_name, api_params)
            service = client.meta.service_model.service_name
            enforcer.check(principal, service, operation_name, api_params)
            try:
                return original(client, operation_name, api_params)
            except ClientError as err:
                raise enforcer.s3_missing_key(principal, service, operation_name, api_params, err) from None

        self._patches = [mock.patch.object(BaseClient, "_make_api_call", make_api_call),
                         _propagate_principal_to_threads(), self._distributed_map_check()]
        for patch in self._patches:
            patch.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        for patch in reversed(self._patches):
            patch.stop()
        if self.denials and exc_type is None:
            unique = list(dict.fromkeys(str(d) for d in self.denials))
            raise AssertionError("IAM denied calls the stack makes:\n  " + "\n  ".join(unique))

    def s3_missing_key(self, principal: str, service: str, operation: str, params: dict, err):
        """S3 answers a request for a missing key with 403 when the caller may not list the bucket
        (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html and API_GetObject.html,
        "Permissions": without s3:ListBucket, a missing object is 403 Access Denied, not 404)."""
        code = err.response.get("Error", {}).get("Code")
        if service != "s3" or operation not in ("GetObject", "HeadObject") or code not in ("404", "NoSuchKey", "NotFound"):
            return err
        if self.allowed(principal, Request("s3:ListBucket", self.arns.s3(params["Bucket"]))):
            return err
        if operation == "HeadObject":  # a HEAD response has no body: botocore reports the status code
            return access_denied(operation, "Forbidden", code="403")
        return access_denied(operation, "Access Denied")

    def _distributed_map_check(self):
        """A Distributed Map runs each item as a child execution of the state machine: the state
        machine's role needs states:StartExecution on itself (Step Functions Developer Guide, "IAM
        policies for using Distributed Map states"). moto runs the items in-process, so check it here."""
        from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
            DistributedIterationComponent,
        )

        enforcer = self
        original = DistributedIterationComponent._eval_body

        def eval_body(component, env):
            enforcer.check(STATE_MACHINE, "stepfunctions", "StartExecution",
                           {"stateMachineArn": enforcer.stack.state_machine_arn})
            return original(component, env)

        return mock.patch.object(DistributedIterationComponent, "_eval_body", eval_body)


def access_denied(operation: str, message: str, code: str = "AccessDenied"):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": 403}}, operation)


def _propagate_principal_to_threads():
    """Threads (and pool tasks) started while acting as a principal keep acting as it: a Lambda's
    upload threads run under the Lambda's role."""
    original_start = threading.Thread.start
    original_run = threading.Thread.run
    original_submit = concurrent.futures.ThreadPoolExecutor.submit

    def start(thread, *args, **kwargs):
        thread._iam_principal = current_principal()
        return original_start(thread, *args, **kwargs)

    def run(thread):
        principal = getattr(thread, "_iam_principal", None)
        if principal is None:
            return original_run(thread)
        with acting_as(principal):
            return original_run(thread)

    def submit(executor, fn, /, *args, **kwargs):
        principal = current_principal()
        if principal is None:
            return original_submit(executor, fn, *args, **kwargs)

        def as_principal(*a, **kw):
            with acting_as(principal):
                return fn(*a, **kw)

        return original_submit(executor, as_principal, *args, **kwargs)

    class Patches:
        def start(self):
            threading.Thread.start = start
            threading.Thread.run = run
            concurrent.futures.ThreadPoolExecutor.submit = submit

        def stop(self):
            threading.Thread.start = original_start
            threading.Thread.run = original_run
            concurrent.futures.ThreadPoolExecutor.submit = original_submit

    return Patches()


def replay(log: list[CallRecord], statements_of) -> list[Denial]:
    """The denials a recorded call log meets under other policies (``statements_of(principal)``)."""
    denials = []
    for call in log:
        for request in call.requests:
            if evaluate(statements_of(call.principal), request) != "Allow":
                denials.append(Denial(call.principal, request.action, request.resource,
                                      f"{call.service}:{call.operation}"))
    return denials

