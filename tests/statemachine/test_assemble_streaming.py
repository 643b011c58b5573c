"""Assemble without a local copy: the real state machine and handlers on moto. Assemble's peak /tmp is measured
while it runs (a thread samples the size of its temporary directory) for two output lengths: it does not grow
with the output. The result plays to the end with the exact frame count and the audio as long as the video,
and a failure part way publishes nothing."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from contextlib import ExitStack

import pytest
from cloud_fixtures import load_handler, running_stack

pytestmark = pytest.mark.slow

FACTOR = 4


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        yield running_stack(monkeypatch, stack, chunk_frames=4, default_factor=FACTOR)


def _tree_bytes(root: str) -> int:
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(folder, name))
            except OSError:
                pass  # removed while we looked
    return total


class TmpPeak:
    """Run a handler with its temporary files in a fresh directory whose size is sampled every few ms.

    tempfile.tempdir is process-wide, and the state machine runs some calls side by side (Assemble joins the
    video and the comparison in parallel): measured calls take turns, each in its own directory, as each real
    Lambda has its own /tmp."""

    _one_at_a_time = threading.Lock()

    def __init__(self, handler):
        self.handler = handler
        self.peak = 0

    def __call__(self, event, context):
        with self._one_at_a_time, tempfile.TemporaryDirectory(prefix="assemble-tmp-") as root:
            done = threading.Event()

            def sample():
                while not done.is_set():
                    self.peak = max(self.peak, _tree_bytes(root))
                    done.wait(0.002)

            watcher = threading.Thread(target=sample, daemon=True)
            saved, tempfile.tempdir = tempfile.tempdir, root
            watcher.start()
            try:
                return self.handler(event, context)
            finally:
                done.set()
                watcher.join()
                tempfile.tempdir = saved


def _run(cloud, clip, key):
    meter = TmpPeak(load_handler("assemble"))
    cloud.lambdas.overrides["AssembleFunction"] = meter
    desc = cloud.wait(cloud.start(cloud.upload(clip, key)))
    assert desc["status"] == "SUCCEEDED", (desc.get("cause"), cloud.lambdas.errors, cloud.endpoint.errors)
    return json.loads(desc["output"])["outputs"], meter.peak


def _first_pts_s(path, kind: str) -> float:
    """The earliest presentation time of a stream, in seconds, as a player sees it (edit lists applied)."""
    from fractions import Fraction

    from slowmo.media.ffmpeg import run_ffmpeg

    text = run_ffmpeg(["-i", str(path), "-map", f"0:{kind}:0", "-c", "copy", "-f", "framecrc", "-"]).stdout
    timebase = Fraction(next(line for line in text.splitlines() if line.startswith("#tb")).split(":", 1)[1].strip())
    return float(min(int(line.split(",")[2]) for line in text.splitlines() if line and not line.startswith("#"))
                 * timebase)


def _size(cloud, uri) -> int:
    from slowmo.cloud.layout import parse_s3_uri

    bucket, key = parse_s3_uri(uri)
    return cloud.client("s3").head_object(Bucket=bucket, Key=key)["ContentLength"]


def test_peak_tmp_does_not_grow_with_the_output_and_the_result_plays(cloud, make_clip, tmp_path):
    from slowmo.cloud.layout import parse_s3_uri
    from slowmo.media.ffmpeg import run_ffmpeg
    from slowmo.media.probe import probe, stream_duration

    short = make_clip("assemble-short", width=160, height=96, fps=12, frames=10, audio=True)
    long = make_clip("assemble-long", width=160, height=96, fps=12, frames=40, audio=True)
    short_out, short_peak = _run(cloud, short, "uploads/short.mp4")
    long_out, long_peak = _run(cloud, long, "uploads/long.mp4")
    short_bytes = _size(cloud, short_out["video"]) + _size(cloud, short_out["comparison"])
    long_bytes = _size(cloud, long_out["video"]) + _size(cloud, long_out["comparison"])
    print(f"\nAssemble peak /tmp: {short_peak} bytes for {short_bytes} bytes of output (10 source frames), "
          f"{long_peak} bytes for {long_bytes} bytes of output (40 source frames)")
    assert long_bytes > 2.5 * short_bytes
    assert long_peak < 16 * 1024 and short_peak < 16 * 1024  # two concat lists; never the output
    assert long_peak < short_bytes / 4

    for uri, frames in ((long_out["video"], 39 * FACTOR + 1), (long_out["comparison"], 39 * FACTOR + 1)):
        bucket, key = parse_s3_uri(uri)
        local = tmp_path / key.replace("/", "_")
        cloud.client("s3").download_file(bucket, key, str(local))
        run_ffmpeg(["-v", "error", "-xerror", "-i", str(local), "-f", "null", "-"])  # decodes to the end
        info = probe(local)
        assert info.frame_count == frames and info.has_audio
        video_s, audio_s = stream_duration(local, "v"), stream_duration(local, "a")
        assert abs(audio_s - video_s) < 0.001, (video_s, audio_s)  # the stretched audio ends with the video
        video_start, audio_start = _first_pts_s(local, "v"), _first_pts_s(local, "a")
        assert video_start == 0 and -0.03 < audio_start <= 0, (video_start, audio_start)  # AAC priming at most


def test_a_failure_part_way_publishes_nothing(cloud, make_clip):
    from slowmo.cloud.layout import JobLayout
    from slowmo.cloud.media import assemble
    from slowmo.errors import InputError

    clip = make_clip("assemble-short", width=160, height=96, fps=12, frames=10, audio=True)
    outputs, _ = _run(cloud, clip, "uploads/again.mp4")
    s3 = cloud.client("s3")
    before = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=cloud.output_bucket)["Contents"]}
    job_id = outputs["video"].split("/")[4]
    layout = JobLayout(job_id, cloud.work_bucket, cloud.output_bucket)
    s3.delete_object(Bucket=cloud.work_bucket, Key=layout.segment_key(1, "compare"))  # lost part way through
    with pytest.raises(InputError, match=r"could not read s3://slowmo-work/.*compare.*NoSuchKey"):
        assemble(s3=s3, layout=layout)
    after = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=cloud.output_bucket)["Contents"]}
    assert after == before  # the published outputs are untouched, nothing is left under tmp/
