"""Every `slowmo ...` command the README and the usage page show parses: the options exist, their values are
accepted (factor, ranges, crf, fps, output names), and no unknown option hides in a copy-pasted example."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from slowmo import cli

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["README.md", "docs/usage.md", "docs/creative.md", "docs/parallel.md", "docs/model-endpoint.md"]
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


def test_a_wrong_command_does_not_parse():
    with pytest.raises(cli.ArgumentError):
        cli.build_parser().parse_args(["run", "clip.mp4", "-o", "out.mp4"])  # no -k
    assert cli._unknown_option(cli.build_parser(), ["run", "c.mp4", "--factr", "4"]).startswith("unknown option --factr")
