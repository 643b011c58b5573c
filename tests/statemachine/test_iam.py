"""IAM enforced offline: the checker itself, and proof that it holds every role of the stack.

The e2e runs (tests/statemachine/*) already run under ``IamEnforcer``; here one recorded job
(upload, API, endpoint deploy/status/delete) is replayed against template.yaml with one principal's
policies removed at a time, so "setting any one function's Policies to [] fails make test naming
that function" is itself a test, and a cheap one.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from cloud_fixtures import TEMPLATE_PATH, running_stack
from iam_harness import (
    SAGEMAKER_ROLE,
    STATE_MACHINE,
    Request,
    evaluate,
    principal_roles,
    replay,
    role_statements,
    strip_policies,
    translated_template,
)

pytestmark = pytest.mark.slow

FUNCTIONS = ["ApiFunction", "DeployEndpointFunction", "ClaimJobFunction", "ExtractFunction",
             "InvokeEndpointFunction", "ResumeFunction", "EncodeChunkFunction", "AssembleFunction",
             "FinishJobFunction"]
PRINCIPALS = [*FUNCTIONS, STATE_MACHINE, SAGEMAKER_ROLE]


# ------------------------------------------------------------------------------------------- evaluator
def test_evaluator_matches_actions_without_case_and_resources_with_it():
    allow = [{"Effect": "Allow", "Action": "S3:Get*", "Resource": "arn:aws:s3:::b/jobs/*"}]
    assert evaluate(allow, Request("s3:GetObject", "arn:aws:s3:::b/jobs/1/x")) == "Allow"
    assert evaluate(allow, Request("s3:PutObject", "arn:aws:s3:::b/jobs/1/x")) == "ImplicitDeny"
    assert evaluate(allow, Request("s3:GetObject", "arn:aws:s3:::b/Jobs/1/x")) == "ImplicitDeny"
    assert evaluate(allow, Request("s3:GetObject", "arn:aws:s3:::b")) == "ImplicitDeny"
    one_char = [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "arn:aws:sns:*:*:t?"}]
    assert evaluate(one_char, Request("sns:Publish", "arn:aws:sns:r:1:t1")) == "Allow"
    assert evaluate(one_char, Request("sns:Publish", "arn:aws:sns:r:1:t12")) == "ImplicitDeny"


def test_evaluator_explicit_deny_wins_and_conditions_must_hold():
    statements = [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                  {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}]
    assert evaluate(statements, Request("s3:DeleteObject", "arn:aws:s3:::b/k")) == "ExplicitDeny"
    pass_role = [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/r",
                  "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}}]
    assert evaluate(pass_role, Request("iam:PassRole", "arn:aws:iam::1:role/r",
                                       (("iam:PassedToService", "sagemaker.amazonaws.com"),))) == "Allow"
    assert evaluate(pass_role, Request("iam:PassRole", "arn:aws:iam::1:role/r",
                                       (("iam:PassedToService", "lambda.amazonaws.com"),))) == "ImplicitDeny"
    assert evaluate(pass_role, Request("iam:PassRole", "arn:aws:iam::1:role/r")) == "ImplicitDeny"


def test_translation_gives_every_principal_a_role():
    roles = principal_roles(translated_template())
    assert set(PRINCIPALS) <= set(roles)


# ------------------------------------------------------------------------------------------- recorded run
@pytest.fixture(scope="module")
def recorded(make_clip):
    """One job end to end, the jobs API and the endpoint API, all under the enforcer: the call log
    (principal, action, resource) and the stack that made it."""
    clip = make_clip("iam", width=160, height=90, fps=24, frames=7, audio=True)
    with pytest.MonkeyPatch.context() as monkeypatch, ExitStack() as stack:
        cloud = running_stack(monkeypatch, stack, chunk_frames=4, default_factor=2)
        monkeypatch.setenv("MODEL_DATA_URL", "s3://slowmo-input/models/film/model.tar.gz")
        monkeypatch.setenv("ENDPOINT_INSTANCE_TYPE", "ml.g4dn.xlarge")
        monkeypatch.setenv("ENDPOINT_MAX_INSTANCES", "2")
        desc = cloud.wait(cloud.start(cloud.upload(clip, "uploads/clip.mp4")))
        assert desc["status"] == "SUCCEEDED", (desc.get("cause"), cloud.lambdas.errors, cloud.endpoint.errors)
        status, job = cloud.api("POST", "/jobs", {"key": "uploads/clip.mp4", "options": {"factor": 2}})
        assert status in (200, 202), job
        status, _ = cloud.api("GET", f"/jobs/{job['jobId']}", resource="/jobs/{jobId}",
                              path_parameters={"jobId": job["jobId"]})
        assert status == 200
        status, body = cloud.api("POST", "/endpoint", {"instanceType": "ml.g4dn.xlarge"})
        assert status == 202, body
        cloud.endpoint_ready()
        status, body = cloud.api("GET", "/endpoint")
        assert status == 200 and body["exists"], body
        status, body = cloud.api("DELETE", "/endpoint")
        assert status == 200, body
        yield cloud
    assert not cloud.iam.denials


def test_every_principal_is_exercised_under_the_checker(recorded):
    seen = {call.principal for call in recorded.iam.log}
    assert set(PRINCIPALS) <= seen, sorted(set(PRINCIPALS) - seen)
    actions = {(c.principal, r.action) for c in recorded.iam.log for r in c.requests}
    # the state machine's own role: the Distributed Map's child executions, item reader and result writer
    assert {(STATE_MACHINE, "states:StartExecution"), (STATE_MACHINE, "s3:GetObject"),
            (STATE_MACHINE, "s3:PutObject"), (STATE_MACHINE, "lambda:InvokeFunction")} <= actions
    # the endpoint's role: the model server's S3 reads and writes, SageMaker's notification
    assert {(SAGEMAKER_ROLE, "s3:GetObject"), (SAGEMAKER_ROLE, "s3:PutObject"),
            (SAGEMAKER_ROLE, "sns:Publish")} <= actions


def _statements_under(template_text: str, cloud):
    translated = translated_template(template_text)
    roles = principal_roles(translated)
    resolver = cloud.resolver()
    cache: dict[str, list] = {}

    def statements_of(principal: str) -> list:
        if principal not in cache:
            cache[principal] = role_statements(translated, roles[principal], resolver)
        return cache[principal]

    return statements_of


def test_the_recorded_run_is_allowed_by_the_template_as_it_is(recorded):
    assert replay(recorded.iam.log, _statements_under(TEMPLATE_PATH.read_text(), recorded)) == []


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_emptying_one_principals_policies_is_denied_naming_it(recorded, principal):
    text = strip_policies(TEMPLATE_PATH.read_text(), principal)
    denials = replay(recorded.iam.log, _statements_under(text, recorded))
    assert denials, f"{principal} made no call its policies had to allow"
    assert {d.principal for d in denials} == {principal}
    assert all(principal in str(d) for d in denials)


def test_removing_one_permission_from_one_function_is_caught(recorded):
    """The self-test: EncodeChunk without s3:PutObject cannot write its segments."""
    text = TEMPLATE_PATH.read_text()
    anchor = "Sid: ChunkFramesInSegmentsOut\n              Effect: Allow\n              Action: [s3:GetObject, s3:PutObject,"
    assert anchor in text
    text = text.replace(anchor, anchor.replace("s3:PutObject,", ""))
    denials = replay(recorded.iam.log, _statements_under(text, recorded))
    assert denials and {(d.principal, d.action) for d in denials} == {("EncodeChunkFunction", "s3:PutObject")}
    assert all(d.resource.startswith("arn:aws:s3:::slowmo-work/jobs/") for d in denials)

