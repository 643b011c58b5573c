"""Nothing is overwritten by accident: an output is never the input or another output (hard links and
symlinks count), and an existing output is refused unless -y/--overwrite, as ffmpeg does."""

from __future__ import annotations

import json
import os

import pytest


@pytest.fixture
def source(clip, tmp_path):
    copy = tmp_path / "clip.mp4"
    copy.write_bytes(clip.read_bytes())
    return copy


def test_compare_may_not_be_the_input(run_cli, source, tmp_path, assert_one_line_error):
    before = source.read_bytes()
    result = run_cli("run", source, "-o", tmp_path / "out.mp4", "-k", "2", "--compare", source)
    assert result[0] == 2
    assert_one_line_error(result, "would overwrite the input")
    assert source.read_bytes() == before and not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("link", ["hard", "sym"])
@pytest.mark.parametrize("flag", ["-o", "--compare"])
def test_a_link_to_the_input_is_the_input(run_cli, source, tmp_path, link, flag, assert_one_line_error):
    alias = tmp_path / "alias.mp4"
    (os.link if link == "hard" else os.symlink)(source, alias)
    before = source.read_bytes()
    args = ["-o", alias] if flag == "-o" else ["-o", tmp_path / "out.mp4", "--compare", alias]
    result = run_cli("run", source, *args, "-k", "2", "-y")  # not even with -y
    assert result[0] == 2
    assert_one_line_error(result, "would overwrite the input")
    assert source.read_bytes() == before


def test_compare_may_not_be_the_output(run_cli, source, tmp_path, assert_one_line_error):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    os.link(out, tmp_path / "same.mp4")
    result = run_cli("run", source, "-o", out, "-k", "2", "--compare", tmp_path / "same.mp4", "-y")
    assert result[0] == 2
    assert_one_line_error(result, "are the same file")
    assert out.read_bytes() == b"keep me"


@pytest.mark.parametrize("which", ["-o", "--compare"])
def test_an_existing_output_is_refused_without_y_and_replaced_with_it(run_cli, source, tmp_path, which,
                                                                     assert_one_line_error):
    out, side = tmp_path / "out.mp4", tmp_path / "side.mp4"
    existing = out if which == "-o" else side
    existing.write_bytes(b"an earlier render")
    args = ["run", source, "-o", out, "-k", "2", "--engine", "blend", "--compare", side, "--quiet"]
    result = run_cli(*args)
    assert result[0] == 1
    assert_one_line_error(result, "already exists; add -y (--overwrite)")
    assert existing.read_bytes() == b"an earlier render"
    assert not (side if which == "-o" else out).exists()  # refused before any work

    code, out_text, err = run_cli(*args, "-y")
    assert code == 0, err
    assert existing.read_bytes() != b"an earlier render" and json.loads(out_text)["output_frames"] == 47


def test_a_frames_folder_that_holds_frames_is_refused_without_y(run_cli, source, tmp_path, assert_one_line_error):
    frames = tmp_path / "frames"
    frames.mkdir()
    for n in range(60):  # an earlier, longer render: more frames than this one makes
        (frames / f"frame_{n:06d}.png").write_bytes(b"old")
    result = run_cli("run", source, "-o", f"{frames}/", "-k", "2", "--engine", "blend", "--quiet")
    assert result[0] == 1
    assert_one_line_error(result, "already holds PNG frames")
    assert sorted(p.read_bytes() for p in frames.iterdir()) == [b"old"] * 60

    code, out, err = run_cli("run", source, "-o", f"{frames}/", "-k", "2", "--engine", "blend", "--quiet", "-y")
    assert code == 0, err
    pngs = sorted(frames.glob("*.png"))
    assert len(pngs) == json.loads(out)["output_frames"] == 47  # no stale frame of the earlier render is left
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_an_empty_frames_folder_is_fine(run_cli, source, tmp_path):
    (tmp_path / "frames").mkdir()
    code, out, err = run_cli("run", source, "-o", f"{tmp_path / 'frames'}/", "-k", "2", "--engine", "blend", "--quiet")
    assert code == 0, err


def test_preview_and_sample_refuse_an_existing_file_without_y(run_cli, source, tmp_path, assert_one_line_error):
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"mine")
    assert_one_line_error(run_cli("preview", source, "-o", taken, "--pairs", "2"), "already exists")
    assert_one_line_error(run_cli("sample", taken, "--seconds", "0.5"), "already exists")
    assert taken.read_bytes() == b"mine"
    assert_one_line_error(run_cli("preview", source, "-o", source, "-y"), "overwrite the input")
    code, _, err = run_cli("sample", taken, "--seconds", "0.5", "-y")
    assert code == 0 and taken.read_bytes() != b"mine", err
