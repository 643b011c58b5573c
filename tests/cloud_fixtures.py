"""moto-backed AWS for the serverless tests: the real handlers run in-process, mocked only at the AWS boundary.

* ``InProcessLambdas`` patches moto's ``LambdaFunction.invoke`` (which would start Docker) so that
  every invocation moto makes - a Step Functions ``lambda:invoke`` task, an SNS -> Lambda delivery,
  a boto3 ``invoke`` - runs the function's real ``functions/<name>/app.py`` handler in this process.
* ``FakeAsyncEndpoint`` stands in for the SageMaker asynchronous endpoint at the sagemaker-runtime
  boundary: it runs the real model-server handler (``slowmo.modelserver.handler.handle_request``) on the
  request JSON in S3, stores the response at the OutputLocation, and publishes SageMaker's own
  notification format to the success or error topic, which moto delivers to ResumeFunction.
* ``InProcessLambdas`` also holds the account's concurrency quota: at most ``concurrency_limit``
  invocations run at once (default 10, what new accounts get; "Lambda quotas",
  https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html); one more is refused with
  TooManyRequestsException (HTTP 429, Reason ConcurrentInvocationLimitExceeded;
  https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html), which a Step Functions task
  sees as Lambda.TooManyRequestsException and handles with its Retry rules.
* ``CloudStack`` creates the buckets, tables, topics, functions and the state machine from the REAL
  ``statemachine/slow_motion.asl.json`` with template.yaml's DefinitionSubstitutions applied, and
  runs it with moto's Step Functions interpreter (``execute_state_machine``).

Pure helpers (events, contexts, substitution) are usable without moto.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from aws_semantics import EndpointLifecycle, S3Limits, StepFunctionsLimits
from iam_harness import SAGEMAKER_ROLE, IamEnforcer, Resolver, acting_as, translated_template

ROOT = Path(__file__).resolve().parents[1]
ASL_PATH = ROOT / "statemachine" / "slow_motion.asl.json"
TEMPLATE_PATH = ROOT / "template.yaml"
EVENTS_DIR = ROOT / "events"
REGION = "us-east-1"
ACCOUNT = "123456789012"

# logical id -> functions/<folder>
FUNCTIONS = {
    "ApiFunction": "api",
    "DeployEndpointFunction": "deploy_endpoint",
    "ClaimJobFunction": "claim_job",
    "ExtractFunction": "extract",
    "InvokeEndpointFunction": "invoke_endpoint",
    "ResumeFunction": "resume",
    "EncodeChunkFunction": "encode_chunk",
    "AssembleFunction": "assemble",
    "FinishJobFunction": "finish_job",
    "SettleJobFunction": "settle_job",
}

_HANDLERS: dict[str, Callable] = {}
_HANDLER_LOCK = threading.Lock()


def load_handler(folder: str) -> Callable:
    """functions/<folder>/app.py's lambda_handler, imported by path (every folder has an app.py)."""
    with _HANDLER_LOCK:
        if folder not in _HANDLERS:
            path = ROOT / "functions" / folder / "app.py"
            name = f"slowmo_fn_{folder}"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            _HANDLERS[folder] = module.lambda_handler
        return _HANDLERS[folder]


@dataclass
class FakeContext:
    """The parts of a Lambda context that Powertools reads."""

    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/test"
    log_stream_name: str = "test"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def aws_test_environment(monkeypatch, **extra: str) -> None:
    """Fake credentials and Powertools settings for tests; nothing here can reach AWS."""
    values = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "Slowmo",
        "POWERTOOLS_SERVICE_NAME": "slowmo-test",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        **extra,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    from slowmo.cloud import aws

    aws.reset()


# ------------------------------------------------------------------------------------------- events
def api_event(method: str, path: str, body: Any = None, *, resource: str | None = None,
              path_parameters: dict[str, str] | None = None, query: dict[str, str] | None = None) -> dict:
    """An API Gateway REST (proxy) event as API Gateway sends it for an IAM-signed call."""
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", "Host": "abc123.execute-api.us-east-1.amazonaws.com"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "abc123",
            "resourcePath": resource or path,
            "httpMethod": method,
            "requestId": str(uuid.uuid4()),
            "path": f"/v1{path}",
            "accountId": ACCOUNT,
            "stage": "v1",
            "identity": {
                "sourceIp": "192.0.2.10",
                "userArn": f"arn:aws:iam::{ACCOUNT}:user/operator",
                "caller": "AIDAEXAMPLE",
                "user": "AIDAEXAMPLE",
                "accountId": ACCOUNT,
                "accessKey": "AKIAEXAMPLE",
                "userAgent": "slowmo-cli",
            },
            "apiId": "abc123",
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def eventbridge_object_created(bucket: str, key: str, *, size: int, etag: str, version_id: str | None,
                               sequencer: str = "0062E99A88DC407460") -> dict:
    """An EventBridge 'Object Created' event from S3 (the upload rule's target input)."""
    obj: dict[str, Any] = {"key": key, "size": size, "etag": etag.strip('"'), "sequencer": sequencer}
    if version_id:
        obj["version-id"] = version_id
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
            "request-id": "57H08PA84AB1JZW0",
            "requester": ACCOUNT,
            "source-ip-address": "192.0.2.10",
            "reason": "PutObject",
        },
    }


def sagemaker_notification(*, inference_id: str, endpoint_name: str, input_location: str,
                           output_location: str | None = None, failure_reason: str | None = None,
                           response_body: str | None = None) -> dict:
    """The message SageMaker asynchronous inference publishes to the success or error topic."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    message: dict[str, Any] = {
        "awsRegion": REGION,
        "eventTime": now,
        "receivedTime": now,
        "invocationStatus": "Completed" if failure_reason is None else "Failed",
    }
    if failure_reason is not None:
        message["failureReason"] = failure_reason
    message["requestParameters"] = {"contentType": "application/json", "endpointName": endpoint_name,
                                    "inputLocation": input_location}
    if failure_reason is None:
        message["responseParameters"] = {"contentType": "application/json", "outputLocation": output_location}
    if response_body is not None:  # IncludeInferenceResponseIn: the response itself, base64-encoded
        message["responseBody"] = {"content": base64.b64encode(response_body.encode()).decode(),
                                   "message": "", "encoding": "BASE64"}
    message.update({"inferenceId": inference_id, "eventVersion": "1.0", "eventSource": "aws:sagemaker",
                    "eventName": "InferenceResult"})
    return message


def sns_event(message: dict | str, topic_arn: str, subject: str | None = None) -> dict:
    """The event SNS hands a subscribed Lambda function."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic_arn}:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": topic_arn,
                    "Subject": subject,
                    "Message": message if isinstance(message, str) else json.dumps(message),
                    "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000.pem",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": {},
                },
            }
        ]
    }


# ------------------------------------------------------------------------------------------- ASL
def template_substitution_keys() -> set[str]:
    """The keys of SlowMotionStateMachine's DefinitionSubstitutions in template.yaml."""
    text = TEMPLATE_PATH.read_text()
    block = text.split("DefinitionSubstitutions:", 1)[1]
    keys = set()
    for line in block.splitlines()[1:]:
        m = re.match(r"^        (\w+):", line)
        if not m:
            if line.strip() and not line.startswith("        "):
                break
            continue
        keys.add(m.group(1))
    return keys


def asl_placeholders(text: str | None = None) -> set[str]:
    return set(re.findall(r"\$\{(\w+)\}", text if text is not None else ASL_PATH.read_text()))


def substitute(values: dict[str, str], text: str | None = None) -> str:
    """Apply DefinitionSubstitutions the way CloudFormation does (plain ${Name} text replacement)."""
    text = text if text is not None else ASL_PATH.read_text()
    missing = asl_placeholders(text) - set(values)
    if missing:
        raise KeyError(f"no substitution for {sorted(missing)}")
    return re.sub(r"\$\{(\w+)\}", lambda m: str(values[m.group(1)]), text)


# ------------------------------------------------------------------------------------------- Lambda
class InProcessLambdas:
    """Route moto's Lambda invocations to the real handlers, in this process."""

    def __init__(self, names: dict[str, str] | None = None, concurrency_limit: int = 10):
        self.names = dict(names or {})  # deployed function name -> functions/<folder>
        self.concurrency_limit = concurrency_limit  # the account's concurrent executions quota
        self.running = 0  # invocations in progress now
        self.peak = 0  # the most that ran at once
        self.throttled: list[str] = []  # function name of every invocation refused for concurrency
        self.overrides: dict[str, Callable] = {}  # deployed function name -> stand-in handler (scale tests)
        self.calls: list[tuple[str, dict]] = []
        self.errors: list[tuple[str, str]] = []
        self.meter = None  # a tests.lambda_meter.LambdaMeter to measure every invocation
        self._lock = threading.Lock()
        self._patch = None

    def invoke(self, function_name: str, event: Any) -> tuple[Any, bool]:
        handler = self.overrides.get(function_name) or load_handler(self.names.get(function_name, function_name))
        with self._lock:
            self.calls.append((function_name, event))
        try:
            with ExitStack() as scope:
                if self.meter is not None:  # peak memory, /tmp and duration of this invocation
                    scope.enter_context(self.meter.measure(function_name))
                scope.enter_context(acting_as(function_name))  # its calls are checked against this function's role
                return handler(event, FakeContext(function_name=function_name)), False
        except Exception as exc:  # what the Lambda runtime reports for an unhandled exception
            with self._lock:
                self.errors.append((function_name, f"{type(exc).__name__}: {exc}"))
            return {"errorMessage": str(exc), "errorType": type(exc).__name__,
                    "requestId": str(uuid.uuid4()), "stackTrace": traceback.format_tb(exc.__traceback__)[-3:]}, True

    def __enter__(self) -> InProcessLambdas:
        from moto.awslambda.models import LambdaFunction

        router = self

        def fake_invoke(fn_self, body, request_headers, response_headers):
            from moto.awslambda.exceptions import LambdaClientError

            event = json.loads(body) if body else {}
            if isinstance(event, str):
                event = json.loads(event)
            with router._lock:
                if router.running >= router.concurrency_limit:
                    router.throttled.append(fn_self.function_name)
                    error = LambdaClientError("TooManyRequestsException", "Rate Exceeded.")
                    error.code = 429
                    raise error
                router.running += 1
                router.peak = max(router.peak, router.running)
            try:
                result, failed = router.invoke(fn_self.function_name, event)
            finally:
                with router._lock:
                    router.running -= 1
            if failed:
                response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps(result).encode()
            if (request_headers or {}).get("x-amz-invocation-type", "RequestResponse") == "RequestResponse":
                response_headers["x-amz-log-result"] = base64.b64encode(b"in-process").decode()
            return payload

        self._patch = mock.patch.object(LambdaFunction, "invoke", fake_invoke)
        self._patch.start()
        return self

    def __exit__(self, *exc) -> None:
        self._patch.stop()

    def count(self, function_name: str) -> int:
        return sum(1 for name, _ in self.calls if name == function_name)


# ------------------------------------------------------------------------------------------- SageMaker
class FakeAsyncEndpoint:
    """The SageMaker asynchronous endpoint, at the sagemaker-runtime boundary.

    InvokeEndpointAsync answers at once (like SageMaker: accepted, queued); a worker thread then runs
    the real model-server handler and publishes SageMaker's notification to the success/error topic.
    """

    def __init__(self, *, name: str, output_prefix: str, success_topic: str, error_topic: str,
                 fail: dict[int, str] | None = None, delay: float = 0.05):
        self.name = name
        self.output_prefix = output_prefix.rstrip("/") + "/"
        self.success_topic = success_topic
        self.error_topic = error_topic
        self.fail = dict(fail or {})  # chunk index -> failureReason to report
        # chunk index -> how many of its requests are lost (no output, no notification, like a request
        # stuck until it expires); a negative count loses every request of that chunk
        self.drop: dict[int, int] = {}
        self.delay = delay
        self.deployed = True
        self.lose_input: set[int] = set()  # chunk indexes whose input frames vanish before the server reads them
        self.requests: list[dict] = []
        self.request_headers: list[dict] = []  # the x-amzn-sagemaker-* headers (lower case) of every InvokeEndpointAsync
        self.notifications: list[dict] = []
        self.errors: list[str] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._patch = None

    def include_response_in(self) -> list[str]:
        """IncludeInferenceResponseIn of the endpoint config the product deploys (slowmo.cloud.endpoint)."""
        from slowmo.cloud.endpoint import EndpointSettings, endpoint_config_spec

        settings = EndpointSettings(name=self.name, model_data_url="s3://b/model.tar.gz", role_arn="arn:aws:iam::1:role/r",
                                    output_path=self.output_prefix, failure_path=self.output_prefix,
                                    success_topic=self.success_topic, error_topic=self.error_topic)
        config = endpoint_config_spec(settings, "model")
        return config["AsyncInferenceConfig"]["OutputConfig"]["NotificationConfig"].get("IncludeInferenceResponseIn", [])

    # the sagemaker-runtime API -----------------------------------------------------------
    def accept(self, endpoint_name: str, input_location: str, inference_id: str | None) -> tuple[int, dict, str]:
        if not self.deployed or endpoint_name != self.name:
            body = {"message": f"Endpoint {endpoint_name} of account {ACCOUNT} not found."}
            return 400, {"status": 400, "x-amzn-ErrorType": "ValidationError"}, json.dumps(body)
        inference_id = inference_id or str(uuid.uuid4())
        output_location = f"{self.output_prefix}{inference_id}.out"
        with self._lock:
            self.requests.append({"endpoint": endpoint_name, "input": input_location, "inferenceId": inference_id})
        worker = threading.Thread(target=self._process, args=(endpoint_name, input_location, inference_id,
                                                              output_location), daemon=True)
        self._threads.append(worker)
        worker.start()
        headers = {"X-Amzn-SageMaker-OutputLocation": output_location,
                   "X-Amzn-SageMaker-FailureLocation": output_location.replace("/out/", "/failures/")}
        return 200, headers, json.dumps({"InferenceId": inference_id})

    def _process(self, endpoint_name: str, input_location: str, inference_id: str, output_location: str) -> None:
        # the container reads and writes S3, and SageMaker publishes the notification, with the
        # endpoint's execution role
        with acting_as(SAGEMAKER_ROLE):
            self._process_as_endpoint(endpoint_name, input_location, inference_id, output_location)

    def _process_as_endpoint(self, endpoint_name: str, input_location: str, inference_id: str,
                             output_location: str) -> None:
        import boto3

        from slowmo.cloud.layout import parse_s3_uri
        from slowmo.errors import SlowmoError
        from slowmo.modelserver import handler as modelserver

        time.sleep(self.delay)
        s3 = boto3.client("s3", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        include = self.include_response_in()
        try:
            bucket, key = parse_s3_uri(input_location)
            request = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            index = request.get("chunk_index")
            with self._lock:
                lost = self.drop.get(index, 0)
                if lost:
                    self.drop[index] = lost - 1 if lost > 0 else lost
            if lost:
                return  # never answered: the state machine's callback timeout has to notice
            if index in self.lose_input:
                with acting_as(None):  # the test removes the chunk's frames before the server reads them
                    in_bucket, in_key = parse_s3_uri(request["inputs"][0])
                    s3.delete_object(Bucket=in_bucket, Key=in_key)
            if index in self.fail:
                raise SlowmoError(self.fail[index])  # the engine failing inside the model server
            result = modelserver.handle_request(request, s3=s3)
            out_bucket, out_key = parse_s3_uri(output_location)
            s3.put_object(Bucket=out_bucket, Key=out_key, Body=json.dumps(result).encode())
            message = sagemaker_notification(
                inference_id=inference_id, endpoint_name=endpoint_name, input_location=input_location,
                output_location=output_location,
                response_body=json.dumps(result) if "SUCCESS_NOTIFICATION_TOPIC" in include else None)
            topic = self.success_topic
        except Exception as exc:  # noqa: BLE001 - the model server answers with a status and an error body
            status = modelserver.status_code(exc)
            body = json.dumps(modelserver.error_result(exc))
            with self._lock:
                self.errors.append(f"{status} {type(exc).__name__}: {exc}")
            # SageMaker keeps the model's error response at the failure location, and its own
            # failureReason names only the status class; the model's words reach the notification only
            # when the endpoint config includes ERROR_NOTIFICATION_TOPIC in IncludeInferenceResponseIn
            # (API_AsyncInferenceNotificationConfig).
            fail_bucket, fail_key = parse_s3_uri(output_location.replace("/out/", "/failures/"))
            s3.put_object(Bucket=fail_bucket, Key=fail_key, Body=body.encode())
            side = "client" if 400 <= status < 500 else "server"
            message = sagemaker_notification(
                inference_id=inference_id, endpoint_name=endpoint_name, input_location=input_location,
                failure_reason=f"ClientError: Received {side} error ({status}) from model. See the SageMaker "
                               "Endpoint logs in your account for more information.",
                response_body=body if "ERROR_NOTIFICATION_TOPIC" in include else None)
            topic = self.error_topic
        with self._lock:
            self.notifications.append(message)
        sns.publish(TopicArn=topic, Message=json.dumps(message))

    def __enter__(self) -> FakeAsyncEndpoint:
        from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

        endpoint = self

        def fake_invoke_endpoint_async(resp_self):
            name = resp_self.path.split("/")[2]
            with endpoint._lock:
                endpoint.request_headers.append({k.lower(): v for k, v in resp_self.headers.items()
                                                 if k.lower().startswith("x-amzn-sagemaker-")})
            return endpoint.accept(name, resp_self.headers.get("X-Amzn-SageMaker-InputLocation"),
                                   resp_self.headers.get("X-Amzn-SageMaker-Inference-Id"))

        self._patch = mock.patch.object(SageMakerRuntimeResponse, "invoke_endpoint_async", fake_invoke_endpoint_async)
        self._patch.start()
        return self

    def __exit__(self, *exc) -> None:
        for worker in self._threads:
            worker.join(timeout=30)
        self._patch.stop()



# ------------------------------------------------------------------------------------------- the stack
@dataclass
class CloudStack:
    """Everything template.yaml creates, in moto, with the real ASL and in-process handlers."""

    input_bucket: str = "slowmo-input"
    work_bucket: str = "slowmo-work"
    output_bucket: str = "slowmo-output"
    jobs_table: str = "slowmo-jobs"
    tokens_table: str = "slowmo-tokens"
    stack_name: str = "slowmo"  # endpoint and state machine names follow it, as in template.yaml
    endpoint_name: str = ""
    state_machine_name: str = ""
    region: str = REGION
    account: str = ACCOUNT
    map_concurrency: int = 4
    parameters: dict[str, str] = field(default_factory=dict)  # template parameters other than the defaults
    env: dict[str, str] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)
    function_arns: dict[str, str] = field(default_factory=dict)
    state_machine_arn: str = ""
    definition: str = ""
    lambdas: InProcessLambdas | None = None
    endpoint: FakeAsyncEndpoint | None = None
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, name: str):
        import boto3

        if name not in self.clients:
            self.clients[name] = boto3.client(name, region_name=REGION)
        return self.clients[name]

    def create(self, monkeypatch, *, chunk_frames: int = 4, default_factor: int = 4, default_engine: str = "blend",
               fail_chunks: dict[int, str] | None = None, map_concurrency: int | None = None,
               chunk_attempts: int = 1, chunk_timeout_seconds: int = 120, chunk_retry_delay_seconds: int = 0,
               extract_range_frames: int = 4, account_concurrency: int = 10,
               extract_map_concurrency: int | None = None) -> CloudStack:
        if map_concurrency is not None:
            self.map_concurrency = map_concurrency
        self.endpoint_name = self.endpoint_name or endpoint_name_for(self.stack_name)
        self.state_machine_name = self.state_machine_name or f"{self.stack_name}-slow-motion"
        s3, ddb, sns, iam, lam, sfn = (self.client(n) for n in ("s3", "dynamodb", "sns", "iam", "lambda", "stepfunctions"))
        for bucket in (self.input_bucket, self.work_bucket, self.output_bucket):
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=self.input_bucket, VersioningConfiguration={"Status": "Enabled"})
        ddb.create_table(TableName=self.jobs_table, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}])
        ddb.create_table(TableName=self.tokens_table, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "inferenceId", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "inferenceId", "KeyType": "HASH"}])
        ddb.update_time_to_live(TableName=self.tokens_table,
                                TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"})
        for logical in ("InferenceSuccessTopic", "InferenceErrorTopic", "NotificationTopic"):
            self.topics[logical] = sns.create_topic(Name=f"slowmo-{logical}")["TopicArn"]
        # an SQS queue stands in for the operator's e-mail subscription, so tests can read what was sent
        sqs = self.client("sqs")
        self.operator_queue = sqs.create_queue(QueueName="slowmo-operator")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.operator_queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=self.topics["NotificationTopic"], Protocol="sqs", Endpoint=queue_arn)

        role = iam.create_role(RoleName="slowmo-test-role", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                    "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
        self.role_arn = role
        self.sagemaker_role_arn = iam.create_role(
            RoleName=f"{self.stack_name}-SageMakerExecutionRole", AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                                                        "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
        names = {}
        for logical, folder in FUNCTIONS.items():
            arn = lam.create_function(FunctionName=logical, Runtime="python3.12", Role=role, Handler="app.lambda_handler",
                                      Code={"ZipFile": b"in-process"}, Timeout=900)["FunctionArn"]
            self.function_arns[logical] = arn
            names[logical] = folder
        for logical in ("InferenceSuccessTopic", "InferenceErrorTopic"):
            sns.subscribe(TopicArn=self.topics[logical], Protocol="lambda", Endpoint=self.function_arns["ResumeFunction"])

        values = {f"{k}Arn": v for k, v in self.function_arns.items()}
        values.update({"JobsTableName": self.jobs_table, "WorkBucketName": self.work_bucket,
                       "NotificationTopicArn": self.topics["NotificationTopic"], "MapConcurrency": str(self.map_concurrency),
                       "ExtractMapConcurrency": str(extract_map_concurrency or self.map_concurrency),
                       "ChunkAttempts": str(chunk_attempts), "ChunkTimeoutSeconds": str(chunk_timeout_seconds),
                       "ChunkRetryDelaySeconds": str(chunk_retry_delay_seconds)})
        self.definition = substitute(values)
        self.state_machine_arn = sfn.create_state_machine(name=self.state_machine_name, definition=self.definition,
                                                          roleArn=role, type="STANDARD")["stateMachineArn"]
        self.env = {
            "INPUT_BUCKET": self.input_bucket, "WORK_BUCKET": self.work_bucket, "OUTPUT_BUCKET": self.output_bucket,
            "JOBS_TABLE": self.jobs_table, "TOKENS_TABLE": self.tokens_table, "STATE_MACHINE_ARN": self.state_machine_arn,
            "ENDPOINT_NAME": self.endpoint_name, "SUCCESS_TOPIC_ARN": self.topics["InferenceSuccessTopic"],
            "ERROR_TOPIC_ARN": self.topics["InferenceErrorTopic"], "NOTIFICATION_TOPIC_ARN": self.topics["NotificationTopic"],
            # small ranges: every e2e job's Extract runs as several scans and cuts (slowmo.timeline.ranges)
            "CHUNK_FRAMES": str(chunk_frames), "EXTRACT_RANGE_FRAMES": str(extract_range_frames), "DEFAULT_FACTOR": str(default_factor), "DEFAULT_ENGINE": default_engine,
            "UPLOAD_PREFIX": "uploads/", "SAGEMAKER_ROLE_ARN": self.sagemaker_role_arn,
        }
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)
        self.lambdas = InProcessLambdas(names, concurrency_limit=account_concurrency)
        self.endpoint = FakeAsyncEndpoint(name=self.endpoint_name, output_prefix=f"s3://{self.work_bucket}/async/out/",
                                          success_topic=self.topics["InferenceSuccessTopic"],
                                          error_topic=self.topics["InferenceErrorTopic"], fail=fail_chunks)
        return self

    # -- what IAM sees ------------------------------------------------------------------------
    def resolver(self) -> Resolver:
        """template.yaml's intrinsics resolved to this stack's physical resources."""
        translated = translated_template()
        refs = {"InputBucket": self.input_bucket, "WorkBucket": self.work_bucket, "OutputBucket": self.output_bucket,
                "JobsTable": self.jobs_table, "TaskTokensTable": self.tokens_table,
                "SlowMotionStateMachine": self.state_machine_arn,
                "SageMakerExecutionRole": self.sagemaker_role_arn.rsplit("/", 1)[1],
                "ResumeDeadLetterQueue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/slowmo-resume-dlq",
                **self.topics, **{logical: logical for logical in FUNCTIONS}}
        attrs = {(b, "Arn"): f"arn:aws:s3:::{refs[b]}" for b in ("InputBucket", "WorkBucket", "OutputBucket")}
        attrs.update({(t, "Arn"): f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{refs[t]}" for t in ("JobsTable", "TaskTokensTable")})
        attrs.update({(t, "TopicName"): arn.rsplit(":", 1)[1] for t, arn in self.topics.items()})
        attrs.update({(f, "Arn"): arn for f, arn in self.function_arns.items()})
        attrs.update({("SlowMotionStateMachine", "Name"): self.state_machine_name,
                      ("SageMakerExecutionRole", "Arn"): self.sagemaker_role_arn,
                      ("ResumeDeadLetterQueue", "Arn"): f"arn:aws:sqs:{REGION}:{ACCOUNT}:slowmo-resume-dlq"})
        parameters = {name: str(spec.get("Default", "")) for name, spec in translated.get("Parameters", {}).items()}
        parameters.update(self.parameters)
        return Resolver(self.stack_name, REGION, ACCOUNT, refs, attrs, parameters, translated.get("Conditions", {}))

    def token_owner(self, task_token: str) -> str:
        """The state machine a task token belongs to (this stack runs one)."""
        return self.state_machine_arn

    def endpoint_config_of(self, endpoint: str) -> str | None:
        from moto.sagemaker.models import sagemaker_backends

        found = sagemaker_backends[ACCOUNT][REGION].endpoints.get(endpoint)
        return found.endpoint_config_name if found else None

    def is_target_tracking(self, params: dict) -> bool:
        from moto.applicationautoscaling.models import applicationautoscaling_backends

        backend = applicationautoscaling_backends[ACCOUNT][REGION]
        return any(p.policy_name == params["PolicyName"] and p.policy_type == "TargetTrackingScaling"
                   for p in backend.policies.values())

    def endpoint_ready(self) -> None:
        """The SageMaker endpoint finished creating or updating (it is InService)."""
        self.lifecycle.ready(self.endpoint_name)

    def queue_arn(self, queue_url: str) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_url.rsplit('/', 1)[1]}"

    # -- driving it --------------------------------------------------------------------------
    def upload(self, path: Path | str, key: str, metadata: dict[str, str] | None = None) -> dict:
        s3 = self.client("s3")
        with open(path, "rb") as fh:
            s3.put_object(Bucket=self.input_bucket, Key=key, Body=fh.read(), Metadata=metadata or {})
        head = s3.head_object(Bucket=self.input_bucket, Key=key)
        return eventbridge_object_created(self.input_bucket, key, size=head["ContentLength"], etag=head["ETag"],
                                          version_id=head.get("VersionId"))

    def start(self, execution_input: dict, name: str | None = None) -> str:
        """StartExecution as the EventBridge rule target does it (a fresh execution name each time)."""
        return self.client("stepfunctions").start_execution(
            stateMachineArn=self.state_machine_arn, input=json.dumps(execution_input),
            name=name or str(uuid.uuid4()))["executionArn"]

    def wait(self, execution_arn: str, timeout: float = 240) -> dict:
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            desc = sfn.describe_execution(executionArn=execution_arn)
            if desc["status"] != "RUNNING":
                return desc
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution still running after {timeout} s")
            time.sleep(0.2)

    def api(self, method: str, path: str, body: Any = None, **kw) -> tuple[int, Any]:
        folder, function = ("deploy_endpoint", "DeployEndpointFunction") if path.startswith("/endpoint") else ("api", "ApiFunction")
        with acting_as(function):
            resp = load_handler(folder)(api_event(method, path, body, **kw), FakeContext(function_name=function))
        return resp["statusCode"], json.loads(resp["body"]) if resp.get("body") else None

    def operator_messages(self) -> list[dict]:
        sqs = self.client("sqs")
        out = []
        while True:
            got = sqs.receive_message(QueueUrl=self.operator_queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            msgs = got.get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                envelope = json.loads(m["Body"])
                out.append({"Subject": envelope.get("Subject"), "Message": envelope.get("Message")})
                sqs.delete_message(QueueUrl=self.operator_queue, ReceiptHandle=m["ReceiptHandle"])

    def execution_ended(self, execution_arn: str) -> dict | None:
        """EventBridge's "Step Functions Execution Status Change" for this execution, delivered as the
        template's rule delivers it: matched against the rule's real pattern (moto's EventBridge matcher), then
        to its target. Returns the target's answer, or None when the rule does not match."""
        desc = self.client("stepfunctions").describe_execution(executionArn=execution_arn)
        detail = {k: desc.get(k) for k in ("executionArn", "stateMachineArn", "name", "status", "input", "output",
                                           "error", "cause")}
        detail.update(startDate=int(desc["startDate"].timestamp() * 1000),
                      stopDate=int(desc["stopDate"].timestamp() * 1000) if desc.get("stopDate") else None)
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Step Functions Execution Status Change",
                 "source": "aws.states", "account": ACCOUNT, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "region": REGION, "resources": [execution_arn], "detail": detail}
        rule = translated_template()["Resources"]["SettleJobFunctionExecutionEnded"]["Properties"]
        pattern = self.resolver().resolve(rule["EventPattern"])
        from moto.events.models import EventPattern  # moto's EventBridge pattern matcher

        if not EventPattern.load(json.dumps(pattern)).matches_event(event):
            return None
        result, failed = self.lambdas.invoke("SettleJobFunction", event)
        assert not failed, result
        return result

    def endpoint_state_changed(self, status: str = "IN_SERVICE", name: str | None = None) -> dict | None:
        """EventBridge's "SageMaker Endpoint State Change" for the endpoint (SageMaker Developer Guide, "Events
        that Amazon SageMaker AI sends to Amazon EventBridge"), delivered as the template's rule delivers it:
        matched against the rule's real pattern (moto's matcher), then to its target. None when it does not match."""
        name = name or self.endpoint_name
        arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name.lower()}"
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "SageMaker Endpoint State Change",
                 "source": "aws.sagemaker", "account": ACCOUNT, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "region": REGION, "resources": [arn],
                 "detail": {"EndpointName": name, "EndpointArn": arn, "EndpointConfigName": self.endpoint_config_of(name),
                            "EndpointStatus": status, "Tags": {}}}
        rule = translated_template()["Resources"]["DeployEndpointFunctionEndpointInService"]["Properties"]
        from moto.events.models import EventPattern

        if not EventPattern.load(json.dumps(self.resolver().resolve(rule["EventPattern"]))).matches_event(event):
            return None
        result, failed = self.lambdas.invoke("DeployEndpointFunction", event)
        assert not failed, result
        return result

    def history(self, execution_arn: str) -> list[dict]:
        return self.client("stepfunctions").get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]


def _send_task_failure_keeps_cause():
    """moto 5.x's SendTaskFailure handler drops ``cause`` before it reaches the interpreter (which
    supports it); pass it through, as the real service does."""
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self):
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause"))
        return EmptyResult()

    return mock.patch.object(StepFunctionResponse, "send_task_failure", send_task_failure)


def _atomic_dynamodb_updates():
    """DynamoDB applies each write atomically, its condition included (ADD chunksDone :one from 40 Map
    items at once must count 40; of two ClaimJob PutItems with attribute_not_exists(jobId) exactly one
    wins): DynamoDB Developer Guide, "Condition expressions" / "Atomic counters". moto's in-memory
    backend does not lock, so serialise its writes."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.Lock()
    patches = ExitStack()

    def serialised(original):
        def write(self, *args, **kwargs):
            with lock:
                return original(self, *args, **kwargs)

        return write

    class Patches:
        def __enter__(self):
            for name in ("update_item", "put_item", "delete_item"):
                patches.enter_context(mock.patch.object(DynamoDBBackend, name,
                                                        serialised(getattr(DynamoDBBackend, name))))
            return self

        def __exit__(self, *exc):
            patches.close()

    return Patches()


def running_stack(monkeypatch, stack: ExitStack, **kwargs) -> CloudStack:
    """Start moto (with the Step Functions interpreter), build the stack, route Lambda and SageMaker."""
    from moto import mock_aws

    aws_test_environment(monkeypatch)
    stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True},
                                         "lambda": {"use_docker": True}}))
    stack.enter_context(_send_task_failure_keeps_cause())
    stack.enter_context(_atomic_dynamodb_updates())
    stack_name = kwargs.pop("stack_name", "slowmo")
    template_text = kwargs.pop("template_text", None)
    cloud = CloudStack(stack_name=stack_name).create(monkeypatch, **kwargs)
    # entered first so it is checked last: the endpoint's worker threads have finished by then
    cloud.iam = stack.enter_context(IamEnforcer(cloud, template_text=template_text))
    cloud.lifecycle = stack.enter_context(EndpointLifecycle(ACCOUNT, REGION))
    cloud.sfn_limits = stack.enter_context(StepFunctionsLimits())
    cloud.s3_limits = stack.enter_context(S3Limits())
    stack.enter_context(cloud.lambdas)
    stack.enter_context(cloud.endpoint)
    return cloud


def endpoint_name_for(stack_name: str) -> str:
    """ENDPOINT_NAME as template.yaml sets it for a stack of that name (resolved from the template)."""
    variables = translated_template()["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    return Resolver(stack_name, REGION, ACCOUNT, {}, {}).resolve(variables["ENDPOINT_NAME"])


def input_object_state(cloud, key):
    """ETag, bytes, versions and delete markers of an input object: equal before and after a job means untouched."""
    s3 = cloud.client("s3")
    versions = s3.list_object_versions(Bucket=cloud.input_bucket, Prefix=key)
    return (s3.head_object(Bucket=cloud.input_bucket, Key=key)["ETag"],
            s3.get_object(Bucket=cloud.input_bucket, Key=key)["Body"].read(),
            [(v["VersionId"], v["ETag"]) for v in versions.get("Versions", [])], versions.get("DeleteMarkers", []))
