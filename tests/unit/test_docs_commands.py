"""Every `slowmo ...` command the README and the usage page show parses: the options exist, their values are
accepted (factor, ranges, crf, fps, output names), and no unknown option hides in a copy-pasted example."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from slowmo import cli

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["README.md", "docs/usage.md", "docs/creative.md", "docs/parallel.md", "docs/model-endpoint.md", "docs/cloud.md"]
SYNOPSIS = re.compile(r"\[|\.\.\.|\b(INPUT|OUTPUT|PATH|OUT\.mp4|PREVIEW\.mp4)\b")


def shown_commands() -> list[tuple[str, str]]:
    commands = []
    for page in PAGES:
        text = (ROOT / page).read_text()
        blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, flags=re.S)
        # inline code that is a whole command (an input and options), not a mere name like `slowmo run`
        inline = [c for c in re.findall(r"`(slowmo [^`]+)`", text) if len(c.split()) >= 4 and " -" in c]
        for line in [*(ln for block in blocks for ln in block.splitlines()), *inline]:
            line = line.strip()
            if not line.startswith("slowmo ") or SYNOPSIS.search(line) or line.startswith("slowmo --version"):
                continue
            commands.append((page, line.split(" # ")[0].split("  #")[0].strip()))
    return commands


COMMANDS = shown_commands()


def test_the_pages_show_commands():
    assert len(COMMANDS) >= 15, COMMANDS  # the scan finds the examples, so the test below tests something


@pytest.mark.parametrize(("page", "command"), COMMANDS, ids=[f"{p}:{c}" for p, c in COMMANDS])
def test_a_shown_command_parses(page, command):
    argv = shlex.split(command)[1:]
    if argv[:1] == ["cloud"]:
        pytest.importorskip("boto3")
    parser = cli.build_parser()
    assert cli._unknown_option(parser, argv) is None, f"{page}: {command}"
    args = parser.parse_args(argv)  # a usage error raises cli.ArgumentError
    if args.command in ("run", "estimate"):
        cli._job_options(args)
        if args.output is not None:
            cli._check_output_names(args)
    if args.command == "cloud" and args.cloud_command == "submit":
        from slowmo.cloud.cli import _options

        _options(args)  # the values, checked as submit checks them before it sends anything


def test_a_wrong_command_does_not_parse():
    with pytest.raises(cli.ArgumentError):
        cli.build_parser().parse_args(["run", "clip.mp4", "-o", "out.mp4"])  # no -k
    assert cli._unknown_option(cli.build_parser(), ["run", "c.mp4", "--factr", "4"]).startswith("unknown option --factr")


def test_every_install_line_names_the_distribution_or_the_checkout():
    """`slowmo` on the public index is someone else's project: `pip install 'slowmo[...]'` installs it."""
    pages = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
    ours = 0
    for page in pages:
        for line in (ROOT / page).read_text().splitlines():
            for install in re.findall(r"pip install [^`\n;)]*", line):
                if "-r " in install:
                    continue  # a requirements file, not this project
                assert not re.search(r"(?<![\w-])slowmo(\[|'|\s|$)", install), f"{page}: {install}"
                ours += "slowmo-film" in install or re.search(r"-e '?\.", install) is not None
    assert ours >= 4  # README and docs/cloud.md do show how to install it


def test_film_install_hint_names_the_distribution():
    from slowmo.synthesis.engines.film import INSTALL_HINT

    assert "pip install 'slowmo-film[film]'" in INSTALL_HINT and "slowmo[" not in INSTALL_HINT


def cloud_page() -> str:
    return (ROOT / "docs" / "cloud.md").read_text()


def test_cloud_page_sets_each_shell_variable_before_it_uses_it():
    blocks = "\n".join(re.findall(r"```sh\n(.*?)```", cloud_page(), flags=re.S))
    used = set(re.findall(r"\$\{?([A-Z][A-Z_]+)", blocks)) - {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                               "AWS_SESSION_TOKEN"}
    assert {"INPUT_BUCKET", "WORK_BUCKET", "OUTPUT_BUCKET", "SLOWMO_API_URL", "STACK"} <= used
    for name in used:
        assigned = re.search(rf"(^|\s|export ){name}=", blocks, flags=re.M)
        assert assigned, f"${name} is used but never set"
        assert assigned.start() < blocks.index(f"${name}"), f"${name} is used before it is set"


def test_cloud_page_names_the_quotas_and_says_it_was_tested_offline():
    text = cloud_page()
    deploy = text[text.index("## Deploy"):text.index("## Deploy the endpoint")]
    for fact in ("Lambda memory quota", "Lambda account concurrency", "GPU instance quota",
                 "verification.md#deploy-prerequisites"):
        assert fact in deploy, fact
    assert "Tested offline only" in text and "make sam-local" in text
    scale = text[text.index("## Scale arithmetic"):text.index("## Cost worked example")]
    assert "Extract, one invocation" not in scale and "ScanRanges" in scale and "CutChunks" in scale


def test_cloud_page_cleanup_empties_versioned_buckets_so_they_can_be_deleted(monkeypatch):
    """The clean-up script, run as the page shows it, against moto: versioned buckets with old versions and delete
    markers (what `aws s3 rm --recursive` leaves behind) and an unversioned one end up deletable."""
    pytest.importorskip("boto3")
    import boto3
    from moto import mock_aws

    script = re.search(r"python3 - .*?<<'PY'\n(.*?)\nPY\n", cloud_page(), flags=re.S).group(1)
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3")
        buckets = ["slowmo-input", "slowmo-work", "slowmo-output"]
        for bucket in buckets:
            s3.create_bucket(Bucket=bucket)
            if bucket != "slowmo-work":
                s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            for i in range(1203):  # more than one page of versions
                s3.put_object(Bucket=bucket, Key=f"k{i % 400}.mp4", Body=b"v")
            s3.delete_object(Bucket=bucket, Key="k1.mp4")  # a delete marker, as `aws s3 rm` leaves
        # what the page said before: deleting the current objects leaves the versions, and the bucket stays
        with pytest.raises(s3.exceptions.ClientError, match="BucketNotEmpty"):
            for obj in s3.list_objects_v2(Bucket="slowmo-input")["Contents"]:
                s3.delete_object(Bucket="slowmo-input", Key=obj["Key"])
            s3.delete_bucket(Bucket="slowmo-input")
        monkeypatch.setattr("sys.argv", ["-", *buckets])
        exec(compile(script, "docs/cloud.md", "exec"), {"__name__": "__main__"})  # noqa: S102
        for bucket in buckets:
            s3.delete_bucket(Bucket=bucket)  # raises BucketNotEmpty unless every version and marker went
        assert s3.list_buckets()["Buckets"] == []
