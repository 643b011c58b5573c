"""Lint statemachine/slow_motion.asl.json with cfn-lint's Step Functions schema.

cfn-lint checks an ASL definition when it is inline in an AWS::StepFunctions::StateMachine, so this
wraps the file in a throwaway template (keeping ${...} placeholders as DefinitionSubstitutions) and
runs cfn-lint on it. Usage: python tests/statemachine/lint_asl.py [path.asl.json]; exit status 0 = clean.
"""

from __future__ import annotations

import json
import re
import subprocess  # noqa: S404 - runs cfn-lint, an argument list, no shell
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ASL = ROOT / "statemachine" / "slow_motion.asl.json"


def wrapper_template(asl_path: Path) -> dict:
    text = asl_path.read_text()
    definition = json.loads(text)
    placeholders = sorted(set(re.findall(r"\$\{(\w+)\}", text)))
    samples = {name: _sample(name) for name in placeholders}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "LintRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]}},
            },
            "LintStateMachine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineType": "STANDARD",
                    "RoleArn": {"Fn::GetAtt": ["LintRole", "Arn"]},
                    "Definition": definition,
                    "DefinitionSubstitutions": samples,
                },
            },
        },
    }


def _sample(name: str) -> str:
    if name.endswith("FunctionArn"):
        return f"arn:aws:lambda:us-east-1:123456789012:function:{name[:-3]}"
    if name.endswith("TopicArn"):
        return f"arn:aws:sns:us-east-1:123456789012:{name[:-3]}"
    if name == "MapConcurrency":
        return "16"
    return f"slowmo-{name.lower()}"


def lint(asl_path: Path = DEFAULT_ASL) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "asl-wrapper.json"
        template.write_text(json.dumps(wrapper_template(asl_path), indent=2))
        cfn_lint = Path(sys.executable).with_name("cfn-lint")
        command = [str(cfn_lint)] if cfn_lint.exists() else [sys.executable, "-m", "cfnlint"]
        return subprocess.run([*command, str(template)], capture_output=True, text=True, check=False)  # noqa: S603


def main(argv: list[str]) -> int:
    result = lint(Path(argv[0]) if argv else DEFAULT_ASL)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.returncode == 0:
        print("ASL: no cfn-lint findings")
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
