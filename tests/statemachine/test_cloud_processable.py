"""Awkward but processable input is processed, not refused: two frames, rotated video, keys with spaces,
unicode and shell metacharacters. The input object is never changed; outputs appear only when complete."""

from __future__ import annotations

import json
from contextlib import ExitStack
from urllib.parse import quote_plus

import pytest
from cloud_fixtures import input_object_state, running_stack

from slowmo.foresight.sample import make_clip

pytestmark = pytest.mark.slow


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        yield running_stack(monkeypatch, stack, chunk_frames=4, default_factor=4)




def run(cloud, path, key, *, encode_key=False):
    event = cloud.upload(path, key)
    if encode_key:  # S3 notifications may carry the key URL-encoded
        event["detail"]["object"]["key"] = quote_plus(key, safe="/")
    before = input_object_state(cloud, key)
    desc = cloud.wait(cloud.start(event))
    assert desc["status"] == "SUCCEEDED", (desc.get("cause"), cloud.lambdas.errors, cloud.endpoint.errors)
    assert input_object_state(cloud, key) == before  # never modified or deleted
    keys = [o["Key"] for o in cloud.client("s3").list_objects_v2(Bucket=cloud.output_bucket).get("Contents", [])]
    assert keys and all(k.startswith("outputs/") for k in keys)  # nothing left under tmp/
    return json.loads(desc["output"])["outputs"]


def fetch(cloud, uri, dest):
    from slowmo.cloud.layout import parse_s3_uri
    from slowmo.media.probe import probe

    bucket, key = parse_s3_uri(uri)
    cloud.client("s3").download_file(bucket, key, str(dest))
    return probe(dest)


def test_two_frames_work(cloud, tmp_path):
    two = make_clip(tmp_path / "two.mp4", width=64, height=48, frames=2, audio=False)
    outputs = run(cloud, two, "uploads/compare=false/two.mp4")
    assert fetch(cloud, outputs["video"], tmp_path / "out.mp4").frame_count == 5


@pytest.mark.parametrize("name", ["my clip (1).mp4", "ünïcødé 🎬 a;b&c|d$(touch pwned)`x`'q'.mp4"],
                         ids=["spaces", "unicode-and-shell"])
def test_awkward_keys_work(cloud, make_clip, tmp_path, name):
    clip = make_clip("cloud-awkward", width=64, height=48, fps=12, frames=6, audio=False)
    outputs = run(cloud, clip, f"uploads/compare=false/{name}", encode_key=True)
    stem = name.rsplit(".", 1)[0]
    assert outputs["video"].endswith(f"/{stem}-x4.mp4")
    assert fetch(cloud, outputs["video"], tmp_path / "out.mp4").frame_count == 21
    assert not (tmp_path / "pwned").exists()


def test_rotated_video_is_processed_upright(cloud, tmp_path):
    from slowmo.media.ffmpeg import run_ffmpeg
    from slowmo.media.probe import probe

    source = make_clip(tmp_path / "landscape.mp4", width=96, height=64, fps=12, frames=6, audio=False)
    rotated = tmp_path / "portrait.mp4"
    run_ffmpeg(["-loglevel", "error", "-display_rotation", "90", "-i", str(source), "-c", "copy", "-y", str(rotated)])
    assert probe(rotated).rotation in (90, 270)
    outputs = run(cloud, rotated, "uploads/portrait.mp4")
    video = fetch(cloud, outputs["video"], tmp_path / "out.mp4")
    compare = fetch(cloud, outputs["comparison"], tmp_path / "compare.mp4")
    assert (video.width, video.height) == (64, 96) and video.frame_count == 21
    assert (compare.width, compare.height) == (128, 96)
