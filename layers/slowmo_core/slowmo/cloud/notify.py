"""The operator's notification: one SNS message per finished job, readable in an e-mail."""

from __future__ import annotations

import json
from typing import Any

from slowmo.cloud.jobs import FAILED, SUCCEEDED

SUBJECT_LIMIT = 100  # SNS subject: at most 100 printable ASCII characters


def job_message(job: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) for a finished job view (slowmo.cloud.jobs.job_view)."""
    status = job.get("status")
    source = job.get("source") or {}
    where = f"s3://{source.get('bucket', '?')}/{source.get('key', '?')}"
    factor = (job.get("options") or {}).get("factor")
    if status == SUCCEEDED:
        subject = f"slowmo: job {job['jobId']} succeeded"
        lines = [f"Job {job['jobId']} SUCCEEDED: {where} at factor {factor}."]
        for name, uri in sorted((job.get("outputs") or {}).items()):
            lines.append(f"  {name}: {uri}")
    elif status == FAILED:
        subject = f"slowmo: job {job['jobId']} failed"
        lines = [f"Job {job['jobId']} FAILED: {where}.", f"  reason: {job.get('error') or 'unknown'}"]
    else:
        subject = f"slowmo: job {job['jobId']} {str(status).lower()}"
        lines = [f"Job {job['jobId']} is {status}."]
    lines += ["", "Details (JSON):", json.dumps(job, indent=2, sort_keys=True, default=str)]
    return subject.encode("ascii", "replace").decode()[:SUBJECT_LIMIT], "\n".join(lines)


def publish_job(sns, topic_arn: str, job: dict[str, Any]) -> str | None:
    if not topic_arn:
        return None
    subject, body = job_message(job)
    resp = sns.publish(
        TopicArn=topic_arn,
        Subject=subject,
        Message=body,
        MessageAttributes={
            "status": {"DataType": "String", "StringValue": str(job.get("status"))},
            "jobId": {"DataType": "String", "StringValue": str(job.get("jobId"))},
        },
    )
    return resp.get("MessageId")
