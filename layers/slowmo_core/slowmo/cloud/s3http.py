"""S3 objects for ffmpeg without a local copy: a loopback HTTP server that answers each read with GetObject.

ffmpeg's HTTP reader asks for byte ranges (``Range: bytes=N-``) and, to seek, drops the connection and
asks for another range. Each request here becomes one ranged GetObject with the function's own role,
streamed through in pieces, so a job's segments and source are read from S3 as ffmpeg consumes them
and /tmp never holds them. Only registered objects are served, only on 127.0.0.1.
"""

from __future__ import annotations

import posixpath
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_PIECE = 1 << 20
PROTOCOLS = "file,http,tcp"  # what ffmpeg must be allowed to open for a concat list of these URLs


class ObjectServer:
    """with ObjectServer(s3) as server: url = server.url(bucket, key) -> give url to ffmpeg."""

    def __init__(self, s3):
        self.s3 = s3
        self.objects: dict[str, dict] = {}
        self.requests = 0  # GetObject calls made, for tests and logs
        self.failures: list[str] = []  # "s3://bucket/key: reason" of every read that failed
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
                    with owner._lock:
                        owner.failures.append(f"s3://{target['Bucket']}/{target['Key']}: "
                                              f"{err.response.get('Error', {}).get('Code', code)}")
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
                try:
                    while piece := body.read(_PIECE):
                        self.wfile.write(piece)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # ffmpeg seeks by dropping the connection
                except Exception as err:  # S3 failed part way through the body: ffmpeg would see a short read
                    with owner._lock:
                        owner.failures.append(f"s3://{target['Bucket']}/{target['Key']}: {type(err).__name__}")
                    self.close_connection = True
                finally:
                    body.close()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="slowmo-s3-http", daemon=True).start()
        return self

    def check(self) -> None:
        """Raise InputError naming the first object that could not be read: ffmpeg's concat demuxer skips
        an input it cannot open and carries on, which would drop that segment's frames."""
        from slowmo.errors import InputError

        if self.failures:
            raise InputError(f"could not read {self.failures[0]}" + (f" (and {len(self.failures) - 1} more)"
                                                                       if len(self.failures) > 1 else ""))

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
