"""Extract (container image): the four steps that turn the source into lossless chunk files, each a call of
this function from the state machine (slowmo.cloud.media, "extract"):

- index: read the container's packet index and cut its frames into time ranges;
- scan:  decode one range, time every frame and find the cuts (a Distributed Map item);
- plan:  join the scans, judge the job, plan the chunks and group them (writes plan.json and the manifest);
- cut:   decode one group of chunks and write their chunk files (a Distributed Map item).

Returns pointers and counts, never frames."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from slowmo.cloud import aws
from slowmo.cloud.config import Settings
from slowmo.cloud.layout import JobLayout
from slowmo.cloud.media import cut_range, plan_chunks, read_index, scan_range

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    settings = Settings.from_env()
    step = event.get("step", "index")
    logger.append_keys(job_id=event["jobId"], step=step)
    layout = JobLayout(event["jobId"], settings.work_bucket, settings.output_bucket)
    s3 = aws.client("s3")
    if step == "index":
        result = read_index(s3=s3, layout=layout, source=event["source"], options=event["options"],
                            range_frames=settings.extract_range_frames)
    elif step == "scan":
        result = scan_range(s3=s3, layout=layout, source=event["source"], options=event["options"], item=event["range"])
    elif step == "plan":
        result = plan_chunks(s3=s3, layout=layout, source=event["source"], options=event["options"],
                             chunk_frames=settings.chunk_frames, group_frames=settings.extract_range_frames)
    elif step == "cut":
        result = cut_range(s3=s3, layout=layout, source=event["source"], item=event["group"])
    else:
        raise ValueError(f"unknown extract step {step!r}")
    logger.info("extract step done", **{k: v for k, v in result.items() if isinstance(v, int)})
    return result
