"""slowmo.cloud pure logic: settings, key layout, upload conventions, job ids, failure reasons,
SageMaker notification parsing, chunk requests. No AWS."""

from __future__ import annotations

import json
import sys

import pytest
from cloud_fixtures import EVENTS_DIR

from slowmo.cloud.config import Settings
from slowmo.cloud.inference import AsyncInferenceResult, build_chunk_request
from slowmo.cloud.jobs import failure_reason, job_failure_reason, job_view
from slowmo.cloud.layout import JobLayout, parse_s3_uri
from slowmo.cloud.notify import job_message
from slowmo.cloud.submission import (
    SourceObject,
    job_id_for,
    options_from_key,
    options_from_metadata,
    request_from_upload,
    source_from_eventbridge,
)
from slowmo.errors import InputError


def test_zip_modules_import_nothing_heavy():
    import subprocess

    code = ("import sys, slowmo.cloud.api, slowmo.cloud.submission, slowmo.cloud.jobs, slowmo.cloud.inference, "
            "slowmo.cloud.notify, slowmo.cloud.client, slowmo.cloud.cli; "
            "print(sorted(m for m in ('numpy', 'cv2', 'tensorflow', 'boto3') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout  # noqa: S603
    assert out.strip() == "[]"


def test_settings_from_environment():
    s = Settings.from_env({"WORK_BUCKET": "w", "DEFAULT_FACTOR": "16", "CHUNK_FRAMES": "31"})
    assert (s.work_bucket, s.default_factor, s.chunk_frames) == ("w", 16, 31)
    assert s.async_output_prefix == "s3://w/async/out/"


def test_layout_keys():
    layout = JobLayout("job-1", "work", "out")
    assert layout.chunk_input_key(7) == "jobs/job-1/chunks/00007/input.chunk"
    assert layout.output_key("uploads/factor=8/My clip.MOV", 8) == "outputs/job-1/My clip-x8.mp4"
    assert layout.output_key("a/b.mp4", 4, "compare") == "outputs/job-1/b-x4-compare.mp4"
    assert layout.temporary_key("outputs/job-1/b-x4.mp4") == "tmp/job-1/b-x4.mp4"
    assert parse_s3_uri("s3://b/k/e y.mp4") == ("b", "k/e y.mp4")
    with pytest.raises(InputError):
        parse_s3_uri("https://b/k")


def test_upload_conventions():
    assert options_from_key("uploads/factor=8/audio=drop/compare=no/clip.mp4") == {"factor": 8, "audio": "drop",
                                                                                 "compare": False}
    assert options_from_key("uploads/holiday/clip.mp4") == {}
    assert options_from_metadata({"slowmo-factor": "16", "other": "x", "Slowmo-Engine": "flow"}) == {"factor": 16,
                                                                                                  "engine": "flow"}
    with pytest.raises(InputError, match="whole number"):
        options_from_key("uploads/factor=eight/clip.mp4")


def test_request_defaults_and_precedence():
    settings = Settings(default_factor=8)
    req = request_from_upload(settings, SourceObject("in", "uploads/factor=4/clip.mp4", etag="e"), {"slowmo-factor": "6"})
    assert req.options["factor"] == 6 and req.options["engine"] == "film" and req.options["compare"] is True
    with pytest.raises(InputError, match="factor"):
        request_from_upload(settings, SourceObject("in", "uploads/factor=65/clip.mp4", etag="e"))


def test_job_ids_are_stable_and_distinguish_versions_and_options():
    a = SourceObject("in", "k.mp4", version_id="v1")
    assert job_id_for(a, {"factor": 8}) == job_id_for(a, {"factor": 8})
    assert job_id_for(a, {"factor": 8}) != job_id_for(SourceObject("in", "k.mp4", version_id="v2"), {"factor": 8})
    assert job_id_for(a, {"factor": 8}) != job_id_for(a, {"factor": 4})
    assert job_id_for(a, {"factor": 8}) != job_id_for(a, {"factor": 8}, "again")


def test_eventbridge_event_parses():
    event = json.loads((EVENTS_DIR / "eventbridge_s3_object_created.json").read_text())
    src = source_from_eventbridge(event)
    assert src.key == "uploads/factor=8/clip.mp4" and src.version_id and src.etag
    with pytest.raises(InputError):
        source_from_eventbridge({"detail-type": "Object Deleted", "detail": {}})


@pytest.mark.parametrize("error, cause, reason", [
    ("InputError", json.dumps({"errorType": "InputError", "errorMessage": "clip.mp4: too long"}), "InputError: clip.mp4: too long"),
    ("InferenceFailed", "ModelError: CUDA OOM", "InferenceFailed: ModelError: CUDA OOM"),
    ("States.Timeout", "", "States.Timeout"),
    ("States.Runtime", "multi\nline   text", "States.Runtime: multi line text"),
])
def test_failure_reasons_are_one_line(error, cause, reason):
    assert failure_reason(error, cause) == reason


def test_chunk_failure_wins_over_the_map_error():
    item = {"chunkError": "InferenceFailed", "chunkCause": "boom", "failedChunk": 5}
    assert job_failure_reason(item, {"Error": "States.ExceedToleratedFailureThreshold"}) == "chunk 5: InferenceFailed: boom"


def test_job_view_and_message():
    view = job_view({"jobId": "j", "status": "FAILED", "chunksDone": 2, "chunksTotal": 8, "failureReason": "x: y",
                     "source": {"bucket": "b", "key": "k.mp4"}})
    assert view["progress"]["percent"] == 25.0 and view["error"] == "x: y"
    subject, body = job_message(view)
    assert subject == "slowmo: job j failed" and "reason: x: y" in body


def test_sagemaker_notifications_parse():
    ok = AsyncInferenceResult.from_message((EVENTS_DIR / "sagemaker_async_success_message.json").read_text())
    assert ok.succeeded and ok.output_location.endswith(".out") and ok.failure_reason is None
    err = AsyncInferenceResult.from_message((EVENTS_DIR / "sagemaker_async_error_message.json").read_text())
    assert not err.succeeded and err.failure_reason.startswith("ClientError") and err.output_location is None
    expired = AsyncInferenceResult.from_message({"inferenceId": "i", "invocationStatus": "Expired"})
    assert not expired.succeeded and expired.failure_reason == "inference expired"
    with pytest.raises(InputError):
        AsyncInferenceResult.from_message({"hello": "world"})


def test_chunk_request_is_a_valid_model_server_request():
    from slowmo.modelserver.handler import ServerRequest

    layout = JobLayout("job-1", "work", "out")
    req = build_chunk_request(layout, {"index": 2, "start": 30, "end": 45}, {"factor": 8, "engine": "film"}, "30/1")
    parsed = ServerRequest.from_dict(req)
    assert parsed.inputs == ("s3://work/jobs/job-1/chunks/00002/input.chunk",)
    assert parsed.output == "s3://work/jobs/job-1/chunks/00002/output.chunk"
    assert (parsed.factor, parsed.engine, parsed.first_index, parsed.fps, parsed.chunk_index) == (8, "film", 30, "30/1", 2)


def test_uploads_and_api_take_trim_ranges_and_ease_with_the_same_syntax():
    settings = Settings(default_factor=8)
    req = request_from_upload(settings, SourceObject("in", "uploads/ranges=2:3@4,5:6/ease=0.25/clip.mp4", etag="e"),
                              {"slowmo-trim": "1:"})
    assert (req.options["ranges"], req.options["ease"], req.options["trim"]) == (["2:3@4", "5:6"], 0.25, "1:")
    plain = request_from_upload(settings, SourceObject("in", "uploads/clip.mp4", etag="e"))
    assert not {"ranges", "ease", "trim"} & set(plain.options)
    with pytest.raises(InputError, match="overlap"):
        request_from_upload(settings, SourceObject("in", "uploads/ranges=1:3,2:4/clip.mp4", etag="e"))
