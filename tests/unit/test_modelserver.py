"""Model server request handling end to end against moto S3 (and the DJL adapter with a stub djl_python)."""

import json
import sys
import types
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from slowmo.errors import EngineUnavailableError, InputError
from slowmo.media import chunkio
from slowmo.modelserver import handler as modelserver

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
import film_fixtures  # noqa: E402

BUCKET = "work"


@pytest.fixture
def s3(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def put_chunk(s3, tmp_path, key, frames, fps=30):
    info = chunkio.write_chunk(frames, tmp_path / key.replace("/", "_"), fps)
    s3.upload_file(info.path, BUCKET, key)
    return f"s3://{BUCKET}/{key}"


def get_chunk(s3, tmp_path, uri):
    local = tmp_path / "got.mkv"
    s3.download_file(BUCKET, uri.split("/", 3)[3], str(local))
    return list(chunkio.read_chunk(local))


def test_film_request_end_to_end(s3, tmp_path):
    frames = film_fixtures.moving_frames(5)
    src = put_chunk(s3, tmp_path, "jobs/j1/chunks/00000/input.chunk", frames)
    out_uri = f"s3://{BUCKET}/jobs/j1/chunks/00000/output.chunk"
    request = modelserver.build_request(src, out_uri, 4, job_id="j1", chunk_index=0, fps="30000/1001", tile=None)
    result = modelserver.handle_request(json.dumps(request).encode(), s3=s3,
                                        base_model_dir=film_fixtures.film_midpoint_savedmodel())
    assert result["status"] == "succeeded" and result["job_id"] == "j1" and result["chunk_index"] == 0
    assert (result["source_frames"], result["output_frames"]) == (5, 17)
    assert result["report"]["interpolated_pairs"] == 4
    json.dumps(result)  # the response is plain JSON
    out = get_chunk(s3, tmp_path, out_uri)
    assert len(out) == 17
    for i, f in enumerate(frames):
        np.testing.assert_array_equal(out[4 * i], f)  # sources pass through untouched
    mid = np.rint(0.5 * frames[0].astype(float) + 0.5 * frames[1].astype(float))
    assert np.abs(out[2].astype(float) - mid).max() <= 1  # t=0.5: the midpoint stand-in (FILM ignores time)


def test_range_over_several_inputs_with_blend(s3, tmp_path):
    frames = film_fixtures.moving_frames(8)
    a = put_chunk(s3, tmp_path, "in/a.chunk", frames[:5])
    b = put_chunk(s3, tmp_path, "in/b.chunk", frames[5:])
    req = {"inputs": [a, b], "start": 3, "end": 6, "factor": 3, "engine": "blend", "output": f"s3://{BUCKET}/o.chunk"}
    result = modelserver.handle_request(req, s3=s3)
    assert (result["source_frames"], result["output_frames"]) == (4, 10)
    out = get_chunk(s3, tmp_path, req["output"])
    np.testing.assert_array_equal(out[0], frames[3])
    np.testing.assert_array_equal(out[-1], frames[6])


def fails(s3, req, exc=InputError, **kw):
    with pytest.raises(exc) as err:
        modelserver.handle_request(req, s3=s3, **kw)
    message = str(err.value)
    assert "\n" not in message
    body = modelserver.error_result(err.value)
    assert body["status"] == "failed" and body["message"] == message
    return message


def test_bad_requests_fail_with_reasons(s3, tmp_path):
    src = put_chunk(s3, tmp_path, "in/x.chunk", film_fixtures.moving_frames(3))
    out = f"s3://{BUCKET}/out/x.chunk"
    base = {"inputs": [src], "output": out, "factor": 2, "engine": "blend"}
    assert "not valid JSON" in fails(s3, b"{nope")
    assert "names no input" in fails(s3, {**base, "inputs": []})
    assert "input chunk not found: s3://work/in/missing.chunk" in fails(
        s3, {**base, "inputs": [f"s3://{BUCKET}/in/missing.chunk"]})
    msg = fails(s3, {**base, "start": 1, "end": 9})
    assert "holds 3 frames" in msg and "1..9" in msg
    assert "fewer than 2 frames" in fails(s3, {**base, "start": 2, "end": 2})
    assert "factor" in fails(s3, {**base, "factor": 1})
    assert "unknown engine" in fails(s3, {**base, "engine": "magic"})
    assert "schedule" in fails(s3, {**base, "schedule": "sideways"})
    assert "version" in fails(s3, {**base, "version": 7})
    assert "output" in fails(s3, {**base, "output": "/tmp/x"})
    # no output object is left behind by failed requests
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="out/")


def test_unreadable_model_and_garbage_input(s3, tmp_path, monkeypatch):
    monkeypatch.delenv("SLOWMO_FILM_MODEL", raising=False)
    src = put_chunk(s3, tmp_path, "in/y.chunk", film_fixtures.moving_frames(3))
    req = {"inputs": [src], "output": f"s3://{BUCKET}/o.chunk", "factor": 2, "engine": "film"}
    msg = fails(s3, req, EngineUnavailableError, base_model_dir=str(tmp_path / "empty"))
    assert "saved model" in msg
    assert modelserver.status_code(EngineUnavailableError("x")) == 503
    s3.put_object(Bucket=BUCKET, Key="in/junk.chunk", Body=b"junk" * 50)
    msg = fails(s3, {**req, "engine": "blend", "inputs": [f"s3://{BUCKET}/in/junk.chunk"]})
    assert msg.startswith("input chunk s3://work/in/junk.chunk is unreadable")


class _StubInput:
    def __init__(self, body):
        self.body = body

    def is_empty(self):
        return self.body is None

    def get_as_bytes(self):
        return self.body


class _StubOutput:
    def __init__(self):
        self.code, self.message, self.props, self.body = 200, "", {}, []

    def set_code(self, c):
        self.code = c

    def set_message(self, m):
        self.message = m

    def add_property(self, k, v):
        self.props[k] = v

    def add(self, v):
        self.body.append(v)


def test_djl_adapter(s3, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "djl_python", types.SimpleNamespace(Output=_StubOutput, Input=_StubInput))
    monkeypatch.syspath_prepend(str(ROOT / "model"))
    monkeypatch.delitem(sys.modules, "model", raising=False)
    import model as adapter

    assert adapter.handle(_StubInput(None)) is None  # start-up ping
    src = put_chunk(s3, tmp_path, "in/z.chunk", film_fixtures.moving_frames(3))
    monkeypatch.setattr(modelserver, "_s3_client", lambda: s3)
    ok = adapter.handle(_StubInput(json.dumps(
        {"inputs": [src], "output": f"s3://{BUCKET}/z.out", "factor": 2, "engine": "blend"}).encode()))
    assert ok.code == 200 and json.loads(ok.body[0])["output_frames"] == 5
    bad = adapter.handle(_StubInput(b'{"inputs": ["s3://work/none"], "output": "s3://work/o", "factor": 2}'))
    assert bad.code in (400, 503) and json.loads(bad.body[0])["status"] == "failed" and bad.message


class _FailingEngine:
    """Interpolates a few pairs, then fails: the streamed upload must be abandoned, not completed."""

    name = "failing"

    def __init__(self, fail_after: int):
        self.calls, self.fail_after = 0, fail_after

    def interpolate(self, a, b, ts):
        self.calls += 1
        if self.calls > self.fail_after:
            raise RuntimeError("engine fault")
        return [np.rint((1 - t) * a + t * b).astype(np.uint8) for t in ts]


def test_engine_failure_mid_stream_leaves_no_output(s3, tmp_path):
    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 256, (360, 640, 3), dtype=np.uint8) for _ in range(6)]  # noise: many MB of chunk
    src = put_chunk(s3, tmp_path, "in/big.chunk", frames)
    req = {"inputs": [src], "output": f"s3://{BUCKET}/out/big.chunk", "factor": 8, "engine": "blend"}
    with pytest.raises(RuntimeError, match="engine fault"):
        modelserver.handle_request(req, s3=s3, engine=_FailingEngine(fail_after=4))
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="out/")
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")


def test_streamed_result_matches_and_plain_client_still_works(s3, tmp_path):
    frames = film_fixtures.moving_frames(6)
    src = put_chunk(s3, tmp_path, "in/p.chunk", frames)
    streamed = modelserver.handle_request(
        {"inputs": [src], "output": f"s3://{BUCKET}/o1.chunk", "factor": 3, "engine": "blend"}, s3=s3)

    class PlainClient:  # download_file/upload_file only: the write-then-upload path
        def download_file(self, *a, **k):
            return s3.download_file(*a, **k)

        def upload_file(self, *a, **k):
            return s3.upload_file(*a, **k)

    plain = modelserver.handle_request(
        {"inputs": [src], "output": f"s3://{BUCKET}/o2.chunk", "factor": 3, "engine": "blend"}, s3=PlainClient())
    assert streamed["output_frames"] == plain["output_frames"] == 16
    assert streamed["chunk"]["size_bytes"] == s3.head_object(Bucket=BUCKET, Key="o1.chunk")["ContentLength"]
    a = get_chunk(s3, tmp_path, f"s3://{BUCKET}/o1.chunk")
    b = get_chunk(s3, tmp_path, f"s3://{BUCKET}/o2.chunk")
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("request_body, reason", [
    ({"inputs": ["s3://work/in/none.chunk"], "output": "s3://work/o.chunk", "factor": 2, "engine": "blend"},
     "input chunk not found"),
    ({"inputs": ["s3://work/in/none.chunk"], "output": "s3://work/o.chunk", "factor": 1, "engine": "blend"}, "factor"),
])
def test_djl_adapter_answers_a_bad_request_with_400(s3, monkeypatch, request_body, reason):
    # engine "blend" needs no model, so nothing fails on a missing engine before the request's own fault shows
    monkeypatch.setitem(sys.modules, "djl_python", types.SimpleNamespace(Output=_StubOutput, Input=_StubInput))
    monkeypatch.syspath_prepend(str(ROOT / "model"))
    monkeypatch.delitem(sys.modules, "model", raising=False)
    monkeypatch.setattr(modelserver, "_s3_client", lambda: s3)
    import model as adapter

    bad = adapter.handle(_StubInput(json.dumps(request_body).encode()))
    body = json.loads(bad.body[0])
    assert bad.code == 400, (bad.code, body)
    assert body["status"] == "failed" and body["error"] == "InputError" and reason in bad.message


@pytest.mark.parametrize("exc, body, code", [
    (RuntimeError("engine fault\nsecond line"),
     {"error": "InternalError", "message": "RuntimeError: engine fault", "retryable": True}, 500),
    (MemoryError(), {"error": "InternalError", "message": "MemoryError: no detail", "retryable": True}, 500),
    (InputError(""), {"error": "InputError", "message": "InputError", "retryable": False}, 400),
    (EngineUnavailableError("no FILM model\nat /opt/ml"),
     {"error": "EngineUnavailableError", "message": "no FILM model", "retryable": True}, 503),
])
def test_a_failure_is_one_line_with_its_kind_and_status(exc, body, code):
    # what SageMaker's error notification and the job's reason show: one line that says what kind of failure,
    # and whether trying again can help (a bad request cannot)
    result = modelserver.error_result(exc)
    assert {k: result[k] for k in ("status", "error", "message", "retryable")} == {"status": "failed", **body}
    assert modelserver.status_code(exc) == code
