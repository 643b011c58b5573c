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
    for dockerfile in sorted(ROOT.glob("functions/*/Dockerfile")):
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


def test_every_function_over_the_fresh_account_cap_is_a_documented_prerequisite():
    """A fresh account refuses MemorySize above its cap; docs/verification.md must say which functions
    need the quota increase and quote the error CloudFormation shows."""
    resources = translated_template()["Resources"]
    over = sorted(name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Function"
                  and int(r["Properties"].get("MemorySize", 128)) > FRESH_ACCOUNT_MEMORY_MB)
    doc = Path(ROOT / "docs" / "verification.md").read_text()
    assert "'MemorySize' value failed to satisfy constraint" in doc
    for name in over:
        assert name in doc, f"{name} needs more than {FRESH_ACCOUNT_MEMORY_MB} MB: list it in docs/verification.md"
