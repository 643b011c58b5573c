"""A destination that cannot be written gets one line, before any work, and nothing is left behind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_folder_that_cannot_be_created(run_cli, clip, assert_one_line_error):
    assert_one_line_error(run_cli("run", clip, "-o", "/proc/x.mp4", "-k", "2"), "/proc/x.mp4")
    assert_one_line_error(run_cli("run", clip, "-o", "/proc/frames/", "-k", "2"), "/proc/frames/")


def test_a_read_only_folder(run_cli, clip, tmp_path, assert_one_line_error):
    if os.geteuid() == 0:
        target = "/sys/slowmo.mp4"  # root writes anywhere chmod allows; sysfs refuses new files even to root
    else:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
        target = str(folder / "out.mp4")
    result = run_cli("run", clip, "-o", target, "-k", "2")
    assert_one_line_error(result, target)
    assert "permission denied" in result[2] or "not permitted" in result[2]


def test_a_parent_that_is_a_file(run_cli, clip, tmp_path, assert_one_line_error):
    (tmp_path / "notes.txt").write_text("x")
    result = run_cli("run", clip, "-o", tmp_path / "notes.txt" / "out.mp4", "-k", "2")
    assert_one_line_error(result, "is a file, not a folder")
    result = run_cli("run", clip, "-o", tmp_path / "notes.txt" / "deeper" / "out.mp4", "-k", "2")
    assert_one_line_error(result, "is a file, not a folder")


def test_a_name_that_is_too_long(run_cli, clip, tmp_path, assert_one_line_error):
    assert_one_line_error(run_cli("run", clip, "-o", tmp_path / ("a" * 300 + ".mp4"), "-k", "2"), "too long")
    # fits the file system, but not with the staging name slowmo derives from it
    assert_one_line_error(run_cli("run", clip, "-o", tmp_path / ("b" * 240 + ".mp4"), "-k", "2"), "too long")
    assert_one_line_error(run_cli("run", clip, "-o", tmp_path / ("c" * 300) / "out.mp4", "-k", "2"), "too long")
    assert leftovers(tmp_path) == []


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1.5 MB tmpfs: a real full disk (ENOSPC from the kernel). Needs root and mount rights.

    Room enough to pass the up-front free-space check (the capacity model expects about 0.7 MB for
    the runs below), too little for what they really write at --crf 0 (a 1.6 MB video, twice)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1500k", "tmpfs", str(mount_point)],  # noqa: S603,S607
                          capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): " + made.stderr.decode(errors="replace").strip())
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=False)  # noqa: S603,S607


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_full_disk_gives_one_line_and_leaves_nothing(run_cli, make_clip, tiny_disk, jobs, assert_one_line_error):
    big = make_clip("noisy", width=320, height=180, fps=24, frames=48, audio=True)
    result = run_cli("run", big, "-o", tiny_disk / "out.mp4", "-k", "8", "--engine", "blend", "--crf", "0",
                     "--jobs", jobs, "--chunk-frames", "9")
    assert_one_line_error(result, "space left")
    assert leftovers(tiny_disk) == []  # no partial output, no work folder


def test_a_full_disk_with_resume_also_leaves_nothing(run_cli, make_clip, tiny_disk, assert_one_line_error):
    big = make_clip("noisy", width=320, height=180, fps=24, frames=48, audio=True)
    result = run_cli("run", big, "-o", tiny_disk / "out.mp4", "-k", "8", "--engine", "blend", "--crf", "0", "--resume",
                     "--chunk-frames", "9")
    assert_one_line_error(result, "space left")
    assert leftovers(tiny_disk) == []  # no partial output, no work folder
