"""Resume: a run stopped part way (SIGKILL, Ctrl-C) continues from its finished chunks to the same output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slowmo.local.pipeline import run_job
from slowmo.local.workdir import ChunkStore, WorkFolderBusy, work_folder_for
from slowmo.media.decode import read_frames
from slowmo.media.probe import probe
from slowmo.options import JobOptions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def long_clip(make_clip):
    """72 frames: 9 chunks of 9 frames, enough to stop a run between chunks."""
    return make_clip("resume", width=160, height=96, fps=24, frames=72, audio=True, cut_at=40)


def as_from_a_terminal() -> None:
    """In the child: Ctrl-C as a shell's foreground job has it. A runner started in the background by a
    non-interactive shell passes SIGINT on ignored, and a Python started with SIGINT ignored never raises
    KeyboardInterrupt, so the tests would hinge on how they were launched."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def slowmo(*args) -> subprocess.Popen:
    """`slowmo run args` in its own process group, as a terminal would start it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "slowmo_core")}
    return subprocess.Popen([sys.executable, "-m", "slowmo.cli", "run", *map(str, args)],  # noqa: S603
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
                            preexec_fn=as_from_a_terminal)


def stop_after_first_chunk(proc: subprocess.Popen, work: Path, sig: int) -> None:
    """Once a chunk is finished, send sig to the run's whole process group (Ctrl-C reaches the
    workers and every ffmpeg too; SIGKILL of the group is a crash or a power cut)."""
    deadline = time.monotonic() + 60
    while not list(work.glob("chunk-*.json")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no chunk finished within a minute"
        time.sleep(0.02)
    os.killpg(proc.pid, sig)


def decoded(path):
    return [frame.tobytes() for frame in read_frames(probe(path))]


RUN = ["--factor", "4", "--chunk-frames", "9", "--engine", "flow", "--jobs", "1", "--quiet"]


def test_resume_after_sigkill_redoes_only_unfinished_chunks_and_gives_the_same_video(long_clip, tmp_path):
    whole = tmp_path / "whole.mp4"
    reference = slowmo(long_clip, "-o", whole, *RUN)
    assert reference.wait() == 0, reference.communicate()

    out = tmp_path / "out.mp4"
    work = work_folder_for(out, tmp_path)
    killed = slowmo(long_clip, "-o", out, *RUN)
    stop_after_first_chunk(killed, work, signal.SIGKILL)
    killed.wait()
    assert not out.exists()  # nothing published
    finished = sorted(p.name for p in work.glob("chunk-*.json"))
    assert finished and len(finished) < 9

    resumed = slowmo(long_clip, "-o", out, *RUN, "--resume")
    stdout, stderr = resumed.communicate()
    assert resumed.returncode == 0, stderr
    report = json.loads(stdout)
    assert report["chunks"] == 9 and 1 <= report["resumed_chunks"] == len(finished)
    assert decoded(out) == decoded(whole)
    assert probe(out).duration == probe(whole).duration and probe(out).has_audio
    assert not work.exists()  # removed after success


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_ctrl_c_exits_with_one_line_saying_how_to_resume(long_clip, tmp_path, sig):
    out = tmp_path / "out.mp4"
    work = work_folder_for(out, tmp_path)
    run = slowmo(long_clip, "-o", out, *RUN[:-3], "--jobs", "2", "--quiet")
    stop_after_first_chunk(run, work, sig)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "--resume" in lines[0] and "Traceback" not in stderr, stderr
    assert not out.exists() and list(work.glob("chunk-*.json"))
    if sig == signal.SIGTERM:
        return  # the work it keeps is the same as after Ctrl-C: resuming it once is enough

    resumed = slowmo(long_clip, "-o", out, *RUN, "--resume")
    stdout, stderr = resumed.communicate()
    assert resumed.returncode == 0, stderr
    assert json.loads(stdout)["resumed_chunks"] >= 1
    assert probe(out).frame_count == 71 * 4 + 1


def key() -> dict:
    return {"input": "a", "options": {"factor": 4}}


def finish(store: ChunkStore, index: int, payload: bytes) -> None:
    staging = store.staging_folder(index)
    (staging / "video.mp4").write_bytes(payload)
    store.commit(index, staging, {"index": index, "start": 8 * index, "end": 8 * index + 8, "frames": 32})


def test_only_chunks_with_a_record_and_matching_files_count_as_finished(tmp_path):
    store, _ = ChunkStore.open(tmp_path / "work", key(), resume=False)
    finish(store, 0, b"x" * 100)
    finish(store, 1, b"y" * 100)
    finish(store, 2, b"z" * 100)
    (store.chunk_folder(1) / "video.mp4").write_bytes(b"y" * 40)  # cut short (e.g. power loss)
    (store.chunk_folder(2) / "video.mp4").unlink()
    staging = store.staging_folder(3)  # a chunk being written when the run stopped
    (staging / "video.mp4").write_bytes(b"half")
    store.close()

    reopened, reason = ChunkStore.open(tmp_path / "work", key(), resume=True)
    assert reason is None
    assert sorted(reopened.finished()) == [0]
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == [".lock", "chunk-00000", "chunk-00000.json", "key.json"]


def test_resume_with_other_options_starts_afresh_and_says_why(tmp_path):
    store, _ = ChunkStore.open(tmp_path / "work", key(), resume=False)
    finish(store, 0, b"x")
    store.close()
    other = {**key(), "options": {"factor": 8}}
    reopened, reason = ChunkStore.open(tmp_path / "work", other, resume=True)
    assert reopened.finished() == {} and reason == "it was made with factor 4 (now 8); starting from the beginning"


def test_a_second_run_on_the_same_output_is_refused_while_the_first_holds_it(tmp_path):
    store, _ = ChunkStore.open(tmp_path / "work", key(), resume=False)
    with pytest.raises(WorkFolderBusy):
        ChunkStore.open(tmp_path / "work", key(), resume=True)
    store.remove()
    assert not (tmp_path / "work").exists()


def test_without_resume_earlier_work_is_not_reused(clip, tmp_path):
    out = tmp_path / "out/"
    first = run_job(clip, f"{out}/", JobOptions(factor=2, engine="blend"), jobs=1, chunk_frames=9)
    again = run_job(clip, f"{out}/", JobOptions(factor=2, engine="blend"), jobs=1, chunk_frames=9, resume=True)
    assert first.resumed_chunks == again.resumed_chunks == 0  # success removed the work folder


def worker_pids(parent: int) -> list[int]:
    """The spawned worker processes of a run (children of its main process running multiprocessing)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"spawn_main" in cmdline:  # not the resource tracker
            pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
def test_a_worker_killed_for_memory_keeps_the_work_and_says_how_to_resume(long_clip, tmp_path):
    out = tmp_path / "out.mp4"
    work = work_folder_for(out, tmp_path)
    run = slowmo(long_clip, "-o", out, *RUN[:-3], "--jobs", "2", "--quiet")
    deadline = time.monotonic() + 60
    while not (list(work.glob("chunk-*.json")) and worker_pids(run.pid)):
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.02)
    os.kill(worker_pids(run.pid)[0], signal.SIGKILL)  # what the kernel's OOM killer does
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 1 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "killed by signal 9" in lines[0] and "--resume" in lines[0], stderr
    assert not out.exists() and list(work.glob("chunk-*.json"))

    resumed = slowmo(long_clip, "-o", out, *RUN, "--resume")
    stdout, stderr = resumed.communicate()
    assert resumed.returncode == 0, stderr
    assert json.loads(stdout)["resumed_chunks"] >= 1 and probe(out).frame_count == 71 * 4 + 1


def interrupted_two_worker_run(long_clip, out: Path) -> Path:
    work = work_folder_for(out, out.parent)
    run = slowmo(long_clip, "-o", out, *RUN[:-3], "--jobs", "2", "--quiet")
    stop_after_first_chunk(run, work, signal.SIGINT)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stderr
    return work


def saved_files(work: Path) -> dict[str, bytes]:
    return {str(p.relative_to(work)): p.read_bytes() for p in sorted(work.rglob("*")) if p.is_file() and p.name != ".lock"}


def test_after_an_interrupted_two_worker_run_a_plain_rerun_keeps_the_work_and_resume_reuses_it(long_clip, tmp_path):
    out = tmp_path / "out.mp4"
    work = interrupted_two_worker_run(long_clip, out)
    before = saved_files(work)
    saved = len(list(work.glob("chunk-*.json")))
    assert saved >= 1

    rerun = slowmo(long_clip, "-o", out, *RUN[:-3], "--jobs", "2", "--quiet")  # the same command, no --resume
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 1 and stdout == "" and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1 and "add --resume" in stderr and "--fresh" in stderr, stderr
    assert saved_files(work) == before and not out.exists()  # kept byte for byte, nothing published

    resumed = slowmo(long_clip, "-o", out, *RUN[:-3], "--jobs", "2", "--quiet", "--resume")
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    assert stderr.splitlines()[0] == f"slowmo: resuming: {saved} of 9 chunks saved in {work} are reused"  # first
    report = json.loads(stdout)
    assert report["resumed_chunks"] == saved and report["jobs"] == 2
    assert probe(out).frame_count == 71 * 4 + 1 and not work.exists()


def test_resume_with_other_options_says_why_first_and_keeps_the_work_unless_fresh(long_clip, tmp_path):
    out = tmp_path / "out.mp4"
    work = interrupted_two_worker_run(long_clip, out)
    before = saved_files(work)
    other = ["--factor", "2", "--chunk-frames", "9", "--engine", "flow", "--jobs", "2", "--quiet"]
    refused = slowmo(long_clip, "-o", out, *other, "--resume")
    stdout, stderr = refused.communicate(timeout=120)
    assert refused.returncode == 1 and stdout == ""
    assert "cannot be resumed: it was made with factor 4 (now 2)" in stderr and len(stderr.strip().splitlines()) == 1
    assert saved_files(work) == before

    fresh = slowmo(long_clip, "-o", out, *other, "--fresh")
    stdout, stderr = fresh.communicate(timeout=300)
    assert fresh.returncode == 0, stderr
    assert json.loads(stdout)["resumed_chunks"] == 0 and probe(out).frame_count == 71 * 2 + 1


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_after_ctrl_c_on_a_terminal_the_message_is_the_last_thing_shown(long_clip, tmp_path, jobs):
    """stderr a terminal (a live bar): after Ctrl-C the bar is left where it stopped and the message comes
    under it; the bar was redrawn below the message (tqdm closing itself when the process ended)."""
    import fcntl
    import pty
    import struct
    import termios
    import threading

    out = tmp_path / "out.mp4"
    work = work_folder_for(out, tmp_path)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))  # a 0-column terminal shows no bar
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "slowmo_core")}
    run = subprocess.Popen([sys.executable, "-m", "slowmo.cli", "run", long_clip, "-o", out,  # noqa: S603
                            *RUN[:-3], "--jobs", jobs], stdout=subprocess.PIPE, stderr=slave, env=env,
                           start_new_session=True, preexec_fn=as_from_a_terminal)
    os.close(slave)
    shown = bytearray()

    def read_terminal():
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the run closed the terminal
                return
            if not data:
                return
            shown.extend(data)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    stop_after_first_chunk(run, work, signal.SIGINT)
    assert run.wait(timeout=60) == 130
    reader.join(timeout=10)
    os.close(master)
    text = shown.decode(errors="replace")
    message = text.rfind("slowmo: interrupted; no output was published")
    assert message >= 0 and "--resume" in text[message:], text
    assert "%|" in text[:message]  # the bar was shown before it
    assert text[message - 2:message] == "\r\n", repr(text[message - 200:message])  # on a line of its own
    assert text[message:].endswith("to continue\r\n"), repr(text[message:])  # and nothing after it
