"""Assemble (container image): stream-copy the segments into the final MP4 and comparison, mux the
audio, and publish both to the output bucket (temporary key first, then copied into place)."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from slowmo.cloud import aws
from slowmo.cloud.config import Settings
from slowmo.cloud.layout import JobLayout
from slowmo.cloud.media import assemble

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    settings = Settings.from_env()
    logger.append_keys(job_id=event["jobId"])
    result = assemble(s3=aws.client("s3"), layout=JobLayout(event["jobId"], settings.work_bucket,
                                                             settings.output_bucket))
    logger.info("published", outputs=result["outputs"])
    return result
