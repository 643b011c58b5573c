"""The extract stage (slowmo.cloud.media.extract) against moto S3 and real generated clips: chunk boundaries
follow the scene cuts, and a source the decoder cannot deliver in full fails the job instead of being
published short."""

from __future__ import annotations

import json

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


def _extract(s3, path, chunk_frames: int, **options):
    from slowmo.cloud.media import extract

    s3.upload_file(str(path), "inbox", "uploads/clip.mp4")
    layout = JobLayout("job-1", "work", "out")
    summary = extract(s3=s3, layout=layout, source={"bucket": "inbox", "key": "uploads/clip.mp4"},
                      options={"factor": 2, **options}, chunk_frames=chunk_frames, upload_workers=2)
    manifest = json.loads(s3.get_object(Bucket="work", Key=layout.manifest_key)["Body"].read())
    plan = json.loads(s3.get_object(Bucket="work", Key=layout.plan_key)["Body"].read())
    return summary, manifest, plan


def _shots(frame_count: int, cuts: list[int], size=(64, 36)):
    """Frames of moving synthetic scenes that change scene at each cut (the first frame of the new shot)."""
    from slowmo.sample import render_frame

    return [render_frame(i, *size, fps=12.0, scene=sum(1 for c in cuts if c <= i) % 2) for i in range(frame_count)]


@pytest.mark.parametrize("frame_count, chunk_frames, cuts", [
    (30, 9, [9]),        # a cut one frame past the nominal boundary 8: the boundary moves onto it
    (30, 9, [8, 23]),    # cuts just before boundaries
    (26, 9, [24]),       # a cut in the last chunk, and a short tail
    (40, 9, [3, 15, 17, 30]),
    (12, 5, []),         # no cuts: plain steps
    (7, 9, [4]),         # shorter than one chunk
    (2, 9, []),          # the shortest video there is: one pair
    (6, 3, []),          # a last chunk of a single pair
])
def test_splitter_gives_exactly_the_planned_chunks_with_their_frames(frame_count, chunk_frames, cuts):
    from slowmo.chunks import plan_chunks
    from slowmo.cloud.media import ChunkSplitter

    frames = _shots(frame_count, cuts)
    splitter = ChunkSplitter(chunk_frames)
    produced = list(splitter.split(iter(frames)))
    assert splitter.cuts == cuts and splitter.decoded == frame_count
    assert [chunk for chunk, _ in produced] == plan_chunks(frame_count, chunk_frames, cuts)
    for chunk, chunk_frames_ in produced:  # each chunk carries its own source frames, boundary frame shared
        assert len(chunk_frames_) == chunk.source_frames
        assert all(got is frames[chunk.start + i] for i, got in enumerate(chunk_frames_))


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
    from slowmo import chunkio
    from slowmo.sample import render_frame

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
    from slowmo.probe import probe

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
