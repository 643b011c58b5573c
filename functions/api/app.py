"""The jobs API (REST, AWS_IAM auth).

POST /jobs      {"upload": {"filename": "clip.mp4", "size": N}} -> a presigned PUT URL for the input bucket, or
                over 5 GB a multipart upload: {"uploadParts": ...} -> presigned part URLs,
                {"completeUpload": {..., "partCount"}} -> the video is in place, {"abortUpload": ...} -> given up
POST /jobs      {"key": "uploads/clip.mp4", "options": {...}} -> starts (or finds) the job, 202
POST /jobs      {..., "dryRun": true}                         -> the job's estimate; nothing is started, 200
GET  /jobs/{id}                                              -> status, progress, outputs, error
POST /jobs/{id}/retry                                        -> runs a FAILED job again, reusing finished chunks

Bodies are JSON objects of at most 16 KiB with known fields only; anything else is a 400 with a message.
Presigned URLs are never logged.
"""

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from slowmo.cloud import aws
from slowmo.cloud.api import (
    UPLOAD_ACTIONS,
    ConflictError,
    estimate_request,
    is_dry_run,
    parse_body,
    retry_job,
    submit_job,
)
from slowmo.cloud.config import Settings
from slowmo.cloud.jobs import JobStore, job_view
from slowmo.cloud.lambda_startup import lambda_entry, logger, metrics, stack_settings, tracer
from slowmo.errors import InputError

app = APIGatewayRestResolver()


def _store(settings: Settings) -> JobStore:
    return JobStore(settings.jobs_table, aws.resource("dynamodb"))


@app.post("/jobs")
@tracer().capture_method
def post_job() -> Response:
    settings = stack_settings()
    body = parse_body(app.current_event.decoded_body)
    action = next((name for name in UPLOAD_ACTIONS if name in body), None)
    if action:
        if set(body) != {action}:
            raise InputError(f"an upload request has only the field '{action}'")
        answer = UPLOAD_ACTIONS[action](settings, aws.presigner(), body[action])
        logger.info("upload URL issued" if action != "completeUpload" else "upload completed", action=action,
                    key=(answer.get("upload") or body[action]).get("key"))
        return Response(201 if action == "upload" else 200, content_types.APPLICATION_JSON, answer)
    if is_dry_run(body):
        estimate = estimate_request(settings, body, s3=aws.client("s3"))
        logger.info("job estimated", job_id=estimate["jobId"], fits=estimate.get("fits"))
        return Response(200, content_types.APPLICATION_JSON, estimate)
    view, created = submit_job(settings, body, s3=aws.client("s3"), sfn=aws.client("stepfunctions"),
                               store=_store(settings))
    if created:
        metrics.add_metric(name="JobsSubmitted", unit=MetricUnit.Count, value=1)
    logger.info("job submitted", job_id=view["jobId"], created=created)
    return Response(202 if created else 200, content_types.APPLICATION_JSON, view)


@app.get("/jobs/<job_id>")
@tracer().capture_method
def get_job(job_id: str) -> dict:
    item = _store(stack_settings()).get(job_id)
    if item is None:
        raise NotFoundError(f"no job {job_id}")
    return job_view(item)


@app.post("/jobs/<job_id>/retry")
@tracer().capture_method
def post_retry(job_id: str) -> Response:
    settings = stack_settings()
    view = retry_job(settings, job_id, sfn=aws.client("stepfunctions"), store=_store(settings))
    if view is None:
        raise NotFoundError(f"no job {job_id}")
    logger.info("job retry started", job_id=job_id, execution=view["retry"]["executionName"])
    return Response(202, content_types.APPLICATION_JSON, view)


@app.exception_handler(InputError)
def bad_request(err: InputError) -> Response:
    status = 409 if isinstance(err, ConflictError) else 400
    return Response(status, content_types.APPLICATION_JSON, {"message": str(err)})


@lambda_entry(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
