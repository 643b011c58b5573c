"""The Extract handler's four steps, driven by the sample events `sam local invoke ExtractFunction -e ...` uses,
against moto S3 and a generated clip: index -> scan every range -> plan -> cut every group, then the chunks."""

from __future__ import annotations

import json

import pytest
from cloud_fixtures import EVENTS_DIR, FakeContext, aws_test_environment, load_handler


@pytest.fixture
def s3(monkeypatch):
    from moto import mock_aws

    aws_test_environment(monkeypatch, WORK_BUCKET="work", OUTPUT_BUCKET="out", CHUNK_FRAMES="5",
                         EXTRACT_RANGE_FRAMES="8")
    with mock_aws():
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        for bucket in ("work", "out"):
            client.create_bucket(Bucket=bucket)
        yield client


def test_the_sample_events_drive_the_four_steps_of_a_real_extract(s3, make_clip):
    handler = load_handler("extract")
    events = {step: json.loads((EVENTS_DIR / f"{name}.json").read_text()) for step, name in
              (("index", "extract"), ("scan", "extract_scan"), ("plan", "extract_plan"), ("cut", "extract_cut"))}
    assert {step: e["step"] for step, e in events.items()} == {s: s for s in events}
    source = events["index"]["source"]
    s3.create_bucket(Bucket=source["bucket"])
    clip = make_clip("fn-extract", width=96, height=64, fps=12, frames=20, audio=False, cut_at=9)
    s3.upload_file(str(clip), source["bucket"], source["key"])
    source = {k: v for k, v in source.items() if k != "version_id"}  # moto's bucket is not versioned here
    options = {**events["index"]["options"], "engine": "blend"}

    def call(step: str, **extra):
        return handler({**events[step], "source": source, "options": options, **extra}, FakeContext("ExtractFunction"))

    index = call("index")
    ranges = json.loads(s3.get_object(**index["ranges"])["Body"].read())
    assert index["rangeCount"] == len(ranges) == 3  # 20 frames in ranges of 8: 8, 8 and the 4 left over
    assert set(events["scan"]["range"]) == set(ranges[0])  # the sample scan event has a real item's shape
    assert [call("scan", range=item)["frames"] for item in ranges] == [8, 8, 4]
    planned = call("plan")
    groups = json.loads(s3.get_object(**planned["groups"])["Body"].read())
    assert set(events["cut"]["group"]) == set(groups[0])  # and so has the sample cut event
    cut = [call("cut", group=group) for group in groups]
    assert sum(c["chunks"] for c in cut) == planned["chunkCount"]
    manifest = json.loads(s3.get_object(**planned["manifest"])["Body"].read())
    plan = json.loads(s3.get_object(Bucket="work", Key=f"jobs/{events['index']['jobId']}/plan.json")["Body"].read())
    assert plan["cuts"] == [9]  # found by the scan of range 1 (frames 8-15): the pair (8, 9)
    assert any(item["end"] == 8 for item in manifest)  # a chunk ends on the last frame before the cut
    for item in manifest:
        head = s3.head_object(Bucket="work", Key=f"jobs/{events['index']['jobId']}/chunks/{item['index']:05d}/input.chunk")
        assert head["ContentLength"] > 0
