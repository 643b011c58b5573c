"""EncodeChunk (container image): encode one chunk's synthesised frames into its MP4 segment and
side-by-side segment, so no single invocation ever encodes more than one chunk."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from slowmo.cloud import aws
from slowmo.cloud.config import Settings
from slowmo.cloud.layout import JobLayout
from slowmo.cloud.media import encode_chunk

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    settings = Settings.from_env()
    logger.append_keys(job_id=event["jobId"], chunk=event["chunk"]["index"])
    layout = JobLayout(event["jobId"], settings.work_bucket, settings.output_bucket)
    return encode_chunk(s3=aws.client("s3"), layout=layout, chunk=event["chunk"])
