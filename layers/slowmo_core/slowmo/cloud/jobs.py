"""Job records in DynamoDB: claim exactly once, report progress, record the outcome.

One item per job, keyed on ``jobId`` (derived from the source object and options, see
slowmo.cloud.submission). Status moves QUEUED (API accepted) -> RUNNING (claimed by an execution)
-> PROCESSING (chunks planned) -> SUCCEEDED | FAILED. The state machine bumps ``chunksDone`` and
sets ``chunksTotal`` with direct DynamoDB integrations, so GET /jobs/{id} can show progress.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from slowmo.cloud.submission import JobRequest

QUEUED, RUNNING, PROCESSING, SUCCEEDED, FAILED = "QUEUED", "RUNNING", "PROCESSING", "SUCCEEDED", "FAILED"
TERMINAL = {SUCCEEDED, FAILED}
MAX_REASON = 1000


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals back to int/float, recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _dynamo(value: Any) -> Any:
    """Floats to Decimal for boto3's resource layer."""
    return json.loads(json.dumps(value), parse_float=Decimal)


def failure_reason(error: str | None, cause: str | None) -> str:
    """One readable line from a Step Functions Catch's {Error, Cause}.

    Lambda errors carry a JSON cause ({"errorType", "errorMessage", ...}); callback failures
    (SendTaskFailure) carry our own text; States.* errors carry the service's text.
    """
    error = error or "Error"
    text = (cause or "").strip()
    try:
        parsed = json.loads(text) if text.startswith("{") else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("errorMessage"):
        text = f"{parsed.get('errorType') or error}: {parsed['errorMessage']}"
    elif text and not text.startswith(error):
        text = f"{error}: {text}"
    elif not text:
        text = error
    return failure_reason_line(text)


def job_failure_reason(item: dict[str, Any] | None, error: dict[str, Any] | None) -> str:
    """The reason a job failed: the first failed Extract range's or chunk's own error when one recorded it
    (a Distributed Map only says its failure threshold was exceeded), else the caught error."""
    item = item or {}
    if item.get("extractError"):  # a scan or cut of Extract's Maps recorded its own reason
        return failure_reason_line(failure_reason(item["extractError"], item.get("extractCause")))
    if item.get("chunkError"):
        attempts = int(item.get("failedAttempts") or 1)
        tail = f" (after {attempts} attempts)" if attempts > 1 else ""
        return failure_reason_line(f"chunk {item.get('failedChunk', '?')}: "
                                   + failure_reason(item["chunkError"], item.get("chunkCause")) + tail)
    error = error or {}
    return failure_reason(error.get("Error"), error.get("Cause"))


def failure_reason_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"


@dataclass(frozen=True)
class ClaimResult:
    job_id: str
    claimed: bool  # False: another execution already owns this job (duplicate event)
    item: dict[str, Any]


class JobStore:
    def __init__(self, table_name: str, dynamodb=None):
        if dynamodb is None:
            import boto3

            dynamodb = boto3.resource("dynamodb")
        self.table = dynamodb.Table(table_name)

    # -- creation and claiming ------------------------------------------------------------
    def create(self, request: JobRequest, extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
        """Record an accepted job (API path). Returns (item, created); an existing job is returned as is."""
        from botocore.exceptions import ClientError

        now = _now()
        item = {
            "jobId": request.job_id,
            "status": QUEUED,
            "source": request.source.to_dict(),
            "options": _dynamo(request.options),
            "trigger": request.trigger,
            "chunksDone": 0,
            "createdAt": now,
            "updatedAt": now,
            **(extra or {}),
        }
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(jobId)")
            return _plain(item), True
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        return self.get(request.job_id) or _plain(item), False

    def claim(self, request: JobRequest, execution_arn: str) -> ClaimResult:
        """Bind the job to this execution, exactly once.

        One conditional UpdateItem creates the record if needed and sets ``executionArn`` only if
        no other execution holds it; re-running the claim from the same execution is harmless.
        """
        from botocore.exceptions import ClientError

        now = _now()
        names = {"#s": "status", "#src": "source", "#o": "options", "#t": "trigger", "#x": "executionArn"}
        values = {
            ":arn": execution_arn,
            ":running": RUNNING,
            ":src": request.source.to_dict(),
            ":opt": _dynamo(request.options),
            ":trigger": request.trigger,
            ":now": now,
            ":zero": 0,
        }
        update = ("SET #x = :arn, #s = :running, #src = if_not_exists(#src, :src), #o = if_not_exists(#o, :opt), "
                  "#t = if_not_exists(#t, :trigger), createdAt = if_not_exists(createdAt, :now), updatedAt = :now, "
                  "chunksDone = if_not_exists(chunksDone, :zero)")
        condition = "attribute_not_exists(#x) OR #x = :arn"
        if request.rerun:
            # a re-run takes over a FAILED job only: progress restarts, the old outcome is cleared
            update = update.replace("chunksDone = if_not_exists(chunksDone, :zero)", "chunksDone = :zero")
            update += (" REMOVE failureReason, finishedAt, outputs, chunkError, chunkCause, failedChunk, "
                       "failedAttempts, chunksTotal, extractError, extractCause")
            condition = "attribute_not_exists(#x) OR #x = :arn OR #s = :failed"
            values[":failed"] = FAILED
        try:
            resp = self.table.update_item(
                Key={"jobId": request.job_id},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
            return ClaimResult(request.job_id, True, _plain(resp["Attributes"]))
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        return ClaimResult(request.job_id, False, self.get(request.job_id) or {})

    # -- reading ----------------------------------------------------------------------------
    def get(self, job_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"jobId": job_id}, ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    # -- outcome ------------------------------------------------------------------------------
    def finish(
        self,
        job_id: str,
        status: str,
        outputs: dict[str, str] | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        if status not in TERMINAL:
            raise ValueError(f"finish() needs a terminal status, not {status}")
        now = _now()
        sets = ["#s = :status", "updatedAt = :now", "finishedAt = :now"]
        values: dict[str, Any] = {":status": status, ":now": now}
        if outputs:
            sets.append("outputs = :outputs")
            values[":outputs"] = outputs
        if reason:
            sets.append("failureReason = :reason")
            values[":reason"] = reason
        resp = self.table.update_item(
            Key={"jobId": job_id},
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return _plain(resp["Attributes"])


    def settle_abandoned(self, job_id: str, execution_arn: str, reason: str) -> dict[str, Any] | None:
        """Mark FAILED a job its execution left behind (the execution failed outside every Catch, timed out
        or was stopped): only while that execution still owns it and it is not finished. None otherwise."""
        from botocore.exceptions import ClientError

        now = _now()
        try:
            resp = self.table.update_item(
                Key={"jobId": job_id},
                UpdateExpression="SET #s = :failed, failureReason = :reason, updatedAt = :now, finishedAt = :now",
                ConditionExpression="#x = :arn AND NOT #s IN (:failed, :succeeded)",
                ExpressionAttributeNames={"#s": "status", "#x": "executionArn"},
                ExpressionAttributeValues={":failed": FAILED, ":succeeded": SUCCEEDED, ":reason": reason,
                                           ":arn": execution_arn, ":now": now},
                ReturnValues="ALL_NEW",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return None
        return _plain(resp["Attributes"])


def job_view(item: dict[str, Any]) -> dict[str, Any]:
    """The public shape of a job, as GET /jobs/{id} and the CLI show it."""
    done = int(item.get("chunksDone") or 0)
    total = int(item.get("chunksTotal") or 0)
    view: dict[str, Any] = {
        "jobId": item["jobId"],
        "status": item.get("status", QUEUED),
        "progress": {
            "chunksDone": min(done, total) if total else done,
            "chunksTotal": total,
            "percent": round(100.0 * min(done, total) / total, 1) if total else 0.0,
        },
        "source": item.get("source"),
        "options": item.get("options"),
        "createdAt": item.get("createdAt"),
        "updatedAt": item.get("updatedAt"),
    }
    if item.get("outputs"):
        view["outputs"] = item["outputs"]
    if item.get("failureReason"):
        view["error"] = item["failureReason"]
    if item.get("finishedAt"):
        view["finishedAt"] = item["finishedAt"]
    return view
