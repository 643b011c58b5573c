"""Finding 9 of the second AWS review: a re-run must not report the previous run's Extract error."""

from __future__ import annotations

import boto3
from cloud_fixtures import aws_test_environment
from moto import mock_aws

from slowmo.cloud.jobs import FAILED, JobStore, job_failure_reason
from slowmo.cloud.submission import JobRequest, SourceObject


def test_a_rerun_after_an_extract_failure_reports_its_own_error(monkeypatch):
    aws_test_environment(monkeypatch)
    with mock_aws():
        ddb = boto3.resource("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="jobs", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}])
        store = JobStore("jobs", ddb)
        request = JobRequest(SourceObject("in", "uploads/clip.mp4", "v1", "e", 10), {"factor": 4}, "upload")
        store.claim(request, "arn:first")
        # the first run: a scan failed, recorded by RecordScanRangeFailure, then FinishJob
        store.table.update_item(Key={"jobId": request.job_id},
                                UpdateExpression="SET extractError = :e, extractCause = :c",
                                ExpressionAttributeValues={":e": "S3ReadError", ":c": "connection reset"})
        store.finish(request.job_id, FAILED, reason="S3ReadError: connection reset")
        # the re-run fails on a chunk this time
        rerun = JobRequest(request.source, request.options, "upload", given_job_id=request.job_id, rerun=True)
        assert store.claim(rerun, "arn:second").claimed
        store.table.update_item(Key={"jobId": request.job_id},
                                UpdateExpression="SET chunkError = :e, chunkCause = :c, failedChunk = :i",
                                ExpressionAttributeValues={":e": "ModelError", ":c": "out of memory", ":i": 3})
        reason = job_failure_reason(store.get(request.job_id), {"Error": "States.ExceedToleratedFailureThreshold"})
        assert reason.startswith("chunk 3: ModelError: out of memory"), reason
