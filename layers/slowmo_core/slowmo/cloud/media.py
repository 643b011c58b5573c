"""The container Lambdas' work: split a video into chunks, encode a chunk's segment, assemble the result.

Only the container images (functions/extract, encode_chunk, assemble) import this module: it pulls in
numpy, OpenCV and ffmpeg through the core (probe, decode, chunkio, encode, compare, audio).

Budget: each call handles one time range of the source (Extract's scans and cuts, slowmo.timeline.ranges), one
chunk (encode), or a stream copy of finished segments (assemble), so for fixed range and chunk sizes the
per-invocation time does not grow with the video's length except for reading the container's index and
the final concatenation (slowmo.foresight.capacity models every step; docs/capacity.md).
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from fractions import Fraction
from typing import Any

from slowmo.cloud.layout import JobLayout, s3_uri
from slowmo.errors import InputError
from slowmo.options import parse_factor
from slowmo.timeline.timing import factor_json

COMPARE_LABEL_LEFT = "original (frames repeated)"


def _rate(fps: Fraction) -> str:
    return f"{fps.numerator}/{fps.denominator}"


def _put_json(s3, bucket: str, key: str, body: Any) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body, separators=(",", ":")).encode(),
                  ContentType="application/json")


def _get_json(s3, bucket: str, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def load_plan(s3, layout: JobLayout) -> dict[str, Any]:
    return _get_json(s3, layout.work_bucket, layout.plan_key)


# -- extract ------------------------------------------------------------------------------------------
# Extract runs in four steps so that no Lambda makes a whole pass over a long video (slowmo.timeline.ranges):
#   read_index    the container's packet index, read over ranged GETs; writes the ranges (scan Map items)
#   scan_range    one range: decode, time every frame, classify every pair (a Distributed Map of these)
#   plan_chunks   join the scans into the single pass's frames and cuts; the plan, its chunks, their groups
#   cut_range     one group of chunks: decode their frames and write the lossless chunk files (a Map again)
# ``extract`` runs the four in one process, in order: the same result, for tests and small jobs.


def _source_name(source: dict[str, Any]) -> str:
    return posixpath.basename(source["key"]) or source["key"]


def _object_head(s3, source: dict[str, Any]) -> tuple[bytes, int]:
    """The object's first bytes (is it an MP4?) and its size, in one ranged GetObject."""
    from botocore.exceptions import ClientError

    extra = {"VersionId": source["version_id"]} if source.get("version_id") else {}
    try:
        got = s3.get_object(Bucket=source["bucket"], Key=source["key"], Range="bytes=0-11", **extra)
    except ClientError as err:
        # S3 answers a range of an empty object with 416 InvalidRange (API reference, GetObject, "Range")
        if err.response.get("Error", {}).get("Code") == "InvalidRange":
            return b"", 0
        raise
    size = int(got["ContentRange"].rsplit("/", 1)[1]) if got.get("ContentRange") else int(got["ContentLength"])
    return got["Body"].read(), size


def read_index(*, s3, layout: JobLayout, source: dict[str, Any], options: dict[str, Any],
               range_frames: int, single_pass_frames: int | None = None) -> dict[str, Any]:
    """Extract, step 1: describe the container from its packets (a stream copy read through ranged GETs,
    nothing on /tmp), cut its frames into time ranges, and write both for the scans.

    A container that cannot be cut by time (slowmo.timeline.ranges.time_indexed) is scanned in one pass; one longer
    than a call can decode (``single_pass_frames``, default RESCAN_FRAMES for its frame size) is refused now,
    with what to do, rather than left to time out in its scan."""
    from slowmo.cloud.s3http import ObjectServer
    from slowmo.media.probe import read_container
    from slowmo.options import JobOptions
    from slowmo.timeline.ranges import RESCAN_FRAMES, frames_per_range, split_ranges, time_indexed

    JobOptions.from_dict(dict(options))  # refused options fail here, before any decoding
    name = _source_name(source)
    head, size = _object_head(s3, source)
    if size == 0:
        raise InputError(f"{name}: file is empty (0 bytes)")
    with ObjectServer(s3) as server:
        container = read_container(server.url(source["bucket"], source["key"], source.get("version_id")), name, head=head)
        server.check()
    by_time = time_indexed(container.packet_pts)
    one_pass = single_pass_frames or frames_per_range(RESCAN_FRAMES, container.width, container.height)
    if not by_time and container.indexed_frames > one_pass:
        raise InputError(f"{name}: its {container.container or 'container'} index gives {container.indexed_frames} frames "
                         f"but not a time for each, so it cannot be split into time ranges, and one Extract call "
                         f"decodes at most {one_pass} frames of this size; remux it to MP4 first "
                         f"(ffmpeg -i {name} -c copy out.mp4) and upload that")
    ranges = split_ranges(container.packet_pts, container.keyframes,
                          frames_per_range(range_frames, container.width, container.height))
    # an index without a time on every packet cannot be decoded by time: one range, and cuts without seeks
    _put_json(s3, layout.work_bucket, layout.container_key,
              {**container.to_dict(), "sizeBytes": size, "timeIndexed": by_time})
    _put_json(s3, layout.work_bucket, layout.ranges_key, [r.to_dict() for r in ranges])
    return {"ranges": {"Bucket": layout.work_bucket, "Key": layout.ranges_key}, "rangeCount": len(ranges),
            "indexedFrames": container.indexed_frames}


def _load_container(s3, layout: JobLayout):
    from slowmo.media.probe import Container

    data = _get_json(s3, layout.work_bucket, layout.container_key)
    size = int(data.pop("sizeBytes"))
    if not data.pop("timeIndexed", True):
        data["keyframes"] = []  # never seek in a container without a time on every packet (slowmo.timeline.ranges)
    return Container.from_dict(data), size


def _working_depth(container, options: dict[str, Any]) -> int:
    from slowmo.options import working_depth

    return working_depth(container.bit_depth, options.get("engine", "film"))


def _seconds(ticks: int | None, timebase: Fraction) -> Fraction | None:
    return None if ticks is None else ticks * timebase


def _from_seek_or_start(work, seek: int | None, *, frames_from_start: int, container):
    """work(seek), or work(None) when the decode from the seek reported damage. Some files flag as key a
    picture that is no clean random access point (cockatoo.mp4 of python3-imageio: decoding from its second
    key packet reports errors to the end of the file, decoding from the start none). Only a decode from the
    start, the single pass's own, may call the file damaged; it costs the time to decode up to the range's
    end (``frames_from_start``), so beyond what one call can decode the file is refused instead."""
    if seek is None:
        return work(None)
    try:
        return work(seek)
    except InputError as err:
        _refuse_a_long_rescan(container, frames_from_start, str(err))
        return work(None)


def _refuse_a_long_rescan(container, frames_from_start: int, why: str) -> None:
    from slowmo.timeline.ranges import RESCAN_FRAMES, frames_per_range

    name = container.name
    if frames_from_start > frames_per_range(RESCAN_FRAMES, container.width, container.height):
        raise InputError(f"{name}: does not decode cleanly from its key frames ({why.removeprefix(name + ': ')}), and "
                         f"decoding it from the start that far is more than one Extract call can do; re-encode it "
                         f"with regular key frames (e.g. ffmpeg -i in -c:v libx264 -c:a copy out.mp4) and upload that")


def _scan_ranges(s3, source: dict[str, Any], container, ranges: list, seek: int | None, depth: int) -> dict:
    """Decode from ``seek`` (None: the start) to the end of the last of ``ranges`` (consecutive TimeRanges) and
    scan each: every owned frame's time and CRC, every cut, classified exactly as the single pass classifies
    them (scenes.classify_pair on the 8-bit view of consecutive frames), and the pre-roll after a seek.
    {index: Scan}."""
    import zlib

    from slowmo.cloud.s3http import ObjectServer
    from slowmo.media.decode import read_timed_frames
    from slowmo.synthesis.frames import eight_bit
    from slowmo.timeline.ranges import Scan, clean_point
    from slowmo.timeline.scenes import PairKind, classify_pair, signature

    scans = {r.index: Scan(r.index, None) for r in ranges}
    first, last = ranges[0], ranges[-1]
    clean_from = clean_point(container.keyframes, seek)
    owner = 0
    previous = previous_sig = previous_pts = None
    with ExitStack() as stack:
        server = stack.enter_context(ObjectServer(s3))
        url = server.url(source["bucket"], source["key"], source.get("version_id"))
        decoded = stack.enter_context(closing(read_timed_frames(
            container, url, seek=_seconds(seek, container.timebase), depth=depth, name=container.name,
            clean_from=clean_from)))
        for pts, duration, frame in decoded:
            if last.end is not None and pts >= last.end:
                break  # the next range owns the rest (closing the decoder stops ffmpeg)
            if first.start is not None and pts < first.start:
                previous, previous_sig, previous_pts = eight_bit(frame), None, pts  # the frame before the edge
                if seek is not None and (clean_from is None or pts >= clean_from):
                    scans[first.index].preroll.append([pts, zlib.crc32(frame)])
                continue
            while not ranges[owner].owns(pts):
                owner += 1
            scan = scans[ranges[owner].index]
            # cuts are judged on 8 bits per channel whatever the working depth, as synthesis judges them
            # (synthesis.fill_pair): the thresholds are in 8-bit grey levels, and OpenCV's HSV has no 16-bit.
            # Each frame's 8-bit view and signature are made once and kept for the next pair.
            view = eight_bit(frame)
            sig = signature(view)
            if previous is not None:
                previous_sig = previous_sig or signature(previous)
                if classify_pair(previous, view, previous_sig, sig) is PairKind.CUT:
                    scan.cuts.append(len(scan.pts))
            if not scan.pts:
                scan.previous = previous_pts
            scan.pts.append(pts)
            scan.durations.append(duration)
            scan.crcs.append(zlib.crc32(frame))
            previous, previous_sig, previous_pts = view, sig, pts
        server.check()
    return scans


def scan_range(*, s3, layout: JobLayout, source: dict[str, Any], options: dict[str, Any],
               item: dict[str, Any]) -> dict[str, Any]:
    """Extract, step 2 (one Map item): decode one time range and write its scan (slowmo.timeline.ranges.Scan)."""
    from slowmo.timeline.ranges import TimeRange

    rng = TimeRange.from_dict(item)
    container, _ = _load_container(s3, layout)
    depth = _working_depth(container, options)
    scan = _from_seek_or_start(lambda seek: _scan_ranges(s3, source, container, [rng], seek, depth), rng.seek,
                               frames_from_start=rng.through, container=container)[rng.index]
    _put_json(s3, layout.work_bucket, layout.scan_key(rng.index), scan.to_dict())
    return {"range": rng.index, "frames": len(scan.pts), "cuts": len(scan.cuts)}


def _join_or_rescan(s3, layout: JobLayout, source: dict[str, Any], container, ranges: list, depth: int):
    """join_scans; the ranges whose seek disagrees with the range before them are scanned again from the
    start of the file, in one decode, and the scans joined again, until they agree (from the start they do)."""
    from slowmo.timeline.ranges import Scan, SeekMismatch, join_scans

    scans = {r.index: Scan.from_dict(_get_json(s3, layout.work_bucket, layout.scan_key(r.index))) for r in ranges}
    for _ in range(len(ranges)):
        try:
            return join_scans(ranges, list(scans.values()))
        except SeekMismatch as mismatch:
            bad = [r for r in ranges if r.index in mismatch.ranges]
            # one decode from the start through the last bad range, keeping the bad ones' scans
            span = [r for r in ranges if r.index <= bad[-1].index]
            _refuse_a_long_rescan(container, span[-1].through, f"ranges {mismatch.ranges} decode differently from a seek")
            redone = _scan_ranges(s3, source, container, span, None, depth)
            for r in bad:
                scans[r.index] = redone[r.index]
                _put_json(s3, layout.work_bucket, layout.scan_key(r.index), redone[r.index].to_dict())
    return join_scans(ranges, list(scans.values()))


def plan_chunks(*, s3, layout: JobLayout, source: dict[str, Any], options: dict[str, Any], chunk_frames: int,
                group_frames: int) -> dict[str, Any]:
    """Extract, step 3: join the scans into the single pass's frames and cuts, judge the job on the exact
    probe, plan it, and write plan.json, the chunk manifest and the cut Map's groups."""
    from slowmo.cloud.admission import judge
    from slowmo.foresight.capacity import Source
    from slowmo.foresight.limits import Limits
    from slowmo.local.pipeline import check_input
    from slowmo.media.fidelity import fidelity_warnings
    from slowmo.media.probe import _Packets, complete
    from slowmo.options import JobOptions
    from slowmo.timeline.plan import plan_job
    from slowmo.timeline.ranges import RangeError, TimeRange, cut_groups, frames_per_range

    opts = JobOptions.from_dict(dict(options))
    container, size = _load_container(s3, layout)
    name = container.name
    ranges = [TimeRange.from_dict(r) for r in _get_json(s3, layout.work_bucket, layout.ranges_key)]
    try:
        joined = _join_or_rescan(s3, layout, source, container, ranges, _working_depth(container, options))
    except RangeError as err:
        raise RuntimeError(f"internal error: the extract ranges of {name} do not join: {err}") from err
    pts, durations, cuts = joined.pts, joined.durations, joined.cuts
    if len(pts) < 2:
        raise InputError(f"{name}: only {len(pts)} frame could be decoded; need at least 2")
    info = complete(container, _Packets(container.timebase, pts, durations), source["key"])
    if info.field_order in ("tff", "bff"):
        # a local run deinterlaces (each field a frame); the cloud's ranged decode does not yet, and synthesising
        # between combed frames smears the combing: refused with the way to make it, not made wrong
        raise InputError(f"{name}: interlaced ({info.field_order}) video is not processed in the cloud yet; "
                         f"slow it down locally, where it is deinterlaced first: slowmo run {name} -o OUT.mp4 -k K")
    timing = plan_job(info, opts)  # refuses an output rate that would drop real frames
    warnings = check_input(info, opts, Limits.from_env(), timing, file_bytes=size)
    # what the output drops or changes (alpha, bitmap subtitles, HDR10+ ...), said in the job's report
    warnings += fidelity_warnings(info, opts, depth=_working_depth(container, options), subtitles_kept=True)
    judge(Source.from_probe(info, size), options, name)  # the exact probe, as the claim judged the index
    first, last = timing.first_frame, timing.last_frame
    cuts = [c for c in cuts if first < c <= last]  # a trim: only pairs inside the kept frames count
    timing = plan_job(info, opts, chunk_frames=chunk_frames, cuts=cuts)
    fps = info.fps
    plan = {
        "jobId": layout.job_id,
        "source": source,
        "options": options,
        "video": info.to_dict(),
        "fps": _rate(fps),
        "outputFps": _rate(Fraction(timing.output_fps)),
        "chunkFrames": chunk_frames,
        "chunkCount": len(timing.chunks),
        "sourceFrames": info.frame_count,
        "outputFrames": timing.output_count,
        "cuts": cuts,
        "warnings": warnings,
        "timing": timing.to_dict(),
    }
    # Items stay pointers: a chunk whose output frames are not today's j/K pattern says "timed", and
    # the request builder reads its slice from plan.json.
    timed = not is_uniform(timing)
    manifest = [{**chunk.to_dict(), **({"timed": True} if timed else {})} for chunk in timing.chunks]
    groups = [group_pointer(g) for g in cut_groups(manifest, pts, container.keyframes,
                                                   frames_per_range(group_frames, info.width, info.height), ranges)]
    _put_json(s3, layout.work_bucket, layout.plan_key, plan)
    _put_json(s3, layout.work_bucket, layout.manifest_key, manifest)
    _put_json(s3, layout.work_bucket, layout.groups_key, groups)
    return {
        "manifest": {"Bucket": layout.work_bucket, "Key": layout.manifest_key},
        "groups": {"Bucket": layout.work_bucket, "Key": layout.groups_key},
        "groupCount": len(groups),
        "outputs": output_kinds(options),  # Assemble joins each in a call of its own
        "chunkCount": plan["chunkCount"],
        "sourceFrames": plan["sourceFrames"],
        "outputFrames": plan["outputFrames"],
        "fps": plan["fps"],
        "width": info.width,
        "height": info.height,
    }


def group_pointer(group: dict[str, Any]) -> dict[str, Any]:
    """A cut group as its Map item: the first and last chunk index instead of the list of its chunks (a group
    of 5,400 frames in chunks of 3 would carry 2,700 of them, over 100 kB in one state's input)."""
    chunks = group["chunks"]
    return {**{k: v for k, v in group.items() if k != "chunks"},
            "firstChunk": int(chunks[0]["index"]), "lastChunk": int(chunks[-1]["index"])}


def group_chunks(s3, layout: JobLayout, item: dict[str, Any]) -> list[dict[str, Any]]:
    """The planned chunks a cut item points at, read from the manifest (chunk i is the manifest's entry i)."""
    if "chunks" in item:
        return item["chunks"]
    manifest = _get_json(s3, layout.work_bucket, layout.manifest_key)
    chunks = manifest[int(item["firstChunk"]):int(item["lastChunk"]) + 1]
    if not chunks or int(chunks[0]["index"]) != int(item["firstChunk"]) or \
            int(chunks[-1]["index"]) != int(item["lastChunk"]):
        raise RuntimeError(f"internal error: chunks {item['firstChunk']}-{item['lastChunk']} are not in the manifest")
    return chunks


def cut_range(*, s3, layout: JobLayout, source: dict[str, Any], item: dict[str, Any], workdir: str | None = None,
              upload_workers: int = 4) -> dict[str, Any]:
    """Extract, step 4 (one Map item): decode one group of planned chunks and upload each chunk's lossless
    frames. Checks it decoded exactly the planned frames: the first and last by their times, all by count, and
    every frame's pixels by the CRC its scan recorded (a decode from a seek that disagrees is redone from the
    start of the file)."""
    import zlib

    from slowmo.cloud.s3http import ObjectServer
    from slowmo.media import chunkio
    from slowmo.media.decode import read_timed_frames
    from slowmo.timeline.ranges import Scan, clean_point

    container, _ = _load_container(s3, layout)
    crc_at: dict[int, int] = {}
    for r in item.get("ranges", []):
        scan = Scan.from_dict(_get_json(s3, layout.work_bucket, layout.scan_key(int(r))))
        crc_at.update(zip(scan.pts, scan.crcs, strict=False))
    plan = load_plan(s3, layout)
    depth = _working_depth(container, plan["options"])
    fps = Fraction(plan["fps"])
    chunks = group_chunks(s3, layout, item)
    base = int(chunks[0]["start"])
    first_pts, last_pts, expected = int(item["first"]), int(item["last"]), int(item["frames"])
    tmp = tempfile.mkdtemp(prefix="slowmo-cut-", dir=workdir)

    def store(chunk: dict[str, Any], frames: list) -> dict[str, Any]:
        index = int(chunk["index"])
        path = os.path.join(tmp, f"chunk{index:05d}{chunkio.EXTENSION}")
        written = chunkio.write_chunk(frames, path, fps)
        s3.upload_file(path, layout.work_bucket, layout.chunk_input_key(index))
        os.remove(path)
        return {"index": index, "frames": written.frame_count}

    def cut_from(seek: int | None) -> tuple[list, int, int]:
        futures = []
        frames: list = []
        position = 0  # which chunk of the group the frames belong to
        seen = 0
        with ExitStack() as stack:
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=upload_workers))
            server = stack.enter_context(ObjectServer(s3))
            url = server.url(source["bucket"], source["key"], source.get("version_id"))
            decoded = stack.enter_context(closing(read_timed_frames(
                container, url, seek=_seconds(seek, container.timebase), depth=depth, name=container.name,
                clean_from=clean_point(container.keyframes, seek))))
            for pts, _, frame in decoded:
                if pts < first_pts:
                    continue
                if seen == 0 and pts != first_pts:
                    raise InputError(f"{container.name}: chunk group {item['index']} should start at time {first_pts}, "
                                     f"the decoder gave {pts}")
                if pts > last_pts:
                    break
                if pts in crc_at and zlib.crc32(frame) != crc_at[pts]:
                    raise InputError(f"{container.name}: frame at time {pts} decodes differently from a seek")
                frames.append(frame)
                seen += 1
                chunk = chunks[position]
                if base + seen - 1 == int(chunk["end"]):  # the chunk's last frame: it is complete
                    futures.append(pool.submit(store, chunk, frames))
                    frames = [frame]  # the boundary frame is also the next chunk's first
                    position += 1
                    # bounded memory: at most 2 x workers chunks of frames wait for their upload
                    pending = [f for f in futures if not f.done()]
                    if len(pending) > 2 * upload_workers:
                        pending[0].result()
                    if position == len(chunks):
                        break
            server.check()
            return [f.result() for f in futures], seen, position

    try:
        stored, seen, position = _from_seek_or_start(cut_from, item.get("seek"), frames_from_start=int(chunks[-1]["end"]) + 1,
                                                     container=container)
        if seen != expected or position != len(chunks):
            raise InputError(f"{container.name}: is truncated or corrupt: decoded {seen} of the {expected} frames "
                             f"of chunks {chunks[0]['index']}-{chunks[-1]['index']}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"group": int(item["index"]), "chunks": len(stored), "frames": seen}


def extract(*, s3, layout: JobLayout, source: dict[str, Any], options: dict[str, Any], chunk_frames: int,
            range_frames: int = 0, group_frames: int = 0, workdir: str | None = None) -> dict[str, Any]:
    """All of Extract in one process, step after step (see above): what the state machine's Maps do in
    parallel. range_frames 0: one range (one pass); group_frames 0: one chunk per cut item."""
    read_index(s3=s3, layout=layout, source=source, options=options, range_frames=range_frames)
    for item in _get_json(s3, layout.work_bucket, layout.ranges_key):
        scan_range(s3=s3, layout=layout, source=source, options=options, item=item)
    summary = plan_chunks(s3=s3, layout=layout, source=source, options=options, chunk_frames=chunk_frames,
                          group_frames=group_frames)
    for item in _get_json(s3, layout.work_bucket, layout.groups_key):
        cut_range(s3=s3, layout=layout, source=source, item=item, workdir=workdir)
    return summary


def _has_object(s3, bucket: str, key: str, metadata: dict[str, str]) -> bool:
    """The object exists and carries this metadata (what it was made from)."""
    from botocore.exceptions import ClientError

    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as err:
        # Without s3:ListBucket on the bucket (our roles have none on the work bucket), S3 answers a
        # missing key with 403, not 404 (S3 API reference, HeadObject, "Permissions").
        if err.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound", "403", "AccessDenied"}:
            return False
        raise
    found = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
    return all(found.get(k) == v for k, v in metadata.items())


def is_uniform(plan) -> bool:
    """True when every chunk's output frames are today's pattern (source frames, t = j/K between), so
    the factor alone tells the model server what to make."""
    from slowmo.timeline.plan import LinearTimeMap

    return (plan.constant_rate and isinstance(plan.time_map, LinearTimeMap) and plan.output_fps == plan.source_fps
            and plan.window_start == 0 and plan.window_end is None
            and Fraction(plan.time_map.factor).denominator == 1)  # 2.5x: frames off the j/K pattern


def chunk_plan(plan: dict[str, Any]):
    """The Plan stored in plan.json, or None for a plan written before timing was planned."""
    from slowmo.timeline.plan import Plan

    return Plan.from_dict(plan["timing"]) if plan.get("timing") else None


# -- encode one chunk -----------------------------------------------------------------------------
def encode_chunk(*, s3, layout: JobLayout, chunk: dict[str, Any], plan: dict[str, Any] | None = None,
                 workdir: str | None = None) -> dict[str, Any]:
    """Encode the model's output chunk into this chunk's MP4 segment (and its side-by-side segment).

    The first output frame of every chunk after the first is the previous chunk's last one, so it is
    dropped here; concatenating the segments in order then gives the single-pass frame sequence.
    """
    from slowmo.media import chunkio
    from slowmo.media.compare import SideBySide
    from slowmo.media.encode import VideoWriter
    from slowmo.media.fidelity import encode_options

    plan = plan or load_plan(s3, layout)
    options = plan["options"]
    factor = parse_factor(options["factor"])  # whole, or a fractional slowdown (2.5): then the chunk is timed
    index = int(chunk["index"])
    width, height = int(plan["video"]["width"]), int(plan["video"]["height"])
    out_fps = Fraction(plan["outputFps"])
    from slowmo.options import working_depth

    depth = working_depth(int(plan["video"].get("bit_depth") or 8), options.get("engine", "film"))
    # the same encode as a local run: the job's codec, the source's colour tags, pixel aspect, HDR10 metadata
    enc = encode_options(plan["video"], options, depth=depth)
    if "lastOutput" in chunk:
        expected = int(chunk["lastOutput"]) - int(chunk["firstOutput"]) + 1
        skip = int(chunk.get("skip", 0))
    else:  # a manifest item from before plans: today's contract
        expected = (int(chunk["end"]) - int(chunk["start"])) * factor + 1
        skip = 1 if index > 0 else 0
    kinds = ["video"] + (["compare"] if options.get("compare") else [])
    stamp = {"slowmo-chunk": f"{int(chunk['start'])}-{int(chunk['end'])}x{factor}"
                             + (f":{int(chunk['firstOutput'])}-{int(chunk['lastOutput'])}" if "lastOutput" in chunk else "")}
    if all(_has_object(s3, layout.work_bucket, layout.segment_key(index, kind), stamp) for kind in kinds):
        return {"chunk": index, "frames": expected - skip, "reused": True}  # a re-run: encoded before
    tmp = tempfile.mkdtemp(prefix="slowmo-encode-", dir=workdir)
    try:
        out_chunk = os.path.join(tmp, "output" + chunkio.EXTENSION)
        s3.download_file(layout.work_bucket, layout.chunk_output_key(index), out_chunk)
        sources = None
        if options.get("compare"):
            in_chunk = os.path.join(tmp, "input" + chunkio.EXTENSION)
            s3.download_file(layout.work_bucket, layout.chunk_input_key(index), in_chunk)
            sources = list(chunkio.read_chunk(in_chunk))
            timing = chunk_plan(plan)
            if timing is not None and "lastOutput" in chunk:
                from slowmo.timeline.plan import PlanChunk

                left = [f.index for f in timing.chunk_frames(PlanChunk.from_dict(chunk))]
            else:
                left = [min(i // factor, len(sources) - 1) for i in range(expected)]
        video_path = os.path.join(tmp, "video.mp4")
        compare_path = os.path.join(tmp, "compare.mp4")
        count = 0
        side = None
        engine = options.get("engine", "film")
        with VideoWriter(video_path, width, height, out_fps, **enc) as writer:
            compare_writer = None
            if sources is not None:
                side = SideBySide(width, height, COMPARE_LABEL_LEFT, f"slowmo {engine} x{factor}")
                compare_writer = VideoWriter(compare_path, side.width, side.height, out_fps, **enc).__enter__()
            try:
                for local_index, frame in enumerate(chunkio.read_chunk(out_chunk)):
                    count += 1
                    if local_index < skip:
                        continue
                    writer.write(frame)
                    if compare_writer is not None:
                        compare_writer.write(side.compose(sources[left[min(local_index, len(left) - 1)]], frame))
            except BaseException as exc:
                if compare_writer is not None:
                    compare_writer.__exit__(type(exc), exc, None)
                raise
            if compare_writer is not None:
                compare_writer.__exit__(None, None, None)
        if count != expected:
            raise InputError(f"chunk {index}: the model returned {count} frames, expected {expected}")
        s3.upload_file(video_path, layout.work_bucket, layout.segment_key(index, "video"), ExtraArgs={"Metadata": stamp})
        if sources is not None:
            s3.upload_file(compare_path, layout.work_bucket, layout.segment_key(index, "compare"),
                           ExtraArgs={"Metadata": stamp})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"chunk": index, "frames": count - skip}


# -- assemble -------------------------------------------------------------------------------------
def _write_concat_list(path: str, urls: list[str]) -> None:
    with open(path, "w") as fh:
        for url in urls:
            fh.write("file '" + url.replace("'", "'\\''") + "'\n")


# A fragmented MP4 needs no seek back to write its index, so it can be written to a pipe and uploaded
# while it is made; every fragment starts on a keyframe (each segment starts with one). delay_moov writes
# the header once the first fragment is cut, when the B-frame delay and the AAC priming are known, so
# its edit lists start video and audio together as in a regular MP4 (without it the audio leads by the
# B-frame delay: measured 167 ms at 12 fps).
STREAMED_MP4 = ["-movflags", "+frag_keyframe+empty_moov+delay_moov+default_base_moof", "-f", "mp4"]


def join_args(listing: str, audio: dict[str, Any] | None, subtitles: list[str] | tuple[str, ...] = ()) -> list[str]:
    """ffmpeg arguments that join the segments in ``listing`` (a concat list of URLs) by stream copy and,
    with ``audio`` (url, mode, slowdown, duration), mux the source's audio filtered for the mode, and with
    ``subtitles`` (retimed files, slowmo.media.subtitles) add them as text tracks, as a local run does."""
    from slowmo.cloud.s3http import PROTOCOLS
    from slowmo.media.audio import AUDIO_BITRATE, audio_args
    from slowmo.media.subtitles import subtitle_mux_args

    args = ["-loglevel", "error", "-f", "concat", "-safe", "0", "-protocol_whitelist", PROTOCOLS, "-i", listing]
    if audio is not None:
        args += ["-i", audio["url"]]
    sub_inputs, sub_maps = subtitle_mux_args(subtitles, "out.mp4", 2 if audio is not None else 1)
    args += [*sub_inputs, "-map", "0:v:0"]
    if audio is not None:
        args += [*audio_args(audio["mode"], audio["slowdown"], **audio.get("curve", {})),
                 "-c:a", "aac", "-b:a", AUDIO_BITRATE, "-t", f"{audio['duration']:.6f}"]
    return [*args, *sub_maps, "-c:v", "copy", *STREAMED_MP4, "pipe:1"]


def streamed_upload_config():
    """The TransferConfig of an upload from a pipe. boto3 sizes parts from the length only when it knows it
    (s3transfer's ChunksizeAdjuster), so from a pipe every part is multipart_chunksize: 64 MiB lets 10,000
    parts hold 625 GiB (8 MiB, the default, stops at 78 GiB), and UPLOAD_PARTS_IN_FLIGHT of them buffered
    keep memory at 256 MiB (slowmo.foresight.capacity plans with both)."""
    from boto3.s3.transfer import TransferConfig

    from slowmo.foresight.capacity import ASSEMBLE_PART_BYTES, UPLOAD_PARTS_IN_FLIGHT

    config = TransferConfig(multipart_threshold=ASSEMBLE_PART_BYTES, multipart_chunksize=ASSEMBLE_PART_BYTES,
                            max_concurrency=UPLOAD_PARTS_IN_FLIGHT)
    config.max_in_memory_upload_chunks = UPLOAD_PARTS_IN_FLIGHT  # s3transfer's setting; boto3's signature omits it
    return config


def _stream_to_s3(s3, bucket: str, key: str, args: list[str]) -> None:
    """Run ffmpeg with ``args`` (writing to pipe:1) and upload what it writes as one object, in parts."""
    import subprocess

    from slowmo.errors import FFmpegError
    from slowmo.media.ffmpeg import last_error_line, popen_ffmpeg

    with tempfile.TemporaryFile() as errors:
        proc = popen_ffmpeg(args, stdout=subprocess.PIPE, stderr=errors)
        try:
            s3.upload_fileobj(proc.stdout, bucket, key, ExtraArgs={"ContentType": "video/mp4"},
                              Config=streamed_upload_config())
        finally:
            proc.stdout.close()
            code = proc.wait()
        if code != 0:
            errors.seek(0)
            raise FFmpegError(f"ffmpeg failed: {last_error_line(errors.read().decode(errors='replace'))}")


def publish_all(s3, bucket: str, staged: list[tuple[str, str]]) -> None:
    """Publish objects already uploaded under temporary keys: ``staged`` is [(temp_key, final_key)].

    Every output was uploaded whole under tmp/ first; only then is each copied into place. If any
    copy fails, the outputs already published are deleted again, so a failed job leaves nothing
    under outputs/ (and nothing under tmp/: the temporary objects are always removed)."""
    published: list[str] = []
    try:
        for temp_key, final_key in staged:
            s3.copy({"Bucket": bucket, "Key": temp_key}, bucket, final_key,
                    ExtraArgs={"ContentType": "video/mp4", "MetadataDirective": "REPLACE"})
            published.append(final_key)
    except BaseException:
        for final_key in published:
            s3.delete_object(Bucket=bucket, Key=final_key)
        raise
    finally:
        for temp_key, _ in staged:
            s3.delete_object(Bucket=bucket, Key=temp_key)


def output_kinds(options: dict[str, Any]) -> list[str]:
    """The outputs a job makes, each joined by its own Assemble call: the video, and the comparison if asked."""
    return ["video"] + (["compare"] if options.get("compare") else [])


def _timing_of(plan: dict[str, Any]) -> tuple[int, float, Any]:
    """(output frames, output seconds, slowdown) of a plan.json."""
    from slowmo.timeline.timing import make_timeline

    timing = chunk_plan(plan)
    if timing is not None:
        return timing.output_count, timing.output_duration, timing.slowdown
    factor = int(plan["options"]["factor"])  # a plan.json from before timed plans
    timeline = make_timeline(plan["sourceFrames"], Fraction(plan["fps"]), factor, Fraction(plan["outputFps"]))
    return timeline.output_frames, timeline.output_duration, timeline.slowdown


def assemble_output(*, s3, layout: JobLayout, kind: str, workdir: str | None = None) -> dict[str, Any]:
    """Join one output's chunk segments ("video" or "compare") and mux the audio as they stream from S3,
    uploading the result in parts, while ffmpeg writes it, to a temporary key. Returns where it is staged.

    Nothing of the output is held on /tmp: ffmpeg reads the segments and the source through a loopback
    HTTP server that answers with ranged GetObjects (slowmo.cloud.s3http) and writes a fragmented MP4
    to a pipe that a multipart upload consumes. Its peak /tmp is the concat list, whatever the output's
    length. The video and the comparison are joined by calls of their own, side by side; publish_outputs
    copies them into place once both are whole. A failed join leaves no temporary object behind.
    """
    from slowmo.cloud.s3http import ObjectServer
    from slowmo.media.audio import plan_audio

    plan = load_plan(s3, layout)
    if kind not in output_kinds(plan["options"]):
        raise ValueError(f"this job makes no {kind!r} output")
    manifest = _get_json(s3, layout.work_bucket, layout.manifest_key)
    options, source, info = plan["options"], plan["source"], plan["video"]
    _, duration, slowdown = _timing_of(plan)
    timing = chunk_plan(plan)
    keep_audio = bool(info.get("has_audio")) and options.get("audio", "stretch") != "drop"
    final_key = layout.output_key(source["key"], factor_json(parse_factor(options["factor"])), kind)
    temp_key = layout.temporary_key(final_key)
    tmp = tempfile.mkdtemp(prefix="slowmo-assemble-", dir=workdir)
    try:
        with ObjectServer(s3) as server:
            audio = None
            if keep_audio:
                audio = {"url": server.url(source["bucket"], source["key"], source.get("version_id")),
                         "mode": options.get("audio", "stretch"), "slowdown": slowdown,
                         "duration": duration,
                         # a trim or a speed curve: the audio follows the plan's time map
                         "curve": plan_audio(timing, info) if timing is not None else {}}
            subtitles: list[str] = []
            if kind == "video" and timing is not None and info.get("subtitles"):
                from slowmo.media.subtitles import retime_subtitles

                # the source's text tracks through the plan's time map; bitmap tracks were warned of at Extract
                source_url = server.url(source["bucket"], source["key"], source.get("version_id"))
                subtitles = retime_subtitles({**info, "path": source_url}, timing, tmp, fragmented=True)
            listing = os.path.join(tmp, f"{kind}.txt")
            _write_concat_list(listing, [server.url(layout.work_bucket, layout.segment_key(int(item["index"]), kind))
                                         for item in manifest])
            try:
                _stream_to_s3(s3, layout.output_bucket, temp_key, join_args(listing, audio, subtitles))
            finally:
                server.check()  # an object ffmpeg could not read: name it (a skipped segment would lose frames)
    except BaseException:
        s3.delete_object(Bucket=layout.output_bucket, Key=temp_key)  # no half-written output stays behind
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"kind": kind, "tempKey": temp_key, "finalKey": final_key}


def publish_outputs(*, s3, layout: JobLayout, staged: list[dict[str, Any]]) -> dict[str, Any]:
    """Copy every joined output into place, all or none (publish_all), and say what the job made."""
    plan = load_plan(s3, layout)
    wanted = output_kinds(plan["options"])
    if sorted(item["kind"] for item in staged) != sorted(wanted):
        for item in staged:
            s3.delete_object(Bucket=layout.output_bucket, Key=item["tempKey"])
        raise RuntimeError(f"internal error: joined {[i['kind'] for i in staged]}, the job makes {wanted}")
    publish_all(s3, layout.output_bucket, [(item["tempKey"], item["finalKey"]) for item in staged])
    output_frames, duration, _ = _timing_of(plan)
    outputs = {"video" if item["kind"] == "video" else "comparison": s3_uri(layout.output_bucket, item["finalKey"])
               for item in staged}
    return {"outputs": outputs, "outputFrames": output_frames, "outputDuration": round(duration, 3)}


def assemble(*, s3, layout: JobLayout, workdir: str | None = None) -> dict[str, Any]:
    """All of Assemble in one process: every output joined (one after the other), then published. The state
    machine runs the joins in parallel calls (assemble_output) and then publish_outputs."""
    plan = load_plan(s3, layout)
    staged: list[dict[str, Any]] = []
    try:
        for kind in output_kinds(plan["options"]):
            staged.append(assemble_output(s3=s3, layout=layout, kind=kind, workdir=workdir))
    except BaseException:
        for item in staged:
            s3.delete_object(Bucket=layout.output_bucket, Key=item["tempKey"])
        raise
    return publish_outputs(s3=s3, layout=layout, staged=staged)
