"""The signed-API client against a local HTTP server that checks SigV4 for real: it recomputes the
signature from the raw request with its own implementation of the algorithm (hashlib/hmac, not
botocore) and the secret key, and answers 403 on any mismatch. Loopback only, no network."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlparse

import pytest

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "session-token-example"
REGION = "eu-west-1"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def expected_signature(method: str, raw_path: str, headers: dict[str, str], body: bytes, secret: str) -> tuple[str, str]:
    """Independent SigV4: returns (signature, reason-if-malformed)."""
    auth = headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "", "no SigV4 Authorization header"
    fields = dict(part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    access, date, region, service, terminal = fields["Credential"].split("/")
    if (access, region, service, terminal) != (ACCESS_KEY, REGION, "execute-api", "aws4_request"):
        return "", f"wrong credential scope {fields['Credential']}"
    signed = fields["SignedHeaders"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return "", "host and x-amz-date must be signed"
    url = urlparse(raw_path)
    canonical_uri = quote(url.path, safe="/-_.~")
    query = sorted(parse_qsl(url.query, keep_blank_values=True))
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query)
    canonical_headers = "".join(f"{h}:{' '.join(headers[h].split())}\n" for h in signed)
    canonical_request = "\n".join([method, canonical_uri, canonical_query, canonical_headers, fields["SignedHeaders"],
                                   hashlib.sha256(body).hexdigest()])
    amz_date = headers["x-amz-date"]
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), date), region), service), "aws4_request")
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest(), ""


class FakeApi(BaseHTTPRequestHandler):
    jobs: dict = {}
    uploads: dict = {}
    seen: list = []

    def log_message(self, *args):  # keep test output clean
        pass

    def _reply(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        if self.path.startswith("/upload/"):  # the presigned URL stand-in: not SigV4-signed by the client
            FakeApi.uploads[self.path] = body
            return self._reply(200, {})
        want, problem = expected_signature(method, self.path, headers, body, SECRET_KEY)
        got = headers.get("authorization", "").rsplit("Signature=", 1)[-1]
        if problem or not hmac.compare_digest(want, got):
            return self._reply(403, {"message": problem or "The request signature we calculated does not match "
                                                           "the signature you provided."})
        if headers.get("x-amz-security-token") != TOKEN or "x-amz-security-token" not in headers["authorization"]:
            return self._reply(403, {"message": "session token missing or unsigned"})
        FakeApi.seen.append((method, self.path, json.loads(body) if body else None))
        route = (method, self.path.split("?")[0])
        payload = json.loads(body) if body else {}
        if route == ("POST", "/v1/jobs") and "upload" in payload:
            name = payload["upload"]["filename"]
            host = self.headers["Host"]
            return self._reply(201, {"upload": {"url": f"http://{host}/upload/{name}", "method": "PUT",
                                                "key": f"api-uploads/abc/{name}", "bucket": "in"}})
        if route == ("POST", "/v1/jobs"):
            if payload.get("options", {}).get("factor") == 1:
                return self._reply(400, {"message": "factor must be a whole number from 2 to 64, got 1"})
            job = {"jobId": "job-1", "status": "QUEUED", "progress": {"chunksDone": 0, "chunksTotal": 0, "percent": 0.0},
                   "source": payload}
            FakeApi.jobs["job-1"] = [dict(job, status="PROCESSING", progress={"chunksDone": 1, "chunksTotal": 2, "percent": 50.0}),
                                     dict(job, status="SUCCEEDED", outputs={"video": "s3://out/outputs/job-1/clip-x8.mp4"},
                                          progress={"chunksDone": 2, "chunksTotal": 2, "percent": 100.0})]
            return self._reply(202, job)
        if route == ("POST", "/v1/jobs/job-9/retry"):
            if FakeApi.jobs.get("job-9", [{}])[-1].get("status") != "FAILED":
                return self._reply(409, {"message": "only a FAILED job can be retried"})
            FakeApi.jobs["job-9"] = [{"jobId": "job-9", "status": "PROCESSING"},
                                     {"jobId": "job-9", "status": "SUCCEEDED", "outputs": {"video": "s3://out/v.mp4"}}]
            return self._reply(202, {"jobId": "job-9", "status": "QUEUED", "retry": {"executionName": "job-9-retry-1"}})
        if method == "GET" and self.path.startswith("/v1/jobs/"):
            states = FakeApi.jobs.get(self.path.rsplit("/", 1)[-1])
            if not states:
                return self._reply(404, {"message": "Not found"})
            return self._reply(200, states.pop(0) if len(states) > 1 else states[0])
        if self.path == "/v1/endpoint":
            return self._reply(202 if method == "POST" else 200, {"endpoint": "slowmo-film", "method": method,
                                                                   "body": payload})
        return self._reply(404, {"message": "no route"})

    def do_GET(self):  # noqa: N802
        self._handle("GET")

    def do_POST(self):  # noqa: N802
        self._handle("POST")

    def do_PUT(self):  # noqa: N802
        self._handle("PUT")

    def do_DELETE(self):  # noqa: N802
        self._handle("DELETE")


@pytest.fixture
def api_url():
    FakeApi.jobs, FakeApi.uploads, FakeApi.seen = {}, {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _session(secret: str = SECRET_KEY):
    import boto3

    return boto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=secret, aws_session_token=TOKEN,
                         region_name=REGION)


def _client(api_url, secret=SECRET_KEY):
    from slowmo.cloud.client import SlowmoClient

    return SlowmoClient(api_url, session=_session(secret), region=REGION, timeout=10)


def test_signed_get_and_post_are_accepted(api_url):
    client = _client(api_url)
    job = client.submit("s3://in/library/clip.mov", {"factor": 8})
    assert job["jobId"] == "job-1"
    assert client.status("job-1")["status"] == "PROCESSING"
    assert FakeApi.seen[0] == ("POST", "/v1/jobs", {"options": {"factor": 8}, "source": "s3://in/library/clip.mov"})


def test_wrong_secret_is_refused_by_the_verifier(api_url):
    from slowmo.cloud.client import CloudError

    with pytest.raises(CloudError, match="HTTP 403: The request signature we calculated does not match"):
        _client(api_url, secret="not-the-secret").status("job-1")


def test_api_errors_come_back_as_one_line(api_url):
    from slowmo.cloud.client import CloudError

    with pytest.raises(CloudError, match="HTTP 400: factor must be a whole number") as info:
        _client(api_url).submit("s3://in/clip.mov", {"factor": 1})
    assert info.value.status == 400


def test_local_file_goes_through_the_presigned_upload(api_url, tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"x" * 1000)
    client = _client(api_url)
    job = client.submit(video, {"factor": 4})
    assert FakeApi.uploads["/upload/clip.mp4"] == video.read_bytes()
    assert job["source"] == {"key": "api-uploads/abc/clip.mp4", "options": {"factor": 4}}
    done = client.wait("job-1", poll=0, sleep=lambda s: None)
    assert done["status"] == "SUCCEEDED"


def test_region_comes_from_the_api_url():
    from slowmo.cloud.client import region_from_url

    assert region_from_url("https://abc123.execute-api.ap-southeast-2.amazonaws.com/v1") == "ap-southeast-2"
    assert region_from_url("http://127.0.0.1:8080/v1") is None


def test_cli_submit_wait_and_endpoint(api_url, tmp_path, monkeypatch, capsys):
    import argparse

    from slowmo.cloud.cli import add_cloud_commands

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    parser = argparse.ArgumentParser(prog="slowmo")
    add_cloud_commands(parser.add_subparsers(dest="command"))

    args = parser.parse_args(["cloud", "--api-url", api_url, "--region", REGION, "submit", "s3://in/clip.mov",
                              "--factor", "8", "--no-compare", "--audio", "drop", "--wait", "--poll", "0"])
    assert args.handler(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "SUCCEEDED" and out["outputs"]["video"].endswith("clip-x8.mp4")
    assert FakeApi.seen[0][2]["options"] == {"factor": 8, "audio": "drop", "compare": False}

    args = parser.parse_args(["cloud", "--api-url", api_url, "--region", REGION, "endpoint", "deploy",
                              "--max-instances", "3"])
    assert args.handler(args) == 0
    reply = json.loads(capsys.readouterr().out)
    assert reply["method"] == "POST" and reply["body"] == {"maxInstances": 3}
    for action, method in (("status", "GET"), ("delete", "DELETE")):
        args = parser.parse_args(["cloud", "--api-url", api_url, "--region", REGION, "endpoint", action])
        assert args.handler(args) == 0
        assert json.loads(capsys.readouterr().out)["method"] == method


def test_cli_retry_runs_a_failed_job_again(api_url, monkeypatch, capsys):
    import argparse

    from slowmo.cloud.cli import add_cloud_commands

    for name, value in (("AWS_ACCESS_KEY_ID", ACCESS_KEY), ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
                        ("AWS_SESSION_TOKEN", TOKEN), ("AWS_DEFAULT_REGION", REGION)):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    parser = argparse.ArgumentParser(prog="slowmo")
    add_cloud_commands(parser.add_subparsers(dest="command"))
    FakeApi.jobs["job-9"] = [{"jobId": "job-9", "status": "FAILED", "error": "chunk 2: InferenceFailed"}]
    args = parser.parse_args(["cloud", "--api-url", api_url, "--region", REGION, "retry", "job-9", "--wait", "--poll", "0"])
    assert args.handler(args) == 0
    assert ("POST", "/v1/jobs/job-9/retry", {}) in FakeApi.seen
    assert json.loads(capsys.readouterr().out)["status"] == "SUCCEEDED"
    from slowmo.cloud.client import CloudError

    # a job that is not FAILED cannot be retried: the API's 409 comes back as a one-line error
    args = parser.parse_args(["cloud", "--api-url", api_url, "--region", REGION, "retry", "job-9"])
    with pytest.raises(CloudError, match="only a FAILED job can be retried"):
        args.handler(args)


def _running_forever():
    FakeApi.jobs["job-5"] = [{"jobId": "job-5", "status": "PROCESSING"}]


def test_wait_gives_up_after_its_timeout_and_says_how_to_wait_again(api_url):
    from slowmo.cloud.client import CloudError

    _running_forever()
    naps: list[float] = []
    with pytest.raises(CloudError) as gave_up:
        _client(api_url).wait("job-5", poll=0.01, timeout=0.2, sleep=lambda s: (naps.append(s), time.sleep(s)))
    message = str(gave_up.value)
    assert "job job-5 is still PROCESSING after waiting 0 s" in message
    assert "`slowmo cloud status job-5 --wait` waits again" in message
    assert 1 <= len(naps) < 100


def test_wait_has_a_default_timeout(api_url, monkeypatch):
    """A caller that names no timeout (the CLI without --wait-timeout passes None) still stops: at
    DEFAULT_WAIT_SECONDS, about twice the largest admitted job's estimated wall clock."""
    from slowmo.cloud import client as client_module
    from slowmo.foresight import capacity

    largest = capacity.estimate(capacity.Source.of_length(1920, 1080, 30, 1920), capacity.Job(8, compare=True))
    assert largest.fits and largest.wall_clock_s < client_module.DEFAULT_WAIT_SECONDS
    monkeypatch.setattr(client_module, "DEFAULT_WAIT_SECONDS", 0.2)
    _running_forever()
    naps: list[float] = []

    def nap(seconds):
        naps.append(seconds)
        if len(naps) > 500:
            pytest.fail("wait() polled without end")
        time.sleep(seconds)

    with pytest.raises(client_module.CloudError, match="still PROCESSING"):
        _client(api_url).wait("job-5", poll=0.01, timeout=None, sleep=nap)
