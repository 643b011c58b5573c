"""`slowmo cloud submit`: --trim, --range, --ease and --wait-timeout, end to end through the real API.

The CLI signs and sends its HTTP requests to a local server that hands each one, as API Gateway would, to the
stack's real ApiFunction handler running against moto (cloud_fixtures.running_stack). The job the API records
is read back from the stack, so what the cloud is asked to do is what `slowmo run` would do.
"""

from __future__ import annotations

import json
import re
import threading
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cloud_fixtures import running_stack

KEY = "library/clip.mov"


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        cloud = running_stack(monkeypatch, stack)
        cloud.client("s3").put_object(Bucket=cloud.input_bucket, Key=KEY, Body=b"not decoded here")
        # the state machine starts and ends at once (claimed elsewhere): the job stays QUEUED, nothing is decoded
        cloud.lambdas.overrides["ClaimJobFunction"] = lambda event, ctx: {"jobId": "x", "claimed": False, "source": {},
                                                                          "options": {}, "rejected": None}
        yield cloud


@pytest.fixture
def api_url(cloud):
    """http://127.0.0.1:PORT/v1: API Gateway's part (the stage prefix, path parameters) in front of the handler."""
    lock = threading.Lock()  # moto and the IAM harness are process-wide: one request at a time

    class Gateway(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _handle(self, method: str) -> None:
            assert self.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=")  # the CLI signed it
            path = self.path.removeprefix("/v1")
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            kw = {}
            job = re.fullmatch(r"/jobs/([^/]+)", path)
            if job:
                kw = {"resource": "/jobs/{jobId}", "path_parameters": {"jobId": job.group(1)}}
            with lock:
                status, reply = cloud.api(method, path, body, **kw)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802
            self._handle("GET")

        def do_POST(self):  # noqa: N802
            self._handle("POST")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def cloud_cli(run_cli, api_url, *args):
    return run_cli("cloud", "--api-url", api_url, "--region", "us-east-1", *args)


def reply(out: str) -> dict:
    """The CLI's JSON; the in-process Lambda handler's metrics (CloudWatch EMF lines) share this stdout."""
    return json.loads("\n".join(line for line in out.splitlines() if not line.startswith('{"_aws"')))


def test_submit_sends_trim_ranges_and_ease_and_the_api_records_them(cloud, api_url, run_cli):
    code, out, err = cloud_cli(run_cli, api_url, "submit", f"s3://{cloud.input_bucket}/{KEY}", "--factor", "4",
                               "--trim", "0.5:9", "--range", "3:4@16", "--range", "1:2", "--ease", "0.25")
    assert code == 0, err
    job = reply(out)
    assert job["status"] == "QUEUED"
    # the API's own validation took them (ranges normalised in time order), and the job runs with them
    assert job["options"]["trim"] == "0.5:9" and job["options"]["ranges"] == ["1:2", "3:4@16"]
    assert job["options"]["ease"] == 0.25 and job["options"]["factor"] == 4
    code, out, err = cloud_cli(run_cli, api_url, "status", job["jobId"])
    assert code == 0, err
    assert reply(out)["options"]["ranges"] == ["1:2", "3:4@16"]


@pytest.mark.parametrize("bad, message", [
    (["--range", "2:1"], "range 2:1 ends before it starts"),
    (["--range", "1:2", "--ease", "0.9"], "ease 0.9 s is longer than half the shortest range"),
    (["--range", "1:3", "--range", "2:4"], "overlap"),
    (["--trim", "5:2"], "trim"),
    (["--crf", "60"], "crf"),
])
def test_a_bad_ramp_is_a_usage_error_before_anything_is_sent(cloud, api_url, run_cli, assert_one_line_error, bad,
                                                              message):
    result = cloud_cli(run_cli, api_url, "submit", f"s3://{cloud.input_bucket}/{KEY}", "--factor", "4", *bad)
    assert_one_line_error(result, message)
    assert result[0] == 2
    executions = cloud.client("stepfunctions").list_executions(stateMachineArn=cloud.state_machine_arn)
    assert executions["executions"] == []


def test_wait_timeout_gives_up_waiting_with_exit_1_and_the_job_goes_on(cloud, api_url, run_cli):
    code, out, err = cloud_cli(run_cli, api_url, "submit", f"s3://{cloud.input_bucket}/{KEY}", "--factor", "4",
                               "--poll", "0.05", "--wait-timeout", "0.3")
    assert code == 1 and all(line.startswith('{"_aws"') for line in out.splitlines())  # no job printed
    lines = err.strip().splitlines()
    job_id = re.match(r"(\S+): QUEUED 0/0 chunks", lines[0]).group(1)  # progress while it waited
    assert re.fullmatch(rf"slowmo: error: job {re.escape(job_id)} is still QUEUED after waiting 0 s; it goes on in "
                        rf"the cloud: `slowmo cloud status {re.escape(job_id)} --wait` waits again", lines[-1]), err
    # it only stopped waiting: the job is still there, and status --wait-timeout waits for it again
    code, out, err = cloud_cli(run_cli, api_url, "status", job_id, "--poll", "0.05", "--wait-timeout", "0.1")
    assert code == 1 and f"job {job_id} is still QUEUED" in err


@pytest.mark.parametrize("value", ["-1", "soon", "nan"])
def test_wait_timeout_must_be_seconds(run_cli, value):
    code, out, err = run_cli("cloud", "--api-url", "http://127.0.0.1:9/v1", "submit", "s3://b/k.mp4",
                             "--wait-timeout", value)
    assert code == 2 and out == "" and err.startswith("slowmo: error: argument --wait-timeout: ")
