"""Bad input in the cloud: the real state machine (moto) with the real handlers. Every case ends as a FAILED
job whose reason is in GET /jobs/{id} and in the operator's notification; the input object is untouched
and nothing is published to the output bucket."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
from cloud_fixtures import eventbridge_object_created, input_object_state, running_stack

from slowmo.foresight.sample import make_clip

pytestmark = pytest.mark.slow


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        yield running_stack(monkeypatch, stack, chunk_frames=4, default_factor=4)




def only_job(cloud) -> dict:
    items = cloud.client("dynamodb").scan(TableName=cloud.jobs_table)["Items"]
    assert len(items) == 1, items
    job_id = items[0]["jobId"]["S"]
    status, job = cloud.api("GET", f"/jobs/{job_id}", resource="/jobs/{jobId}", path_parameters={"jobId": job_id})
    assert status == 200
    return job


def assert_failed_cleanly(cloud, desc, reason: str, key: str | None, before=None) -> dict:
    assert desc["status"] == "FAILED", desc
    job = only_job(cloud)
    assert job["status"] == "FAILED" and reason in job["error"], job
    assert "outputs" not in job
    messages = cloud.operator_messages()
    assert len(messages) == 1 and "FAILED" in messages[0]["Message"] and reason in messages[0]["Message"]
    assert job["error"] in messages[0]["Message"]  # the same one-line reason
    assert not cloud.client("s3").list_objects_v2(Bucket=cloud.output_bucket).get("Contents")
    if before is not None:
        assert input_object_state(cloud, key) == before  # the input object is never modified or deleted
    return job


def run_upload(cloud, path, key):
    event = cloud.upload(path, key)
    before = input_object_state(cloud, key)
    return cloud.wait(cloud.start(event)), before


@pytest.fixture(scope="module")
def bad_media(tmp_path_factory):
    """name -> (file, expected reason), made once for the module."""
    from slowmo.media.ffmpeg import run_ffmpeg

    d = tmp_path_factory.mktemp("bad-media")
    made = {}
    text = d / "notes.mp4"
    text.write_text("this is a shopping list, not a video\n" * 20)
    made["text"] = (text, "not a video")
    still = d / "picture.mov"
    run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", "-f", "image2",
                "-c:v", "mjpeg", "-y", str(still)])
    made["still image"] = (still, "still image")
    audio = d / "song.mp4"
    run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=0.5", "-c:a", "aac", "-y", str(audio)])
    made["audio only"] = (audio, "audio only")
    source = make_clip(d / "source.mp4", width=96, height=64, fps=12, frames=30, audio=False)
    data = source.read_bytes()
    truncated = d / "cut.mp4"
    truncated.write_bytes(data[: len(data) * 2 // 3])  # index first (+faststart), data cut short
    made["truncated mid-stream"] = (truncated, "truncated")
    made["corrupt mid-stream"] = (d / "corrupt.mp4", "corrupt")  # written by the test from the CLI's clip
    made["one frame"] = (make_clip(d / "one.mp4", width=96, height=64, frames=1, audio=False), "need at least 2")
    made["index missing"] = (d / "noindex.mp4", "truncated or incomplete")
    full = make_clip(d / "plain.mp4", width=96, height=64, frames=12, audio=False, crf=30)
    made["plain"] = (full, None)
    with_index_last = d / "noindex.mp4"
    run_ffmpeg(["-loglevel", "error", "-i", str(full), "-c", "copy", "-y", str(d / "tail.mp4")])
    tail = (d / "tail.mp4").read_bytes()
    with_index_last.write_bytes(tail[: len(tail) // 2])
    return made


@pytest.mark.parametrize("case", ["text", "still image", "audio only", "truncated mid-stream", "corrupt mid-stream",
                                  "one frame", "index missing"])
def test_unprocessable_content_fails_the_job_with_the_reason(cloud, bad_media, clip, case):
    path, reason = bad_media[case]
    if case == "corrupt mid-stream" and not path.exists():  # the same damage as the CLI's test_corrupt_mid_stream
        data = bytearray(clip.read_bytes())
        for i in range(len(data) // 3, len(data) // 3 + 4000):
            data[i] = (data[i] * 7 + 13) % 256
        path.write_bytes(bytes(data))
    key = f"uploads/{case.replace(' ', '-')}{path.suffix}"
    desc, before = run_upload(cloud, path, key)
    job = assert_failed_cleanly(cloud, desc, reason, key, before)
    assert key.rsplit("/", 1)[1] in job["error"]  # names the user's object, not a temporary copy


def test_empty_object_fails_the_job(cloud, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    desc, before = run_upload(cloud, empty, "uploads/empty.mp4")
    assert_failed_cleanly(cloud, desc, "empty (0 bytes)", "uploads/empty.mp4", before)
    assert cloud.lambdas.count("ExtractFunction") == 0  # refused before any download


def test_missing_object_fails_the_job(cloud):
    event = eventbridge_object_created(cloud.input_bucket, "uploads/deleted-already.mp4", size=1000, etag="0123abcd",
                                       version_id=None)
    desc = cloud.wait(cloud.start(event))
    assert_failed_cleanly(cloud, desc, "does not exist", None)


def test_factor_out_of_range_fails_the_job(cloud, bad_media):
    path, _ = bad_media["plain"]
    desc, before = run_upload(cloud, path, "uploads/factor=99/clip.mp4")
    assert_failed_cleanly(cloud, desc, "factor", "uploads/factor=99/clip.mp4", before)


@pytest.mark.parametrize("limits, reason", [
    ({"SLOWMO_MAX_WIDTH": "80", "SLOWMO_MAX_HEIGHT": "60"}, "resolution limit"),
    ({"SLOWMO_MAX_DURATION_S": "0.25"}, "duration limit"),
    ({"SLOWMO_MAX_OUTPUT_FRAMES": "20"}, "frame limit"),
    ({"SLOWMO_MAX_FILE_BYTES": "100"}, "limit"),
], ids=["resolution", "duration", "output-frames", "file-size"])
def test_configured_limits_fail_the_job(cloud, bad_media, monkeypatch, limits, reason):
    """The same SLOWMO_MAX_* variables the CLI reads; the template sets them from stack parameters."""
    for variable, value in limits.items():
        monkeypatch.setenv(variable, value)
    path, _ = bad_media["plain"]  # 96x64, 12 frames at 24 fps: 0.5 s, 45 output frames at factor 4
    desc, before = run_upload(cloud, path, "uploads/clip.mp4")
    assert_failed_cleanly(cloud, desc, reason, "uploads/clip.mp4", before)


def test_duplicate_event_for_a_rejected_upload_is_one_job(cloud, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    event = cloud.upload(empty, "uploads/empty.mp4")
    first = cloud.wait(cloud.start(event))
    second = cloud.wait(cloud.start(event))
    assert first["status"] == "FAILED" and second["status"] == "SUCCEEDED"  # AlreadyClaimed
    assert json.loads(second["output"])["claimed"] is False
    only_job(cloud)
    assert len(cloud.operator_messages()) == 1
