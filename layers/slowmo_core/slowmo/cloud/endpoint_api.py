"""POST /endpoint's body and the stack's settings -> slowmo.cloud.endpoint.EndpointSettings."""

from __future__ import annotations

import os
from typing import Any

from slowmo.cloud.config import Settings
from slowmo.cloud.endpoint import EndpointSettings
from slowmo.errors import InputError


def endpoint_settings(settings: Settings, body: dict[str, Any]) -> EndpointSettings:
    """The stack parameters, optionally overridden per call (instance type, max instances, model)."""
    if not isinstance(body, dict):
        raise InputError("the request body must be a JSON object")
    unknown = sorted(set(body) - {"instanceType", "maxInstances", "modelDataUrl"})
    if unknown:
        raise InputError(f"unknown field {unknown[0]!r}; known: instanceType, maxInstances, modelDataUrl")
    try:
        max_instances = int(body.get("maxInstances", settings.max_instances))
    except (TypeError, ValueError):
        raise InputError("maxInstances must be a whole number") from None
    model = str(body.get("modelDataUrl") or settings.model_data_url)
    if not model:
        raise InputError("no FILM model: deploy with FilmModelS3Uri=s3://.../model.tar.gz or pass modelDataUrl")
    allowed = f"s3://{settings.input_bucket}/models/"
    if model != settings.model_data_url and not (settings.input_bucket and model.startswith(allowed)):
        # the endpoint's role may read only the FilmModelS3Uri object and the input bucket's models/ folder
        raise InputError(f"modelDataUrl must be the stack's FilmModelS3Uri or under {allowed}")
    return EndpointSettings(
        name=settings.endpoint_name,
        model_data_url=model,
        role_arn=settings.sagemaker_role_arn,
        output_path=settings.async_output_prefix,
        failure_path=settings.async_failure_prefix,
        success_topic=settings.success_topic_arn,
        error_topic=settings.error_topic_arn,
        instance_type=str(body.get("instanceType") or settings.instance_type),
        max_instances=max_instances,
        image_uri=settings.model_image_uri,
        region=os.environ.get("AWS_REGION", ""),
    )
