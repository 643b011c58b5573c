"""The start-up every Lambda handler shares: Powertools' logger and metrics, the tracer where the function has
X-Ray, the stack's settings, and the one decorator a handler's entry point wears.

Each functions/*/app.py is then only its adapter: parse the event, call the core, return a small result.
Powertools' Logger and Metrics share their state between instances of one service, so one module-level
instance of each serves every handler of a process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from aws_lambda_powertools import Logger, Metrics

from slowmo.cloud.config import Settings
from slowmo.cloud.layout import JobLayout

logger = Logger()
metrics = Metrics()


@functools.cache
def tracer():
    """X-Ray tracing. The container functions' images ship Powertools without the X-Ray SDK, so they never
    ask for it; the zip functions' layer has it (layers/slowmo_core/requirements.txt)."""
    from aws_lambda_powertools import Tracer

    return Tracer()


def lambda_entry(*, traced: bool = True, correlation_id_path: str | None = None) -> Callable:
    """The decorator of a handler's lambda_handler: the invocation's context in every log line (and the API
    request id where correlation_id_path names it); with traced, an X-Ray segment and the metrics flushed at
    the end of each invocation."""

    def wrap(handler: Callable) -> Callable:
        entry = handler
        if traced:
            entry = tracer().capture_lambda_handler(metrics.log_metrics(entry))
        return logger.inject_lambda_context(entry, correlation_id_path=correlation_id_path)

    return wrap


def stack_settings() -> Settings:
    """The stack's settings, read from the function's environment on every call (tests change it)."""
    return Settings.from_env()


def job_layout(job_id: str, stack: Settings | None = None) -> JobLayout:
    """Where one job's files live in the work and output buckets."""
    stack = stack or stack_settings()
    return JobLayout(job_id, stack.work_bucket, stack.output_bucket)
