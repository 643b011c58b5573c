"""slowmo.ranges: the time ranges of Extract's scans add up to the single pass, without video."""

from __future__ import annotations

import pytest

from slowmo.ranges import RangeError, Scan, TimeRange, cut_groups, join_scans, seek_point, split_ranges


def test_one_range_when_the_video_is_shorter_than_a_range():
    assert split_ranges(range(0, 100, 10), [0, 50], 20) == [TimeRange(0, None, None, None)]
    assert split_ranges(range(0, 100, 10), [0], 0) == [TimeRange(0, None, None, None)]


def test_ranges_own_every_packet_once_and_seek_a_gop_before_the_frame_they_need():
    pts = [i * 10 for i in range(30)]
    keys = [0, 80, 160, 240]  # a key packet every 8 frames
    ranges = split_ranges(pts, keys, 10)
    assert [(r.start, r.end) for r in ranges] == [(None, 100), (100, 200), (200, None)]
    owners = [[r.index for r in ranges if r.owns(p)] for p in pts]
    assert all(len(o) == 1 for o in owners)
    # range 1 needs frame 90 (the one before its start): the last key at or before it is 80, one GOP more is 0
    assert [r.seek for r in ranges] == [None, 0, 80]


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
    from slowmo.ranges import frames_per_range

    assert frames_per_range(5400, 1920, 1080) == 5400
    assert frames_per_range(5400, 3840, 2160) == 1350  # 4K: the same pixels per range as 1080p
    assert frames_per_range(5400, 640, 360) == 5400
    assert frames_per_range(0, 3840, 2160) == 0 and frames_per_range(3, 7680, 4320) == 2


def test_an_index_without_times_on_every_packet_is_not_cut_by_time():
    from slowmo.ranges import NO_PTS, time_indexed

    avi = [NO_PTS, NO_PTS, *range(0, 100)]  # AVI: B-frames carry no presentation time
    assert not time_indexed(avi) and not time_indexed([0, 1, 1, 2]) and time_indexed(range(5))
    assert split_ranges(avi, [0, 50], 10) == [TimeRange(0, None, None, None)]


def test_a_seek_that_decodes_the_frames_before_its_range_differently_is_named_for_a_rescan():
    from slowmo.ranges import SeekMismatch

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
