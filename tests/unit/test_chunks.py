import itertools

import numpy as np
import pytest

from slowmo.media.decode import read_frames
from slowmo.media.probe import probe
from slowmo.synthesis.engines import create_engine
from slowmo.synthesis.frames import SynthesisReport, synthesize
from slowmo.timeline.chunks import Chunk, assemble, plan_chunks


def pairs(chunks):
    return [p for c in chunks for p in zip(range(c.start, c.end), range(c.start + 1, c.end + 1), strict=True)]


@pytest.mark.parametrize("n,size", [(2, 121), (10, 4), (100, 10), (1000, 121), (123, 121), (124, 121)])
def test_chunks_cover_every_pair_exactly_once(n, size):
    chunks = plan_chunks(n, size)
    assert chunks[0].start == 0 and chunks[-1].end == n - 1
    assert pairs(chunks) == [(i, i + 1) for i in range(n - 1)]
    for a, b in itertools.pairwise(chunks):
        assert a.end == b.start  # overlap by exactly one frame
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert max(c.source_frames for c in chunks) <= size + (size - 1) // 4


def test_no_runt_final_chunk():
    chunks = plan_chunks(103, 51)
    assert chunks[-1].source_frames > 3


def test_boundaries_snap_to_nearby_cuts():
    chunks = plan_chunks(300, 101, cuts=[95, 212])
    ends = [c.end for c in chunks]
    assert 94 in ends and 211 in ends  # a chunk ends on the last frame of each shot
    assert pairs(chunks) == [(i, i + 1) for i in range(299)]


def test_far_cuts_do_not_move_boundaries():
    assert [c.end for c in plan_chunks(300, 101, cuts=[50])] == [100, 200, 299]


def test_output_ranges_tile_the_output():
    k = 5
    chunks = plan_chunks(50, 12)
    covered = []
    for c in chunks:
        first, last = c.output_range(k)
        assert last - first + 1 == c.output_frames(k)
        covered.extend(range(first if not covered else first + 1, last + 1))
    assert covered == list(range((50 - 1) * k + 1))


def test_chunk_round_trips_through_dict():
    c = Chunk(3, 30, 40)
    assert Chunk.from_dict(c.to_dict()) == c


@pytest.mark.parametrize("engine_name", ["blend", "flow"])
@pytest.mark.parametrize("k", [3, 4])
def test_chunked_processing_equals_single_pass(clip, engine_name, k):
    info = probe(clip)
    frames = list(read_frames(info))
    engine = create_engine(engine_name)
    single_report = SynthesisReport()
    single = list(synthesize(frames, k, engine, single_report))
    chunks = plan_chunks(len(frames), 7, cuts=single_report.cuts)
    reports = [SynthesisReport() for _ in chunks]
    outputs = [
        synthesize(frames[c.start : c.end + 1], k, create_engine(engine_name), reports[c.index], first_index=c.start)
        for c in chunks
    ]
    assembled = list(assemble(outputs))
    assert len(assembled) == len(single) == (len(frames) - 1) * k + 1
    for i, (a, b) in enumerate(zip(assembled, single, strict=True)):
        assert np.array_equal(a, b), f"output frame {i} differs"
    assert sorted({cut for r in reports for cut in r.cuts}) == single_report.cuts == [12]


def test_planner_rejects_nonsense():
    with pytest.raises(ValueError):
        plan_chunks(1, 10)
    with pytest.raises(ValueError):
        plan_chunks(10, 1)


@pytest.mark.parametrize("engine_name", ["blend", "flow"])
def test_chunked_variable_rate_plan_equals_single_pass(engine_name):
    """A 25->50 fps rate change at K=3: chunks of the plan reproduce the single pass, frame for frame."""
    from fractions import Fraction

    from slowmo.foresight.sample import render_frame
    from slowmo.timeline.plan import make_plan
    from slowmo.timeline.timing import frame_times

    times = [Fraction(i, 25) for i in range(12)] + [Fraction(12, 25) + Fraction(j, 50) for j in range(1, 13)]
    plan = make_plan(frame_times([int(t * 100) for t in times], Fraction(1, 100)), 3, chunk_frames=6)
    frames = [render_frame(i, 96, 64, fps=12.0) for i in range(24)]
    single = list(synthesize(frames, plan.frames(), create_engine(engine_name)))
    assert len(single) == plan.output_count
    outputs = [
        list(synthesize(frames[c.start : c.end + 1], plan.chunk_frames(c), create_engine(engine_name), first_index=c.start))[c.skip:]
        for c in plan.chunks
    ]
    assembled = [f for chunk in outputs for f in chunk]
    assert len(assembled) == len(single)
    for i, (a, b) in enumerate(zip(assembled, single, strict=True)):
        assert np.array_equal(a, b), f"output frame {i} differs"
