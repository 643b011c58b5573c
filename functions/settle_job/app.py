"""SettleJob: the safety net. EventBridge calls it when an execution of the state machine ends FAILED,
TIMED_OUT or ABORTED; a job that execution left RUNNING or PROCESSING (an error no Catch can handle, a
timeout, a stop) is marked FAILED with the execution's error, and the operator is told, so the job can be
retried. A job RecordFailure already finished is left as it is (slowmo.cloud.stranded)."""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from slowmo.cloud import aws
from slowmo.cloud.jobs import JobStore, job_view
from slowmo.cloud.lambda_startup import lambda_entry, logger, metrics, stack_settings
from slowmo.cloud.notify import publish_job
from slowmo.cloud.stranded import settle_execution


@lambda_entry()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    settings = stack_settings()
    detail = event.get("detail") or {}
    logger.append_keys(execution_arn=detail.get("executionArn"), execution_status=detail.get("status"))
    store = JobStore(settings.jobs_table, aws.resource("dynamodb"))
    item = settle_execution(settings, detail, s3=aws.client("s3"), store=store)
    if item is None:
        logger.info("nothing to settle: the job was finished by the state machine or belongs to another execution")
        return {"settled": None}
    job = job_view(item)
    publish_job(aws.client("sns"), settings.notification_topic_arn, job)
    metrics.add_metric(name="JobsSettledBySafetyNet", unit=MetricUnit.Count, value=1)
    logger.info("stranded job marked FAILED", job_id=job["jobId"], reason=job.get("error"))
    return {"settled": job["jobId"], "status": job["status"]}
