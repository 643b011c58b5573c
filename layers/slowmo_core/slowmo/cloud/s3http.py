"""S3 objects for ffmpeg without a local copy: a loopback HTTP server that answers each read with GetObject.

ffmpeg's HTTP reader asks for byte ranges (``Range: bytes=N-``) and, to seek, drops the connection and
asks for another range. Each request here becomes one ranged GetObject with the function's own role,
streamed through in pieces, so a job's segments and source are read from S3 as ffmpeg consumes them
and /tmp never holds them. Only registered objects are served, only on 127.0.0.1.

A GetObject body can break part-way (a reset connection, a read timeout: botocore raises
ResponseStreamingError, and its retry configuration does not cover the body). The handler then asks S3 again
for the rest, from the byte it reached, pinned to the same object version by If-Match on its ETag, and keeps
writing the same HTTP response: ffmpeg never sees the break. S3's guidance is to retry such a request on a new
connection ("Timeouts and retries for latency-sensitive applications",
https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/timeouts-and-retries-for-latency-sensitive-applications.html;
Range and If-Match: https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html). Only a read that keeps
breaking is a failure, and it is S3ReadError, a transient error the state machine retries, never an InputError
that would blame the user's file.
"""

from __future__ import annotations

import posixpath
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from slowmo.errors import SlowmoError

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_PIECE = 1 << 20
PROTOCOLS = "file,http,tcp"  # what ffmpeg must be allowed to open for a concat list of these URLs
RESUMES = 4  # GetObjects of the rest after a body breaks, per request, before it counts as a failure
RESUME_BACKOFF_S = 0.5  # doubled after each resume


class S3ReadError(SlowmoError):
    """Reading an object from S3 kept breaking off part-way: S3 or the network, not the file. The state machine
    retries the step (its Retry lists name this error)."""


class ObjectServer:
    """with ObjectServer(s3) as server: url = server.url(bucket, key) -> give url to ffmpeg."""

    def __init__(self, s3):
        self.s3 = s3
        self.objects: dict[str, dict] = {}
        self.requests = 0  # GetObject calls made, for tests and logs
        self.failures: list[str] = []  # "s3://bucket/key: reason" of every read that failed
        self.broken: list[str] = []  # those of them that kept breaking off part-way (S3 or the network)
        self.resumed = 0  # bodies that broke and were read on from where they stopped
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def url(self, bucket: str, key: str, version_id: str | None = None) -> str:
        with self._lock:
            name = f"{len(self.objects):06d}{posixpath.splitext(key)[1].lower()}"
            self.objects[name] = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
        return f"http://127.0.0.1:{self._server.server_address[1]}/{name}"

    def __enter__(self) -> ObjectServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # the function logs what matters
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                target = owner.objects.get(self.path.lstrip("/"))
                if target is None:
                    self.send_error(404)
                    return
                wanted = _RANGE.match(self.headers.get("Range") or "")
                args = dict(target)
                if wanted:
                    args["Range"] = f"bytes={wanted.group(1)}-{wanted.group(2)}"
                try:
                    response = owner.s3.get_object(**args)
                except owner.s3.exceptions.ClientError as err:
                    code = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500
                    owner._record(target, str(err.response.get("Error", {}).get("Code", code)))
                    self.send_error(code)
                    return
                with owner._lock:
                    owner.requests += 1
                body = response["Body"]
                self.send_response(206 if wanted else 200)
                if wanted:
                    self.send_header("Content-Range", response["ContentRange"])
                self.send_header("Content-Length", str(response["ContentLength"]))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                start = int(wanted.group(1)) if wanted else 0
                end = wanted.group(2) if wanted else ""
                sent, resumes = 0, 0
                try:
                    while True:
                        broke = self._copy(body)
                        if broke is None:
                            break
                        sent += broke[0]
                        if resumes >= RESUMES:
                            owner._record(target, f"broke off {resumes + 1} times ({broke[1]})", broken=True)
                            self.close_connection = True
                            return
                        body.close()
                        time.sleep(RESUME_BACKOFF_S * 2**resumes)
                        resumes += 1
                        try:  # the rest, from the byte reached, of the same object version
                            body = owner.s3.get_object(**target, Range=f"bytes={start + sent}-{end}",
                                                       IfMatch=response["ETag"])["Body"]
                        except Exception as err:  # noqa: BLE001 - the object changed (412) or S3 refused
                            owner._record(target, f"broke off and could not be read again ({type(err).__name__})",
                                          broken=True)
                            self.close_connection = True
                            return
                        with owner._lock:
                            owner.requests += 1
                            owner.resumed += 1
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # ffmpeg seeks by dropping the connection
                finally:
                    body.close()

            def _copy(self, body) -> tuple[int, str] | None:
                """Body -> ffmpeg until the end (None) or until the body breaks: (bytes copied, why). A write to
                ffmpeg that fails raises (ffmpeg went away)."""
                copied = 0
                while True:
                    try:
                        piece = body.read(_PIECE)
                    except Exception as err:  # noqa: BLE001 - S3 failed part way through the body
                        return copied, type(err).__name__
                    if not piece:
                        return None
                    self.wfile.write(piece)
                    copied += len(piece)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="slowmo-s3-http", daemon=True).start()
        return self

    def _record(self, target: dict, why: str, *, broken: bool = False) -> None:
        line = f"s3://{target['Bucket']}/{target['Key']}: {why}"
        with self._lock:
            self.failures.append(line)
            if broken:
                self.broken.append(line)

    def check(self) -> None:
        """Raise naming the first object that could not be read: ffmpeg's concat demuxer skips an input it
        cannot open and carries on, which would drop that segment's frames. A read that kept breaking off is
        S3ReadError (retried); an object S3 refused (missing, forbidden) is InputError."""
        from slowmo.errors import InputError

        if self.broken:
            raise S3ReadError(f"reading {self.broken[0]}; S3 or the network, not the file: the step is retried")
        if self.failures:
            raise InputError(f"could not read {self.failures[0]}" + (f" (and {len(self.failures) - 1} more)"
                                                                       if len(self.failures) > 1 else ""))

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
