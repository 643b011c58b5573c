"""Exit codes: 2 for a wrong command line (option values included), 1 for a run-time failure, and one error
line, never a traceback, for a file-system fault, tested as an ordinary (non-root) user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("args", "says"), [
    (["-k", "0"], "factor"), (["-k", "1000"], "factor"), (["-k", "4", "--range", "2:1"], "range 2:1"),
    (["-k", "4", "--crf", "60"], "crf"), (["-k", "4", "--fps", "0"], "fps"), (["-k", "4", "--ease", "x"], "ease"),
    (["-k", "4", "--jobs", "0"], "--jobs"), ([], "-k/--factor"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_option_values_exit_2(run_cli, clip, tmp_path, args, says, assert_one_line_error):
    result = run_cli("run", clip, "-o", tmp_path / "o.mp4", *args)
    assert result[0] == 2
    assert_one_line_error(result, says)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("output", ["x.avi", "x.gif", "x"])
def test_an_output_kind_slowmo_cannot_write_exits_2(run_cli, clip, tmp_path, output, assert_one_line_error):
    result = run_cli("run", clip, "-o", tmp_path / output, "-k", "2")
    assert result[0] == 2
    assert_one_line_error(result, "must end in .mp4")


@pytest.mark.parametrize("command", [["preview", "-o", "preview.mp4"], ["eval", "--engine", "blend"]])
def test_preview_and_eval_refuse_a_fractional_factor_as_usage(run_cli, clip, tmp_path, command, assert_one_line_error):
    """They place frames at t = j/K between real ones: 2.5 has no such slots (before: a traceback)."""
    args = [command[0], str(clip), *[str(tmp_path / a) if a.endswith(".mp4") else a for a in command[1:]], "-k", "2.5"]
    result = run_cli(*args)
    assert_one_line_error(result, f"-k 2.5: {command[0]} takes a whole factor from 2 to 64 (`slowmo run` takes 2.5)")
    assert result[0] == 2


def test_an_unknown_option_is_named_even_when_a_required_one_is_missing(run_cli, clip, tmp_path, assert_one_line_error):
    result = run_cli("run", clip, "-o", tmp_path / "o.mp4", "--factr", "4")
    assert result[0] == 2
    assert_one_line_error(result, "unknown option --factr (did you mean --factor?)")
    result = run_cli("estimate", clip, "-k", "4", "--jbos", "2")
    assert result[0] == 2
    assert_one_line_error(result, "unknown option --jbos (did you mean --jobs?)")


def test_abbreviations_and_attached_values_still_parse(run_cli, clip, tmp_path):
    code, _, err = run_cli("run", clip, "-o", tmp_path / "o.mp4", "-k2", "--engine", "blend", "--qui")
    assert code == 0 and err == ""


def test_run_time_failures_exit_1(run_cli, tmp_path, assert_one_line_error):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    for command in (["run", bad, "-o", tmp_path / "o.mp4", "-k", "2"], ["probe", bad], ["estimate", bad, "-k", "2"]):
        result = run_cli(*command)
        assert result[0] == 1
        assert_one_line_error(result, "bad.mp4")


def _as_nobody() -> list[str] | None:
    """A command prefix that runs as uid/gid 65534 (nobody), or None where that is impossible."""
    if os.geteuid() != 0:
        return []  # already an ordinary user
    setpriv = shutil.which("setpriv")
    if setpriv and subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "true"],  # noqa: S603
                                  capture_output=True, check=False).returncode == 0:
        return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    return None


def slowmo_as_nobody(*args, cwd: Path) -> subprocess.CompletedProcess:
    prefix = _as_nobody()
    if prefix is None:
        pytest.skip("cannot run a process as a non-root user here (no setpriv, or no right to change uid)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "slowmo_core"), "HOME": str(cwd)}
    return subprocess.run([*prefix, sys.executable, "-m", "slowmo.cli", *map(str, args)],  # noqa: S603
                          capture_output=True, text=True, env=env, cwd=cwd, check=False, timeout=120)


@pytest.fixture
def open_folder(clip):
    """A folder nobody may enter and write (directly under the system's temporary folder, so every folder
    above it is searchable: pytest's own tmp_path is root's alone), holding a readable copy of the clip."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="slowmo-nobody-"))
    folder.chmod(0o777)
    copy = folder / "clip.mp4"
    copy.write_bytes(clip.read_bytes())
    copy.chmod(0o644)
    yield folder
    for path in folder.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(folder, ignore_errors=True)


def one_error_line(result: subprocess.CompletedProcess, text: str) -> None:
    assert result.stdout == "" and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("slowmo: error: ") and text in lines[0], result.stderr


@pytest.mark.parametrize("command", [["run", "-o", "out.mp4", "-k", "2"], ["probe"], ["estimate", "-k", "2"]],
                         ids=["run", "probe", "estimate"])
def test_an_unreadable_input_is_one_line_for_an_ordinary_user(open_folder, command):
    (open_folder / "clip.mp4").chmod(0o000)
    result = slowmo_as_nobody(command[0], "clip.mp4", *command[1:], cwd=open_folder)
    assert result.returncode == 1
    one_error_line(result, "cannot read clip.mp4: Permission denied")
    assert not (open_folder / "out.mp4").exists()


def test_an_input_in_an_unreadable_folder_is_one_line(open_folder):
    secret = open_folder / "secret"
    secret.mkdir()
    (open_folder / "clip.mp4").rename(secret / "clip.mp4")
    secret.chmod(0o000)
    result = slowmo_as_nobody("run", "secret/clip.mp4", "-o", "out.mp4", "-k", "2", cwd=open_folder)
    assert result.returncode == 1
    one_error_line(result, "secret/clip.mp4")


def test_an_output_folder_that_cannot_be_written_is_one_line(open_folder):
    locked = open_folder / "locked"
    locked.mkdir(mode=0o555)
    locked.chmod(0o555)
    for output in ("locked/out.mp4", "locked/frames/", "locked/new/out.mp4"):
        result = slowmo_as_nobody("run", "clip.mp4", "-o", output, "-k", "2", cwd=open_folder)
        assert result.returncode == 1, result.stderr
        one_error_line(result, "permission denied")
    assert list(locked.iterdir()) == []


def test_a_work_folder_that_cannot_be_made_is_one_line(open_folder):
    # the output's folder is writable, but its work folder's name is taken by a folder nobody may enter
    blocker = open_folder / ".out.mp4.slowmo-work"
    blocker.mkdir()
    blocker.chmod(0o000)
    result = slowmo_as_nobody("run", "clip.mp4", "-o", "out.mp4", "-k", "2", "--quiet", cwd=open_folder)
    assert result.returncode == 1, result.stderr
    one_error_line(result, ".slowmo-work")
    assert not (open_folder / "out.mp4").exists()
