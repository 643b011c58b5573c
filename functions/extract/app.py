"""Extract (container image): the four steps that turn the source into lossless chunk files, each a call of
this function from the state machine (slowmo.cloud.media, "extract"):

- index: read the container's packet index and cut its frames into time ranges;
- scan:  decode one range, time every frame and find the cuts (a Distributed Map item);
- plan:  join the scans, judge the job, plan the chunks and group them (writes plan.json and the manifest);
- cut:   decode one group of chunks and write their chunk files (a Distributed Map item).

Returns pointers and counts, never frames."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from slowmo.cloud import aws
from slowmo.cloud.lambda_startup import job_layout, lambda_entry, logger, stack_settings
from slowmo.cloud.media import cut_range, plan_chunks, read_index, scan_range


@lambda_entry(traced=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    step = event.get("step", "index")
    logger.append_keys(job_id=event["jobId"], step=step)
    stack = stack_settings()
    layout = job_layout(event["jobId"], stack)
    s3 = aws.client("s3")
    if step == "index":
        result = read_index(s3=s3, layout=layout, source=event["source"], options=event["options"],
                            range_frames=stack.extract_range_frames)
    elif step == "scan":
        result = scan_range(s3=s3, layout=layout, source=event["source"], options=event["options"], item=event["range"])
    elif step == "plan":
        result = plan_chunks(s3=s3, layout=layout, source=event["source"], options=event["options"],
                             chunk_frames=stack.chunk_frames, group_frames=stack.extract_range_frames)
    elif step == "cut":
        result = cut_range(s3=s3, layout=layout, source=event["source"], item=event["group"])
    else:
        raise ValueError(f"unknown extract step {step!r}")
    logger.info("extract step done", **{k: v for k, v in result.items() if isinstance(v, int)})
    return result
