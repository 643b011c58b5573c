"""Assemble (container image): stream-copy one output's segments (the video or the comparison) into an MP4
with the audio muxed, to a temporary key ("join", one call per output, side by side), then copy every output
into place at once ("publish"). slowmo.cloud.media has the how; an event without a step does both in turn."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from slowmo.cloud import aws
from slowmo.cloud.lambda_startup import job_layout, lambda_entry, logger
from slowmo.cloud.media import assemble, assemble_output, publish_outputs


@lambda_entry(traced=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    step = event.get("step", "all")
    logger.append_keys(job_id=event["jobId"], step=step)
    layout = job_layout(event["jobId"])
    s3 = aws.client("s3")
    if step == "join":
        result = assemble_output(s3=s3, layout=layout, kind=event["kind"])
        logger.info("joined", kind=result["kind"])
    elif step == "publish":
        result = publish_outputs(s3=s3, layout=layout, staged=event["staged"])
        logger.info("published", outputs=result["outputs"])
    elif step == "all":
        result = assemble(s3=s3, layout=layout)
        logger.info("published", outputs=result["outputs"])
    else:
        raise ValueError(f"unknown assemble step {step!r}")
    return result
