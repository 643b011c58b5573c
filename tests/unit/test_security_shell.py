"""ffmpeg and every other program are run with an argument list, never through a shell."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("layers", "functions", "model", "benchmarks")
SUBPROCESS_CALLS = {"run", "call", "check_call", "check_output", "Popen"}
SHELL_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput"),
               ("shlex", "join"), ("os", "execl"), ("os", "spawnl")}


def python_files():
    for folder in SOURCE_DIRS:
        base = ROOT / folder
        if base.exists():
            yield from (p for p in base.rglob("*.py") if ".venv" not in p.parts and "site-packages" not in p.parts)


def shell_uses(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = (func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else None,
                func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None))
        if name in SHELL_CALLS:
            found.append(f"line {node.lineno}: {name[0]}.{name[1]}")
        for kw in node.keywords:
            if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                found.append(f"line {node.lineno}: shell={ast.unparse(kw.value)}")
        if name[1] in SUBPROCESS_CALLS and name[0] in ("subprocess", None) and node.args:
            first = node.args[0]
            if isinstance(first, (ast.Constant, ast.JoinedStr, ast.BinOp)) and not isinstance(
                    getattr(first, "value", None), (list, tuple)):
                found.append(f"line {node.lineno}: {name[1]}() given a command string")
    return found


def test_no_shell_in_the_code_base():
    files = list(python_files())
    assert len(files) > 30  # the scan sees the real code base
    problems = {}
    for path in files:
        uses = shell_uses(ast.parse(path.read_text(), filename=str(path)))
        if uses:
            problems[str(path.relative_to(ROOT))] = uses
    assert problems == {}


def test_the_scan_catches_shell_use():
    bad = ast.parse(
        "import os, subprocess, shlex\n"
        "subprocess.run('ffmpeg -i ' + name, shell=True)\n"
        "os.system('ffmpeg')\n"
        "subprocess.check_output(f'ffmpeg -i {name}')\n"
        "cmd = shlex.join(args)\n")
    assert len(shell_uses(bad)) == 5
    assert shell_uses(ast.parse("subprocess.run([exe, '-i', path], check=True)")) == []


def test_ruff_shell_rules_are_enabled():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    selected = set(config["tool"]["ruff"]["lint"]["select"])
    assert {"S602", "S605"} <= selected


def test_ffmpeg_gets_an_argument_list_with_awkward_names(monkeypatch, tmp_path):
    from slowmo.media import ffmpeg

    seen = []
    real = subprocess.run

    def spy(args, *rest, **kwargs):
        seen.append((args, kwargs))
        return real(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)
    name = tmp_path / "a;b&c|d$(touch pwned)`x`.mp4"
    ffmpeg.run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=32x32:duration=0.1", "-y", str(name)])
    assert name.exists() and not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    args, kwargs = seen[-1]
    assert isinstance(args, list) and str(name) in args and not kwargs.get("shell")
