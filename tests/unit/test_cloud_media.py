"""The extract stage (slowmo.cloud.media.extract) against moto S3 and real generated clips: extracting in time
ranges gives exactly the single pass's plan and chunk frames, chunk boundaries follow the scene cuts, and a source the decoder cannot deliver in full fails the job instead of being
published short."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from cloud_fixtures import aws_test_environment

from slowmo.cloud.layout import JobLayout
from slowmo.errors import InputError


@pytest.fixture
def s3(monkeypatch):
    from moto import mock_aws

    aws_test_environment(monkeypatch)
    with mock_aws():
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        for bucket in ("inbox", "work", "out"):
            client.create_bucket(Bucket=bucket)
        yield client


def _extract(s3, path, chunk_frames: int, range_frames: int = 0, group_frames: int = 0, job: str = "job-1",
             **options):
    from slowmo.cloud.media import extract

    key = f"uploads/{job}.mp4"
    s3.upload_file(str(path), "inbox", key)
    layout = JobLayout(job, "work", "out")
    summary = extract(s3=s3, layout=layout, source={"bucket": "inbox", "key": key},
                      options={"factor": 2, **options}, chunk_frames=chunk_frames, range_frames=range_frames,
                      group_frames=group_frames)
    manifest = json.loads(s3.get_object(Bucket="work", Key=layout.manifest_key)["Body"].read())
    plan = json.loads(s3.get_object(Bucket="work", Key=layout.plan_key)["Body"].read())
    return summary, manifest, plan


def _single_pass(path, chunk_frames: int, factor: int = 2):
    """The reference: one probe and one decode of the whole file, every consecutive pair classified in order,
    the plan's chunks from those cuts (what Extract did in one Lambda before ranges)."""
    from slowmo.media.decode import read_frames
    from slowmo.media.probe import probe
    from slowmo.options import JobOptions, working_depth
    from slowmo.synthesis.frames import eight_bit
    from slowmo.timeline.plan import plan_job
    from slowmo.timeline.scenes import PairKind, classify_pair

    info = probe(path)
    frames = [f.copy() for f in read_frames(info, depth=working_depth(info.bit_depth, "blend"))]
    cuts = [i for i in range(1, len(frames))
            if classify_pair(eight_bit(frames[i - 1]), eight_bit(frames[i])) is PairKind.CUT]
    plan = plan_job(info, JobOptions(factor=factor, engine="blend"), chunk_frames=chunk_frames, cuts=cuts)
    return info, frames, cuts, plan


def _chunk_frames(s3, job: str, index: int, tmp_path):
    from slowmo.media import chunkio

    path = tmp_path / f"{job}-{index}{chunkio.EXTENSION}"
    s3.download_file("work", JobLayout(job, "work", "out").chunk_input_key(index), str(path))
    return list(chunkio.read_chunk(path))


def _assert_ranged_equals_single_pass(s3, path, tmp_path, *, chunk_frames: int, range_frames: int, group_frames: int):
    info, frames, cuts, reference = _single_pass(path, chunk_frames)
    job = f"r{range_frames}-g{group_frames}-{path.stem}"
    summary, manifest, plan = _extract(s3, path, chunk_frames, range_frames, group_frames, job=job, engine="blend")
    ranges = json.loads(s3.get_object(Bucket="work", Key=JobLayout(job, "work", "out").ranges_key)["Body"].read())
    assert len(ranges) > 1 if range_frames and range_frames < len(frames) else len(ranges) == 1
    assert plan["cuts"] == cuts
    assert plan["timing"] == reference.to_dict()  # every frame's time, the grid and the chunks
    assert plan["video"] == {**info.to_dict(), "path": plan["video"]["path"]}
    assert [(c["start"], c["end"]) for c in manifest] == [(c.start, c.end) for c in reference.chunks]
    for chunk in manifest:  # each chunk file holds exactly its source frames, pixel for pixel, boundary shared
        got = _chunk_frames(s3, job, chunk["index"], tmp_path)
        want = frames[chunk["start"]: chunk["end"] + 1]
        assert len(got) == len(want), chunk
        assert all((g == w).all() for g, w in zip(got, want, strict=True)), chunk
    return ranges, manifest


@pytest.mark.parametrize("range_frames, group_frames", [(6, 0), (5, 20), (12, 7), (0, 0)])
def test_ranged_extract_gives_exactly_the_single_pass_chunks(s3, make_clip, tmp_path, range_frames, group_frames):
    # 36 frames, a hard cut at frame 12. With 6-frame ranges the cut's pair (11, 12) straddles the edge between
    # range 1 and range 2, so only the range after the edge can see it; 5-frame ranges put it inside a range.
    clip = make_clip("cut-at-range-edge", width=160, height=90, fps=24, frames=36, audio=False, cut_at=12)
    ranges, manifest = _assert_ranged_equals_single_pass(s3, clip, tmp_path, chunk_frames=11,
                                                         range_frames=range_frames, group_frames=group_frames)
    assert any(c["end"] == 11 for c in manifest)  # the boundary snapped to the cut found across the range edge
    if range_frames == 6:
        assert any(r["start"] is not None and r["index"] == 2 for r in ranges)


@pytest.mark.parametrize("name, args", [
    ("open-gop.mp4", ["-f", "lavfi", "-i", "testsrc2=size=160x90:rate=24:duration=2", "-c:v", "libx264",
                      "-x264-params", "open-gop=1:bframes=3:keyint=8:min-keyint=8:scenecut=0", "-pix_fmt", "yuv420p"]),
    ("rate-25-50.mp4", ["-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=2",
                        "-vf", "settb=1/100,setpts='if(lt(N,25),N*4,100+(N-25)*2)'", "-fps_mode", "passthrough",
                        "-enc_time_base", "1/100", "-frames:v", "50", "-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p"]),
    ("negative-start.mp4", ["-f", "lavfi", "-i", "testsrc2=size=160x90:rate=24:duration=2", "-c:v", "libx264",
                            "-g", "6", "-pix_fmt", "yuv420p", "-output_ts_offset", "-0.5", "-avoid_negative_ts",
                            "disabled"]),
])
def test_ranged_extract_matches_the_single_pass_on_awkward_containers(s3, ffmpeg_media, tmp_path, name, args):
    """Open GOPs whose leading B-frames reference the GOP before (the seek must go one GOP further back),
    variable frame rate (ranges cut by time, not by frame count), and an edit list that hides the first
    half second at negative times (the seek is on the file's own clock)."""
    clip = ffmpeg_media(f"ranges-{name}", args)
    ranges, _ = _assert_ranged_equals_single_pass(s3, clip, tmp_path, chunk_frames=7, range_frames=9, group_frames=10)
    assert any(r["seek"] is not None for r in ranges)  # some range really did start from a seek


def test_ranged_extract_of_a_rotated_10_bit_hevc_phone_style_clip(s3, ffmpeg_media, tmp_path):
    """Phones record 10-bit HEVC with a rotation tag: the ranges decode 16 bits per channel (what the flow and
    blend engines keep) and upright, exactly as the single pass does."""
    hevc = ffmpeg_media("ranges-hevc10.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=160x96:rate=24:duration=2", "-c:v", "libx265", "-pix_fmt",
        "yuv420p10le", "-x265-params", "keyint=8:log-level=0", "-colorspace", "bt2020nc"])
    rotated = ffmpeg_media("ranges-hevc10-rotated.mp4", ["-display_rotation:v", "90", "-i", str(hevc), "-c", "copy"])
    from slowmo.media.probe import probe

    info = probe(rotated)
    assert (info.width, info.height, info.rotation, info.bit_depth) == (96, 160, 270, 10)
    ranges, manifest = _assert_ranged_equals_single_pass(s3, rotated, tmp_path, chunk_frames=7, range_frames=9,
                                                         group_frames=10)
    assert sum(r["seek"] is not None for r in ranges) >= 3
    frames = _chunk_frames(s3, "r9-g10-ranges-hevc10-rotated", 0, tmp_path)
    assert frames[0].dtype.itemsize == 2 and frames[0].shape == (160, 96, 3)  # 16-bit, upright


def test_ranged_extract_of_an_open_gop_cut_starts_with_the_frames_the_decoder_shows(s3, ffmpeg_media, tmp_path):
    whole = ffmpeg_media("ranges-open-gop-src.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=24:duration=2", "-c:v", "libx264",
        "-x264-params", "open-gop=1:bframes=3:keyint=8:min-keyint=8:scenecut=0", "-pix_fmt", "yuv420p"])
    cut = ffmpeg_media("ranges-open-gop-cut.mp4", ["-ss", "0.4", "-i", str(whole), "-c", "copy"])
    _assert_ranged_equals_single_pass(s3, cut, tmp_path, chunk_frames=6, range_frames=8, group_frames=0)


def test_extract_snaps_a_chunk_boundary_to_the_scene_cut(s3, clip):
    # clip: 24 frames, a hard cut at frame 12. 11-frame chunks step by 10, so the first boundary would fall on
    # frame 10; the cut makes frame 11 (the last of the first shot) the boundary instead.
    summary, manifest, plan = _extract(s3, clip, chunk_frames=11)
    assert [(c["start"], c["end"]) for c in manifest] == [(0, 11), (11, 21), (21, 23)]
    assert plan["cuts"] == [12]
    assert summary["sourceFrames"] == 24 and summary["chunkCount"] == 3


def test_extract_plans_the_frames_an_edit_list_presents(s3, index_longer_than_stream):
    # the index holds 24 frames, the edit list presents 18 and the decoder cleanly delivers 18: a valid file
    # (issue 10). The plan, the manifest and the chunks cover exactly those 18 frames.
    summary, manifest, plan = _extract(s3, index_longer_than_stream, chunk_frames=8)
    assert summary["sourceFrames"] == 18 and summary["outputFrames"] == (18 - 1) * 2 + 1
    assert manifest[0]["start"] == 0 and manifest[-1]["end"] == 17
    assert plan["timing"]["outputCount"] == 35


ENCODE_PLAN = {"options": {"factor": 2, "compare": False, "engine": "blend"}, "outputFps": "24/1",
               "video": {"width": 64, "height": 48, "color": {}}}


def _model_output(s3, tmp_path, layout, index: int, frame_count: int) -> None:
    """An output chunk as the model server stores it, holding frame_count frames."""
    from slowmo.foresight.sample import render_frame
    from slowmo.media import chunkio

    path = tmp_path / f"output{index}{chunkio.EXTENSION}"
    chunkio.write_chunk([render_frame(i, 64, 48, 24.0) for i in range(frame_count)], path, 24)
    s3.upload_file(str(path), "work", layout.chunk_output_key(index))


def _segments(s3, layout) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket="work", Prefix=f"jobs/{layout.job_id}/").get("Contents", [])
                  if o["Key"].endswith(".mp4"))


@pytest.mark.parametrize("frame_count", [4, 6])  # chunk 0-2 at factor 2 must give (2 - 0) * 2 + 1 = 5 frames
def test_encode_chunk_refuses_an_output_chunk_with_the_wrong_number_of_frames(s3, tmp_path, frame_count):
    from slowmo.cloud.media import encode_chunk

    layout = JobLayout("job-1", "work", "out")
    _model_output(s3, tmp_path, layout, 0, frame_count)
    with pytest.raises(InputError, match=f"chunk 0: the model returned {frame_count} frames, expected 5"):
        encode_chunk(s3=s3, layout=layout, chunk={"index": 0, "start": 0, "end": 2}, plan=ENCODE_PLAN)
    assert _segments(s3, layout) == []  # nothing a later re-run could mistake for a finished segment


def test_encode_chunk_reuses_a_segment_only_when_it_was_made_for_this_chunk(s3, tmp_path):
    from slowmo.cloud.media import encode_chunk
    from slowmo.media.probe import probe

    layout = JobLayout("job-1", "work", "out")
    chunk = {"index": 1, "start": 2, "end": 4}  # factor 2: 5 frames, the first (chunk 0's last) dropped
    _model_output(s3, tmp_path, layout, 1, 5)
    # a segment left by an earlier plan of this job, made for frames 2-5: it must not stand in for 2-4
    s3.put_object(Bucket="work", Key=layout.segment_key(1), Body=b"a segment for another frame range",
                  Metadata={"slowmo-chunk": "2-5x2"})
    first = encode_chunk(s3=s3, layout=layout, chunk=chunk, plan=ENCODE_PLAN)
    assert "reused" not in first and first["frames"] == 4
    s3.download_file("work", layout.segment_key(1), str(tmp_path / "segment.mp4"))
    assert probe(tmp_path / "segment.mp4").frame_count == 4

    again = encode_chunk(s3=s3, layout=layout, chunk=chunk, plan=ENCODE_PLAN)  # a re-run of the same chunk
    assert again == {"chunk": 1, "frames": 4, "reused": True}


def _shift_sync_samples(data: bytes, by: int) -> bytes:
    """The MP4 with every sync sample number of its stss box (ISO 14496-12, 8.6.2) moved ``by`` samples later:
    the file then calls P-frames key frames. Same size, so nothing else in the file moves."""
    import struct

    at = data.index(b"stss")
    count = struct.unpack(">I", data[at + 8: at + 12])[0]
    entries = [struct.unpack(">I", data[at + 12 + 4 * i: at + 16 + 4 * i])[0] for i in range(count)]
    moved = b"".join(struct.pack(">I", e + by if e > 1 else e) for e in entries)  # sample 1 stays: decoding starts there
    return data[: at + 12] + moved + data[at + 12 + 4 * count:]


def test_ranged_extract_survives_a_sync_sample_table_that_lies(s3, ffmpeg_media, tmp_path):
    """A file whose sync sample table (stss) calls P-frames key frames, 4 frames off the real IDR frames. The
    bundled ffmpeg (9.0) flags packets and seeks by the IDR frames the stream itself holds, not by that table
    (checked by hand: a seek to frame 16 starts decoding at frame 16 with or without the lie), so slowmo's seek
    and clean points are the real ones and the ranges still give the single pass, pixel for pixel. A file
    whose key frames are no clean start for other reasons is redone from the start (test_ranges.py's
    SeekMismatch test; benchmarks/ranges_real.py on python3-imageio's cockatoo.mp4)."""
    clip = ffmpeg_media("ranges-lying-keys-src.mp4", [
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=24:duration=2", "-c:v", "libx264", "-g", "8",
        "-bf", "0", "-pix_fmt", "yuv420p"])
    lying = tmp_path / "lying-keys.mp4"
    lying.write_bytes(_shift_sync_samples(clip.read_bytes(), 4))
    from slowmo.media.probe import read_container

    keys = read_container(str(lying), "lying-keys.mp4").keyframes
    assert keys == tuple(i * 8 * 512 for i in range(6))  # the packets' own key flags: the IDR frames 0, 8, 16, ...
    ranges, _ = _assert_ranged_equals_single_pass(s3, lying, tmp_path, chunk_frames=7, range_frames=9, group_frames=10)
    assert sum(r["seek"] is not None for r in ranges) >= 3


def test_a_rescan_from_the_start_is_refused_when_it_is_more_than_one_call_can_decode():
    """A seek that cannot be trusted is redone from the start of the file, up to three default ranges of 1080p
    (16,200 frames; a quarter of that at 4K); further than that, the job fails at once with what to do."""
    from dataclasses import replace

    from slowmo.cloud.media import _refuse_a_long_rescan
    from slowmo.media.probe import ColorTags, Container

    hd = Container(name="clip.mp4", width=1920, height=1080, coded_width=1920, coded_height=1080, rotation=0,
                   codec="h264", pix_fmt="yuv420p", color=ColorTags(), has_audio=False, audio_codec=None,
                   audio_sample_rate=None, audio_channels=None, container="mov,mp4", audio_start=None,
                   nominal_fps=None, indexed_frames=20000, timebase=Fraction(1, 90000))
    _refuse_a_long_rescan(hd, 16200, "clip.mp4: error while decoding MB 3 4")  # fits: nothing raised
    with pytest.raises(InputError, match=r"^clip\.mp4: does not decode cleanly from its key frames \(error while "
                                         r"decoding MB 3 4\).*re-encode it"):
        _refuse_a_long_rescan(hd, 16201, "clip.mp4: error while decoding MB 3 4")
    with pytest.raises(InputError):
        _refuse_a_long_rescan(replace(hd, width=3840, height=2160), 4051, "ranges [5] decode differently")


def test_an_empty_object_fails_extract_with_one_line(s3):
    """S3 answers a ranged GET of an empty object with 416 InvalidRange: Extract says the file is empty."""
    from slowmo.cloud.media import read_index

    s3.put_object(Bucket="inbox", Key="uploads/empty.mp4", Body=b"")
    with pytest.raises(InputError, match=r"^empty\.mp4: file is empty \(0 bytes\)$"):
        read_index(s3=s3, layout=JobLayout("job-e", "work", "out"), source={"bucket": "inbox", "key": "uploads/empty.mp4"},
                   options={"factor": 2}, range_frames=10)


def test_a_long_container_without_packet_times_is_refused_before_any_scan(s3, ffmpeg_media):
    """MPEG-4 Part 2 in AVI with B-frames: the index gives no time to the B-frames (AV_NOPTS_VALUE), so the video
    can only be scanned in one pass. Longer than one call decodes, it is refused at once, saying what to do."""
    from slowmo.cloud.media import read_index
    from slowmo.media.probe import read_container

    avi = ffmpeg_media("nopts.avi", ["-f", "lavfi", "-i", "testsrc2=size=160x90:rate=24:duration=2",
                                     "-c:v", "mpeg4", "-bf", "2", "-f", "avi"])
    assert min(read_container(str(avi), "nopts.avi").packet_pts) == -(2**63)  # packets without a time
    s3.upload_file(str(avi), "inbox", "uploads/nopts.avi")
    source = {"bucket": "inbox", "key": "uploads/nopts.avi"}
    layout = JobLayout("job-avi", "work", "out")
    with pytest.raises(InputError, match=r"^nopts\.avi: its avi index gives 48 frames but not a time for each, .*"
                                         r"at most 40 frames of this size; remux it to MP4 first"):
        read_index(s3=s3, layout=layout, source=source, options={"factor": 2}, range_frames=10, single_pass_frames=40)
    ranges = read_index(s3=s3, layout=layout, source=source, options={"factor": 2}, range_frames=10,
                        single_pass_frames=48)
    assert ranges["rangeCount"] == 1  # within one call: a single range, the single pass


# ------------------------------------------------------------------------------------------- broken reads
def _read(url: str, first: int | None = None) -> bytes:
    import urllib.request

    headers = {} if first is None else {"Range": f"bytes={first}-"}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as resp:  # noqa: S310 - loopback
        return resp.read()


def test_a_body_that_breaks_part_way_is_read_on_from_the_byte_it_reached(s3, monkeypatch):
    """Issue 20, finding 5. A GetObject body that breaks (the harness's drop_after, as a reset connection does)
    is asked for again from where it stopped, on the same response: the reader gets every byte, in order."""
    from aws_semantics import S3Limits

    from slowmo.cloud import s3http

    monkeypatch.setattr(s3http, "RESUME_BACKOFF_S", 0.0)
    data = bytes(range(251)) * 12_000  # 3 MB, no period that lines up with a piece
    s3.put_object(Bucket="inbox", Key="clip.mp4", Body=data)
    with S3Limits() as limits, s3http.ObjectServer(s3) as server:
        url = server.url("inbox", "clip.mp4")
        limits.drop_after("inbox", "clip.mp4", 700_001, 1_300_000)  # the whole read breaks twice
        assert _read(url) == data
        limits.drop_after("inbox", "clip.mp4", 123_457)  # a ranged read (ffmpeg's seek) breaks once
        assert _read(url, 1_000_000) == data[1_000_000:]
        server.check()  # nothing failed
    assert limits.broken_reads == 3 and server.resumed == 3 and not server.failures


def test_a_read_that_keeps_breaking_is_a_retryable_s3_read_error_not_the_users_file(s3, monkeypatch):
    from aws_semantics import S3Limits

    from slowmo.cloud import s3http

    monkeypatch.setattr(s3http, "RESUME_BACKOFF_S", 0.0)
    s3.put_object(Bucket="inbox", Key="clip.mp4", Body=b"\1" * 100_000)
    with S3Limits() as limits, s3http.ObjectServer(s3) as server:
        limits.drop_after("inbox", "clip.mp4", *[10_000] * (s3http.RESUMES + 1))
        try:
            _read(server.url("inbox", "clip.mp4"))
        except Exception:  # noqa: BLE001 - the response is short: the HTTP reader may notice
            pass
        with pytest.raises(s3http.S3ReadError, match=r"s3://inbox/clip.mp4: broke off 5 times") as raised:
            server.check()
    assert not isinstance(raised.value, InputError)
