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
def presigner():
    """An S3 client that presigns with Signature Version 4 (required in newer regions, and for KMS)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(signature_version="s3v4"))


@functools.cache
def resource(service: str):
    import boto3

    return boto3.resource(service)


def reset() -> None:
    client.cache_clear()
    presigner.cache_clear()
    resource.cache_clear()
