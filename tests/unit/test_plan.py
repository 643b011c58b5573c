"""The planner: pure, no video. Frame times in, the output grid and the chunks out."""

import json
from fractions import Fraction
from itertools import pairwise

import pytest

from slowmo.errors import InputError
from slowmo.timeline.plan import LinearTimeMap, OutputFrame, Plan, make_plan
from slowmo.timeline.timing import JITTER_TOLERANCE, FrameTimes, frame_times, slot_times


def constant(n, fps):
    return FrameTimes(tuple(Fraction(i) / Fraction(fps) for i in range(n)), Fraction(fps), True)


def rate_change_25_to_50():
    """25 frames at 25 fps, then 25 at 50 fps (a 25->50 change half way)."""
    times = [Fraction(i, 25) for i in range(25)] + [Fraction(1) + Fraction(j, 50) for j in range(25)]
    ticks = [int(t * 12800) for t in times]
    return frame_times(ticks, Fraction(1, 12800))


def jittered_30(n=60):
    """30 fps with every 7th frame 1/60 s late, timestamps in a 1/600 timebase (as a phone writes them)."""
    ticks = [i * 20 + (10 if i % 7 == 6 else 0) for i in range(n)]
    return frame_times(ticks, Fraction(1, 600))


def keeps_every_real_frame(plan: Plan) -> bool:
    """Each real frame has its own output frame within half an output frame of it (in output time)."""
    nearest = []
    for s in plan.source_times:
        position = plan.time_map.output_time(s) * plan.output_fps
        m = round(position)
        if abs(position - m) > Fraction(1, 2):
            return False
        nearest.append(m)
    return len(set(nearest)) == len(nearest)


@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_constant_rate_is_todays_contract(k):
    plan = make_plan(constant(24, 24), k)
    assert plan.output_count == (24 - 1) * k + 1
    assert plan.output_fps == 24 and plan.slowdown == k and plan.constant_rate
    frames = list(plan.frames())
    assert len(frames) == plan.output_count
    for i in range(24):
        assert frames[i * k] == OutputFrame(i)
    for i in range(23):
        assert [f.t for f in frames[i * k + 1:(i + 1) * k]] == slot_times(k)  # the very same floats
        assert all(f.index == i for f in frames[i * k + 1:(i + 1) * k])
    assert plan.output_duration == pytest.approx(((24 - 1) * k + 1) / 24)


def test_fps_is_a_true_output_rate():
    """K=4 at 60 fps on 24 fps: still 4x slower; output frames step 1/240 s of source, t = 0.1, 0.2, ..."""
    plan = make_plan(constant(24, 24), 4, fps=Fraction(60))
    assert plan.output_fps == 60 and plan.slowdown == 4
    assert plan.output_count == 23 * 10 + 1
    assert plan.frame(10) == OutputFrame(1) and plan.frame(230) == OutputFrame(23)
    assert [round(f.t, 12) for f in plan.frames(1, 9)] == [round(j / 10, 12) for j in range(1, 10)]
    assert plan.rate_reason == "the requested output rate"


def test_fps_that_would_skip_real_frames_is_refused():
    with pytest.raises(InputError, match="skip real frames.*--fps 15 or more"):
        make_plan(constant(30, 30), 2, fps=Fraction(10))
    assert make_plan(constant(30, 30), 2, fps=Fraction(15)).output_count == 29 * 1 + 1


def test_rate_change_keeps_every_frame_at_the_nominal_rate():
    times = rate_change_25_to_50()
    assert not times.constant and times.count == 50 and times.shortest_interval == Fraction(1, 50)
    plan = make_plan(times, 4)
    # the median interval is 1/25 s: nominal 25 fps. Source 1.48 s long, 4x slower: 5.92 s of output.
    assert plan.output_fps == 25 and plan.output_count == 4 * 25 * Fraction(148, 100) + 1
    assert keeps_every_real_frame(plan)
    assert "variable frame rate" in plan.rate_reason and "25 fps" in plan.rate_reason
    # every real frame lands exactly on an output frame here: it is shown untouched
    shown = [f.index for f in plan.frames() if f.is_source]
    assert shown == list(range(50))


def test_rate_is_raised_when_the_nominal_rate_would_drop_frames():
    # mostly 30 fps with a burst at 120 fps: at K=2, 30 fps would merge the burst's frames
    times = [Fraction(i, 30) for i in range(40)] + [Fraction(40, 30) + Fraction(j, 120) for j in range(1, 5)]
    ft = frame_times([int(t * 600) for t in times], Fraction(1, 600))
    plan = make_plan(ft, 2)
    assert ft.fps == 30 and plan.output_fps == 60  # 1/120 s of source = 1/60 s of output
    assert "raised to 60 fps" in plan.rate_reason
    assert keeps_every_real_frame(plan)


def test_jittered_clip_keeps_all_178_frames():
    """The issue's case: 60 frames at 30 fps, every 7th 1/60 s late, K=3 gave 160 frames; now 178."""
    times = jittered_30()
    assert not times.constant  # half a frame is far beyond the jitter tolerance
    plan = make_plan(times, 3)
    assert plan.output_fps == 30 and plan.output_count == 178
    assert keeps_every_real_frame(plan)
    # a late frame sits between two output frames; both bracket it
    late = 6
    users = {f.index for f in plan.frames()} | {f.index + 1 for f in plan.frames() if not f.is_source}
    assert users == set(range(60)) and late in users


def test_timebase_rounding_and_small_jitter_count_as_constant():
    # 30 fps in a 1/1000 timebase: 0, 33, 67, 100, ...
    coarse = frame_times([round(i * 1000 / 30) for i in range(300)], Fraction(1, 1000))
    assert coarse.constant and coarse.fps == 30 and coarse.times[299] == Fraction(299, 30)
    ntsc = frame_times([i * 1001 for i in range(100)], Fraction(1, 30000))
    assert ntsc.constant and ntsc.fps == Fraction(30000, 1001)
    # jitter just under the tolerance: constant; just over it: variable
    under = int(600 / 30 * float(JITTER_TOLERANCE)) - 1
    over = int(600 / 30 * float(JITTER_TOLERANCE)) + 1
    assert frame_times([i * 20 + (under if i % 5 == 2 else 0) for i in range(50)], Fraction(1, 600)).constant
    assert not frame_times([i * 20 + (over if i % 5 == 2 else 0) for i in range(50)], Fraction(1, 600)).constant


@pytest.mark.parametrize("times", [constant(50, 24), rate_change_25_to_50(), jittered_30()], ids=["cfr", "25to50", "jitter"])
def test_chunks_tile_the_output_and_overlap_by_one_source_frame(times):
    plan = make_plan(times, 3, chunk_frames=7)
    assert len(plan.chunks) > 3
    assembled = []
    for chunk in plan.chunks:
        frames = list(plan.frames(chunk.first_output, chunk.last_output))
        assert all(chunk.start <= f.index <= chunk.end and (f.is_source or f.index < chunk.end) for f in frames)
        assembled += frames[chunk.skip:]
    assert assembled == list(plan.frames())
    for a, b in pairwise(plan.chunks):
        assert a.end == b.start
    assert sum(c.new_frames for c in plan.chunks) == plan.output_count


def test_constant_rate_chunks_are_todays_chunks():
    plan = make_plan(constant(50, 24), 5, chunk_frames=12)
    for c in plan.chunks:
        assert (c.first_output, c.last_output, c.skip) == (c.start * 5, c.end * 5, 1 if c.index else 0)


def test_chunks_snap_to_cuts():
    plan = make_plan(constant(300, 30), 2, chunk_frames=101, cuts=[95, 212])
    assert {94, 211} <= {c.end for c in plan.chunks}


@pytest.mark.parametrize("times", [constant(40, Fraction(30000, 1001)), rate_change_25_to_50(), jittered_30()],
                         ids=["ntsc", "25to50", "jitter"])
def test_plan_round_trips_through_json(times):
    plan = make_plan(times, 4, chunk_frames=9)
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan
    assert list(again.frames()) == list(plan.frames())
    assert again.chunks == plan.chunks


def test_window_starts_the_output_at_the_trim_start():
    plan = make_plan(constant(48, 24), 2, window=(Fraction(1, 2), Fraction(3, 2)))
    assert plan.frame(0) == OutputFrame(12)
    assert plan.output_count == 48  # [0.5, 1.5) of source is 2 s of output at 24 fps
    assert plan.frame(plan.output_count - 1) == OutputFrame(35, 0.5)
    assert plan.chunks[0].start == 12 and plan.chunks[-1].end == 36


class Halving:
    """A caller's time map (the speed curve's protocol): 2x slower for the first second, then 4x."""

    def output_time(self, s):
        s = float(s)
        return 2 * s if s <= 1 else 2 + 4 * (s - 1)

    def source_time(self, o):
        o = float(o)
        return o / 2 if o <= 2 else 1 + (o - 2) / 4

    def to_dict(self):
        return {"kind": "test"}


def test_a_callers_time_map_drives_the_grid():
    plan = make_plan(constant(48, 24), 2, time_map=Halving())
    assert plan.output_fps == 24
    # 1 s of source at 2x = 48 output frames, the other 23/24 s at 4x = 92
    assert plan.output_count == 48 + 92 + 1
    frames = list(plan.frames())
    assert frames[0] == OutputFrame(0) and frames[48] == OutputFrame(24) and frames[-1] == OutputFrame(47)
    assert [f.t for f in frames[49:52]] == pytest.approx([0.25, 0.5, 0.75])
    assert keeps_every_real_frame(plan)


def test_linear_map_is_exact_and_invertible():
    m = LinearTimeMap(Fraction(8), Fraction(1, 3))
    assert m.output_time(Fraction(1, 3)) == 0
    assert m.source_time(m.output_time(Fraction(7, 5))) == Fraction(7, 5)


def test_fewer_than_two_frames_is_refused():
    with pytest.raises(InputError, match="need at least 2"):
        make_plan(constant(1, 24), 2)
