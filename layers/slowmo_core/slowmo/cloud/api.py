"""What the jobs API does, apart from HTTP: presign an upload, submit a job idempotently."""

from __future__ import annotations

import json
import posixpath
import re
import uuid
from typing import Any

from ..errors import InputError
from .config import Settings
from .jobs import JobStore, job_view
from .layout import parse_s3_uri
from .submission import SourceObject, head_source, is_video_key, request_from_api

API_UPLOAD_PREFIX = "api-uploads/"  # not watched by the upload rule: the client submits explicitly
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def presign_upload(settings: Settings, s3, upload: dict[str, Any]) -> dict[str, Any]:
    """A short-lived presigned PUT URL for one video file in the input bucket (at most 5 GB)."""
    filename = posixpath.basename(str((upload or {}).get("filename") or ""))
    safe = _SAFE_NAME.sub("_", filename).strip("._") or ""
    if not is_video_key(safe):
        raise InputError("upload.filename must name a video file (.mp4, .mov, .m4v, .mkv, .webm, .avi)")
    key = f"{API_UPLOAD_PREFIX}{uuid.uuid4().hex}/{safe}"
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": settings.input_bucket, "Key": key}, ExpiresIn=settings.upload_url_seconds
    )
    return {"upload": {"url": url, "method": "PUT", "bucket": settings.input_bucket, "key": key,
                       "expiresIn": settings.upload_url_seconds},
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


def submit_job(settings: Settings, body: dict[str, Any], *, s3, sfn, store: JobStore) -> tuple[dict[str, Any], bool]:
    """Validate, record and start a job. Submitting the same video with the same options again
    returns the existing job (pass a new clientToken to run it again). Returns (job view, created)."""
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise InputError("'options' must be a JSON object")
    token = body.get("clientToken")
    source, _metadata = head_source(s3, _source_from_body(settings, body))
    request = request_from_api(settings, source, options, str(token) if token else None)
    item, created = store.create(request)
    if not item.get("executionArn") and item.get("status") not in ("SUCCEEDED", "FAILED"):
        try:
            sfn.start_execution(stateMachineArn=settings.state_machine_arn, name=request.job_id,
                                input=json.dumps({"jobRequest": request.to_dict()}))
        except sfn.exceptions.ExecutionAlreadyExists:
            pass  # started by an earlier call; the claim binds it
    return job_view(item), created
