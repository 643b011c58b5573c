"""List prices the capacity model costs a job with: one table, one date, one region.

On-demand list prices in US East (N. Virginia), first pricing tier, looked up on PRICES_DATE. They
change: check the pages below before quoting a figure, and update this file (and only this file).

* Lambda (x86): https://aws.amazon.com/lambda/pricing/ - duration per GB-second, requests per
  million, and ephemeral storage above the free 512 MB per GB-second.
* Step Functions Standard: https://aws.amazon.com/step-functions/pricing/ - $0.025 per 1,000 state
  transitions (every state entered counts, retries too; a Distributed Map's child executions are
  Standard executions and count theirs).
* S3 Standard: https://aws.amazon.com/s3/pricing/ - storage per GB-month (first 50 TB), PUT/COPY/
  POST/LIST per 1,000, GET per 1,000. Transfer between S3 and Lambda or SageMaker in the same region
  is free.
* SageMaker real-time and asynchronous hosting: https://aws.amazon.com/sagemaker/pricing/ - per
  instance-hour, billed per second while an instance runs (an async endpoint at zero instances costs
  nothing). That page renders its table with script; the figures below were read from it and
  agree with third-party summaries (ml.g5.xlarge about $1.41/h, zircon.tech, October 2025).

Only the instance types in SAGEMAKER_INSTANCE_HOUR are allowed for the endpoint by the capacity
model: it needs both the price and the GPU's speed (slowmo.foresight.capacity.GPU_SPEED).

Light module: standard library only (the zip Lambdas import it through slowmo.foresight.capacity).
"""

from __future__ import annotations

PRICES_DATE = "2026-11-30"
PRICES_REGION = "us-east-1"

LAMBDA_GB_SECOND = 0.0000166667  # x86, first 6 billion GB-s a month
LAMBDA_REQUEST = 0.20 / 1_000_000
LAMBDA_EPHEMERAL_GB_SECOND = 0.0000000309  # per GB configured above the free 512 MB
STEP_FUNCTIONS_TRANSITION = 0.025 / 1000
S3_GB_MONTH = 0.023
S3_PUT_REQUEST = 0.005 / 1000  # PUT, COPY, POST, LIST (and every multipart part)
S3_GET_REQUEST = 0.0004 / 1000
SAGEMAKER_INSTANCE_HOUR = {
    "ml.g4dn.xlarge": 0.7364,  # 1 x T4 16 GB
    "ml.g5.xlarge": 1.408,  # 1 x A10G 24 GB (the stack's default)
    "ml.g6.xlarge": 1.0064,  # 1 x L4 24 GB
}


def table() -> dict:
    """The whole table, for reports (`slowmo estimate --cloud`, the API's dryRun)."""
    return {
        "date": PRICES_DATE,
        "region": PRICES_REGION,
        "lambdaGbSecond": LAMBDA_GB_SECOND,
        "lambdaRequest": LAMBDA_REQUEST,
        "lambdaEphemeralGbSecond": LAMBDA_EPHEMERAL_GB_SECOND,
        "stepFunctionsTransition": STEP_FUNCTIONS_TRANSITION,
        "s3GbMonth": S3_GB_MONTH,
        "s3PutRequest": S3_PUT_REQUEST,
        "s3GetRequest": S3_GET_REQUEST,
        "sagemakerInstanceHour": dict(SAGEMAKER_INSTANCE_HOUR),
    }
