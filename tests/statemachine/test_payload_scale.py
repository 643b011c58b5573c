"""2,000 chunks through the REAL state machine: the Distributed Map reads its items from the manifest in
S3 and writes its results to S3, so no state's input or output grows with the chunk count.

The Lambda tasks are stand-ins here (the chunk work itself is covered by test_slow_motion_e2e); the ASL,
the ItemReader/ItemSelector/ResultWriter, the callback pattern and the DynamoDB progress counter are real.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import ExitStack

import pytest
from cloud_fixtures import running_stack

pytestmark = pytest.mark.slow

CHUNKS = 2000
STEP_FUNCTIONS_PAYLOAD_LIMIT = 256 * 1024


def _chunk_manifest(count: int, chunk_frames: int = 16) -> list[dict]:
    from slowmo.timeline.chunks import plan_chunks

    chunks = plan_chunks((chunk_frames - 1) * count + 1, chunk_frames)
    assert len(chunks) == count
    return [{"index": c.index, "start": c.start, "end": c.end} for c in chunks]


def test_manifest_items_are_pointers_not_frames():
    manifest = _chunk_manifest(CHUNKS)
    body = json.dumps(manifest, separators=(",", ":"))
    assert len(body) < 100_000  # the whole manifest for 2,000 chunks: ~80 kB in S3, never in a state
    assert max(len(json.dumps(item)) for item in manifest) < 100


def test_two_thousand_chunks_keep_every_state_payload_small(monkeypatch):
    with ExitStack() as stack:
        cloud = running_stack(monkeypatch, stack, chunk_frames=16, default_factor=8, map_concurrency=40)
        cloud_sfn = cloud.client("stepfunctions")
        s3 = cloud.client("s3")
        manifest = _chunk_manifest(CHUNKS)
        sizes: list[int] = []

        ranges = 6  # 30,001 frames of 1080p in ranges of 5,400

        def extract(event, context):  # the four Extract steps, each writing what the real one writes
            sizes.append(len(json.dumps(event)))
            prefix = f"jobs/{event['jobId']}/"
            if event["step"] == "index":
                items = [{"index": i, "start": None if i == 0 else i * 5400, "end": None if i == ranges - 1 else (i + 1) * 5400,
                          "seek": None} for i in range(ranges)]
                s3.put_object(Bucket=cloud.work_bucket, Key=prefix + "extract/ranges.json", Body=json.dumps(items).encode())
                return {"ranges": {"Bucket": cloud.work_bucket, "Key": prefix + "extract/ranges.json"}, "rangeCount": ranges}
            if event["step"] == "scan":
                return {"range": event["range"]["index"], "frames": 5400, "cuts": 0}
            if event["step"] == "cut":
                return {"group": event["group"]["index"], "chunks": len(event["group"]["chunks"]), "frames": 5400}
            key = prefix + "manifest.json"
            s3.put_object(Bucket=cloud.work_bucket, Key=key, Body=json.dumps(manifest).encode())
            groups = [{"index": g, "chunks": manifest[g * 360:(g + 1) * 360][:3], "seek": None, "first": 0, "last": 1,
                       "frames": 5400} for g in range(ranges)]
            s3.put_object(Bucket=cloud.work_bucket, Key=prefix + "extract/groups.json", Body=json.dumps(groups).encode())
            result = {"manifest": {"Bucket": cloud.work_bucket, "Key": key}, "chunkCount": CHUNKS,
                      "groups": {"Bucket": cloud.work_bucket, "Key": prefix + "extract/groups.json"}, "groupCount": ranges,
                      "outputs": ["video", "compare"],
                      "sourceFrames": manifest[-1]["end"] + 1, "outputFrames": manifest[-1]["end"] * 8 + 1,
                      "fps": "30/1", "width": 1920, "height": 1080}
            return result

        def invoke(event, context):
            sizes.append(len(json.dumps(event)))
            token = event["taskToken"]
            # the endpoint answers later, from another thread, like SNS -> ResumeFunction would
            threading.Timer(0.01, lambda: cloud_sfn.send_task_success(
                taskToken=token, output=json.dumps({"inferenceId": f"i-{event['chunk']['index']}"}))).start()
            return {"inferenceId": f"i-{event['chunk']['index']}"}

        def encode(event, context):
            sizes.append(len(json.dumps(event)))
            return {"chunk": event["chunk"]["index"], "frames": 120}

        def assemble(event, context):  # one join per output, then the publish
            sizes.append(len(json.dumps(event)))
            if event["step"] == "join":
                return {"kind": event["kind"], "tempKey": f"tmp/x/{event['kind']}.mp4",
                        "finalKey": f"outputs/x/{event['kind']}.mp4"}
            return {"outputs": {"video": "s3://out/outputs/x/clip-x8.mp4"}, "outputFrames": 240_001}

        cloud.lambdas.overrides.update({"ExtractFunction": extract, "InvokeEndpointFunction": invoke,
                                        "EncodeChunkFunction": encode, "AssembleFunction": assemble})
        clip = b"\x00" * 1024
        s3.put_object(Bucket=cloud.input_bucket, Key="uploads/long.mp4", Body=clip)
        head = s3.head_object(Bucket=cloud.input_bucket, Key="uploads/long.mp4")
        from cloud_fixtures import eventbridge_object_created

        event = eventbridge_object_created(cloud.input_bucket, "uploads/long.mp4", size=1024, etag=head["ETag"],
                                           version_id=head.get("VersionId"))
        started = time.monotonic()
        desc = cloud.wait(cloud.start(event), timeout=600)
        assert desc["status"] == "SUCCEEDED", (desc.get("cause"), cloud.lambdas.errors[:3])
        elapsed = time.monotonic() - started

        assert cloud.lambdas.count("InvokeEndpointFunction") == CHUNKS
        job = cloud.client("dynamodb").scan(TableName=cloud.jobs_table)["Items"][0]
        assert int(job["chunksDone"]["N"]) == CHUNKS == int(job["chunksTotal"]["N"])

        # every payload the parent execution carried, and every task input, stays tiny
        largest = 0
        for ev in cloud.history(desc["executionArn"]):
            for details in ev.values():
                if isinstance(details, dict):
                    for name in ("input", "output"):
                        if isinstance(details.get(name), str):
                            largest = max(largest, len(details[name]))
        assert largest < 4096, largest
        assert max(sizes) < 2048
        assert len(desc.get("output", "")) < 1024
        print(f"{CHUNKS} chunks in {elapsed:.1f} s; largest parent payload {largest} B, largest task input {max(sizes)} B")
