"""Lambda's limits, enforced by the container runtime on every function these tests run (lambda_containers.py):
each one bites here as it would on Lambda. (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html:
memory 128-10,240 MB, /tmp 512-10,240 MB, timeout up to 900 s.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from lambda_containers import LAMBDA_BASE, FunctionContainer, FunctionError, FunctionSpec

PROBE = Path(__file__).with_name("limits_probe.py")


def probe_container(memory_mb: int = 256, tmp_mb: int = 64, timeout_s: int = 30) -> FunctionContainer:
    spec = FunctionSpec("LimitsProbe", LAMBDA_BASE, ["limits_probe.handler"], memory_mb, tmp_mb, timeout_s,
                        mounts=((str(PROBE), "/var/task/limits_probe.py"),))
    return FunctionContainer(spec, {})


@pytest.fixture
def probe(docker_ready):
    made = []

    def make(**limits) -> FunctionContainer:
        made.append(probe_container(**limits))
        return made[-1]

    yield make
    for container in made:
        container.stop()


def test_within_its_limits_a_function_runs(probe):
    result = probe(memory_mb=256, tmp_mb=64, timeout_s=30).invoke({"allocate_mb": 64, "write_tmp_mb": 32})
    assert result["allocated_mb"] == 64 and 0 < result["remaining_ms"] <= 30_000


def test_past_its_memory_the_runtime_is_killed(probe):
    with pytest.raises(FunctionError) as failed:
        probe(memory_mb=128).invoke({"allocate_mb": 400})
    # Lambda: "Runtime exited with error: signal: killed" (Runtime.ExitError) when the function runs out of memory
    assert failed.value.error_type == "Runtime.ExitError" and "signal: killed" in str(failed.value)


def test_past_its_tmp_writes_fail(probe):
    with pytest.raises(FunctionError) as failed:
        probe(tmp_mb=16).invoke({"write_tmp_mb": 40})
    assert "No space left on device" in str(failed.value)


def test_past_its_timeout_the_invocation_ends(probe):
    container = probe(timeout_s=2)
    with pytest.raises(FunctionError) as failed:
        container.invoke({"sleep_s": 10})
    assert "Task timed out after 2" in str(failed.value) or failed.value.error_type == "Sandbox.Timedout", failed.value
