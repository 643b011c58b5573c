"""The sample job that events/ describes, made real on a moto server, so that `sam local invoke` of every event
runs against state that makes sense: the stack's buckets, tables, topics and state machine under the names the
events use, the source clip at the key (and version, ETag, size) they name, and what earlier steps would have
left for the later events (a job item, task tokens, a model response).

    python tools/containers/sample_job.py seed --endpoint http://172.17.0.1:5000 --env-vars out/env.json
    python tools/containers/sample_job.py write-events   # after changing the clip or the planners

`write-events` runs the real Extract on the sample clip (in this process, on moto) and writes into events/ the
fields that follow from the clip: the source's ETag and size, the scan's range, the cut's group and the chunk
that invoke_endpoint.json and encode_chunk.json name. tests/containers/test_events.py checks each event
against the same run, so an event that drifts from its handler or from the clip fails, by name.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
REGION = "us-east-1"
ACCOUNT = "123456789012"

JOB_ID = "job-5b1f0c8e2d4a6b7c9e0f1a2b"
INPUT_BUCKET = "slowmo-inputbucket-1a2b3c4d5e6f"
WORK_BUCKET = "slowmo-workbucket-0a1b2c3d4e5f"
OUTPUT_BUCKET = "slowmo-outputbucket-9f8e7d6c5b4a"
JOBS_TABLE = "slowmo-JobsTable-1A2B3C4D5E6F"
TOKENS_TABLE = "slowmo-TaskTokensTable-1A2B3C4D5E6F"
STATE_MACHINE = "slowmo-slow-motion"
ENDPOINT = "slowmo-film"
LIBRARY_KEY = "library/clip.mov"  # the API's and the Extract events' source
UPLOAD_KEY = "uploads/factor=8/clip.mp4"  # the S3 upload that EventBridge reports
TOPICS = {"InferenceSuccessTopic": "slowmo-InferenceSuccessTopic-AbCdEf123456",
          "InferenceErrorTopic": "slowmo-InferenceErrorTopic-AbCdEf123456",
          "NotificationTopic": "slowmo-NotificationTopic-AbCdEf123456"}
SEED = 42  # moto's random seed before the uploads: the input bucket's version ids are the same every run
# Small planning sizes, so the 72-frame clip makes several ranges, groups and chunks
CHUNK_FRAMES = 16
EXTRACT_RANGE_FRAMES = 32
CHUNK = 3  # the chunk invoke_endpoint.json and encode_chunk.json name
# the model response the resume events point at (what the endpoint would have written)
INFERENCE_ID = f"{JOB_ID}-{CHUNK:05d}-4f2a9c1b7d3e"


def topic_arn(logical: str) -> str:
    return f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPICS[logical]}"


def function_env(endpoint_url: str) -> dict[str, str]:
    """The variables template.yaml declares, as the sample stack's functions see them (sam local invoke's
    --env-vars "Parameters")."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "INPUT_BUCKET": INPUT_BUCKET, "WORK_BUCKET": WORK_BUCKET, "OUTPUT_BUCKET": OUTPUT_BUCKET,
        "JOBS_TABLE": JOBS_TABLE, "TOKENS_TABLE": TOKENS_TABLE,
        "STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE}",
        "ENDPOINT_NAME": ENDPOINT, "SUCCESS_TOPIC_ARN": topic_arn("InferenceSuccessTopic"),
        "ERROR_TOPIC_ARN": topic_arn("InferenceErrorTopic"), "NOTIFICATION_TOPIC_ARN": topic_arn("NotificationTopic"),
        "SAGEMAKER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/slowmo-SageMakerExecutionRole",
        "MODEL_DATA_URL": f"s3://{WORK_BUCKET}/model/model.tar.gz",
        "MODEL_IMAGE_URI": f"763104351884.dkr.ecr.{REGION}.amazonaws.com/djl-inference:0.29.0-lmi11.0.0-cu124",
        "CHUNK_FRAMES": str(CHUNK_FRAMES), "EXTRACT_RANGE_FRAMES": str(EXTRACT_RANGE_FRAMES),
        "UPLOAD_PREFIX": "uploads/", "POWERTOOLS_LOG_LEVEL": "WARNING",
    }


def render_clip(path: Path) -> Path:
    """72 frames of 160x96 at 30000/1001 fps with a hard cut at frame 40 and a tone: byte-identical on every run
    (one encoder thread, bit-exact flags, no metadata), so its ETag and size can stand in the events."""
    from slowmo.media.ffmpeg import run_ffmpeg

    rate = "30000/1001"
    run_ffmpeg(["-loglevel", "error",
                "-f", "lavfi", "-i", f"testsrc2=size=160x96:rate={rate}:duration=1.3346",
                "-f", "lavfi", "-i", f"mandelbrot=size=160x96:rate={rate}",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2.4024",
                "-filter_complex", "[0:v]trim=end_frame=40[a];[1:v]trim=end_frame=32,setpts=PTS-STARTPTS[b];"
                                   "[a][b]concat=n=2:v=1:a=0,format=yuv420p[v]",
                "-map", "[v]", "-map", "2:a", "-c:v", "libx264", "-preset", "veryfast", "-g", "24",
                "-threads", "1", "-c:a", "aac", "-b:a", "64k", "-map_metadata", "-1",
                "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
                "-f", "mov", "-y", str(path)])
    return path


def clients(endpoint_url: str | None):
    import boto3

    kw = {"region_name": REGION, **({"endpoint_url": endpoint_url} if endpoint_url else {})}
    return {name: boto3.client(name, **kw) for name in ("s3", "dynamodb", "sns", "stepfunctions", "iam", "sqs", "sagemaker",
                                                   "application-autoscaling")}


def seed(endpoint_url: str | None, clip: Path) -> dict[str, dict]:
    """Create the sample stack on moto and upload the clip; returns {key: put_object result} of the uploads.
    endpoint_url None: the moto of this process (mock_aws)."""
    import urllib.request

    c = clients(endpoint_url)
    s3 = c["s3"]
    for bucket in (INPUT_BUCKET, WORK_BUCKET, OUTPUT_BUCKET):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=INPUT_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for table, key in ((JOBS_TABLE, "jobId"), (TOKENS_TABLE, "inferenceId")):
        c["dynamodb"].create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                                   AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                                   KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])
    for name in TOPICS.values():
        c["sns"].create_topic(Name=name)
    # the operator's subscription: a queue the checks read
    queue = c["sqs"].create_queue(QueueName="slowmo-operator")["QueueUrl"]
    queue_arn = c["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    c["sns"].subscribe(TopicArn=topic_arn("NotificationTopic"), Protocol="sqs", Endpoint=queue_arn)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "states.amazonaws.com"}}]}
    role = c["iam"].create_role(RoleName="slowmo-StateMachineRole", AssumeRolePolicyDocument=json.dumps(trust))
    c["iam"].create_role(RoleName="slowmo-SageMakerExecutionRole", AssumeRolePolicyDocument=json.dumps(
        {**trust, "Statement": [{**trust["Statement"][0], "Principal": {"Service": "sagemaker.amazonaws.com"}}]}))
    # the API starts executions of it; nothing runs them here (moto does not interpret the definition)
    c["stepfunctions"].create_state_machine(name=STATE_MACHINE, roleArn=role["Role"]["Arn"], definition=json.dumps(
        {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}))
    s3.put_object(Bucket=WORK_BUCKET, Key="model/model.tar.gz", Body=b"stand-in: the endpoint is not run here")
    if endpoint_url:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint_url}/moto-api/seed?a={SEED}", method="POST"))
    else:
        from moto.moto_api._internal import mock_random

        mock_random.seed(SEED)
    body = clip.read_bytes()
    return {key: s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=body) for key in (LIBRARY_KEY, UPLOAD_KEY)}


def source_of(put: dict, key: str, clip: Path) -> dict:
    return {"bucket": INPUT_BUCKET, "key": key, "version_id": put["VersionId"], "etag": put["ETag"].strip('"'),
            "size": clip.stat().st_size}


def load_event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


def write_event(name: str, event: dict) -> None:
    (EVENTS / f"{name}.json").write_text(json.dumps(event, indent=2) + "\n")


def write_events() -> None:
    """Run the real Extract on the sample clip on this process's moto and write what follows from it into the
    events that carry it."""
    from moto import mock_aws

    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION})
    with tempfile.TemporaryDirectory() as tmp, mock_aws():
        clip = render_clip(Path(tmp) / "clip.mov")
        puts = seed(None, clip)
        library, upload = source_of(puts[LIBRARY_KEY], LIBRARY_KEY, clip), source_of(puts[UPLOAD_KEY], UPLOAD_KEY, clip)
        derived = extract_in_process(library, load_event("extract")["options"])
    for name in ("extract", "extract_scan", "extract_plan", "extract_cut"):
        event = load_event(name)
        event["source"] = library
        if name == "extract_scan":
            event["range"] = derived["range"]
        if name == "extract_cut":
            event["group"] = derived["group"]
        write_event(name, event)
    for name in ("encode_chunk", "invoke_endpoint"):
        event = load_event(name)
        event["chunk"] = derived["chunk"]
        write_event(name, event)
    event = load_event("claim_job_api")
    event["input"]["jobRequest"]["source"] = library
    write_event("claim_job_api", event)
    for name in ("eventbridge_s3_object_created", "claim_job_upload"):
        event = load_event(name)
        detail = (event["input"] if name == "claim_job_upload" else event)["detail"]["object"]
        detail.update({"key": upload["key"], "size": upload["size"], "etag": upload["etag"],
                       "version-id": upload["version_id"]})
        write_event(name, event)


def extract_in_process(source: dict, options: dict) -> dict:
    """The Extract steps on this process's moto: the second range, the group holding CHUNK and CHUNK itself."""
    from slowmo.cloud.layout import JobLayout
    from slowmo.cloud.media import cut_range, plan_chunks, read_index, scan_range

    c = clients(None)
    layout = JobLayout(JOB_ID, WORK_BUCKET, OUTPUT_BUCKET)
    index = read_index(s3=c["s3"], layout=layout, source=source, options=options, range_frames=EXTRACT_RANGE_FRAMES)
    ranges = json.loads(c["s3"].get_object(**index["ranges"])["Body"].read())
    for item in ranges:
        scan_range(s3=c["s3"], layout=layout, source=source, options=options, item=item)
    planned = plan_chunks(s3=c["s3"], layout=layout, source=source, options=options, chunk_frames=CHUNK_FRAMES,
                          group_frames=EXTRACT_RANGE_FRAMES)
    groups = json.loads(c["s3"].get_object(**planned["groups"])["Body"].read())
    manifest = json.loads(c["s3"].get_object(**planned["manifest"])["Body"].read())
    group = next(g for g in groups if g["firstChunk"] <= CHUNK <= g["lastChunk"])
    cut_range(s3=c["s3"], layout=layout, source=source, item=group)
    return {"range": ranges[1], "group": group, "chunk": next(item for item in manifest if item["index"] == CHUNK),
            "index": index, "planned": planned, "ranges": ranges, "groups": groups, "manifest": manifest}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("seed", help="create the sample stack on a moto server and write the functions' env-vars file")
    s.add_argument("--endpoint", required=True, help="the moto server's URL, as the containers reach it")
    s.add_argument("--env-vars", required=True, help="where to write sam local invoke's --env-vars file")
    sub.add_parser("write-events", help="write the fields that follow from the sample clip into events/")
    args = parser.parse_args(argv)
    if args.command == "write-events":
        write_events()
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        seed(args.endpoint, render_clip(Path(tmp) / "clip.mov"))
    Path(args.env_vars).write_text(json.dumps({"Parameters": function_env(args.endpoint)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "layers/slowmo_core"))
    sys.exit(main(sys.argv[1:]))
