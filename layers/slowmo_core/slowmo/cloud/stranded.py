"""The safety net outside the state machine: a job whose execution ended without reaching RecordFailure.

Step Functions' Catch blocks cannot handle States.DataLimitExceeded or States.Runtime, and an execution that
times out or is stopped runs no state at all, so the job would stay RUNNING or PROCESSING: no notification,
and POST /jobs/{id}/retry answers 409. EventBridge sends "Step Functions Execution Status Change" for
FAILED, TIMED_OUT and ABORTED executions of this state machine
(https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html); SettleJobFunction hands the event's
detail to ``settle_execution``, which marks the job FAILED with the execution's error (only if that
execution still owns the job and the job is not finished) and returns it for the notification.
"""

from __future__ import annotations

import json
from typing import Any

from slowmo.cloud.config import Settings
from slowmo.cloud.jobs import JobStore, failure_reason_line, job_failure_reason
from slowmo.cloud.submission import rejected_request, request_for_execution
from slowmo.errors import InputError

WHAT_HAPPENED = {"FAILED": "the execution failed", "TIMED_OUT": "the execution timed out",
                 "ABORTED": "the execution was stopped"}


def execution_input(detail: dict[str, Any]) -> dict[str, Any] | None:
    raw = detail.get("input")
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def candidate_job_ids(settings: Settings, execution: dict[str, Any], s3) -> list[str]:
    """The job ids this execution's input can have claimed: the accepted request's, and the rejected one's."""
    ids = []
    try:
        ids.append(request_for_execution(settings, execution, s3).job_id)
    except (InputError, KeyError, TypeError, ValueError):
        pass  # the object is gone or the input is odd: ClaimJob then recorded it as the rejected request
    rejected = rejected_request(execution)
    if rejected is not None and rejected.job_id not in ids:
        ids.append(rejected.job_id)
    return ids


def settle_execution(settings: Settings, detail: dict[str, Any], *, s3, store: JobStore) -> dict[str, Any] | None:
    """Mark FAILED the job a FAILED, TIMED_OUT or ABORTED execution left unfinished; the job item, or None
    when there is nothing to settle (RecordFailure already did, or another execution owns the job)."""
    status = detail.get("status")
    execution = execution_input(detail)
    if status not in WHAT_HAPPENED or execution is None or not detail.get("executionArn"):
        return None
    error = {"Error": detail.get("error") or status, "Cause": detail.get("cause") or ""}
    for job_id in candidate_job_ids(settings, execution, s3):
        reason = failure_reason_line(f"{WHAT_HAPPENED[status]}: {job_failure_reason(store.get(job_id), error)}")
        item = store.settle_abandoned(job_id, detail["executionArn"], reason)
        if item is not None:
            return item
    return None
