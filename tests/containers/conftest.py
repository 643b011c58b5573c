"""The stack as its users run it: the functions in their images (sam build), invoked by `sam local invoke` or
over the runtime interface emulator's HTTP API, with every AWS call going to a moto server. Run by
`make sam-local` (not by `make test`): it needs Docker and the images that target builds."""

from __future__ import annotations

import json
import os
import socket
import subprocess  # noqa: S404
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILT_TEMPLATE = ROOT / ".aws-sam/build/template.yaml"
sys.path.insert(0, str(ROOT / "tools/containers"))
sys.path.insert(0, str(ROOT / "tests"))


def bridge_address() -> str:
    """The host's address on Docker's default bridge: the containers reach the moto server there, and
    nothing else listens on it (docs/containers.md)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True, check=False).stdout
    if not out.split():
        pytest.fail("no docker0 bridge: is dockerd running? (make sam-local starts it)", pytrace=False)
    return out.split()[3].split("/")[0]


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def docker_ready() -> None:
    result = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        pytest.fail(f"the container engine is not running: {result.stderr.strip().splitlines()[-1:]}", pytrace=False)
    if not BUILT_TEMPLATE.exists():
        pytest.fail("no .aws-sam/build/template.yaml: run `make sam-local`, which builds the images first", pytrace=False)


@pytest.fixture(scope="session")
def moto_server(docker_ready):
    """A moto server in this process, on the bridge address: the containers' calls and this process's
    in-process moto (mock_aws) see the same state."""
    from moto.server import ThreadedMotoServer

    address = bridge_address()
    port = free_port(address)
    server = ThreadedMotoServer(ip_address=address, port=port, verbose=False)
    server.start()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    yield f"http://{address}:{port}"
    server.stop()


def last_json_line(text: str):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith(("{", "[")):
            return json.loads(line)
    return None
