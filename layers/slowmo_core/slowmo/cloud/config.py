"""Settings of the deployed stack, read from the Lambda environment (template.yaml sets them).

One frozen dataclass so a handler reads `settings = Settings.from_env()` once and passes it on;
tests build one directly. Every field has a harmless default so a function that does not need a
setting does not have to be given it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")

# name of the environment variable for each field
_ENV = {
    "input_bucket": "INPUT_BUCKET",
    "work_bucket": "WORK_BUCKET",
    "output_bucket": "OUTPUT_BUCKET",
    "jobs_table": "JOBS_TABLE",
    "tokens_table": "TOKENS_TABLE",
    "state_machine_arn": "STATE_MACHINE_ARN",
    "endpoint_name": "ENDPOINT_NAME",
    "success_topic_arn": "SUCCESS_TOPIC_ARN",
    "error_topic_arn": "ERROR_TOPIC_ARN",
    "notification_topic_arn": "NOTIFICATION_TOPIC_ARN",
    "upload_prefix": "UPLOAD_PREFIX",
    "default_factor": "DEFAULT_FACTOR",
    "default_engine": "DEFAULT_ENGINE",
    "chunk_frames": "CHUNK_FRAMES",
    "extract_range_frames": "EXTRACT_RANGE_FRAMES",
    "token_ttl_seconds": "TOKEN_TTL_SECONDS",
    "invocation_timeout_seconds": "INVOCATION_TIMEOUT_SECONDS",
    "chunk_timeout_seconds": "CHUNK_TIMEOUT_SECONDS",
    "upload_url_seconds": "UPLOAD_URL_SECONDS",
    "instance_type": "ENDPOINT_INSTANCE_TYPE",
    "max_instances": "ENDPOINT_MAX_INSTANCES",
    "model_data_url": "MODEL_DATA_URL",
    "model_image_uri": "MODEL_IMAGE_URI",
    "sagemaker_role_arn": "SAGEMAKER_ROLE_ARN",
}


@dataclass(frozen=True)
class Settings:
    input_bucket: str = ""
    work_bucket: str = ""
    output_bucket: str = ""
    jobs_table: str = ""
    tokens_table: str = ""
    state_machine_arn: str = ""
    endpoint_name: str = "slowmo-film"
    success_topic_arn: str = ""
    error_topic_arn: str = ""
    notification_topic_arn: str = ""
    upload_prefix: str = "uploads/"
    default_factor: int = 8
    default_engine: str = "film"
    chunk_frames: int = 16
    extract_range_frames: int = 5400  # slowmo.timeline.ranges.DEFAULT_RANGE_FRAMES (this module stays import-light)
    token_ttl_seconds: int = 3 * 24 * 3600
    invocation_timeout_seconds: int = 900
    chunk_timeout_seconds: int = 3600  # ChunkTimeoutSeconds: how long a chunk's Map item waits for the endpoint
    upload_url_seconds: int = 900
    instance_type: str = "ml.g5.xlarge"
    max_instances: int = 2
    model_data_url: str = ""
    model_image_uri: str = ""
    sagemaker_role_arn: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(_ENV[f.name])
            if raw is None or raw == "":
                continue
            values[f.name] = int(raw) if f.type == "int" else raw
        return cls(**values)  # type: ignore[arg-type]

    @property
    def request_ttl_seconds(self) -> int:
        """RequestTTLSeconds of each InvokeEndpointAsync: how long SageMaker keeps the request queued before it
        expires it. A chunk gives up after chunk_timeout_seconds and is sent again under a new InferenceId, so
        the first request must expire by then, less its own processing time (InvocationTimeoutSeconds), or it
        still runs on the GPU for nobody, ahead of its own retry. SageMaker allows 60..21600 s
        (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointAsync.html)."""
        return max(60, min(21600, self.chunk_timeout_seconds - self.invocation_timeout_seconds))

    @property
    def async_output_prefix(self) -> str:
        """Where SageMaker writes each async response body (the model server's small JSON)."""
        return f"s3://{self.work_bucket}/async/out/"

    @property
    def async_failure_prefix(self) -> str:
        return f"s3://{self.work_bucket}/async/failures/"


def env_names() -> dict[str, str]:
    """Field -> environment variable, for template.yaml checks in tests."""
    return dict(_ENV)
