"""Parallel local runs: any number of workers gives the frames of one serial pass."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from slowmo.local.parallel import default_jobs, split_stream, threads_per_worker, worker_memory
from slowmo.local.pipeline import run_job
from slowmo.media.decode import read_frames
from slowmo.media.probe import probe
from slowmo.options import JobOptions
from slowmo.synthesis.engines import create_engine
from slowmo.synthesis.frames import synthesize
from slowmo.timeline.chunks import Chunk, plan_chunks


def read_pngs(folder):
    return [(path.name, path.read_bytes()) for path in sorted(folder.iterdir())]


def test_jobs_2_writes_the_same_png_files_as_jobs_1_and_as_a_single_pass(clip, tmp_path):
    options = JobOptions(factor=3, engine="flow")
    one = run_job(clip, f"{tmp_path}/one/", options, jobs=1, chunk_frames=9)
    two = run_job(clip, f"{tmp_path}/two/", options, jobs=2, chunk_frames=9)
    assert (one.jobs, two.jobs) == (1, 2) and one.chunks == two.chunks == 3
    serial, parallel = read_pngs(tmp_path / "one"), read_pngs(tmp_path / "two")
    assert len(serial) == (24 - 1) * 3 + 1
    assert serial == parallel  # names and bytes
    assert one.cuts == two.cuts == [12]

    # and both are the frames of one unchunked pass over the whole video
    reference = list(synthesize(read_frames(probe(clip)), 3, create_engine("flow")))
    for (name, data), expected in zip(serial, reference, strict=True):
        decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert np.array_equal(decoded, expected), name


def test_parallel_mp4_has_every_frame_at_exact_times_and_its_comparison(clip, tmp_path):
    out, side = tmp_path / "slow.mp4", tmp_path / "side.mp4"
    report = run_job(clip, out, JobOptions(factor=4, engine="blend", audio="drop"), compare_path=side, jobs=2, chunk_frames=9)
    for path in (out, side):
        info = probe(path)
        assert info.frame_count == report.output_frames == 23 * 4 + 1
        assert info.duration == pytest.approx(93 / 24, abs=1e-6)  # segment joins add no drift
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # work folder removed


def test_split_stream_shares_boundary_frames_and_reads_each_frame_once():
    reads = []

    def frames():
        for i in range(10):
            reads.append(i)
            yield i

    chunks = plan_chunks(10, 4)  # [0-3] [3-6] [6-9]
    seen = []
    for chunk, chunk_frames, open_ended in split_stream(frames(), chunks):
        if chunk.index == 1:
            continue  # a chunk finished earlier is read past, not rendered
        seen.append((chunk.index, list(chunk_frames), open_ended))
    assert seen == [(0, [0, 1, 2, 3], False), (2, [6, 7, 8, 9], True)]
    assert reads == list(range(10))


def test_split_stream_last_chunk_takes_frames_beyond_the_plan_and_a_short_stream_ends_early():
    chunks = [Chunk(0, 0, 3), Chunk(1, 3, 6)]
    assert [list(f) for _c, f, _o in split_stream(range(9), chunks)] == [[0, 1, 2, 3], [3, 4, 5, 6, 7, 8]]
    assert [list(f) for _c, f, _o in split_stream(range(3), chunks)] == [[0, 1, 2]]
    assert [list(f) for _c, f, _o in split_stream(range(4), chunks)] == [[0, 1, 2, 3]]  # no 1-frame chunk


def test_default_jobs_is_the_cores_within_available_memory():
    per_worker = worker_memory(1920, 1080, "flow")
    assert default_jobs(1920, 1080, "flow", cores=16, memory=64 * per_worker) == 16
    assert default_jobs(1920, 1080, "flow", cores=16, memory=5 * per_worker) == 4  # 80% of memory
    assert default_jobs(1920, 1080, "flow", cores=16, memory=per_worker // 2) == 1
    assert worker_memory(3840, 2160, "flow") > worker_memory(1920, 1080, "flow") > worker_memory(1920, 1080, "blend")


def test_default_jobs_starts_no_worker_for_a_few_small_frames():
    roomy = 1 << 40
    assert default_jobs(320, 180, "flow", output_frames=70, cores=16, memory=roomy) == 1
    assert default_jobs(320, 180, "flow", output_frames=700, cores=16, memory=roomy) == 2
    assert default_jobs(1920, 1080, "flow", output_frames=14401, cores=16, memory=roomy) == 16


def test_workers_share_the_cores_instead_of_each_taking_all():
    assert threads_per_worker(1, cores=16) == 16
    assert threads_per_worker(4, cores=16) == 4
    assert threads_per_worker(16, cores=16) == 1
    assert threads_per_worker(3, cores=2) == 1


def test_a_corrupt_input_during_a_parallel_run_is_one_line_and_leaves_nothing(make_clip, tmp_path, assert_one_line_error, run_cli):
    # Damage in the middle: the decoder fails part way while the workers render the first chunks.
    broken = make_clip("short-parallel", width=160, height=96, fps=24, frames=40, audio=False)
    data = bytearray(broken.read_bytes())
    data[len(data) // 2: len(data) // 2 + 4000] = bytes(4000)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    (tmp_path / "out").mkdir()
    result = run_cli("run", damaged, "-o", tmp_path / "out" / "slow.mp4", "-k", "2", "--jobs", "2", "--chunk-frames", "9")
    assert_one_line_error(result, "damaged.mp4")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("bad", [["--jobs", "0"], ["--jobs", "two"], ["--chunk-frames", "1"]])
def test_bad_jobs_or_chunk_size_is_one_usage_line(run_cli, clip, tmp_path, bad, assert_one_line_error):
    result = run_cli("run", clip, "-o", tmp_path / "o.mp4", "-k", "2", *bad)
    assert result[0] == 2
    assert_one_line_error(result, bad[0])


def test_variable_rate_chunks_meeting_off_the_output_grid_give_the_single_pass(ffmpeg_media, tmp_path):
    """Jittered 30 fps (every 7th frame 1/60 s late): some chunk boundaries fall between output
    frames (the plan's skip = 0), so neither chunk shares an output frame there."""
    from slowmo.timeline.plan import plan_job

    clip = ffmpeg_media("jitter30-parallel.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=30:duration=2",
        "-vf", "settb=1/600,setpts='N*20+if(eq(mod(N,7),6),10,0)'", "-fps_mode", "passthrough",
        "-enc_time_base", "1/600", "-video_track_timescale", "600", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
    options = JobOptions(factor=3, engine="flow")
    plan = plan_job(probe(clip), options, chunk_frames=9)
    assert any(chunk.skip == 0 for chunk in plan.chunks[1:])
    one = run_job(clip, f"{tmp_path}/one/", options, jobs=1, chunk_frames=9)
    two = run_job(clip, f"{tmp_path}/two/", options, jobs=2, chunk_frames=9)
    serial, parallel = read_pngs(tmp_path / "one"), read_pngs(tmp_path / "two")
    assert one.output_frames == two.output_frames == plan.output_count == len(serial)
    assert serial == parallel
    reference = list(synthesize(read_frames(probe(clip)), plan.frames(), create_engine("flow")))
    for (name, data), expected in zip(serial, reference, strict=True):
        decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert np.array_equal(decoded, expected), name
