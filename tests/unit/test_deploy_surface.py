"""What a real deploy meets that moto never sees: the upload rule's key matching, the Docker build
context, and the Lambda memory quota of a fresh account."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cloud_fixtures import ROOT
from iam_harness import translated_template

from slowmo.cloud.config import VIDEO_SUFFIXES


# ------------------------------------------------------------------------------------------- EventBridge
def _upload_rule_matches(key: str) -> bool:
    """The rule SAM generates for VideoUploaded, evaluated by moto's EventBridge pattern matcher."""
    from moto.events.models import EventPattern

    rule = translated_template()["Resources"]["SlowMotionStateMachineVideoUploaded"]["Properties"]
    pattern = json.dumps(rule["EventPattern"], default=str)
    pattern = pattern.replace('{"Ref": "InputBucket"}', '"in-bucket"')
    pattern = re.sub(r'\{"Fn::Sub": "\$\{UploadPrefix\}([^"]*)"\}', r'"uploads/\1"', pattern)
    event = {"source": "aws.s3", "detail-type": "Object Created",
             "detail": {"bucket": {"name": "in-bucket"}, "object": {"key": key}}}
    return EventPattern.load(pattern).matches_event(event)


@pytest.mark.parametrize("suffix", VIDEO_SUFFIXES)
def test_upload_rule_starts_a_job_for_both_cases_of_every_video_suffix(suffix):
    assert _upload_rule_matches(f"uploads/clip{suffix}")
    assert _upload_rule_matches(f"uploads/clip{suffix.upper()}")
    assert not _upload_rule_matches(f"elsewhere/clip{suffix}")


def test_upload_rule_ignores_what_is_not_a_video():
    assert not _upload_rule_matches("uploads/notes.txt")
    assert not _upload_rule_matches("uploads/clip.mp4.txt")


# ------------------------------------------------------------------------------------------- Docker
def _dockerignore_excludes(path: str, rules: list[str]) -> bool:
    """Docker's .dockerignore: patterns in order, the last match wins, ``!`` re-includes; a pattern
    matching a directory covers everything under it (docs.docker.com, "Dockerignore file")."""
    excluded = False
    for rule in rules:
        negate = rule.startswith("!")
        pattern = rule[1:] if negate else rule
        pattern = pattern.rstrip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
        if re.fullmatch(f"{regex}(?:/.*)?", path):
            excluded = not negate
    return excluded


def test_docker_context_holds_what_the_dockerfiles_copy_and_nothing_heavy():
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    copied = []
    for dockerfile in sorted(ROOT.glob("images/*/Dockerfile")):
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY "):
                copied.append(line.split()[1])
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not _dockerignore_excludes(source, rules), source
        if (ROOT / source).is_dir():
            for file in (ROOT / source).rglob("*.py"):
                assert not _dockerignore_excludes(str(file.relative_to(ROOT)), rules), file
    for heavy in (".git/HEAD", ".venv/bin/python", "out/demo.mp4", "tests/conftest.py", "benchmarks/x.py",
                  "layers/slowmo_core/slowmo/__pycache__/cli.cpython-311.pyc"):
        assert _dockerignore_excludes(heavy, rules), heavy


# ------------------------------------------------------------------------------------------- quotas
FRESH_ACCOUNT_MEMORY_MB = 3008  # new accounts' Lambda memory cap until a quota increase


def test_a_fresh_account_can_deploy_by_setting_the_memory_parameters():
    """A fresh account refuses MemorySize above its cap. Every function above it takes its memory from
    a parameter that may be set to the cap, and docs/verification.md names the parameter, the function
    and the exact error CloudFormation shows."""
    translated = translated_template()
    params = translated["Parameters"]
    doc = Path(ROOT / "docs" / "verification.md").read_text()
    assert "'MemorySize' value failed to satisfy constraint" in doc
    over = []
    for name, resource in translated["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        memory = resource["Properties"].get("MemorySize", 128)
        if isinstance(memory, dict):
            param = params[memory["Ref"]]
            assert int(param["MinValue"]) <= FRESH_ACCOUNT_MEMORY_MB <= int(param["MaxValue"]), name
            if int(param["Default"]) > FRESH_ACCOUNT_MEMORY_MB:
                over.append(name)
                assert f"{memory['Ref']}={FRESH_ACCOUNT_MEMORY_MB}" in doc, memory["Ref"]
        else:
            assert int(memory) <= FRESH_ACCOUNT_MEMORY_MB, f"{name}: {memory} MB cannot deploy on a fresh account"
    assert over  # the two big functions keep their measured sizes by default
    for name in over:
        assert name in doc, f"{name} needs more than {FRESH_ACCOUNT_MEMORY_MB} MB: list it in docs/verification.md"
