"""What a job is asked to do: the source object and the options, from an upload or an API call.

Upload convention (documented in README, "Process a video"):

* the object is created under the upload prefix (default ``uploads/``) with a video suffix;
* options may be given as ``name=value`` folders between the prefix and the file name,
  e.g. ``uploads/factor=8/engine=film/clip.mp4``;
* or as object metadata ``x-amz-meta-slowmo-<name>`` (S3 hands it back as ``slowmo-<name>``),
  e.g. ``x-amz-meta-slowmo-factor: 16``; metadata wins over folders;
* anything not given takes the stack's defaults (DefaultFactor parameter, engine ``film``).

The job id is derived from the source object's identity (bucket, key, version id or ETag) and the
validated options, so EventBridge's at-least-once delivery and repeated API calls map to one job.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import posixpath
from dataclasses import dataclass
from fractions import Fraction
from typing import Any
from urllib.parse import unquote_plus

from slowmo.cloud.config import VIDEO_SUFFIXES, Settings
from slowmo.errors import InputError

OPTION_NAMES = ("factor", "fps", "engine", "model", "audio", "compare", "codec", "crf", "preset", "trim", "ranges", "ease")
METADATA_PREFIX = "slowmo-"
_INT_OPTIONS = {"crf"}
_BOOL_OPTIONS = {"compare"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class SourceObject:
    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None

    @property
    def identity(self) -> str:
        """What makes this upload unique: a re-upload of the same key is a new job."""
        return self.version_id or (self.etag or "").strip('"') or "-"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SourceObject:
        return cls(d["bucket"], d["key"], d.get("version_id"), d.get("etag"), d.get("size"))


@dataclass(frozen=True)
class JobRequest:
    source: SourceObject
    options: dict[str, Any]
    trigger: str = "upload"  # or "api"
    client_token: str | None = None
    given_job_id: str | None = None  # set when read back from an API submission
    rerun: bool = False  # POST /jobs/{id}/retry: take over a FAILED job, reusing its finished chunks

    @property
    def job_id(self) -> str:
        return self.given_job_id or job_id_for(self.source, self.options, self.client_token)

    def to_dict(self) -> dict[str, Any]:
        d = {"jobId": self.job_id, "source": self.source.to_dict(), "options": self.options, "trigger": self.trigger}
        if self.client_token:
            d["clientToken"] = self.client_token
        if self.rerun:
            d["rerun"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobRequest:
        return cls(SourceObject.from_dict(d["source"]), dict(d["options"]), d.get("trigger", "api"), d.get("clientToken"),
                   d.get("jobId"), bool(d.get("rerun")))


def job_id_for(source: SourceObject, options: dict[str, Any], client_token: str | None = None) -> str:
    canonical = json.dumps(
        [source.bucket, source.key, source.identity, options, client_token or ""], sort_keys=True, separators=(",", ":")
    )
    return "job-" + hashlib.sha256(canonical.encode()).hexdigest()[:24]


def is_video_key(key: str) -> bool:
    return key.lower().endswith(VIDEO_SUFFIXES)


def _coerce(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if name == "factor":  # 8 stays an int (job ids do not change); 2.5 or 5/2 is refused by validate_options
        if text.isdigit():
            return int(text)
        try:
            Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise InputError(f"option factor must be a whole number, got {value!r}") from None
        return text
    if name in _INT_OPTIONS:
        try:
            return int(text)
        except ValueError:
            raise InputError(f"option {name} must be a whole number, got {value!r}") from None
    if name in _BOOL_OPTIONS:
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise InputError(f"option {name} must be true or false, got {value!r}")
    return text


def options_from_key(key: str, upload_prefix: str = "uploads/") -> dict[str, Any]:
    """``uploads/factor=8/audio=drop/clip.mp4`` -> {'factor': 8, 'audio': 'drop'}."""
    rest = key[len(upload_prefix) :] if upload_prefix and key.startswith(upload_prefix) else key
    found: dict[str, Any] = {}
    for folder in posixpath.dirname(rest).split("/"):
        name, sep, value = folder.partition("=")
        if sep and name.lower() in OPTION_NAMES:
            found[name.lower()] = _coerce(name.lower(), value)
    return found


def options_from_metadata(metadata: dict[str, str] | None) -> dict[str, Any]:
    """S3 user metadata {'slowmo-factor': '16'} (sent as x-amz-meta-slowmo-factor) -> {'factor': 16}."""
    found: dict[str, Any] = {}
    for raw_name, value in (metadata or {}).items():
        name = raw_name.lower()
        if name.startswith(METADATA_PREFIX) and name[len(METADATA_PREFIX) :] in OPTION_NAMES:
            opt = name[len(METADATA_PREFIX) :]
            found[opt] = _coerce(opt, value)
    return found


def defaults(settings: Settings) -> dict[str, Any]:
    # the cloud makes the side-by-side comparison unless asked not to (compare=false)
    return {"factor": settings.default_factor, "engine": settings.default_engine, "compare": True}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Fraction):
        return str(value) if value.denominator != 1 else value.numerator
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "value") and hasattr(value, "name"):  # Enum
        return value.value
    return value


def validate_options(raw: dict[str, Any]) -> dict[str, Any]:
    """Validate with the same rules as the CLI (slowmo.options) and return a JSON-safe dict."""
    unknown = sorted(set(raw) - set(OPTION_NAMES))
    if unknown:
        raise InputError(f"unknown option {unknown[0]!r}; known: {', '.join(OPTION_NAMES)}")
    from slowmo.options import JobOptions  # the shared validator; light module

    opts = JobOptions.from_dict({k: _coerce(k, v) for k, v in raw.items()})
    if opts.codec in ("prores", "dnxhr"):
        # the cloud's Assemble streams a fragmented MP4; editor codecs go in a .mov, made locally
        raise InputError(f"codec {opts.codec}: the cloud writes MP4 (h264 or h265); for {opts.codec} in a .mov, "
                         f"run it locally: slowmo run VIDEO -o OUT.mov -k K --codec {opts.codec}")
    as_dict = opts.to_dict() if hasattr(opts, "to_dict") else dataclasses.asdict(opts)
    return {k: _jsonable(v) for k, v in as_dict.items() if v is not None}


def merge_options(settings: Settings, *layers: dict[str, Any]) -> dict[str, Any]:
    merged = defaults(settings)
    for layer in layers:
        merged.update({k: v for k, v in layer.items() if v is not None})
    return validate_options(merged)


def request_from_upload(
    settings: Settings, source: SourceObject, metadata: dict[str, str] | None = None
) -> JobRequest:
    if not is_video_key(source.key):
        raise InputError(f"{source.key!r} is not a video ({', '.join(VIDEO_SUFFIXES)})")
    options = merge_options(settings, options_from_key(source.key, settings.upload_prefix), options_from_metadata(metadata))
    return JobRequest(source, options, "upload")


def request_from_api(settings: Settings, source: SourceObject, options: dict[str, Any] | None, client_token=None) -> JobRequest:
    if not is_video_key(source.key):
        raise InputError(f"{source.key!r} is not a video ({', '.join(VIDEO_SUFFIXES)})")
    return JobRequest(source, merge_options(settings, options or {}), "api", client_token)


def source_from_eventbridge(event: dict[str, Any]) -> SourceObject:
    """An EventBridge 'Object Created' event from S3 -> the object it names."""
    detail = event.get("detail") or {}
    bucket = (detail.get("bucket") or {}).get("name")
    obj = detail.get("object") or {}
    if event.get("detail-type") != "Object Created" or not bucket or not obj.get("key"):
        raise InputError("not an S3 'Object Created' event")
    return SourceObject(bucket, obj["key"], obj.get("version-id"), obj.get("etag"), obj.get("size"))


def key_candidates(key: str) -> list[str]:
    """The key as given, then URL-decoded (S3 notifications may encode spaces as '+')."""
    decoded = unquote_plus(key)
    return [key] if decoded == key else [key, decoded]


def head_source(s3, source: SourceObject) -> tuple[SourceObject, dict[str, str]]:
    """HeadObject the source (trying the URL-decoded key too): its metadata, and the identity S3
    reports now (version id, ETag) filled in where the event did not carry it."""
    from botocore.exceptions import ClientError

    last_error: Exception | None = None
    for key in key_candidates(source.key):
        args = {"Bucket": source.bucket, "Key": key}
        if source.version_id:
            args["VersionId"] = source.version_id
        try:
            head = s3.head_object(**args)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                last_error = err
                continue
            raise
        found = SourceObject(
            source.bucket,
            key,
            source.version_id or head.get("VersionId"),
            source.etag or (head.get("ETag") or "").strip('"') or None,
            source.size if source.size is not None else head.get("ContentLength"),
        )
        return found, {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
    raise InputError(f"s3://{source.bucket}/{source.key} does not exist (deleted before processing?)") from last_error


def check_source_size(source: SourceObject, limits=None) -> None:
    """Refuse, before any download, an empty object or one over the configured file size limit
    (slowmo.foresight.limits: the same SLOWMO_MAX_FILE_BYTES the CLI reads)."""
    from slowmo.foresight.limits import Limits

    name = posixpath.basename(source.key) or source.key
    if source.size == 0:
        raise InputError(f"{name}: the object is empty (0 bytes)")
    if source.size is not None:
        (limits or Limits.from_env()).check_file_size(int(source.size), name)


def request_for_execution(settings: Settings, execution_input: dict[str, Any], s3) -> JobRequest:
    """The job an execution was started for: an API submission ({"jobRequest": ...}) or the
    EventBridge 'Object Created' event of an upload."""
    if "jobRequest" in execution_input:
        return JobRequest.from_dict(execution_input["jobRequest"])
    source, metadata = head_source(s3, source_from_eventbridge(execution_input))
    check_source_size(source)
    return request_from_upload(settings, source, metadata)


def rejected_request(execution_input: dict[str, Any]) -> JobRequest | None:
    """The job to record as FAILED when an upload cannot be accepted (object gone, empty, not a video,
    bad options): keyed on the object alone, so a duplicate event finds the same job. None when the
    input does not even name an object (then there is no job to report on)."""
    if "jobRequest" in execution_input:
        return JobRequest.from_dict(execution_input["jobRequest"])
    try:
        source = source_from_eventbridge(execution_input)
    except InputError:
        return None
    return JobRequest(source, {}, "upload", "rejected")
