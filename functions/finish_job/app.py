"""FinishJob: record the job's outcome (SUCCEEDED with its outputs, or FAILED with a readable reason
taken from the Catch's {Error, Cause}) and tell the operator on the notification topic."""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from slowmo.cloud import aws
from slowmo.cloud.jobs import JobStore, job_failure_reason, job_view
from slowmo.cloud.lambda_startup import lambda_entry, logger, metrics, stack_settings
from slowmo.cloud.notify import publish_job


@lambda_entry()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    settings = stack_settings()
    logger.append_keys(job_id=event["jobId"])
    store = JobStore(settings.jobs_table, aws.resource("dynamodb"))
    reason = None
    if event["status"] == "FAILED":
        reason = job_failure_reason(store.get(event["jobId"]), event.get("error"))
    item = store.finish(event["jobId"], event["status"], outputs=event.get("outputs"), reason=reason)
    job = job_view(item)
    publish_job(aws.client("sns"), settings.notification_topic_arn, job)
    metrics.add_metric(name=f"Jobs{event['status'].capitalize()}", unit=MetricUnit.Count, value=1)
    logger.info("job finished", status=job["status"], reason=reason)
    return {"jobId": job["jobId"], "status": job["status"], "reason": reason or ""}
