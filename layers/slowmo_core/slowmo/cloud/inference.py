"""The asynchronous-inference round trip for one chunk.

invoke side (InvokeEndpointFunction, a waitForTaskToken task):
    build the chunk request JSON -> put it in the work bucket -> remember InferenceId -> task token
    (DynamoDB, with a TTL) -> sagemaker-runtime InvokeEndpointAsync(InputLocation=request).

resume side (ResumeFunction, subscribed to the endpoint's success and error SNS topics):
    parse SageMaker's notification -> look the token up by InferenceId -> SendTaskSuccess with the
    model server's small JSON response, or SendTaskFailure with SageMaker's failureReason.

SageMaker publishes, as the SNS message body (a JSON string), on success::

    {"awsRegion": ..., "eventTime": ..., "receivedTime": ..., "invocationStatus": "Completed",
     "requestParameters": {"contentType": ..., "endpointName": ..., "inputLocation": "s3://..."},
     "responseParameters": {"contentType": ..., "outputLocation": "s3://....out"},
     "inferenceId": ..., "eventVersion": "1.0", "eventSource": "aws:sagemaker", "eventName": "InferenceResult"}

and on error the same envelope with ``"invocationStatus": "Failed"``, a ``failureReason`` and no
``outputLocation`` (events/ holds full samples).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from slowmo.cloud.layout import JobLayout, parse_s3_uri, s3_uri
from slowmo.errors import InputError
from slowmo.options import parse_factor
from slowmo.timeline.timing import factor_json

REQUEST_CONTENT_TYPE = "application/json"
MAX_CAUSE = 32000  # SendTaskFailure's cause limit is 32,768 characters


class TransientError(Exception):
    """A retryable AWS hiccup (throttling, 5xx); the state machine retries it with backoff."""


class EndpointNotReadyError(Exception):
    """The endpoint does not exist or is not InService: deploy it (POST /endpoint) and retry."""


# -- the chunk request ---------------------------------------------------------------------------
def build_chunk_request(layout: JobLayout, chunk: dict[str, Any], options: dict[str, Any],
                        fps: str | None = None, plan=None) -> dict[str, Any]:
    """The JSON the model server reads (slowmo.modelserver.handler, request version 1): the chunk's input
    frames, what to make of them and where to put the output chunk. The input object holds exactly
    the chunk's frames, so the range is the whole object; first_index places it in the video.

    plan (a slowmo.timeline.plan.Plan) is needed for a "timed" chunk (variable rate, another output rate, a
    speed curve): the request then carries the chunk's slice of it, the output frames to make."""
    from slowmo.modelserver.handler import build_request  # standard library only at module level

    index = int(chunk["index"])
    extra: dict[str, Any] = {"engine": options.get("engine", "film"), "first_index": int(chunk["start"]),
                             "job_id": layout.job_id, "chunk_index": index}
    if fps:
        extra["fps"] = str(fps)
    if chunk.get("timed"):
        from slowmo.timeline.plan import PlanChunk

        if plan is None:
            raise ValueError(f"chunk {index} is timed: its request needs the job's plan")
        extra["outputs"] = [f.to_json() for f in plan.chunk_frames(PlanChunk.from_dict(chunk))]
    return build_request(
        [s3_uri(layout.work_bucket, layout.chunk_input_key(index))],
        s3_uri(layout.work_bucket, layout.chunk_output_key(index)),
        factor_json(parse_factor(options["factor"])),  # a whole factor's request stays byte-identical
        **extra,
    )


def new_inference_id(job_id: str, index: int) -> str:
    """Unique per attempt (a retried chunk gets a fresh id), readable in logs; <= 64 characters."""
    return f"{job_id}-{index:05d}-{uuid.uuid4().hex[:12]}"


# -- token store ---------------------------------------------------------------------------------
class TokenStore:
    """InferenceId -> Step Functions task token, expiring by DynamoDB TTL (attribute ``expiresAt``)."""

    def __init__(self, table_name: str, dynamodb=None, ttl_seconds: int = 3 * 24 * 3600):
        if dynamodb is None:
            import boto3

            dynamodb = boto3.resource("dynamodb")
        self.table = dynamodb.Table(table_name)
        self.ttl_seconds = ttl_seconds

    def put(self, inference_id: str, task_token: str, job_id: str, chunk_index: int) -> None:
        self.table.put_item(
            Item={
                "inferenceId": inference_id,
                "taskToken": task_token,
                "jobId": job_id,
                "chunkIndex": chunk_index,
                "expiresAt": int(time.time()) + self.ttl_seconds,
            }
        )

    def get(self, inference_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"inferenceId": inference_id}, ConsistentRead=True).get("Item")
        return dict(item) if item else None

    def delete(self, inference_id: str) -> None:
        self.table.delete_item(Key={"inferenceId": inference_id})


def _is_throttle(err) -> bool:
    code = err.response.get("Error", {}).get("Code", "")
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code in {"ThrottlingException", "Throttling", "TooManyRequestsException", "ServiceUnavailable",
                    "InternalFailure", "ProvisionedThroughputExceededException"} or status >= 500


def submit_chunk(
    *,
    layout: JobLayout,
    chunk: dict[str, Any],
    options: dict[str, Any],
    task_token: str,
    endpoint_name: str,
    tokens: TokenStore,
    s3,
    runtime,
    invocation_timeout_seconds: int = 900,
    request_ttl_seconds: int = 2700,  # slowmo.cloud.config.Settings.request_ttl_seconds: the chunk timeout less 900 s
    fps: str | None = None,
    sfn=None,
) -> dict[str, Any]:
    """Write the request, remember the token, call InvokeEndpointAsync. Returns a small summary.

    A chunk whose output already exists for exactly this request (a re-run of a failed job, or a
    retry after a lost notification) is not sent again: with ``sfn`` given, the waiting task is
    completed at once with SendTaskSuccess."""
    from botocore.exceptions import ClientError

    index = int(chunk["index"])
    plan = None
    if chunk.get("timed"):  # the chunk's output frames are in plan.json (the manifest items stay pointers)
        from slowmo.timeline.plan import Plan

        stored = json.loads(s3.get_object(Bucket=layout.work_bucket, Key=layout.plan_key)["Body"].read())
        plan = Plan.from_dict(stored["timing"])
    request = build_chunk_request(layout, chunk, options, fps, plan)
    request_key = layout.chunk_request_key(index)
    if sfn is not None and finished_output(s3, layout, index, request):
        output = {"inferenceId": f"reused-{layout.job_id}-{index:05d}", "chunk": index, "reused": True}
        sfn.send_task_success(taskToken=task_token, output=json.dumps(output))
        return {**output, "outputLocation": s3_uri(layout.work_bucket, layout.chunk_output_key(index))}
    inference_id = new_inference_id(layout.job_id, index)
    try:
        s3.put_object(
            Bucket=layout.work_bucket, Key=request_key, Body=json.dumps(request).encode(), ContentType=REQUEST_CONTENT_TYPE
        )
        # the token must be findable before SageMaker can possibly answer
        tokens.put(inference_id, task_token, layout.job_id, index)
        resp = runtime.invoke_endpoint_async(
            EndpointName=endpoint_name,
            InputLocation=s3_uri(layout.work_bucket, request_key),
            InferenceId=inference_id,
            ContentType=REQUEST_CONTENT_TYPE,
            Accept=REQUEST_CONTENT_TYPE,
            InvocationTimeoutSeconds=invocation_timeout_seconds,
            RequestTTLSeconds=request_ttl_seconds,
        )
    except ClientError as err:
        message = err.response.get("Error", {}).get("Message", str(err))
        if _is_throttle(err):
            raise TransientError(message) from err
        if "not found" in message.lower() or "could not find endpoint" in message.lower():
            raise EndpointNotReadyError(
                f"endpoint {endpoint_name} is not deployed: POST /endpoint (slowmo cloud endpoint deploy) and retry"
            ) from err
        raise
    return {"inferenceId": inference_id, "chunk": index, "outputLocation": resp.get("OutputLocation")}


def finished_output(s3, layout: JobLayout, index: int, request: dict[str, Any]) -> bool:
    """True when this chunk's output object exists and was made for the same request (same input
    frames, factor, engine): the model server writes it in one PUT, so present means complete."""
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=layout.work_bucket, Key=layout.chunk_output_key(index))
        previous = json.loads(s3.get_object(Bucket=layout.work_bucket, Key=layout.chunk_request_key(index))["Body"].read())
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound", "403", "AccessDenied"}:
            return False
        raise
    except ValueError:
        return False
    return previous == request


# -- SageMaker's notification --------------------------------------------------------------------
@dataclass(frozen=True)
class ModelError:
    """The model server's own error body (slowmo.modelserver.handler.error_result), carried in the error
    notification because the endpoint config asks for ERROR_NOTIFICATION_TOPIC."""

    kind: str
    message: str
    retryable: bool

    @property
    def reason(self) -> str:
        generic = self.kind in ("SlowmoError", "InternalError")  # the message already says what it is
        return self.message if generic else f"{self.kind}: {self.message}"


@dataclass(frozen=True)
class AsyncInferenceResult:
    inference_id: str
    succeeded: bool
    output_location: str | None
    failure_reason: str | None
    input_location: str | None
    endpoint_name: str | None
    status: str
    response_body: str | None = None

    def model_error(self) -> ModelError | None:
        """What the model server said about a failed request, when the notification carries it."""
        try:
            body = json.loads(self.response_body) if self.response_body else None
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("status") == "failed" and body.get("message"):
            return ModelError(str(body.get("error") or "ModelError"), str(body["message"]),
                              bool(body.get("retryable", True)))
        status = re.search(r"\((\d{3})\)", self.failure_reason or "")
        if status and 400 <= int(status.group(1)) < 500 and status.group(1) != "429":
            return ModelError("ClientError", self.failure_reason or "", retryable=False)
        return None

    @classmethod
    def from_message(cls, message: str | dict[str, Any]) -> AsyncInferenceResult:
        body = json.loads(message) if isinstance(message, str) else message
        if not isinstance(body, dict) or "inferenceId" not in body or "invocationStatus" not in body:
            raise InputError("not a SageMaker asynchronous inference notification")
        request = body.get("requestParameters") or {}
        response = body.get("responseParameters") or {}
        status = str(body["invocationStatus"])
        reason = body.get("failureReason")
        if status != "Completed" and not reason:
            reason = f"inference {status.lower()}"
        return cls(
            inference_id=str(body["inferenceId"]),
            succeeded=status == "Completed",
            output_location=response.get("outputLocation"),
            failure_reason=reason,
            input_location=request.get("inputLocation"),
            endpoint_name=request.get("endpointName"),
            status=status,
            response_body=_response_body(body.get("responseBody")),
        )


def _response_body(value: Any) -> str | None:
    """The inference response SageMaker includes in the notification (IncludeInferenceResponseIn):
    ``{"content": ..., "encoding": ...}``, base64 when the encoding says so."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or value.get("content") is None:
        return None
    content = str(value["content"])
    if str(value.get("encoding", "")).upper() == "BASE64":
        import base64

        try:
            return base64.b64decode(content).decode("utf-8", "replace")
        except ValueError:
            return None
    return content


def read_response(s3, output_location: str, limit: int = 200_000) -> dict[str, Any]:
    """The model server's small JSON response, as SageMaker stored it at outputLocation."""
    bucket, key = parse_s3_uri(output_location)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read(limit + 1)
    if len(body) > limit:
        raise InputError(f"model response at {output_location} is larger than {limit} bytes")
    try:
        parsed = json.loads(body)
    except ValueError:
        raise InputError(f"model response at {output_location} is not JSON") from None
    return parsed if isinstance(parsed, dict) else {"response": parsed}


def resume_task(result: AsyncInferenceResult, *, tokens: TokenStore, s3, sfn) -> str:
    """Hand the outcome back to the waiting Map item. Returns what happened, for the log/metrics."""
    entry = tokens.get(result.inference_id)
    if entry is None:
        return "unknown"  # not ours, or expired by TTL: nothing to resume
    token = entry["taskToken"]
    try:
        if result.succeeded:
            output: dict[str, Any] = {"inferenceId": result.inference_id, "chunk": int(entry["chunkIndex"])}
            if result.output_location:
                output["response"] = read_response(s3, result.output_location)
            sfn.send_task_success(taskToken=token, output=json.dumps(output))
            outcome = "succeeded"
        else:
            # the model server's own reason when the notification carries it; a permanent error
            # (bad request, missing input) is InferenceRejected, which the state machine does not retry
            model = result.model_error()
            error = "InferenceRejected" if model and not model.retryable else "InferenceFailed"
            cause = model.reason if model else (result.failure_reason or "inference failed")
            sfn.send_task_failure(taskToken=token, error=error, cause=cause[:MAX_CAUSE])
            outcome = "rejected" if error == "InferenceRejected" else "failed"
    except (sfn.exceptions.TaskTimedOut, sfn.exceptions.TaskDoesNotExist, sfn.exceptions.InvalidToken):
        outcome = "stale"  # the execution gave up on this attempt (timeout, retry, or it was stopped)
    except InputError as err:
        sfn.send_task_failure(taskToken=token, error="InferenceFailed", cause=str(err)[:MAX_CAUSE])
        outcome = "failed"
    tokens.delete(result.inference_id)
    return outcome
