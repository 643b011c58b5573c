"""Issue 20, finding 3: a throttled Lambda task waits long enough for a slot to free.

With the account's concurrency used up (new accounts get 10: "Lambda quotas",
https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), an invocation is refused with
TooManyRequestsException, which a Step Functions task sees as Lambda.TooManyRequestsException and handles with
its Retry rules ("Handle Lambda service exceptions",
https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html). The slot frees when a
running call ends, which can take the whole function timeout. So each Lambda task's throttle retrier must wait,
in expectation under full jitter (half of each capped delay), at least the longest timeout of the functions the
job runs side by side. Run on moto's interpreter with the harness's concurrency quota at 0: every retry the ASL
grants is taken and logged (sleeps skipped, their lengths kept)."""

from __future__ import annotations

import json
import types
from contextlib import ExitStack

import pytest
from cloud_fixtures import ASL_PATH, running_stack
from iam_harness import translated_template

pytestmark = pytest.mark.slow


def _lambda_tasks(states: dict, out: dict) -> dict:
    for name, state in states.items():
        if state.get("Resource", "").startswith("arn:aws:states:::lambda:invoke"):
            out[name] = state
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                _lambda_tasks(state[key]["States"], out)
        for branch in state.get("Branches", []):
            _lambda_tasks(branch["States"], out)
    return out


def _throttle_rule(state: dict) -> dict:
    rules = [r for r in state.get("Retry", []) if "Lambda.TooManyRequestsException" in r["ErrorEquals"]
             or "States.ALL" in r["ErrorEquals"]]
    assert rules, "no Retry for Lambda.TooManyRequestsException"
    return rules[0]


def _caps(rule: dict) -> list[float]:
    """The delay before each retry before jitter: IntervalSeconds x BackoffRate^n, at most MaxDelaySeconds."""
    interval, rate = rule.get("IntervalSeconds", 1), rule.get("BackoffRate", 2.0)
    cap = rule.get("MaxDelaySeconds", float("inf"))
    return [min(interval * rate**n, cap) for n in range(rule.get("MaxAttempts", 3))]


def _longest_timeout() -> int:
    resources = translated_template()["Resources"]
    return max(int(r["Properties"].get("Timeout", 3)) for r in resources.values()
               if r["Type"] == "AWS::Lambda::Function")


def test_every_lambda_tasks_throttle_budget_outlasts_the_longest_call_it_waits_behind():
    tasks = _lambda_tasks(json.loads(ASL_PATH.read_text())["States"], {})
    assert {"ReadIndex", "ScanRange", "CutChunk", "EncodeChunk", "JoinOutput"} <= set(tasks)
    longest = _longest_timeout()
    assert longest == 900
    for name, state in tasks.items():
        rule = _throttle_rule(state)
        expected = sum(_caps(rule)) / (2 if rule.get("JitterStrategy") == "FULL" else 1)
        assert expected >= longest, f"{name}: a throttled call gives up after ~{expected:.0f} s, a call runs {longest} s"


def test_a_throttled_task_takes_every_retry_its_rule_grants(monkeypatch):
    """The harness's concurrency quota at 0 throttles every invocation: the real ScanRange rule is run to the
    end, and the waits it took match the rule (a rule that gave up early, or waited less, fails here)."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    waited: list[float] = []
    monkeypatch.setattr(retrier_decl, "time", types.SimpleNamespace(sleep=waited.append))
    rule = _throttle_rule(_lambda_tasks(json.loads(ASL_PATH.read_text())["States"], {})["ScanRange"])
    with ExitStack() as stack:
        cloud = running_stack(monkeypatch, stack, account_concurrency=0)
        sfn = cloud.client("stepfunctions")
        definition = {"StartAt": "Call", "States": {"Call": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": cloud.function_arns["FinishJobFunction"], "Payload": {}},
            "Retry": [rule], "End": True}}}
        arn = sfn.create_state_machine(name="throttled", definition=json.dumps(definition),
                                       roleArn=cloud.role_arn)["stateMachineArn"]
        desc = cloud.wait(sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"], timeout=60)
    assert desc["status"] == "FAILED" and desc["error"] == "Lambda.TooManyRequestsException", desc
    taken = [seconds for state, _, seconds in cloud.sfn_limits.retries if state == "Call"]
    caps = _caps(rule)
    assert len(taken) == len(caps) == len(cloud.lambdas.throttled) - 1
    assert all(0 <= t <= cap for t, cap in zip(taken, caps, strict=True)), list(zip(taken, caps, strict=True))
