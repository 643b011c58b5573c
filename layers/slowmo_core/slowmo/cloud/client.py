"""A small client for the deployed API: every request signed with SigV4 using the caller's own AWS
credentials (the API uses AWS_IAM auth), sent with urllib. botocore signs; nothing else is needed.

    client = SlowmoClient.from_stack("slowmo")            # or SlowmoClient("https://.../v1")
    job = client.submit("clip.mp4", {"factor": 8})        # uploads through presigned URLs (multipart over 5 GB)
    job = client.wait(job["jobId"], timeout=3600)         # polls GET /jobs/{id}; CloudError after the timeout
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from slowmo.errors import SlowmoError

TERMINAL = {"SUCCEEDED", "FAILED"}
# How long wait() polls unless told: about twice the wall clock the capacity model estimates for the largest job
# the template's defaults admit (1080p30, 32 min, factor 8 with the comparison: ~25 h on 2 instances).
DEFAULT_WAIT_SECONDS = 48 * 3600
_REGION_IN_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com")


class CloudError(SlowmoError):
    """The API refused or failed a request; the message is the API's own one line."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def region_from_url(api_url: str) -> str | None:
    m = _REGION_IN_HOST.search(urlparse(api_url).netloc)
    return m.group(1) if m else None


def api_url_from_stack(stack_name: str, session=None) -> str:
    """The ApiUrl output of the deployed CloudFormation stack."""
    import boto3

    session = session or boto3.Session()
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as exc:  # noqa: BLE001 - botocore's ClientError or missing credentials
        raise CloudError(f"cannot read stack {stack_name!r}: {exc}") from None
    for output in stacks[0].get("Outputs", []):
        if output["OutputKey"] == "ApiUrl":
            return output["OutputValue"]
    raise CloudError(f"stack {stack_name!r} has no ApiUrl output; is it the slowmo stack?")


class SlowmoClient:
    def __init__(self, api_url: str, *, session=None, region: str | None = None, timeout: float = 60,
                 opener: Callable | None = None):
        if not api_url.startswith(("https://", "http://")):
            raise CloudError(f"API URL must start with https://, got {api_url!r}")
        self.api_url = api_url.rstrip("/")
        self._session = session
        self.region = region or region_from_url(self.api_url) or self._session_obj().region_name or "us-east-1"
        self.timeout = timeout
        self._open = opener or urllib.request.urlopen

    @classmethod
    def from_stack(cls, stack_name: str = "slowmo", **kwargs) -> SlowmoClient:
        return cls(api_url_from_stack(stack_name, kwargs.get("session")), **kwargs)

    def _session_obj(self):
        if self._session is None:
            import boto3

            self._session = boto3.Session()
        return self._session

    # -- signed requests ----------------------------------------------------------------------
    def signed_request(self, method: str, path: str, body: Any = None) -> urllib.request.Request:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        credentials = self._session_obj().get_credentials()
        if credentials is None:
            raise CloudError("no AWS credentials found (aws configure, AWS_PROFILE or environment variables)")
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = AWSRequest(method=method, url=self.api_url + path, data=data, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(request)
        prepared = request.prepare()
        return urllib.request.Request(prepared.url, data=data, headers=dict(prepared.headers.items()), method=method)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        request = self.signed_request(method, path, body)
        try:
            with self._open(request, timeout=self.timeout) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as err:
            raise CloudError(_error_message(err.code, err.read()), err.code) from None
        except urllib.error.URLError as err:
            raise CloudError(f"cannot reach {self.api_url}: {err.reason}") from None
        return json.loads(payload) if payload else None

    # -- the API ------------------------------------------------------------------------------
    def submit(self, source: str | os.PathLike, options: dict[str, Any] | None = None,
               client_token: str | None = None) -> dict[str, Any]:
        """Start a job for s3://bucket/key (in the input bucket), an input-bucket key, or a local file."""
        body: dict[str, Any] = {"options": options or {}}
        if client_token:
            body["clientToken"] = client_token
        text = str(source)
        if text.startswith("s3://"):
            body["source"] = text
        elif Path(text).is_file():
            body["key"] = self.upload(Path(text))
        else:
            raise CloudError(f"{text}: no such file (give a local video or s3://bucket/key)")
        return self.call("POST", "/jobs", body)

    def upload(self, path: Path) -> str:
        """Upload a local video through the URLs the API hands out; returns its key in the input bucket. The API
        is told the size first: it refuses a file over the stack's MaxFileBytes before a byte is sent, and gives
        a file over the 5 GB one PUT may carry a multipart upload instead."""
        size = path.stat().st_size
        grant = self.call("POST", "/jobs", {"upload": {"filename": path.name, "size": size}})["upload"]
        if grant.get("method") == "MULTIPART":
            self._upload_parts(path, grant)
            return grant["key"]
        with open(path, "rb") as fh:
            self._put(grant["url"], fh, size, path.name)
        return grant["key"]

    def _put(self, url: str, data, size: int, what: str) -> str:
        """PUT to a presigned URL; returns the ETag S3 answered."""
        request = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Length": str(size)})
        try:
            with self._open(request, timeout=max(self.timeout, 600)) as resp:
                resp.read()
                return str(resp.headers.get("ETag") or "")
        except urllib.error.HTTPError as err:
            raise CloudError(f"upload of {what} failed: HTTP {err.code}", err.code) from None
        except urllib.error.URLError as err:
            raise CloudError(f"upload of {what} failed: {err.reason}") from None

    def _upload_parts(self, path: Path, grant: dict[str, Any]) -> None:
        """A multipart upload: part URLs in batches (they expire), each part PUT, then complete; abort on failure
        so S3 keeps no orphaned parts."""
        handle = {"key": grant["key"], "uploadId": grant["uploadId"]}
        part, count = int(grant["partSize"]), int(grant["partCount"])
        try:
            with open(path, "rb") as fh:
                number = 1
                while number <= count:
                    batch = self.call("POST", "/jobs", {"uploadParts": {**handle, "first": number,
                                                                         "count": count - number + 1}})["parts"]
                    for item in batch:
                        fh.seek((item["partNumber"] - 1) * part)
                        data = fh.read(part)
                        self._put(item["url"], data, len(data), f"{path.name} (part {item['partNumber']} of {count})")
                    number += len(batch)
            self.call("POST", "/jobs", {"completeUpload": {**handle, "partCount": count}})
        except BaseException:
            try:
                self.call("POST", "/jobs", {"abortUpload": handle})
            except CloudError:
                pass  # the bucket's lifecycle rule removes incomplete uploads anyway
            raise

    def status(self, job_id: str) -> dict[str, Any]:
        return self.call("GET", f"/jobs/{quote(job_id, safe='')}")

    def retry(self, job_id: str) -> dict[str, Any]:
        """Run a FAILED job again; chunks that already finished are not sent to the endpoint again."""
        return self.call("POST", f"/jobs/{quote(job_id, safe='')}/retry", {})

    def wait(self, job_id: str, *, poll: float = 10, timeout: float | None = None,
             progress: Callable[[dict[str, Any]], None] | None = None, sleep=time.sleep) -> dict[str, Any]:
        """Poll GET /jobs/{id} until the job SUCCEEDED or FAILED. ``timeout`` (seconds; None: DEFAULT_WAIT_SECONDS,
        math.inf: no limit) bounds the wait: then CloudError says the job goes on and how to wait again."""
        timeout = DEFAULT_WAIT_SECONDS if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            job = self.status(job_id)
            if progress:
                progress(job)
            if job.get("status") in TERMINAL:
                return job
            if time.monotonic() + poll > deadline:
                raise CloudError(f"job {job_id} is still {job.get('status') or 'not finished'} after waiting "
                                 f"{_waited(timeout)}; it goes on in the cloud: `slowmo cloud status {job_id} --wait` "
                                 "waits again")
            sleep(poll)

    def endpoint(self, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        method = {"deploy": "POST", "status": "GET", "delete": "DELETE"}.get(action)
        if method is None:
            raise CloudError(f"unknown endpoint action {action!r}: deploy, status or delete")
        return self.call(method, "/endpoint", (body or {}) if method == "POST" else None)


def _error_message(status: int, payload: bytes) -> str:
    try:
        data = json.loads(payload)
        message = data.get("message") or data.get("Message") or json.dumps(data)
    except (ValueError, AttributeError):
        message = payload.decode(errors="replace").strip() or "no detail"
    if status == 403 and "signature" in message.lower():
        message += " (check your AWS credentials and region)"
    return f"HTTP {status}: {' '.join(str(message).split())}"


def _waited(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600} h {s % 3600 // 60} min".replace(" 0 min", "") if s >= 3600 else f"{s} s"


def output_name(uri: str) -> str:
    return posixpath.basename(urlparse(uri).path)
