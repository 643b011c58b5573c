"""The model server's request handler (the logic behind model/model.py, kept here to be unit-tested).

A SageMaker asynchronous invocation names a small JSON object in S3 (its InputLocation); SageMaker hands
that JSON to the container as the request body. The request names the chunk's input object(s) (frames in
the ``slowmo.media.chunkio`` format), the frame range, the factor and engine settings, and where to write the
output chunk. The handler streams frames in, runs ``slowmo.synthesis.frames.synthesize``, streams the output
chunk to a local file, uploads it, and returns a small JSON result (SageMaker stores it at the
OutputLocation and publishes the success notification). Any problem raises a ``SlowmoError`` with a
one-line reason, which the adapter turns into a failed invocation (error notification + failure object).

Request (version 1)::

    {
      "version": 1,
      "job_id": "j-123", "chunk_index": 3,             # optional, echoed in the result
      "inputs": ["s3://work/jobs/j-123/chunks/00003/input.chunk"],   # or "input": "s3://..."
      "start": 0, "end": 16,                            # optional inclusive frame range of the inputs
      "first_index": 48,                                # optional global index of the first frame
      "factor": 8,
      "engine": "film",                                 # film (default) | flow | blend
      "schedule": "auto", "tile": "auto", "tile_overlap": 128, "batch_size": 2,   # film only
      "fps": "30000/1001",                              # rate stored in the output chunk (default 30)
      "outputs": [0, [0, 0.25], [0, 0.5], 1, ...],      # optional: the chunk's slice of the plan (slowmo.timeline.plan):
                                                        # source frame i, or [i, t] between i and i+1 (i from
                                                        # "start"); without it, today's t = j/K for "factor"
      "output": "s3://work/jobs/j-123/chunks/00003/output.chunk"
    }

Only the standard library is imported at module level (``build_request`` is used by Lambdas).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from slowmo.errors import EngineUnavailableError, InputError, SlowmoError

REQUEST_VERSION = 1
ENGINES = ("film", "flow", "blend")
SCHEDULES = ("auto", "recursive", "direct")
MAX_FACTOR = 256
MODEL_DIR_ENV = "SLOWMO_MODEL_DIR"
DEFAULT_MODEL_DIR = "/opt/ml/model"


@dataclass(frozen=True)
class ServerRequest:
    inputs: tuple[str, ...]
    output: str
    factor: int | str  # int: t = j/K; with `outputs`, also 1 or a fractional slowdown ("5/2")
    engine: str = "film"
    start: int = 0
    end: int | None = None
    first_index: int = 0
    schedule: str = "auto"
    tile: int | str | None = "auto"
    tile_overlap: int = 128
    batch_size: int = 2
    fps: str = "30"
    job_id: str | None = None
    chunk_index: int | None = None
    outputs: tuple | None = None  # OutputFrames (slowmo.timeline.plan), or None: t = j/K
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: bytes | str | Mapping) -> ServerRequest:
        if isinstance(body, Mapping):
            data = dict(body)
        else:
            if isinstance(body, bytes):
                body = body.decode("utf-8", errors="replace")
            try:
                data = json.loads(body)
            except json.JSONDecodeError as exc:
                raise InputError(f"request is not valid JSON: {exc.msg} at line {exc.lineno}") from None
        if not isinstance(data, dict):
            raise InputError("request must be a JSON object")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, d: dict) -> ServerRequest:
        version = d.get("version", REQUEST_VERSION)
        if version != REQUEST_VERSION:
            raise InputError(f"unsupported request version {version!r} (this server speaks {REQUEST_VERSION})")
        inputs = d.get("inputs", d.get("input"))
        if isinstance(inputs, str):
            inputs = [inputs]
        if not inputs or not isinstance(inputs, list) or not all(isinstance(u, str) and u for u in inputs):
            raise InputError("request names no input chunk: set 'inputs' to a list of s3:// URIs")
        output = d.get("output")
        if not isinstance(output, str) or not output.startswith("s3://"):
            raise InputError("request has no 'output' s3:// URI for the synthesised chunk")
        for uri in (*inputs, output):
            _split_s3(uri)
        outputs = _outputs(d.get("outputs"))
        factor = _factor(d.get("factor"), timed=outputs is not None)
        engine = d.get("engine", "film")
        if engine not in ENGINES:
            raise InputError(f"unknown engine {engine!r}: this server runs {', '.join(ENGINES)}")
        start = _int(d, "start", 0)
        end = _int(d, "end", None)
        if start < 0:
            raise InputError(f"frame range start must be >= 0, got {start}")
        if end is not None and end <= start:
            raise InputError(f"frame range {start}..{end} holds fewer than 2 frames")
        schedule = d.get("schedule", "auto")
        if schedule not in SCHEDULES:
            raise InputError(f"unknown schedule {schedule!r}: use {', '.join(SCHEDULES)}")
        tile = d.get("tile", "auto")
        if tile not in ("auto", None) and not (isinstance(tile, int) and not isinstance(tile, bool) and tile >= 128):
            raise InputError(f"'tile' must be 'auto', null or an integer >= 128, got {tile!r}")
        batch = _int(d, "batch_size", 2)
        if not 1 <= batch <= 64:
            raise InputError(f"'batch_size' must be 1..64, got {batch}")
        overlap = _int(d, "tile_overlap", 128)
        if not 40 <= overlap <= 1024:
            raise InputError(f"'tile_overlap' must be 40..1024, got {overlap}")
        fps = str(d.get("fps", "30"))
        try:
            if Fraction(fps) <= 0:
                raise ValueError
        except (ValueError, ZeroDivisionError):
            raise InputError(f"'fps' must be a positive number or ratio, got {fps!r}") from None
        known = {"version", "inputs", "input", "output", "factor", "engine", "start", "end", "first_index",
                 "schedule", "tile", "tile_overlap", "batch_size", "fps", "job_id", "chunk_index", "outputs"}
        return cls(
            inputs=tuple(inputs), output=output, factor=factor, engine=engine, start=start, end=end,
            first_index=_int(d, "first_index", 0), schedule=schedule, tile=tile, tile_overlap=overlap,
            batch_size=batch, fps=fps, job_id=d.get("job_id"), chunk_index=_int(d, "chunk_index", None),
            outputs=outputs, extra={k: v for k, v in d.items() if k not in known},
        )

    def to_dict(self) -> dict:
        d = {
            "version": REQUEST_VERSION, "inputs": list(self.inputs), "output": self.output,
            "factor": self.factor, "engine": self.engine, "start": self.start, "first_index": self.first_index,
            "schedule": self.schedule, "tile": self.tile, "tile_overlap": self.tile_overlap,
            "batch_size": self.batch_size, "fps": self.fps,
        }
        for k in ("end", "job_id", "chunk_index"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        if self.outputs is not None:
            d["outputs"] = [f.to_json() for f in self.outputs]
        return d


def build_request(inputs, output: str, factor, **options) -> dict:
    """A validated request dict (what the Lambda writes to S3 as the InputLocation object)."""
    if isinstance(inputs, str):
        inputs = [inputs]
    return ServerRequest.from_dict({"inputs": list(inputs), "output": output, "factor": factor, **options}).to_dict()


def _factor(value, *, timed: bool):
    """The request's factor: an integer from 2 to MAX_FACTOR, which alone says what to make (t = j/K). A request
    that carries its output frames (`outputs`, a timed chunk) may also be at 1 (real speed at another output
    rate) or at a fractional slowdown, given as a number (2.5) or "n/d" ("5/2"): it is informational there,
    and kept as given, so a whole factor's request stays byte-identical."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)  # "8" was always taken as 8
    if isinstance(value, int) and not isinstance(value, bool) and 2 <= value <= MAX_FACTOR:
        return value
    if timed and not isinstance(value, bool) and isinstance(value, (int, float, str)):
        try:
            number = Fraction(str(value).strip())
        except (ValueError, ZeroDivisionError):
            number = None
        if number is not None and 1 <= number <= MAX_FACTOR:
            return value
    need = (f"an integer from 2 to {MAX_FACTOR}, or with 'outputs' a number from 1 to {MAX_FACTOR} (2.5 or \"5/2\")"
            if timed else f"an integer from 2 to {MAX_FACTOR} (a fractional factor or 1 needs the plan's 'outputs' list)")
    raise InputError(f"'factor' must be {need}, got {value!r}")


def _outputs(value) -> tuple | None:
    """The request's output frames, checked: source frame i, or [i, t] with 0 < t < 1, in order."""
    if value is None:
        return None
    from itertools import pairwise

    from slowmo.timeline.plan import OutputFrame

    if not isinstance(value, list) or not value:
        raise InputError("'outputs' must be a non-empty list of frame indices or [index, t] pairs")
    frames = []
    for item in value:
        ok = (isinstance(item, int) and not isinstance(item, bool) and item >= 0) or (
            isinstance(item, list) and len(item) == 2 and isinstance(item[0], int) and not isinstance(item[0], bool)
            and item[0] >= 0 and isinstance(item[1], (int, float)) and not isinstance(item[1], bool) and 0 < item[1] < 1)
        if not ok:
            raise InputError(f"'outputs' holds {item!r}: each entry is a frame index or [index, t] with 0 < t < 1")
        frames.append(OutputFrame.from_json(item))
    if any(b < a for a, b in pairwise(frames)):
        raise InputError("'outputs' must be in order")
    return tuple(frames)


def _int(d: dict, key: str, default):
    v = d.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, str) and v.strip().lstrip("-").isdigit():
            return int(v)
        raise InputError(f"'{key}' must be an integer, got {v!r}")
    return v


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise InputError(f"not an S3 object URI: {uri!r} (expected s3://bucket/key)")
    bucket, _, key = uri[5:].partition("/")
    if not bucket or not key:
        raise InputError(f"not an S3 object URI: {uri!r} (expected s3://bucket/key)")
    return bucket, key


# ------------------------------------------------------------------------------------------- engines

_ENGINES: dict[tuple, object] = {}
_ENGINE_LOCK = threading.Lock()


def model_dir() -> str:
    return os.environ.get(MODEL_DIR_ENV, DEFAULT_MODEL_DIR)


def film_model_path(base: str | None = None) -> str:
    """The FILM SavedModel inside the model directory (model.tar.gz puts it under ``film/``)."""
    base = base or model_dir()
    env = os.environ.get("SLOWMO_FILM_MODEL")
    if env:
        return env
    for cand in (os.path.join(base, "film"), base):
        if os.path.isfile(os.path.join(cand, "saved_model.pb")) or os.path.isfile(
            os.path.join(cand, "saved_model", "saved_model.pb")
        ):
            return cand
    return os.path.join(base, "film")


def get_engine(req: ServerRequest, base_model_dir: str | None = None):
    """Engines are built once per process per configuration (the FILM model loads once)."""
    from slowmo.synthesis.engines import create_engine

    if req.engine == "film":
        opts = {"model_path": film_model_path(base_model_dir), "schedule": req.schedule, "tile": req.tile,
                "tile_overlap": req.tile_overlap, "batch_size": req.batch_size}
    else:
        opts = {}
    key = (req.engine, tuple(sorted((k, str(v)) for k, v in opts.items())))
    with _ENGINE_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            try:
                engine = create_engine(req.engine, **opts)
            except SlowmoError:
                raise
            except Exception as exc:  # noqa: BLE001 - one line for the failure notification
                raise EngineUnavailableError(f"cannot start the {req.engine} engine: {exc}") from exc
            _ENGINES[key] = engine
        return engine


def warmup(base_model_dir: str | None = None) -> str | None:
    """Load the FILM model ahead of the first request if one is packaged, and run one midpoint through it
    (a model that loads but cannot run fails here, at load, not on the first chunk). Returns its path or
    None when no model is packaged (the flow/blend server)."""
    path = film_model_path(base_model_dir)
    if not (os.path.isdir(path)):
        return None
    engine = get_engine(ServerRequest(inputs=("s3://warm/up",), output="s3://warm/up", factor=2), base_model_dir)
    import numpy as np

    black = np.zeros((64, 64, 3), np.uint8)
    engine.interpolate(black, black + 255, [0.5])
    return path


# ------------------------------------------------------------------------------------------- handling


def _frames_in(paths: list[str], start: int, end: int | None, uris: tuple[str, ...]) -> Iterator:
    from slowmo.media import chunkio

    index = 0
    for path, uri in zip(paths, uris, strict=True):
        try:
            for frame in chunkio.read_chunk(path):
                if index >= start and (end is None or index <= end):
                    yield frame
                index += 1
                if end is not None and index > end:
                    return
        except SlowmoError as exc:
            if uri in str(exc):
                raise
            raise InputError(f"input chunk {uri} is unreadable: {str(exc).replace(path, 'file')}") from exc
    if end is not None and index <= end:
        raise InputError(
            f"input chunk {' + '.join(uris)} holds {index} frames but the request asks for frames {start}..{end}"
        )
    if index - start < 2:
        raise InputError(f"input chunk {' + '.join(uris)} holds {index} frames; frames {start}.. need at least 2")


def _checked(frames: Iterator, report, factor, outputs: tuple | None = None) -> Iterator:
    """Pass frames through; before the stream ends, check the count (a wrong chunk is never completed)."""
    count = 0
    for frame in frames:
        count += 1
        yield frame
    expected = len(outputs) if outputs is not None else (report.source_frames - 1) * factor + 1
    if count != expected:
        raise SlowmoError(f"internal error: synthesised {count} frames, expected {expected}")


def _timed(frames: Iterator, marks: dict) -> Iterator:
    yield from frames
    marks["done"] = time.perf_counter()


def _s3_client():
    import boto3

    return boto3.client("s3")


def _download(s3, uri: str, dest: str) -> None:
    bucket, key = _split_s3(uri)
    try:
        s3.download_file(bucket, key, dest)
    except Exception as exc:  # noqa: BLE001 - botocore ClientError or connection errors
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        # S3 answers 403 rather than 404 for a missing key when the role may not list the bucket
        # (the endpoint's role may not: S3 API reference, GetObject, "Permissions")
        if str(code) in ("404", "NoSuchKey", "NotFound", "403", "AccessDenied"):
            raise InputError(f"input chunk not found: {uri}") from None
        raise SlowmoError(f"cannot download {uri}: {code}") from exc


def handle_request(body, *, s3=None, base_model_dir: str | None = None, workdir: str | None = None,
                   engine=None) -> dict:
    """Process one request (bytes/str JSON or dict); returns the JSON-able result."""
    from slowmo.media import chunkio
    from slowmo.synthesis.frames import SynthesisReport, synthesize

    t0 = time.perf_counter()
    req = ServerRequest.from_json(body)
    s3 = s3 or _s3_client()
    engine = engine or get_engine(req, base_model_dir)
    tmp = tempfile.mkdtemp(prefix="slowmo-req-", dir=workdir)
    try:
        paths = []
        for i, uri in enumerate(req.inputs):
            local = os.path.join(tmp, f"in{i}{chunkio.EXTENSION}")
            _download(s3, uri, local)
            paths.append(local)
        t_in = time.perf_counter()
        report = SynthesisReport()
        frames = _frames_in(paths, req.start, req.end, req.inputs)
        plan_slice = req.outputs if req.outputs is not None else req.factor
        produced = _checked(synthesize(frames, plan_slice, engine, report, first_index=req.first_index + req.start),
                            report, req.factor, req.outputs)
        bucket, key = _split_s3(req.output)
        marks: dict[str, float] = {}
        if hasattr(s3, "upload_fileobj"):
            # encode and upload while the engine computes: ffmpeg's MKV goes straight into a multipart upload
            def upload(stream) -> None:
                try:
                    s3.upload_fileobj(stream, bucket, key)
                except Exception as exc:  # noqa: BLE001 - botocore errors; chunkio reports its own first
                    code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
                    raise SlowmoError(f"cannot upload the output chunk to {req.output}: {code}") from exc

            info = chunkio.stream_chunk(_timed(produced, marks), upload, Fraction(req.fps), name=req.output)
            t_synth = marks.get("done", time.perf_counter())
        else:  # a minimal S3 client: write the chunk file, then upload it
            out_path = os.path.join(tmp, "out" + chunkio.EXTENSION)
            info = chunkio.write_chunk(produced, out_path, Fraction(req.fps))
            t_synth = time.perf_counter()
            try:
                s3.upload_file(out_path, bucket, key)
            except Exception as exc:  # noqa: BLE001
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
                raise SlowmoError(f"cannot upload the output chunk to {req.output}: {code}") from exc
        t_end = time.perf_counter()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "status": "succeeded",
        "output": req.output,
        "factor": req.factor,
        "engine": req.engine,
        "source_frames": report.source_frames,
        "output_frames": info.frame_count,
        "width": info.width,
        "height": info.height,
        "chunk": info.to_dict(),
        "report": report.to_dict(),
        "seconds": {"download": round(t_in - t0, 3), "synthesis": round(t_synth - t_in, 3),
                    "upload": round(t_end - t_synth, 3), "total": round(t_end - t0, 3)},
        "frames_per_second": round(info.frame_count / max(1e-9, t_synth - t_in), 2),
    }
    if req.engine == "film":
        result["schedule"] = req.schedule
    if req.job_id is not None:
        result["job_id"] = req.job_id
    if req.chunk_index is not None:
        result["chunk_index"] = req.chunk_index
    return result


def error_result(exc: BaseException) -> dict:
    """The body of a failed invocation: one line the error notification can show."""
    if isinstance(exc, SlowmoError):
        kind = "InputError" if isinstance(exc, InputError) else type(exc).__name__
        message = str(exc).splitlines()[0] if str(exc) else kind
    else:
        kind = "InternalError"
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}"
    # "retryable": whether the same request may succeed later. A bad request or a missing input (4xx)
    # never will, so the job fails at once instead of trying the chunk again (ResumeFunction reads
    # this body from the error notification).
    return {"status": "failed", "error": kind, "message": message, "retryable": not 400 <= status_code(exc) < 500}


def status_code(exc: BaseException) -> int:
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, EngineUnavailableError):
        return 503
    return 500
