"""Extract (container image): probe the source, cut it into lossless chunks in the work bucket, and
write the chunk manifest the Distributed Map reads. Returns pointers and counts, never frames."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from slowmo.cloud import aws
from slowmo.cloud.config import Settings
from slowmo.cloud.layout import JobLayout
from slowmo.cloud.media import extract

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    settings = Settings.from_env()
    logger.append_keys(job_id=event["jobId"])
    layout = JobLayout(event["jobId"], settings.work_bucket, settings.output_bucket)
    summary = extract(s3=aws.client("s3"), layout=layout, source=event["source"], options=event["options"],
                      chunk_frames=settings.chunk_frames)
    logger.info("chunks planned", chunks=summary["chunkCount"], source_frames=summary["sourceFrames"])
    return summary
