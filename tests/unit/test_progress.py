"""Progress: frames, output fps and ETA; a line every few seconds when stderr is not a terminal."""

from __future__ import annotations

import io
import re

from slowmo.local.progress import LogLines, format_duration, progress_factory


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_log_lines_are_rate_limited_and_show_frames_fps_and_eta():
    stream, clock = io.StringIO(), Clock()
    bar = LogLines(1000, stream=stream, interval_s=5, clock=clock)
    for _ in range(80):  # 80 frames over 10 s: 8 fps
        clock.now += 0.125
        bar.update(1)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # at 5 s and at 10 s, not one per frame
    assert lines[-1] == "slowmo: 80/1000 frames (8%), 8.0 fps, ETA 1m55s"
    clock.now += 1
    bar.update(920)
    bar.close()
    bar.close()
    assert stream.getvalue().splitlines()[-1] == "slowmo: 1000/1000 frames (100%), 90.9 fps, done in 11s"


def test_the_last_line_is_printed_once_when_the_last_frames_arrive_on_an_interval():
    """The update that finishes the run fell on a 5 s boundary: it printed `done`, and close() printed it again."""
    stream, clock = io.StringIO(), Clock()
    bar = LogLines(100, stream=stream, interval_s=5, clock=clock)
    clock.now += 2
    bar.update(40)
    clock.now += 4
    bar.update(60)  # 6 s: a line is due, and it is the last
    clock.now += 0.5
    bar.close()
    lines = stream.getvalue().splitlines()
    assert lines == ["slowmo: 100/100 frames (100%), 16.7 fps, done in 6s"], lines


def test_close_before_the_end_says_where_it_stopped_once():
    stream, clock = io.StringIO(), Clock()
    bar = LogLines(100, stream=stream, interval_s=5, clock=clock)
    clock.now += 10
    bar.update(50)
    bar.close()  # nothing new since the last line: no second copy of it
    assert stream.getvalue().splitlines() == ["slowmo: 50/100 frames (50%), 5.0 fps, ETA 10s"]


def test_a_resumed_run_counts_earlier_frames_but_not_in_its_rate():
    stream, clock = io.StringIO(), Clock()
    bar = LogLines(1000, initial=600, stream=stream, interval_s=5, clock=clock)
    clock.now += 10
    bar.update(100)
    assert stream.getvalue().strip() == "slowmo: 700/1000 frames (70%), 10.0 fps, ETA 30s"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_quiet_turns_it_off_and_a_terminal_gets_a_bar():
    assert progress_factory(quiet=True, stream=Terminal()) is None
    assert isinstance(progress_factory(stream=io.StringIO())(10), LogLines)
    terminal = Terminal()
    bar = progress_factory(stream=terminal)(48, initial=8)
    bar.update(8)
    bar.close()
    shown = terminal.getvalue()
    assert "16/48" in shown and "frames/s" in shown and "ETA" in shown


def test_cli_quiet_and_log_lines(run_cli, clip, tmp_path):
    code, out, err = run_cli("run", clip, "-o", tmp_path / "a.mp4", "-k", "2", "--engine", "blend", "--quiet")
    assert code == 0 and err == ""
    code, out, err = run_cli("run", clip, "-o", tmp_path / "b.mp4", "-k", "2", "--engine", "blend")
    assert code == 0
    assert re.fullmatch(r"slowmo: plan: [^\n]+\n(slowmo: \d+/47 frames \(\d+%\), [\d.]+ fps, (ETA \S+|done in \S+)\n)+",
                        err), err
    assert err.splitlines()[-1].startswith("slowmo: 47/47 frames (100%)")


def test_durations_read_naturally():
    assert [format_duration(s) for s in (4, 65, 3725)] == ["4s", "1m05s", "1h02m05s"]
