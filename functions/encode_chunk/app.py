"""EncodeChunk (container image): encode one chunk's synthesised frames into its MP4 segment and
side-by-side segment, so no single invocation ever encodes more than one chunk."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from slowmo.cloud import aws
from slowmo.cloud.lambda_startup import job_layout, lambda_entry, logger
from slowmo.cloud.media import encode_chunk


@lambda_entry(traced=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    logger.append_keys(job_id=event["jobId"], chunk=event["chunk"]["index"])
    layout = job_layout(event["jobId"])
    return encode_chunk(s3=aws.client("s3"), layout=layout, chunk=event["chunk"])
