"""slowmo.timeline.ranges: the time ranges of Extract's scans add up to the single pass, without video."""

from __future__ import annotations

import pytest

from slowmo.timeline.ranges import (
    RangeError,
    Scan,
    TimeRange,
    cut_groups,
    join_scans,
    seek_point,
    split_ranges,
)


def test_one_range_when_the_video_is_shorter_than_a_range():
    assert split_ranges(range(0, 100, 10), [0, 50], 20) == [TimeRange(0, None, None, None, 10)]
    assert split_ranges(range(0, 100, 10), [0], 0) == [TimeRange(0, None, None, None, 10)]


def test_ranges_own_every_packet_once_and_seek_a_gop_before_the_frame_they_need():
    pts = [i * 10 for i in range(30)]
    keys = [0, 80, 160, 240]  # a key packet every 8 frames
    ranges = split_ranges(pts, keys, 10)
    assert [(r.start, r.end) for r in ranges] == [(None, 100), (100, 200), (200, None)]
    owners = [[r.index for r in ranges if r.owns(p)] for p in pts]
    assert all(len(o) == 1 for o in owners)
    # range 1 needs frame 90 (the one before its start): the last key at or before it is 80, one GOP more is 0
    assert [r.seek for r in ranges] == [None, 0, 80]
    assert [r.through for r in ranges] == [10, 20, 30]  # what decoding each from the start would cost
    assert all(TimeRange.from_dict(r.to_dict()) == r for r in ranges)


def test_a_runt_last_range_joins_the_one_before():
    pts = list(range(41))
    assert [(r.start, r.end) for r in split_ranges(pts, [0], 10)] == [(None, 10), (10, 20), (20, 30), (30, None)]
    assert len(split_ranges(list(range(43)), [0], 10)) == 5  # 3 frames left over is a quarter or more


def test_seek_point_has_no_key_before_the_first_gop():
    assert seek_point([0, 50], 10) is None  # only one key at or before: decode from the start
    assert seek_point([0, 50, 100], 120) == 50
    assert seek_point([0, 50, 100], 100) == 50  # the frame at a key packet: still one GOP of margin


def _scans_of(pts, cuts, ranges):
    """What honest range decodes report for frames at ``pts`` with cuts before the given frame indices."""
    scans = []
    for r in ranges:
        owned = [i for i, p in enumerate(pts) if r.owns(p)]
        previous = pts[owned[0] - 1] if owned and owned[0] > 0 else None
        scans.append(Scan(r.index, previous, [pts[i] for i in owned], [1] * len(owned),
                          [k for k, i in enumerate(owned) if i in cuts], [pts[i] + 1000 for i in owned],
                          [[pts[i], pts[i] + 1000] for i in range(max(0, owned[0] - 3), owned[0])] if owned else []))
    return scans


@pytest.mark.parametrize("cuts", [[10], [9, 11], [1, 29], []])
def test_join_gives_the_single_pass_frames_and_cuts_across_range_edges(cuts):
    pts = [i * 3 for i in range(30)]
    ranges = split_ranges(pts, [0, 30, 60], 10)
    joined = join_scans(ranges, _scans_of(pts, cuts, ranges))
    assert joined.pts == pts and len(joined.durations) == 30 and joined.crcs == [p + 1000 for p in pts]
    assert joined.cuts == cuts  # frame 10 opens range 1: its cut is found by the pair across the edge


def test_join_refuses_a_lost_frame_a_repeated_frame_and_a_missing_range():
    pts = [i * 3 for i in range(30)]
    ranges = split_ranges(pts, [0], 10)
    scans = _scans_of(pts, [], ranges)
    lost = [scans[0], Scan(1, 30, scans[1].pts[1:], scans[1].durations[1:], []), scans[2]]
    with pytest.raises(RangeError, match="lost or repeated"):
        join_scans(ranges, lost)
    late = [scans[0], Scan(1, 24, scans[1].pts, scans[1].durations, []), scans[2]]
    with pytest.raises(RangeError, match="lost or repeated"):
        join_scans(ranges, late)
    stray = [scans[0], Scan(1, 27, [27, *scans[1].pts], [1, *scans[1].durations], []), scans[2]]
    with pytest.raises(RangeError, match="outside"):
        join_scans(ranges, stray)
    with pytest.raises(RangeError, match=r"no scan for ranges \[2\]"):
        join_scans(ranges, scans[:2])


def test_cut_groups_cover_the_chunks_in_order_with_their_first_and_last_times():
    pts = [i * 2 for i in range(41)]
    chunks = [{"index": k, "start": s, "end": e} for k, (s, e) in enumerate([(0, 8), (8, 16), (16, 24), (24, 32), (32, 40)])]
    groups = cut_groups(chunks, pts, [0, 16, 32, 48, 64], 16)
    assert [[c["index"] for c in g["chunks"]] for g in groups] == [[0, 1], [2, 3], [4]]
    assert [(g["first"], g["last"], g["frames"]) for g in groups] == [(0, 32, 17), (32, 64, 17), (64, 80, 9)]
    assert [g["seek"] for g in groups] == [None, 16, 48]  # frame 16 is at 32, a key: one GOP back is 16
    assert [len(g["chunks"]) for g in cut_groups(chunks, pts, [0], 0)] == [5]  # 0: one group, as one range
    assert [len(g["chunks"]) for g in cut_groups(chunks, pts, [0], 1)] == [1] * 5


def test_larger_frames_get_shorter_ranges_and_smaller_frames_never_longer():
    from slowmo.timeline.ranges import frames_per_range

    assert frames_per_range(5400, 1920, 1080) == 5400
    assert frames_per_range(5400, 3840, 2160) == 1350  # 4K: the same pixels per range as 1080p
    assert frames_per_range(5400, 640, 360) == 5400
    assert frames_per_range(0, 3840, 2160) == 0 and frames_per_range(3, 7680, 4320) == 2


def test_an_index_without_times_on_every_packet_is_not_cut_by_time():
    from slowmo.timeline.ranges import NO_PTS, time_indexed

    avi = [NO_PTS, NO_PTS, *range(0, 100)]  # AVI: B-frames carry no presentation time
    assert not time_indexed(avi) and not time_indexed([0, 1, 1, 2]) and time_indexed(range(5))
    assert split_ranges(avi, [0, 50], 10) == [TimeRange(0, None, None, None, 102)]


def test_a_seek_that_decodes_the_frames_before_its_range_differently_is_named_for_a_rescan():
    from slowmo.timeline.ranges import SeekMismatch

    pts = [i * 3 for i in range(30)]
    ranges = split_ranges(pts, [0, 15, 30, 45, 60], 10)  # key packets every 5 frames: ranges 1 and 2 seek
    assert [r.seek is not None for r in ranges] == [False, True, True]
    scans = _scans_of(pts, [], ranges)
    scans[2].preroll[-1][1] += 1  # range 2's decode of frame 19 differs from range 1's: its seek was not clean
    with pytest.raises(SeekMismatch) as caught:
        join_scans(ranges, scans)
    assert caught.value.ranges == [2]
    late = _scans_of(pts, [], ranges)
    late[1].previous = 24  # range 1's decode started after frame 9: it would lose a frame
    with pytest.raises(SeekMismatch) as caught:
        join_scans(ranges, late)
    assert caught.value.ranges == [1]


def test_clean_point_is_the_first_key_packet_after_the_seek():
    from slowmo.timeline.ranges import clean_point

    assert clean_point([0, 50, 100], None) is None  # no seek: nothing to discard
    assert clean_point([0, 50, 100], 50) == 100
    assert clean_point([0, 50, 100], 0) == 50
    assert clean_point([0, 50, 100], 100) is None  # no key after: every message counts


def test_one_missing_time_is_enough_to_refuse_cutting_by_time():
    from slowmo.timeline.ranges import NO_PTS, time_indexed

    assert not time_indexed([NO_PTS, 0, 1, 2])
    assert not time_indexed([])


@pytest.mark.parametrize("packets, range_frames, expected", [
    (10, 10, 1),   # exactly one range's worth
    (9, 4, 3),     # 1 frame left over: a quarter of 4 is 1, so it stays a range of its own
    (42, 10, 5),   # 2 left over of 10 (a quarter is 2): kept
    (50, 12, 4),   # 2 left over of 12 (a quarter is 3): joins the range before
    (3, 1, 3),     # one frame per range
])
def test_range_counts_at_the_edges(packets, range_frames, expected):
    ranges = split_ranges(list(range(packets)), [0], range_frames)
    assert len(ranges) == expected
    assert ranges[0].start is None and ranges[-1].end is None
    assert all(a.end == b.start for a, b in zip(ranges, ranges[1:], strict=False))


def test_the_seek_is_placed_from_the_frame_just_before_the_range():
    # the range starting at 100 needs frame 90: keys at or before it are 0, 50, 85, so one GOP back is 50
    pts = list(range(0, 200, 10))
    ranges = split_ranges(pts, [0, 50, 85, 100, 150], 10)
    assert (ranges[1].start, ranges[1].seek) == (100, 50)


def test_join_skips_a_range_that_showed_nothing_and_ignores_pre_roll_no_range_owns():
    pts = [i * 3 for i in range(30)]
    ranges = split_ranges(pts, [0], 10)
    scans = _scans_of(pts, [], ranges)
    scans[0].preroll = [[-3, 7]]  # a leading picture the single pass never showed: nothing to compare
    empty_then_more = [Scan(0, None), *_scans_of(pts, [], ranges)[1:]]
    empty_then_more[1].previous = None  # nothing came before range 1 once range 0 showed nothing
    joined = join_scans(ranges, empty_then_more)
    assert joined.pts == pts[10:]  # range 0's frames are gone, the later ranges still join
    assert join_scans(ranges, scans).pts == pts
    no_crcs = [Scan(s.index, s.previous, s.pts, s.durations, s.cuts) for s in _scans_of(pts, [], ranges)]
    assert join_scans(ranges, no_crcs).crcs == []  # a scan written before CRCs still joins


def test_join_refuses_frames_repeated_or_out_of_order_within_a_range():
    pts = [i * 3 for i in range(30)]
    ranges = split_ranges(pts, [0], 10)
    for bad in ([30, 33, 33, 36], [30, 36, 33, 39]):
        scans = _scans_of(pts, [], ranges)
        scans[1] = Scan(1, 27, bad, [1] * len(bad), [])
        with pytest.raises(RangeError, match="out of order"):
            join_scans(ranges, scans)


def test_a_cut_reported_before_the_first_frame_is_not_a_cut():
    pts = [i * 3 for i in range(30)]
    ranges = split_ranges(pts, [0], 10)
    scans = _scans_of(pts, [], ranges)
    scans[0].cuts = [0, 4]
    assert join_scans(ranges, scans).cuts == [4]


def test_cut_group_items_carry_their_chunks_seek_and_the_scans_that_hold_their_frames():
    pts = [i * 2 for i in range(41)]
    ranges = split_ranges(pts, [0, 2, 4, 32, 64], 20)  # [None, 40), [40, None)
    chunks = [{"index": 0, "start": 1, "end": 9, "timed": True}, {"index": 1, "start": 9, "end": 17},
              {"index": 2, "start": 17, "end": 25}, {"index": 3, "start": 25, "end": 40}]
    groups = cut_groups(chunks, pts, [0, 2, 4, 32, 64], 16, ranges)
    assert groups == [
        {"index": 0, "chunks": [{"index": 0, "start": 1, "end": 9}, {"index": 1, "start": 9, "end": 17}],
         "seek": 0, "first": 2, "last": 34, "frames": 17, "ranges": [0]},  # a trim's first frame 1 still seeks
        {"index": 1, "chunks": [{"index": 2, "start": 17, "end": 25}, {"index": 3, "start": 25, "end": 40}],
         "seek": 4, "first": 34, "last": 80, "frames": 24, "ranges": [0, 1]},
    ]
    edge = cut_groups([{"index": 0, "start": 20, "end": 30}], pts, [0], 16, ranges)
    assert edge[0]["ranges"] == [1]  # starts exactly on range 1's start: range 0 holds none of its frames
    ending = cut_groups([{"index": 0, "start": 10, "end": 20}], pts, [0], 16, ranges)
    assert ending[0]["ranges"] == [0, 1]  # ends exactly on range 1's first frame
