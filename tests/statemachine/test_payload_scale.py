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

from slowmo.cloud.media import group_pointer

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
        cloud = running_stack(monkeypatch, stack, chunk_frames=16, default_factor=8, map_concurrency=40,
                              account_concurrency=1000)
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
                group = event["group"]
                return {"group": group["index"], "chunks": group["lastChunk"] - group["firstChunk"] + 1, "frames": 5400}
            key = prefix + "manifest.json"
            s3.put_object(Bucket=cloud.work_bucket, Key=key, Body=json.dumps(manifest).encode())
            groups = [group_pointer({"index": g, "chunks": manifest[g * 360:(g + 1) * 360], "seek": None, "first": 0,
                                     "last": 1, "frames": 5400}) for g in range(ranges)]
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


# ------------------------------------------------------------------------------------------- admitted maxima
# The largest jobs admission accepts at the template's defaults (ChunkFrames 16, ExtractRangeFrames 5400),
# planned with the real planners at their real size: every state's input, output and a Map's collected
# results must stay within 262,144 bytes (tests/aws_semantics.StepFunctionsLimits fails the execution
# with the uncatchable States.DataLimitExceeded otherwise).
ADMITTED_MAXIMA = {  # name: (width, height, fps, seconds, options)
    "1080p120-13min": (1920, 1080, 120, 13 * 60, {"factor": 2, "compare": True}),
    "720p240-7min": (1280, 720, 240, 7 * 60, {"factor": 4, "compare": True}),
    "1080p60-32min": (1920, 1080, 60, 32 * 60, {"factor": 3, "compare": True}),
    "4K30-10min": (3840, 2160, 30, 10 * 60, {"factor": 4, "compare": True}),
    "1080p30-60min": (1920, 1080, 30, 60 * 60, {"factor": 3, "compare": True}),
}
RANGE_FRAMES = 5400  # template.yaml ExtractRangeFrames
CHUNK_FRAMES = 16  # template.yaml ChunkFrames


def _real_plan(width: int, height: int, fps: int, seconds: int):
    """ranges.json, the manifest and groups.json as Extract writes them for a video of this shape."""
    from slowmo.timeline.chunks import plan_chunks
    from slowmo.timeline.ranges import cut_groups, frames_per_range, split_ranges

    frames = fps * seconds
    pts = [i * 512 for i in range(frames)]  # a 1/(512 fps) time base, as MP4 muxers write
    keyframes = pts[:: 2 * fps]  # a keyframe every 2 s, as phones write
    ranges = split_ranges(pts, keyframes, frames_per_range(RANGE_FRAMES, width, height))
    manifest = [{"index": c.index, "start": c.start, "end": c.end} for c in plan_chunks(frames, CHUNK_FRAMES)]
    groups = [group_pointer(g) for g in cut_groups(manifest, pts, keyframes, frames_per_range(RANGE_FRAMES, width, height),
                                                   ranges)]
    return [r.to_dict() for r in ranges], manifest, groups


@pytest.mark.parametrize("job", list(ADMITTED_MAXIMA))
def test_admitted_maximum_jobs_keep_every_state_within_256_kib(monkeypatch, job):
    from aws_semantics import PAYLOAD_LIMIT
    from cloud_fixtures import eventbridge_object_created

    from slowmo.cloud.admission import judge
    from slowmo.foresight import capacity

    width, height, fps, seconds, options = ADMITTED_MAXIMA[job]
    judge(capacity.Source.of_length(width, height, fps, seconds), options, "clip.mp4")  # admitted: no refusal
    ranges, manifest, groups = _real_plan(width, height, fps, seconds)
    with ExitStack() as stack:
        cloud = running_stack(monkeypatch, stack, chunk_frames=CHUNK_FRAMES, map_concurrency=16,
                              extract_map_concurrency=8, account_concurrency=1000)
        s3 = cloud.client("s3")

        def extract(event, context):  # what each Extract step writes and returns, at the job's real size
            prefix = f"jobs/{event['jobId']}/"
            work = cloud.work_bucket
            if event["step"] == "index":
                s3.put_object(Bucket=work, Key=prefix + "extract/ranges.json", Body=json.dumps(ranges).encode())
                return {"ranges": {"Bucket": work, "Key": prefix + "extract/ranges.json"}, "rangeCount": len(ranges)}
            if event["step"] == "scan":
                return {"range": event["range"]["index"], "frames": RANGE_FRAMES, "cuts": 0}
            if event["step"] == "cut":
                group = event["group"]
                return {"group": group["index"], "chunks": group["lastChunk"] - group["firstChunk"] + 1,
                        "frames": group["frames"]}
            s3.put_object(Bucket=work, Key=prefix + "manifest.json", Body=json.dumps(manifest).encode())
            s3.put_object(Bucket=work, Key=prefix + "extract/groups.json", Body=json.dumps(groups).encode())
            return {"manifest": {"Bucket": work, "Key": prefix + "manifest.json"},
                    "groups": {"Bucket": work, "Key": prefix + "extract/groups.json"}, "groupCount": len(groups),
                    "outputs": ["video", "compare"], "chunkCount": len(manifest), "sourceFrames": fps * seconds,
                    "outputFrames": (fps * seconds - 1) * options["factor"] + 1, "fps": f"{fps}/1",
                    "width": width, "height": height}

        def invoke(event, context):  # the endpoint refuses every chunk: the run ends after its first Map items
            raise ValueError(f"stand-in endpoint: chunk {event['chunk']['index']} not interpolated")

        cloud.lambdas.overrides.update({"ExtractFunction": extract, "InvokeEndpointFunction": invoke})
        s3.put_object(Bucket=cloud.input_bucket, Key="uploads/clip.mp4", Body=b"\0" * 1024)
        head = s3.head_object(Bucket=cloud.input_bucket, Key="uploads/clip.mp4")
        monkeypatch.setattr("slowmo.cloud.admission.admit", lambda *a, **k: None)  # the 1 kB stand-in has no index
        event = eventbridge_object_created(cloud.input_bucket, "uploads/clip.mp4", size=1024, etag=head["ETag"],
                                           version_id=head.get("VersionId"))
        desc = cloud.wait(cloud.start(event), timeout=600)
        # it got through Extract's Maps and planning, and failed where the stand-in endpoint refused (a caught,
        # recorded failure), not on a payload limit
        assert desc["status"] == "FAILED" and desc.get("error") != "States.DataLimitExceeded", desc
        job_item = cloud.client("dynamodb").scan(TableName=cloud.jobs_table)["Items"][0]
        assert job_item["status"]["S"] == "FAILED" and "not interpolated" in job_item["failureReason"]["S"], job_item
        assert int(job_item["chunksTotal"]["N"]) == len(manifest)
        largest = cloud.sfn_limits.largest
        for state in ("ReadIndex", "ScanRanges", "ScanRange", "PlanChunks", "CutChunks", "CutChunk", "RecordPlan"):
            assert state in largest, (state, sorted(largest))
        assert max(largest.values()) <= PAYLOAD_LIMIT
        print(f"\n{job}: {len(ranges)} ranges, {len(groups)} groups, {len(manifest)} chunks; largest payloads (bytes): "
              + ", ".join(f"{k} {v}" for k, v in sorted(largest.items(), key=lambda kv: -kv[1])[:8]))
