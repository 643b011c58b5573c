"""`slowmo cloud ...`: talk to the deployed stack through its signed API.

    slowmo cloud submit clip.mp4 --factor 8 --wait
    slowmo cloud submit clip.mp4 --factor 8 --trim 12:20 --range 14:15.5@16 --ease 0.25 --wait --wait-timeout 3600
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
    from slowmo.options import add_curve_options

    add_curve_options(submit)  # --trim, --range, --ease: the same syntax and rules as `slowmo run`
    submit.add_argument("--client-token", help="run the same video with the same options again as a new job")
    _add_wait_options(submit, "wait for the job and print its outputs")
    submit.set_defaults(handler=cmd_submit)

    status = actions.add_parser("status", help="show a job's status, progress, outputs or error")
    status.add_argument("job_id")
    _add_wait_options(status, "wait until the job has finished")
    status.set_defaults(handler=cmd_status)

    retry = actions.add_parser("retry", help="run a FAILED job again, reusing the chunks that finished")
    retry.add_argument("job_id")
    _add_wait_options(retry, "wait until the job has finished")
    retry.set_defaults(handler=cmd_retry)

    endpoint = actions.add_parser("endpoint", help="deploy, inspect or delete the FILM endpoint")
    endpoint.add_argument("action", choices=("deploy", "status", "delete"))
    endpoint.add_argument("--instance-type", help="override EndpointInstanceType for this deploy")
    endpoint.add_argument("--max-instances", type=int, help="override EndpointMaxInstances for this deploy")
    endpoint.add_argument("--model", help="override FilmModelS3Uri (s3://.../model.tar.gz) for this deploy")
    endpoint.set_defaults(handler=cmd_endpoint)
    return cloud


def _add_wait_options(parser: argparse.ArgumentParser, wait_help: str) -> None:
    parser.add_argument("--wait", action="store_true", help=wait_help)
    parser.add_argument("--poll", type=_seconds, default=10.0, metavar="SECONDS",
                        help="seconds between status checks while waiting (default: 10)")
    parser.add_argument("--wait-timeout", type=_seconds, metavar="SECONDS",
                        help="stop waiting after this long (implies --wait) and exit 1; the job itself goes on: "
                             "`slowmo cloud status JOB_ID --wait` waits again")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text!r}")
    return value


def _wait(client: SlowmoClient, job_id: str, args) -> dict[str, Any]:
    return client.wait(job_id, poll=args.poll, timeout=args.wait_timeout, progress=_progress_line)


def _waits(args) -> bool:
    return args.wait or args.wait_timeout is not None


def make_client(args) -> SlowmoClient:
    session = None
    if args.profile or args.region:
        import boto3

        session = boto3.Session(profile_name=args.profile, region_name=args.region)
    if args.api_url:
        return SlowmoClient(args.api_url, session=session, region=args.region)
    return SlowmoClient.from_stack(args.stack, session=session, region=args.region)


def _options(args) -> dict[str, Any]:
    """The options given on the command line, checked here with the rules the API applies (slowmo.options),
    so that a bad value is a usage error (exit 2) before anything is uploaded; the stack fills in the rest."""
    options = {name: getattr(args, name) for name in OPTION_FLAGS if getattr(args, name, None) is not None}
    if args.compare is not None:
        options["compare"] = args.compare
    if args.trim is not None:
        options["trim"] = args.trim
    if args.ranges:
        options["ranges"] = list(args.ranges)
    if args.ease is not None:
        options["ease"] = args.ease
    from slowmo.errors import ArgumentError, InputError
    from slowmo.options import JobOptions

    try:  # the stack's DefaultFactor stands in for a missing --factor: a range without @K takes it there
        JobOptions.from_dict({"factor": 2, **options})
    except InputError as exc:
        raise ArgumentError(str(exc)) from None
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
    options = _options(args)  # a bad value is refused before the stack is looked up or anything uploaded
    client = make_client(args)
    job = client.submit(args.source, options, args.client_token)
    if not _waits(args):
        _print(job)
        return 0
    if job.get("status") not in TERMINAL:
        job = _wait(client, job["jobId"], args)
    return _finish(job)


def cmd_status(args) -> int:
    client = make_client(args)
    if not _waits(args):
        _print(client.status(args.job_id))
        return 0
    return _finish(_wait(client, args.job_id, args))


def cmd_retry(args) -> int:
    client = make_client(args)
    job = client.retry(args.job_id)
    if not _waits(args):
        _print(job)
        return 0
    return _finish(_wait(client, args.job_id, args))


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
