"""boto3 clients shared by the handlers of one Lambda process, created on first use.

Lazy so importing a handler needs no credentials or region, and so tests (moto) get clients made
inside their mock; ``reset()`` forgets them between tests.
"""

from __future__ import annotations

import functools


@functools.cache
def client(service: str):
    import boto3

    return boto3.client(service)


@functools.cache
def resource(service: str):
    import boto3

    return boto3.resource(service)


def reset() -> None:
    client.cache_clear()
    resource.cache_clear()
