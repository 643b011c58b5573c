"""ClaimJob: the first state. Turns the execution's input (an upload's EventBridge event, or an API
submission) into a job and claims it for this execution exactly once.

An upload that can never be processed (object gone, empty, over the size limit, not a video, bad
options, more than the stack can finish by the capacity model) still becomes a job: it is claimed like any other and returned with ``rejected`` set to the
reason, and the state machine records it FAILED and tells the operator."""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from slowmo.cloud import aws
from slowmo.cloud.admission import admit
from slowmo.cloud.jobs import JobStore
from slowmo.cloud.lambda_startup import lambda_entry, logger, metrics, stack_settings
from slowmo.cloud.submission import rejected_request, request_for_execution
from slowmo.errors import InputError


@lambda_entry()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    settings = stack_settings()
    rejected = None
    try:
        request = request_for_execution(settings, event["input"], aws.client("s3"))
        if request.trigger == "upload" and not request.rerun:  # POST /jobs admitted API submissions already
            admit(aws.client("s3"), request.source, request.options)  # before anything is spent on it
    except InputError as err:
        request = rejected_request(event["input"])
        if request is None:
            raise  # not an upload event at all: nothing to record a job for
        rejected = str(err)
    claim = JobStore(settings.jobs_table, aws.resource("dynamodb")).claim(request, event["executionArn"])
    logger.append_keys(job_id=claim.job_id)
    if claim.claimed:
        metrics.add_metric(name="JobsRejected" if rejected else "JobsClaimed", unit=MetricUnit.Count, value=1)
        if rejected:
            logger.info("input rejected", reason=rejected)
    else:
        logger.info("duplicate trigger: job already belongs to another execution",
                    owner=claim.item.get("executionArn"))
        metrics.add_metric(name="DuplicateTriggers", unit=MetricUnit.Count, value=1)
    return {"jobId": claim.job_id, "claimed": claim.claimed, "source": request.source.to_dict(),
            "options": request.options, "rejected": rejected if claim.claimed else None}
