"""What the jobs API does, apart from HTTP: presign an upload, submit a job idempotently."""

from __future__ import annotations

import json
import posixpath
import re
import uuid
from typing import Any

from slowmo.cloud.admission import admit
from slowmo.cloud.config import Settings
from slowmo.cloud.jobs import JobStore, job_view
from slowmo.cloud.layout import parse_s3_uri
from slowmo.cloud.submission import (
    JobRequest,
    SourceObject,
    check_source_size,
    head_source,
    is_video_key,
    request_from_api,
)
from slowmo.errors import InputError

API_UPLOAD_PREFIX = "api-uploads/"  # not watched by the upload rule: the client submits explicitly
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
MAX_BODY_BYTES = 16 * 1024  # a job request is a few hundred bytes; anything much larger is refused
JOB_FIELDS = ("key", "bucket", "source", "versionId", "options", "clientToken", "dryRun")
UPLOAD_FIELDS = ("filename",)
MAX_PRESIGN_SECONDS = 900


class ConflictError(InputError):
    """The request is well formed but the job is not in a state that allows it (HTTP 409)."""


def parse_body(raw: str | None) -> dict[str, Any]:
    """The request body as a JSON object: at most MAX_BODY_BYTES, valid JSON, an object."""
    if raw is None or raw == "":
        return {}
    if len(raw.encode()) > MAX_BODY_BYTES:
        raise InputError(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except ValueError:
        raise InputError("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InputError("the request body must be a JSON object")
    return body


def _no_unknown_fields(body: dict[str, Any], known: tuple[str, ...], where: str = "") -> None:
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise InputError(f"unknown field {where}{unknown[0]!r}; known: {', '.join(known)}")


def presign_upload(settings: Settings, s3, upload: dict[str, Any]) -> dict[str, Any]:
    """A short-lived presigned PUT URL for one video file in the input bucket (at most 5 GB)."""
    if not isinstance(upload, dict):
        raise InputError("'upload' must be a JSON object like {\"filename\": \"clip.mp4\"}")
    _no_unknown_fields(upload, UPLOAD_FIELDS, "upload.")
    filename = posixpath.basename(str(upload.get("filename") or ""))
    safe = _SAFE_NAME.sub("_", filename).strip("._") or ""
    if not is_video_key(safe):
        raise InputError("upload.filename must name a video file (.mp4, .mov, .m4v, .mkv, .webm, .avi)")
    key = f"{API_UPLOAD_PREFIX}{uuid.uuid4().hex}/{safe}"
    expires = min(int(settings.upload_url_seconds), MAX_PRESIGN_SECONDS)  # short-lived, whatever is configured
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": settings.input_bucket, "Key": key}, ExpiresIn=expires
    )
    return {"upload": {"url": url, "method": "PUT", "bucket": settings.input_bucket, "key": key,
                       "expiresIn": expires},
            "next": {"method": "POST", "path": "/jobs", "body": {"key": key}}}


def _source_from_body(settings: Settings, body: dict[str, Any]) -> SourceObject:
    if body.get("source"):
        bucket, key = parse_s3_uri(str(body["source"]))
    else:
        bucket, key = str(body.get("bucket") or settings.input_bucket), str(body.get("key") or "")
    if not key:
        raise InputError("say which video: 'key' (in the input bucket) or 'source': 's3://bucket/key'")
    if bucket != settings.input_bucket:
        raise InputError(f"videos must be in the input bucket {settings.input_bucket}, not {bucket}")
    return SourceObject(bucket, key, body.get("versionId"))


def is_dry_run(body: dict[str, Any]) -> bool:
    """True for `"dryRun": true`: estimate the job, start nothing (slowmo.cloud.dryrun)."""
    value = body.get("dryRun", False)
    if not isinstance(value, bool):
        raise InputError(f"'dryRun' must be true or false, got {value!r}")
    return value


def estimate_request(settings: Settings, body: dict[str, Any], *, s3) -> dict[str, Any]:
    """POST /jobs with "dryRun": true: checked like a submission; answers the estimate, starts nothing."""
    from slowmo.cloud.dryrun import dry_run

    _no_unknown_fields(body, JOB_FIELDS)
    if not isinstance(body.get("options") or {}, dict):
        raise InputError("'options' must be a JSON object")
    return dry_run(settings, body, _source_from_body(settings, body), s3=s3)


def submit_job(settings: Settings, body: dict[str, Any], *, s3, sfn, store: JobStore) -> tuple[dict[str, Any], bool]:
    """Validate, record and start a job. Submitting the same video with the same options again
    returns the existing job (pass a new clientToken to run it again). Returns (job view, created)."""
    _no_unknown_fields(body, JOB_FIELDS + ("upload",))
    if is_dry_run(body):
        raise InputError("a dry run starts nothing: send it to estimate_request")
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise InputError("'options' must be a JSON object")
    token = body.get("clientToken")
    source, _metadata = head_source(s3, _source_from_body(settings, body))
    check_source_size(source)
    request = request_from_api(settings, source, options, str(token) if token else None)
    admit(s3, source, request.options)  # a job the stack cannot finish is a 400, before any execution
    item, created = store.create(request)
    if not item.get("executionArn") and item.get("status") not in ("SUCCEEDED", "FAILED"):
        try:
            sfn.start_execution(stateMachineArn=settings.state_machine_arn, name=request.job_id,
                                input=json.dumps({"jobRequest": request.to_dict()}))
        except sfn.exceptions.ExecutionAlreadyExists:
            pass  # started by an earlier call; the claim binds it
    return job_view(item), created


def retry_job(settings: Settings, job_id: str, *, sfn, store: JobStore) -> dict[str, Any] | None:
    """Run a FAILED job again: a new execution takes the job over and reuses every chunk whose
    output is already in the work bucket. None if there is no such job."""
    item = store.get(job_id)
    if item is None:
        return None
    if item.get("status") != "FAILED":
        raise ConflictError(f"job {job_id} is {item.get('status')}; only a FAILED job can be retried")
    request = JobRequest(SourceObject.from_dict(item["source"]), dict(item.get("options") or {}),
                         str(item.get("trigger") or "api"), None, job_id, rerun=True)
    name = f"{job_id}-retry-{uuid.uuid4().hex[:12]}"
    sfn.start_execution(stateMachineArn=settings.state_machine_arn, name=name,
                        input=json.dumps({"jobRequest": request.to_dict()}))
    view = job_view(item)
    view["retry"] = {"executionName": name}
    return view
