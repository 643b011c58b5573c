"""Security properties of template.yaml, read the way CloudFormation will: decoded by cfn-lint (CFN tags),
then expanded by the SAM translator (policy templates -> IAM statements, API events -> OpenAPI with auth)."""

from __future__ import annotations

import json
import re
from functools import lru_cache

from cloud_fixtures import ASL_PATH, TEMPLATE_PATH

from slowmo.foresight.limits import Limits

MAX_PRESIGN_SECONDS = 900
# AWS-managed policies SAM attaches: logs to the function's own log group, and X-Ray traces
ALLOWED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
# (role, Sid) of every statement that may use a wildcard; each carries a "# WILDCARD-OK: why" comment
WILDCARD_ALLOW_LIST = {
    ("SageMakerExecutionRole", "PullImageToken"),
    ("SageMakerExecutionRole", "PullImage"),
    ("SageMakerExecutionRole", "ContainerMetrics"),
    ("DeployEndpointFunctionRole", "FindOldConfigsAndModels"),
    ("DeployEndpointFunctionRole", "ScaleToZero"),
    ("DeployEndpointFunctionRole", "ReadTheInstanceQuota"),
    ("SlowMotionStateMachineRole", "VendedLogDelivery"),
}


@lru_cache(maxsize=1)
def raw_template() -> dict:
    from cfnlint.decode import decode

    template, matches = decode(str(TEMPLATE_PATH))
    assert not matches, matches
    return json.loads(json.dumps(template))


@lru_cache(maxsize=1)
def transformed_template() -> dict:
    """What CloudFormation runs: the SAM transform applied, with code locations as `sam package` sets them."""
    import os

    from samtranslator.translator.transform import transform

    template = json.loads(json.dumps(raw_template()))
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            if props.get("PackageType") == "Image":
                props["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/slowmo:1"
            else:
                props["CodeUri"] = "s3://artifacts/function.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://artifacts/layer.zip"
        elif resource["Type"] == "AWS::Serverless::StateMachine":
            props["DefinitionUri"] = "s3://artifacts/statemachine.json"

    class NoManagedPolicies:
        def load(self):
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(template, {}, NoManagedPolicies())


def resources(template: dict, kind: str) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _resource_text(value) -> str:
    """A Resource entry as text (Fn::Sub strings, Joins flattened) for wildcard checks."""
    return json.dumps(value)


def _allow_statements(role: dict):
    props = role["Properties"]
    for policy in props.get("Policies", []):
        for statement in _as_list(policy["PolicyDocument"]["Statement"]):
            if statement.get("Effect") == "Allow":
                yield statement


def _is_wildcard(statement: dict) -> bool:
    actions = [a for a in _as_list(statement.get("Action", [])) if isinstance(a, str)]
    if any("*" in a for a in actions):
        return True
    for res in _as_list(statement.get("Resource", [])):
        if res == "*":
            return True
        text = _resource_text(res)
        # any account, any region or any bucket: the resource is not ours alone
        if re.search(r":\*:|s3:::\*|:\*\"", text):
            return True
    return False


# ------------------------------------------------------------------------------------------- API
def test_every_api_method_requires_sigv4():
    api = resources(raw_template(), "AWS::Serverless::Api")["SlowmoApi"]["Properties"]
    assert api["Auth"]["DefaultAuthorizer"] == "AWS_IAM"
    # nothing in the source opts a route out of the default authorizer
    for fn in resources(raw_template(), "AWS::Serverless::Function").values():
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] == "Api":
                assert event["Properties"].get("Auth", {}).get("Authorizer", "AWS_IAM") == "AWS_IAM"
    # and in what is deployed, every method of every path is signed with SigV4
    rest_apis = resources(transformed_template(), "AWS::ApiGateway::RestApi")
    assert len(rest_apis) == 1
    body = next(iter(rest_apis.values()))["Properties"]["Body"]
    assert body["securityDefinitions"]["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    methods = [(path, m, spec) for path, ms in body["paths"].items() for m, spec in ms.items()]
    assert {(p, m) for p, m, _ in methods} >= {("/jobs", "post"), ("/jobs/{jobId}", "get"),
                                               ("/jobs/{jobId}/retry", "post"), ("/endpoint", "post"),
                                               ("/endpoint", "get"), ("/endpoint", "delete")}
    for path, method, spec in methods:
        assert spec.get("security") == [{"AWS_IAM": []}], (path, method)


def test_presigned_upload_urls_are_short_lived_in_the_template():
    fn = resources(raw_template(), "AWS::Serverless::Function")["ApiFunction"]["Properties"]
    assert int(fn["Environment"]["Variables"]["UPLOAD_URL_SECONDS"]) <= MAX_PRESIGN_SECONDS


# ------------------------------------------------------------------------------------------- storage
def test_buckets_block_public_access_enforce_tls_and_are_encrypted():
    template = raw_template()
    buckets = resources(template, "AWS::S3::Bucket")
    assert set(buckets) == {"InputBucket", "WorkBucket", "OutputBucket"}
    policies = {p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]
                for p in resources(template, "AWS::S3::BucketPolicy").values()}
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert rule["SSEAlgorithm"] in {"AES256", "aws:kms"}
        assert props["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"  # no ACLs
        denies = [s for s in policies[name]["Statement"] if s["Effect"] == "Deny"
                  and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
        assert denies, f"{name} does not refuse plain HTTP"
        assert denies[0]["Principal"] == "*" and denies[0]["Action"] == "s3:*"
        covered = json.dumps(denies[0]["Resource"])
        assert name in covered and "/*" in covered  # the bucket and its objects


def test_tables_topics_and_queues_are_encrypted():
    template = raw_template()
    for name, table in resources(template, "AWS::DynamoDB::Table").items():
        assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True, name
    for name, topic in resources(template, "AWS::SNS::Topic").items():
        assert topic["Properties"].get("KmsMasterKeyId"), name
    for name, queue in resources(template, "AWS::SQS::Queue").items():
        assert queue["Properties"].get("KmsMasterKeyId") or queue["Properties"].get("SqsManagedSseEnabled"), name


# ------------------------------------------------------------------------------------------- IAM
def test_iam_wildcards_only_where_aws_requires_them_and_each_says_why():
    roles = resources(transformed_template(), "AWS::IAM::Role")
    assert len(roles) >= 10  # every function has its own role, plus the state machine's and SageMaker's
    found = set()
    for role_name, role in roles.items():
        managed = {json.dumps(arn) if not isinstance(arn, str) else arn
                   for arn in role["Properties"].get("ManagedPolicyArns", [])}
        assert managed <= ALLOWED_MANAGED_POLICIES, (role_name, managed - ALLOWED_MANAGED_POLICIES)
        for statement in _allow_statements(role):
            if _is_wildcard(statement):
                key = (role_name, statement.get("Sid"))
                assert key in WILDCARD_ALLOW_LIST, f"wildcard statement not allowed: {key}: {statement}"
                found.add(key)
    assert found == WILDCARD_ALLOW_LIST  # the allow-list holds nothing stale

    lines = TEMPLATE_PATH.read_text().splitlines()
    for _role, sid in WILDCARD_ALLOW_LIST:
        start = next(i for i, line in enumerate(lines) if line.strip() in (f"- Sid: {sid}", f"Sid: {sid}"))
        indent = lines[start].index("Sid:")
        block = []
        for line in lines[start + 1:]:  # the statement's own lines: indented deeper than its Sid key
            if line.strip() and len(line) - len(line.lstrip()) < indent or line.strip() == "Condition:":
                break  # the next statement, or the condition that narrows this one
            block.append(line)
        star_lines = [line for line in block if "*" in line.split("#", 1)[0]]
        assert star_lines, sid
        for line in star_lines:
            assert "# WILDCARD-OK:" in line, f"{sid}: say why AWS needs the wildcard: {line.strip()}"
            assert len(line.split("# WILDCARD-OK:", 1)[1].split()) >= 5, line


def test_wildcard_detection_is_not_blind():
    assert _is_wildcard({"Action": "s3:*", "Resource": "arn:aws:s3:::b/*"})
    assert _is_wildcard({"Action": "s3:GetObject", "Resource": "*"})
    assert _is_wildcard({"Action": "s3:GetObject", "Resource": "arn:aws:s3:::*/*.tar.gz"})
    assert _is_wildcard({"Action": "ecr:BatchGetImage", "Resource": {"Fn::Sub": "arn:aws:ecr:*:*:repository/*"}})
    assert not _is_wildcard({"Action": "s3:GetObject", "Resource": {"Fn::Sub": "${WorkBucket.Arn}/jobs/*"}})


def test_functions_read_only_the_project_buckets():
    """No function's role names an S3 bucket outside the stack's own three (plus the model artifact)."""
    roles = resources(transformed_template(), "AWS::IAM::Role")
    for role_name, role in roles.items():
        for statement in _allow_statements(role):
            actions = [a for a in _as_list(statement["Action"]) if isinstance(a, str)]
            if not any(a.startswith("s3:") for a in actions):
                continue
            for res in _as_list(statement["Resource"]):
                text = _resource_text(res)
                assert re.search(r"InputBucket|WorkBucket|OutputBucket|FilmModelS3Uri", text), (role_name, text)


# ------------------------------------------------------------------------------------------- limits
PARAMETER_FOR = {
    "SLOWMO_MAX_WIDTH": ("MaxWidth", "max_width"),
    "SLOWMO_MAX_HEIGHT": ("MaxHeight", "max_height"),
    "SLOWMO_MAX_DURATION_S": ("MaxDurationSeconds", "max_duration_s"),
    "SLOWMO_MAX_FILE_BYTES": ("MaxFileBytes", "max_file_bytes"),
    "SLOWMO_MAX_OUTPUT_FRAMES": ("MaxOutputFrames", "max_output_frames"),
}


def test_limits_reach_every_function_from_parameters_as_the_cli_reads_them():
    template = raw_template()
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    defaults = Limits()
    # every variable Limits.from_env reads is set, from its parameter
    read = Limits.from_env({name: "1" for name in PARAMETER_FOR})
    assert all(getattr(read, attr) == 1 for _, attr in PARAMETER_FOR.values())
    for variable, (parameter, attr) in PARAMETER_FOR.items():
        assert env[variable] == {"Ref": parameter}
        declared = float(template["Parameters"][parameter]["Default"])
        # the cloud defaults come from the capacity model (test_capacity.py checks which) and never exceed the
        # CLI's; Extract streams the source once in its index step (never to /tmp), within its share of the timeout
        assert declared <= getattr(defaults, attr), parameter
        if attr == "max_file_bytes":
            from slowmo.foresight import capacity

            timeout = template["Resources"]["ExtractFunction"]["Properties"]["Timeout"]
            assert declared <= timeout * capacity.ADMIT_FRACTION * capacity.LAMBDA_S3_BYTES_PER_S
    for name, fn in resources(template, "AWS::Serverless::Function").items():
        own = fn["Properties"].get("Environment", {}).get("Variables", {})
        assert not set(own) & set(PARAMETER_FOR), f"{name} overrides a global limit"


def test_chunk_retry_and_timeout_come_from_parameters():
    template = raw_template()
    subs = template["Resources"]["SlowMotionStateMachine"]["Properties"]["DefinitionSubstitutions"]
    for key in ("ChunkAttempts", "ChunkTimeoutSeconds", "ChunkRetryDelaySeconds"):
        assert subs[key] == {"Ref": key}
        assert "${" + key + "}" in ASL_PATH.read_text()
    chunk = json.loads(ASL_PATH.read_text())["States"]["InterpolateChunks"]["ItemProcessor"]["States"]["InterpolateChunk"]
    assert chunk["TimeoutSecondsPath"] == "$.retry.timeoutSeconds" and "TimeoutSeconds" not in chunk


# ------------------------------------------------------------------------------------------- checkov
def test_every_checkov_skip_says_why():
    skipped = 0
    for name, resource in raw_template()["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), (name, skip)
            assert len(skip.get("comment", "").split()) >= 8, f"{name} {skip['id']}: give the reason"
            skipped += 1
    assert skipped > 0


def test_make_runs_the_static_security_checks():
    makefile = (TEMPLATE_PATH.parent / "Makefile").read_text()
    assert "$(CHECKOV) -f template.yaml" in makefile
    assert re.search(r"^test: lint", makefile, re.M) and re.search(r"^lint:.*\n(\t.*\n)*.*check-template", makefile, re.M)
