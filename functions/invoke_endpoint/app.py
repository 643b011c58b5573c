"""InterpolateChunk (waitForTaskToken): send one chunk to the SageMaker asynchronous endpoint.

Stores InferenceId -> task token, then calls InvokeEndpointAsync with the chunk's request JSON in S3.
The Map item stays paused until ResumeFunction hands SageMaker's notification back. A chunk whose
output is already in the work bucket (re-run of a failed job) is completed at once instead."""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from slowmo.cloud import aws
from slowmo.cloud.inference import TokenStore, submit_chunk
from slowmo.cloud.lambda_startup import job_layout, lambda_entry, logger, metrics, stack_settings


@lambda_entry()
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    settings = stack_settings()
    logger.append_keys(job_id=event["jobId"], chunk=event["chunk"]["index"])
    submitted = submit_chunk(
        layout=job_layout(event["jobId"], settings),
        chunk=event["chunk"],
        options=event["options"],
        fps=event.get("fps"),
        task_token=event["taskToken"],
        endpoint_name=settings.endpoint_name,
        tokens=TokenStore(settings.tokens_table, aws.resource("dynamodb"), settings.token_ttl_seconds),
        s3=aws.client("s3"),
        runtime=aws.client("sagemaker-runtime"),
        invocation_timeout_seconds=settings.invocation_timeout_seconds,
        request_ttl_seconds=settings.request_ttl_seconds,
        sfn=aws.client("stepfunctions"),
    )
    if submitted.get("reused"):
        metrics.add_metric(name="ChunksReused", unit=MetricUnit.Count, value=1)
        logger.info("chunk output already there: not sent again")
        return submitted
    metrics.add_metric(name="ChunksSubmitted", unit=MetricUnit.Count, value=1)
    logger.info("chunk submitted", inference_id=submitted["inferenceId"], attempt=event.get("attempt", 1))
    return submitted
