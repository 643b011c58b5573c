"""Functions run as Lambda runs them: each in its own image (sam build's output), behind the runtime interface
emulator's HTTP API, with the limits Lambda puts on it taken from template.yaml:

- MemorySize      -> the container's memory limit (no swap): past it the runtime is killed, as on Lambda;
- EphemeralStorage -> /tmp is a tmpfs of that size: past it writes fail with ENOSPC, as on Lambda;
- Timeout          -> AWS_LAMBDA_FUNCTION_TIMEOUT, which the emulator enforces.

Zip functions run in the Lambda Python base image with their built folder at /var/task and the layer at /opt,
as `sam local invoke` lays them out. Each function keeps a small pool of warm containers, so the state
machine's Map can run items side by side the way Lambda scales out."""

from __future__ import annotations

import json
import socket
import subprocess  # noqa: S404
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam/build"
LAMBDA_BASE = "public.ecr.aws/lambda/python:3.12"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"


class FunctionError(Exception):
    """What the runtime reports for an invocation that failed: errorType and errorMessage, as Lambda has them."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


def error_class(error_type: str) -> type[FunctionError]:
    """An exception class named like the function's error, so the state machine's Retry and Catch match it
    by name as they match Lambda's errorType."""
    return type(error_type, (FunctionError,), {})


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    image: str
    command: list[str]
    memory_mb: int
    tmp_mb: int
    timeout_s: int
    mounts: tuple[tuple[str, str], ...] = ()
    environment: dict[str, str] = field(default_factory=dict)


def _resolve(value, parameters: dict):
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return parameters[value["Ref"]]["Default"]
    return value


def function_specs(parameters_override: dict | None = None) -> dict[str, FunctionSpec]:
    """Every function of the built template, with its image or code, handler and limits."""
    from cfnlint.decode import decode

    template, matches = decode(str(BUILD / "template.yaml"))
    assert not matches, matches
    parameters = {k: dict(v) for k, v in template.get("Parameters", {}).items()}
    for key, value in (parameters_override or {}).items():
        parameters[key]["Default"] = value
    globals_ = template.get("Globals", {}).get("Function", {})
    specs = {}
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = {**globals_, **resource["Properties"]}
        memory = int(_resolve(props.get("MemorySize", 128), parameters))
        tmp = int(_resolve(props.get("EphemeralStorage", {}).get("Size", 512), parameters))
        timeout = int(_resolve(props.get("Timeout", 3), parameters))
        env = {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items() if isinstance(v, str | int)}
        if props.get("PackageType") == "Image":
            spec = FunctionSpec(logical, props["ImageUri"], list(props["ImageConfig"]["Command"]), memory, tmp, timeout,
                                environment=env)
        else:
            code = BUILD / props["CodeUri"]
            layers = tuple((str(BUILD / "SlowmoCoreLayer"), "/opt") for _ in props.get("Layers", [])[:1])
            spec = FunctionSpec(logical, LAMBDA_BASE, [props["Handler"]], memory, tmp, timeout,
                                mounts=((str(code), "/var/task"), *layers), environment=env)
        specs[logical] = spec
    return specs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FunctionContainer:
    """One warm container of a function: started once, invoked many times, one invocation at a time."""

    def __init__(self, spec: FunctionSpec, environment: dict[str, str]):
        self.spec = spec
        self.port = _free_port()
        self.name = f"slowmo-{spec.logical_id.lower()}-{uuid.uuid4().hex[:8]}"
        env = {**spec.environment, **environment,
               "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
               "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout_s)}
        cmd = ["docker", "run", "--detach", "--rm", "--name", self.name,
               "--publish", f"127.0.0.1:{self.port}:8080",
               # Lambda's memory is a hard limit with no swap
               "--memory", f"{spec.memory_mb}m", "--memory-swap", f"{spec.memory_mb}m",
               "--tmpfs", f"/tmp:rw,exec,size={spec.tmp_mb}m,mode=1777"]
        for host, container in spec.mounts:
            cmd += ["--volume", f"{host}:{container}:ro"]
        for key, value in env.items():
            cmd += ["--env", f"{key}={value}"]
        cmd += [spec.image, *spec.command]
        subprocess.run(cmd, check=True, capture_output=True, text=True)  # noqa: S603 - our own command line

    def invoke(self, event) -> object:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{INVOKE_PATH}", data=json.dumps(event).encode(),
                                         method="POST")
        deadline = time.monotonic() + 20
        while True:  # the emulator listens a moment after the container starts
            try:
                with urllib.request.urlopen(request, timeout=self.spec.timeout_s + 30) as response:  # noqa: S310
                    body = response.read()
                break
            except urllib.error.HTTPError as exc:  # 502: the runtime died (out of memory, exited)
                body = exc.read()
                break
            except (ConnectionError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        text = body.decode(errors="replace")
        if text.startswith("Task timed out after"):
            # the emulator says it in plain text; Lambda reports it as the Sandbox.Timedout error
            raise error_class("Sandbox.Timedout")("Sandbox.Timedout", text)
        result = json.loads(body) if body else None
        if isinstance(result, dict) and "errorType" in result and "errorMessage" in result:
            raise error_class(result["errorType"])(result["errorType"], result["errorMessage"])
        return result

    def logs(self) -> str:
        return subprocess.run(["docker", "logs", self.name], capture_output=True, text=True, check=False).stdout  # noqa: S603, S607

    def stop(self) -> None:
        subprocess.run(["docker", "rm", "--force", self.name], capture_output=True, check=False)  # noqa: S603, S607


class ContainerLambdas:
    """Invoke functions by logical id in their containers; warm containers are reused, and a busy function
    gets another container (Lambda's scale-out), up to max_per_function."""

    def __init__(self, environment: dict[str, str], *, parameters: dict | None = None, max_per_function: int = 4):
        self.specs = function_specs(parameters)
        self.environment = environment
        self.max_per_function = max_per_function
        self._idle: dict[str, list[FunctionContainer]] = {}
        self._all: list[FunctionContainer] = []
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self.invocations: list[tuple[str, float]] = []

    def _acquire(self, logical_id: str) -> FunctionContainer:
        with self._room:
            while True:
                idle = self._idle.setdefault(logical_id, [])
                if idle:
                    return idle.pop()
                if sum(1 for c in self._all if c.spec.logical_id == logical_id) < self.max_per_function:
                    break
                self._room.wait()
        container = FunctionContainer(self.specs[logical_id], self.environment)
        with self._lock:
            self._all.append(container)
        return container

    def _release(self, container: FunctionContainer) -> None:
        with self._room:
            self._idle[container.spec.logical_id].append(container)
            self._room.notify_all()

    def invoke(self, logical_id: str, event) -> object:
        container = self._acquire(logical_id)
        started = time.monotonic()
        try:
            return container.invoke(event)
        finally:
            with self._lock:
                self.invocations.append((logical_id, time.monotonic() - started))
            self._release(container)

    def handler(self, logical_id: str):
        """A stand-in for the in-process handler: (event, context) -> result, run in the container."""
        return lambda event, context: self.invoke(logical_id, event)

    def close(self) -> None:
        for container in self._all:
            container.stop()

    def __enter__(self) -> ContainerLambdas:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
