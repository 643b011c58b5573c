"""What goes in comes out, through the cloud too: the chunk encodes and Assemble keep the source's pixel aspect and
its (absence of) colour tags, as a local run does (docs/fidelity.md). The real ASL on moto, in-process handlers."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest
from cloud_fixtures import running_stack

pytestmark = pytest.mark.slow


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        yield running_stack(monkeypatch, stack, chunk_frames=4, default_factor=2)


def _published(cloud, desc, tmp_path):
    from slowmo.cloud.layout import parse_s3_uri
    from slowmo.media.probe import probe

    assert desc["status"] == "SUCCEEDED", (desc.get("cause"), cloud.lambdas.errors, cloud.endpoint.errors)
    found = {}
    for kind, uri in json.loads(desc["output"])["outputs"].items():
        bucket, key = parse_s3_uri(uri)
        cloud.client("s3").download_file(bucket, key, str(tmp_path / f"{kind}.mp4"))
        found[kind] = probe(tmp_path / f"{kind}.mp4")
    return found


def test_anamorphic_untagged_video_keeps_its_aspect_and_stays_untagged(cloud, ffmpeg_media, tmp_path):
    from slowmo.media.probe import probe

    src = ffmpeg_media("cloud-anamorphic.mp4", ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=12:duration=0.75",
                                                "-f", "lavfi", "-i", "sine=duration=0.75", "-vf", "setsar=4/3",
                                                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
    source = probe(src)
    assert source.sar == "4:3" and source.color.space is None  # displayed 16:9, no colour tags
    outputs = _published(cloud, cloud.wait(cloud.start(cloud.upload(src, "uploads/clip.mp4"))), tmp_path)
    for kind, video in outputs.items():
        assert video.sar == "4:3", kind  # before: no SAR, so it played squashed at 4:3
        assert (video.color.space, video.color.primaries, video.color.transfer) == (None, None, None), kind


def test_hd_source_tags_are_kept(cloud, ffmpeg_media, tmp_path):
    src = ffmpeg_media("cloud-tagged-709.mp4", ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=12:duration=0.5",
                                                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-colorspace", "bt709",
                                                "-color_primaries", "bt709", "-color_trc", "bt709"])
    from slowmo.media.probe import probe

    tags = probe(src).color
    assert tags.space == "bt709"  # the matrix is tagged (this ffmpeg leaves primaries and transfer unknown)
    outputs = _published(cloud, cloud.wait(cloud.start(cloud.upload(src, "uploads/audio=drop/clip.mp4"))), tmp_path)
    for kind, video in outputs.items():
        assert (video.color.space, video.color.primaries, video.color.transfer) == (
            tags.space, tags.primaries, tags.transfer), kind


def test_text_subtitles_are_retimed_and_kept_by_assemble(cloud, ffmpeg_media, media_dir, tmp_path):
    from slowmo.media.subtitles import read_ass

    cues = media_dir / "cloud-cues.srt"
    cues.write_text("1\n00:00:00,250 --> 00:00:00,500\nHello\n\n2\n00:00:00,750 --> 00:00:01,000\nWorld\n")
    src = ffmpeg_media("cloud-subs.mp4", ["-f", "lavfi", "-i", "testsrc2=size=160x96:rate=12:duration=1.25",
                                          "-f", "lavfi", "-i", "sine=duration=1.25", "-i", str(cues),
                                          "-map", "0:v", "-map", "1:a", "-map", "2:s", "-c:v", "libx264",
                                          "-pix_fmt", "yuv420p", "-c:a", "aac", "-c:s", "mov_text", "-t", "1.25"])
    outputs = _published(cloud, cloud.wait(cloud.start(cloud.upload(src, "uploads/factor=4/clip.mp4"))), tmp_path)
    assert outputs["video"].subtitles == ("mov_text",)  # before: the track was dropped without a word
    _, retimed = read_ass(str(outputs["video"].path), 0)
    assert [(round(c.start, 2), round(c.end, 2)) for c in retimed] == [(1.0, 2.0), (3.0, 4.0)]  # 4x later and longer


def test_interlaced_video_fails_the_job_with_its_reason_instead_of_combed_output(cloud, ffmpeg_media):
    src = ffmpeg_media("cloud-50i.mp4", ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=0.6",
                                         "-vf", "tinterlace=mode=interleave_top,setfield=tff", "-c:v", "libx264",
                                         "-flags", "+ildct+ilme", "-x264-params", "tff=1", "-pix_fmt", "yuv420p"])
    desc = cloud.wait(cloud.start(cloud.upload(src, "uploads/clip.mp4")))
    assert desc["status"] == "FAILED"
    job_id = cloud.client("dynamodb").scan(TableName=cloud.jobs_table)["Items"][0]["jobId"]["S"]
    status, job = cloud.api("GET", f"/jobs/{job_id}", resource="/jobs/{jobId}", path_parameters={"jobId": job_id})
    assert status == 200 and job["status"] == "FAILED"
    assert "interlaced (tff) video is not processed in the cloud yet" in job["error"], job


def test_editor_codecs_are_refused_by_the_cloud_with_the_local_command():
    from slowmo.cloud.submission import validate_options
    from slowmo.errors import InputError

    for codec in ("prores", "dnxhr"):
        with pytest.raises(InputError, match=rf"codec {codec}: the cloud writes MP4.*--codec {codec}"):
            validate_options({"factor": 4, "codec": codec})
    assert validate_options({"factor": 4, "codec": "h265"})["codec"] == "h265"
