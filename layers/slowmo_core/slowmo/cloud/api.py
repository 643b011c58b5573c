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
UPLOAD_FIELDS = ("filename", "size")
MAX_PRESIGN_SECONDS = 900
# S3: "With a single PUT operation, you can upload a single object up to 5 GB in size"
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/upload-objects.html); past that, multipart: at most
# 10,000 parts of 5 MiB..5 GiB, the last one smaller (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
SINGLE_PUT_MAX = 5 * 10**9
MIN_PART_BYTES = 64 * 2**20  # fewer, larger parts: 20 GiB is 320 of them
MAX_PARTS = 10_000
PARTS_PER_GRANT = 100  # presigned part URLs per call: the client asks for the next ones as it goes (they expire)
MULTIPART_FIELDS = ("key", "uploadId")


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
    """Where to upload one video file in the input bucket: a short-lived presigned PUT URL, or, for a file over
    the 5 GB a single PUT may carry (``size`` given), a multipart upload whose part URLs ``presign_parts`` hands
    out. A size over the stack's MaxFileBytes is refused here, before a byte is sent."""
    if not isinstance(upload, dict):
        raise InputError("'upload' must be a JSON object like {\"filename\": \"clip.mp4\", \"size\": 123}")
    _no_unknown_fields(upload, UPLOAD_FIELDS, "upload.")
    filename = posixpath.basename(str(upload.get("filename") or ""))
    safe = _SAFE_NAME.sub("_", filename).strip("._") or ""
    if not is_video_key(safe):
        raise InputError("upload.filename must name a video file (.mp4, .mov, .m4v, .mkv, .webm, .avi)")
    size = upload.get("size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise InputError("upload.size must be the file's size in bytes, a whole number of at least 1")
        from slowmo.foresight.limits import Limits

        Limits.from_env().check_file_size(size, safe)
    key = f"{API_UPLOAD_PREFIX}{uuid.uuid4().hex}/{safe}"
    expires = min(int(settings.upload_url_seconds), MAX_PRESIGN_SECONDS)  # short-lived, whatever is configured
    if size is not None and size > SINGLE_PUT_MAX:
        part = max(MIN_PART_BYTES, -(-size // MAX_PARTS))
        part = -(-part // 2**20) * 2**20  # whole MiB
        upload_id = s3.create_multipart_upload(Bucket=settings.input_bucket, Key=key)["UploadId"]
        handle = {"key": key, "uploadId": upload_id}
        return {"upload": {"method": "MULTIPART", "bucket": settings.input_bucket, **handle, "partSize": part,
                           "partCount": -(-size // part), "expiresIn": expires},
                "parts": {"method": "POST", "path": "/jobs",
                          "body": {"uploadParts": {**handle, "first": 1, "count": PARTS_PER_GRANT}}},
                "complete": {"method": "POST", "path": "/jobs",
                             "body": {"completeUpload": {**handle, "partCount": -(-size // part)}}},
                "next": {"method": "POST", "path": "/jobs", "body": {"key": key}}}
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": settings.input_bucket, "Key": key}, ExpiresIn=expires
    )
    return {"upload": {"url": url, "method": "PUT", "bucket": settings.input_bucket, "key": key,
                       "expiresIn": expires},
            "next": {"method": "POST", "path": "/jobs", "body": {"key": key}}}


def _multipart(body: Any, extra: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InputError(f"'{what}' must be a JSON object")
    _no_unknown_fields(body, MULTIPART_FIELDS + extra, f"{what}.")
    key, upload_id = str(body.get("key") or ""), str(body.get("uploadId") or "")
    if not key.startswith(API_UPLOAD_PREFIX) or ".." in key or not upload_id:
        raise InputError(f"{what} needs the 'key' (under {API_UPLOAD_PREFIX}) and 'uploadId' POST /jobs handed out")
    return {"Key": key, "UploadId": upload_id}


def presign_parts(settings: Settings, s3, body: Any) -> dict[str, Any]:
    """Presigned UploadPart URLs for parts first..first+count-1 of a multipart upload handed out above."""
    handle = _multipart(body, ("first", "count"), "uploadParts")
    first, count = body.get("first", 1), body.get("count", PARTS_PER_GRANT)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (first, count)) or first < 1 or count < 1:
        raise InputError("uploadParts.first and uploadParts.count must be whole numbers of at least 1")
    last = min(first + min(count, PARTS_PER_GRANT) - 1, MAX_PARTS)
    expires = min(int(settings.upload_url_seconds), MAX_PRESIGN_SECONDS)
    parts = [{"partNumber": n, "url": s3.generate_presigned_url(
        "upload_part", Params={"Bucket": settings.input_bucket, **handle, "PartNumber": n}, ExpiresIn=expires)}
        for n in range(first, last + 1)]
    return {"parts": parts, "expiresIn": expires}


def complete_upload(settings: Settings, s3, body: Any) -> dict[str, Any]:
    """CompleteMultipartUpload with the parts S3 holds (ListParts gives their ETags, so the request stays small);
    ``partCount`` says how many the caller sent, so a part that never arrived is an error, not a short video."""
    handle = _multipart(body, ("partCount",), "completeUpload")
    count = body.get("partCount")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_PARTS:
        raise InputError(f"completeUpload.partCount must be the number of parts sent, 1..{MAX_PARTS}")
    parts: list[dict[str, Any]] = []
    marker = 0
    while True:
        page = s3.list_parts(Bucket=settings.input_bucket, **handle, PartNumberMarker=marker)
        parts += [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in page.get("Parts", [])]
        if not page.get("IsTruncated"):
            break
        marker = page["NextPartNumberMarker"]
    if [p["PartNumber"] for p in parts] != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - {p["PartNumber"] for p in parts})
        raise InputError(f"upload {handle['Key']} is missing part(s) {missing[:5]}: send them, then complete again")
    s3.complete_multipart_upload(Bucket=settings.input_bucket, **handle, MultipartUpload={"Parts": parts})
    return {"key": handle["Key"], "next": {"method": "POST", "path": "/jobs", "body": {"key": handle["Key"]}}}


def abort_upload(settings: Settings, s3, body: Any) -> dict[str, Any]:
    """AbortMultipartUpload: S3 frees the parts uploaded so far."""
    handle = _multipart(body, (), "abortUpload")
    s3.abort_multipart_upload(Bucket=settings.input_bucket, **handle)
    return {"aborted": handle["Key"]}


UPLOAD_ACTIONS = {"upload": presign_upload, "uploadParts": presign_parts, "completeUpload": complete_upload,
                  "abortUpload": abort_upload}


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
