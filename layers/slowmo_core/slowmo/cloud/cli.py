"""`slowmo cloud ...`: talk to the deployed stack through its signed API.

    slowmo cloud submit clip.mp4 --factor 8 --wait
    slowmo cloud submit s3://<input-bucket>/library/clip.mov --factor 16 --audio drop
    slowmo cloud status <job-id> [--wait]
    slowmo cloud endpoint deploy|status|delete

The API URL comes from --api-url, $SLOWMO_API_URL, or the ApiUrl output of --stack (default slowmo).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from slowmo.cloud.client import TERMINAL, CloudError, SlowmoClient

OPTION_FLAGS = ("factor", "fps", "engine", "audio", "codec", "crf", "preset")


def add_cloud_commands(subparsers) -> argparse.ArgumentParser:
    cloud = subparsers.add_parser("cloud", help="run jobs on the deployed AWS stack (signed API)")
    cloud.add_argument("--api-url", default=os.environ.get("SLOWMO_API_URL"),
                       help="the stack's ApiUrl output (default: $SLOWMO_API_URL, else read from --stack)")
    cloud.add_argument("--stack", default=os.environ.get("SLOWMO_STACK", "slowmo"), help="CloudFormation stack name")
    cloud.add_argument("--profile", default=None, help="AWS profile to sign with")
    cloud.add_argument("--region", default=None, help="AWS region (default: from the API URL)")
    actions = cloud.add_subparsers(dest="cloud_command", required=True)

    submit = actions.add_parser("submit", help="start a job for a local video or s3://input-bucket/key")
    submit.add_argument("source", help="local video file, or s3://bucket/key in the stack's input bucket")
    submit.add_argument("--factor", type=int, help="slow-motion factor 2..64 (default: the stack's DefaultFactor)")
    submit.add_argument("--fps", help="output frame rate (default: the source rate, K times longer)")
    submit.add_argument("--engine", choices=("film", "flow", "blend"))
    submit.add_argument("--audio", choices=("stretch", "drop", "original"))
    submit.add_argument("--compare", dest="compare", action=argparse.BooleanOptionalAction, default=None,
                        help="also make the side-by-side comparison (default: yes)")
    submit.add_argument("--codec", choices=("h264", "h265"))
    submit.add_argument("--crf", type=int)
    submit.add_argument("--preset")
    submit.add_argument("--client-token", help="run the same video with the same options again as a new job")
    submit.add_argument("--wait", action="store_true", help="wait for the job and print its outputs")
    submit.add_argument("--poll", type=float, default=10.0, help="seconds between status checks with --wait")
    submit.set_defaults(handler=cmd_submit)

    status = actions.add_parser("status", help="show a job's status, progress, outputs or error")
    status.add_argument("job_id")
    status.add_argument("--wait", action="store_true", help="wait until the job has finished")
    status.add_argument("--poll", type=float, default=10.0)
    status.set_defaults(handler=cmd_status)

    retry = actions.add_parser("retry", help="run a FAILED job again, reusing the chunks that finished")
    retry.add_argument("job_id")
    retry.add_argument("--wait", action="store_true", help="wait until the job has finished")
    retry.add_argument("--poll", type=float, default=10.0)
    retry.set_defaults(handler=cmd_retry)

    endpoint = actions.add_parser("endpoint", help="deploy, inspect or delete the FILM endpoint")
    endpoint.add_argument("action", choices=("deploy", "status", "delete"))
    endpoint.add_argument("--instance-type", help="override EndpointInstanceType for this deploy")
    endpoint.add_argument("--max-instances", type=int, help="override EndpointMaxInstances for this deploy")
    endpoint.add_argument("--model", help="override FilmModelS3Uri (s3://.../model.tar.gz) for this deploy")
    endpoint.set_defaults(handler=cmd_endpoint)
    return cloud


def make_client(args) -> SlowmoClient:
    session = None
    if args.profile or args.region:
        import boto3

        session = boto3.Session(profile_name=args.profile, region_name=args.region)
    if args.api_url:
        return SlowmoClient(args.api_url, session=session, region=args.region)
    return SlowmoClient.from_stack(args.stack, session=session, region=args.region)


def _options(args) -> dict[str, Any]:
    options = {name: getattr(args, name) for name in OPTION_FLAGS if getattr(args, name, None) is not None}
    if args.compare is not None:
        options["compare"] = args.compare
    return options


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


def _progress_line(job: dict[str, Any]) -> None:
    progress = job.get("progress") or {}
    print(f"{job['jobId']}: {job.get('status')} {progress.get('chunksDone', 0)}/{progress.get('chunksTotal', 0)} chunks "
          f"({progress.get('percent', 0.0):.0f}%)", file=sys.stderr)


def _finish(job: dict[str, Any]) -> int:
    _print(job)
    if job.get("status") == "FAILED":
        raise CloudError(f"job {job['jobId']} failed: {job.get('error', 'no reason recorded')}")
    return 0


def cmd_submit(args) -> int:
    client = make_client(args)
    job = client.submit(args.source, _options(args), args.client_token)
    if not args.wait:
        _print(job)
        return 0
    if job.get("status") not in TERMINAL:
        job = client.wait(job["jobId"], poll=args.poll, progress=_progress_line)
    return _finish(job)


def cmd_status(args) -> int:
    client = make_client(args)
    job = client.wait(args.job_id, poll=args.poll, progress=_progress_line) if args.wait else client.status(args.job_id)
    return _finish(job) if args.wait else (_print(job) or 0)


def cmd_retry(args) -> int:
    client = make_client(args)
    job = client.retry(args.job_id)
    if not args.wait:
        _print(job)
        return 0
    return _finish(client.wait(args.job_id, poll=args.poll, progress=_progress_line))


def cmd_endpoint(args) -> int:
    body = {}
    if args.action == "deploy":
        if args.instance_type:
            body["instanceType"] = args.instance_type
        if args.max_instances is not None:
            body["maxInstances"] = args.max_instances
        if args.model:
            body["modelDataUrl"] = args.model
    _print(make_client(args).endpoint(args.action, body))
    return 0
