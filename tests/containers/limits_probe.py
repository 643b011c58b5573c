"""A function that uses what it is told to: memory, /tmp or time. tests/containers/test_limits.py runs it in the
Lambda base image under limits that it passes or exceeds."""

import time


def handler(event, context):
    held = bytearray(event.get("allocate_mb", 0) * 1024 * 1024)
    for i in range(0, len(held), 4096):  # touch every page: untouched pages cost nothing
        held[i] = 1
    with open("/tmp/probe.bin", "wb") as f:  # noqa: S108 - Lambda's /tmp is the point
        for _ in range(event.get("write_tmp_mb", 0)):
            f.write(b"\0" * 1024 * 1024)
    time.sleep(event.get("sleep_s", 0))
    return {"allocated_mb": len(held) // (1024 * 1024), "remaining_ms": context.get_remaining_time_in_millis()}
