"""Admission: run the capacity model on an uploaded video before anything is spent on it.

ClaimJob (uploads and API submissions) and ``POST /jobs`` call ``admit``. It reads the video's index
straight from S3 with a few ranged GETs (slowmo.media.mp4header: the top-level box headers, then ``moov``),
checks the configured limits (slowmo.foresight.limits) and estimates the job with slowmo.foresight.capacity. A job that
cannot finish is refused with one line naming the limit and the longest input that fits at these
options; Extract, the endpoint and the Map never see it.

What the index cannot tell with certainty (MKV, WebM, AVI, a fragmented MP4, a cut-short upload, not
a video at all) is not judged here: Extract probes the whole file, says precisely what is wrong with
it, and runs the same model on its exact probe before it writes a chunk
(slowmo.cloud.media.extract -> ``check_probed``), still before any GPU time.
"""

from __future__ import annotations

import posixpath
from typing import Any

from slowmo.cloud.submission import SourceObject
from slowmo.errors import InputError
from slowmo.foresight import capacity
from slowmo.media.mp4header import Mp4Header, read_header


def read_index(s3, source: SourceObject) -> tuple[Mp4Header | None, int]:
    """The video facts in the object's MP4/MOV index, read with ranged GETs (or None), and its size."""
    extra = {"VersionId": source.version_id} if source.version_id else {}
    size = source.size
    if size is None:
        size = s3.head_object(Bucket=source.bucket, Key=source.key, **extra)["ContentLength"]
    if not size:
        return None, 0

    def read(offset: int, length: int) -> bytes:
        last = min(offset + length, int(size)) - 1
        if last < offset:
            return b""
        return s3.get_object(Bucket=source.bucket, Key=source.key, Range=f"bytes={offset}-{last}", **extra)["Body"].read()

    return read_header(read, int(size)), int(size)


def facts_from_index(header: Mp4Header, file_bytes: int | None) -> capacity.Source:
    return capacity.Source(header.width, header.height, header.frames, header.fps, header.bit_depth, file_bytes,
                           header.has_audio)


def curve_terms(facts: capacity.Source, options: dict[str, Any], job: capacity.Job) -> tuple[capacity.Source, capacity.Job]:
    """A trim or slow ranges as the model counts them: the frames kept, and a whole factor that never
    undercounts the speed curve's output (slowmo.timeline.speedcurve.capacity_terms)."""
    from dataclasses import replace

    from slowmo.timeline.speedcurve import capacity_terms, parse_spec

    spec = parse_spec(options.get("trim"), options.get("ranges"), options.get("ease"))
    frames, factor = capacity_terms(spec, job.factor, facts.frames, facts.fps)
    return facts.with_frames(frames), replace(job, factor=factor)


def judge(facts: capacity.Source, options: dict[str, Any], name: str, *, stack: capacity.Stack | None = None,
          limits=None) -> capacity.CapacityReport:
    """Refuse (InputError, one line starting with the file name) what is over the configured limits
    or what the capacity model says cannot finish; the model's report otherwise."""
    from slowmo.foresight.limits import Limits

    work, job = curve_terms(facts, options, capacity.Job.from_options(options))
    (limits or Limits.from_env()).check_video(facts.width, facts.height, facts.duration_s,
                                              (work.frames - 1) * job.factor + 1, name)
    report = capacity.estimate(work, job, stack or capacity.Stack.from_env())
    if not report.fits:
        raise InputError(f"{name}: {report.refusal()}")
    return report


def admit(s3, source: SourceObject, options: dict[str, Any], *, stack: capacity.Stack | None = None,
          limits=None) -> capacity.CapacityReport | None:
    """judge() on the facts in the object's index; None when the index cannot say (Extract judges)."""
    header, size = read_index(s3, source)
    if header is None:
        return None
    return judge(facts_from_index(header, size), options, posixpath.basename(source.key) or source.key,
                 stack=stack, limits=limits)
