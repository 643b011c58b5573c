"""The container Lambdas' work: split a video into chunks, encode a chunk's segment, assemble the result.

Only the container images (functions/extract, encode_chunk, assemble) import this module: it pulls in
numpy, OpenCV and ffmpeg through the core (probe, decode, chunkio, encode, compare, audio).

Budget: each call handles either one pass over the source (extract) or one chunk (encode), or a
stream copy of finished segments (assemble), so for a fixed chunk size the per-invocation time does
not grow with the video's length except for the single decode pass and the final concatenation
(README, "Scale arithmetic", has the arithmetic).
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Any

from ..errors import InputError
from .layout import JobLayout, s3_uri

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


# -- extract --------------------------------------------------------------------------------------
def extract(
    *,
    s3,
    layout: JobLayout,
    source: dict[str, Any],
    options: dict[str, Any],
    chunk_frames: int,
    workdir: str | None = None,
    upload_workers: int = 4,
) -> dict[str, Any]:
    """Download the source, probe it, cut it into lossless chunk files in the work bucket, and write
    plan.json and the manifest (a JSON array the Distributed Map reads). Returns a small summary."""
    from ..options import JobOptions

    opts = JobOptions.from_dict(dict(options))
    tmp = tempfile.mkdtemp(prefix="slowmo-extract-", dir=workdir)
    local = os.path.join(tmp, "source" + os.path.splitext(source["key"])[1].lower())
    try:
        return _extract(s3=s3, layout=layout, source=source, options=options, opts=opts, chunk_frames=chunk_frames,
                        tmp=tmp, local=local, upload_workers=upload_workers)
    except InputError as err:
        # name the user's object, not the local copy, in the reason the job reports
        raise InputError(str(err).replace(local, source["key"]).replace(os.path.basename(local),
                                                                        posixpath.basename(source["key"]))) from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class ChunkSplitter:
    """Cut decoded frames into chunks as they arrive, each boundary snapped to the scene cuts near it.

    The chunks are exactly ``plan_chunks(decoded, chunk_frames, cuts)`` over the whole video, yet the cuts are
    only known as the frames go by. A boundary moves by at most half a chunk (to a cut, or to avoid a runt last
    chunk), so a chunk is settled once two chunks' worth of frames past its start have been decoded: no later
    frame can move its end. At most about two chunks of frames are held. Cuts are classified exactly as
    synthesis classifies them (``scenes.classify_pair`` on consecutive frames).
    """

    def __init__(self, chunk_frames: int):
        self.chunk_frames = chunk_frames
        self.cuts: list[int] = []  # source index of the first frame after each cut
        self.decoded = 0

    def split(self, frames: Iterable) -> Iterator[tuple[Any, list]]:
        """Yield (Chunk, its frames) in order; consecutive chunks share their boundary frame."""
        from ..scenes import PairKind, classify_pair, signature

        horizon = 2 * (self.chunk_frames - 1)
        buffer: list = []
        start = 0
        previous = previous_sig = None
        for index, frame in enumerate(frames):
            sig = signature(frame)
            if previous is not None and classify_pair(previous, frame, previous_sig, sig) is PairKind.CUT:
                self.cuts.append(index)
            previous, previous_sig = frame, sig
            buffer.append(frame)
            self.decoded = index + 1
            while index - start >= horizon:
                chunk = self._chunk_starting_at(start)
                yield chunk, buffer[: chunk.source_frames]
                buffer = buffer[chunk.end - start:]
                start = chunk.end
        while self.decoded >= 2 and start < self.decoded - 1:  # the stream has ended: the rest is settled
            chunk = self._chunk_starting_at(start)
            yield chunk, buffer[: chunk.source_frames]
            buffer = buffer[chunk.end - start:]
            start = chunk.end

    def _chunk_starting_at(self, start: int):
        from ..chunks import plan_chunks

        return next(c for c in plan_chunks(self.decoded, self.chunk_frames, self.cuts) if c.start == start)


def _extract(*, s3, layout: JobLayout, source: dict[str, Any], options: dict[str, Any], opts, chunk_frames: int,
             tmp: str, local: str, upload_workers: int) -> dict[str, Any]:
    from .. import chunkio
    from ..capacity import Source
    from ..decode import read_frames
    from ..limits import Limits
    from ..pipeline import check_input
    from ..plan import plan_job
    from ..probe import probe
    from .admission import judge

    extra = {"VersionId": source["version_id"]} if source.get("version_id") else None
    s3.download_file(source["bucket"], source["key"], local, ExtraArgs=extra)
    info = probe(local)
    timing = plan_job(info, opts)  # refuses an output rate that would drop real frames, before any work
    warnings = check_input(info, opts, Limits.from_env(), timing)
    fps = info.fps
    name = os.path.basename(source["key"])
    # the exact probe, judged like the claim judged the index (which cannot read every container)
    judge(Source.from_probe(info, os.path.getsize(local)), options, name)

    def store(index: int, start: int, end: int, frames: list) -> dict[str, Any]:
        path = os.path.join(tmp, f"chunk{index:05d}{chunkio.EXTENSION}")
        written = chunkio.write_chunk(frames, path, fps)
        key = layout.chunk_input_key(index)
        s3.upload_file(path, layout.work_bucket, key)
        os.remove(path)
        return {"index": index, "start": start, "end": end, "frames": written.frame_count}

    splitter = ChunkSplitter(chunk_frames)
    first, last = timing.first_frame, timing.last_frame  # a trim keeps only these frames (slowmo.speedcurve)
    decoded = [0]

    def kept(frames):
        for index, frame in enumerate(frames):  # read to the end, whatever the trim: see below
            decoded[0] = index + 1
            if first <= index <= last:
                yield frame

    futures = []
    with ThreadPoolExecutor(max_workers=upload_workers) as pool:
        # read to the end: only then does the decoder report a corrupt or truncated stream
        from ..options import working_depth

        depth = working_depth(info.bit_depth, opts.engine)
        for chunk, frames in splitter.split(kept(read_frames(info, depth=depth))):
            futures.append(pool.submit(store, chunk.index, chunk.start + first, chunk.end + first, frames))
            # bounded memory: at most 2 x workers chunks of frames wait for their upload
            pending = [f for f in futures if not f.done()]
            if len(pending) > 2 * upload_workers:
                pending[0].result()
        items = [f.result() for f in futures]
    if decoded[0] < 2:
        raise InputError(f"{name}: only {decoded[0]} frame could be decoded; need at least 2")
    if decoded[0] < info.frame_count:
        # the decoder ended early without an error: publishing would drop the missing frames (as run_job refuses)
        raise InputError(f"{name}: is truncated or corrupt: decoded {decoded[0]} of {info.frame_count} frames")
    # the plan's chunks, now that the cuts are known: the very ranges the splitter cut
    cuts = [c + first for c in splitter.cuts]
    timing = plan_job(info, opts, chunk_frames=chunk_frames, cuts=cuts)
    planned = timing.chunks
    if [(c.start, c.end) for c in planned] != [(it["start"], it["end"]) for it in items]:
        raise RuntimeError("internal error: the extracted chunks differ from the plan's chunks")
    source_frames = info.frame_count
    output_fps = timing.output_fps
    plan = {
        "jobId": layout.job_id,
        "source": source,
        "options": options,
        "video": info.to_dict(),
        "fps": _rate(fps),
        "outputFps": _rate(Fraction(output_fps)),
        "chunkFrames": chunk_frames,
        "chunkCount": len(items),
        "sourceFrames": source_frames,
        "outputFrames": timing.output_count,
        "cuts": cuts,
        "warnings": warnings,
        "timing": timing.to_dict(),
    }
    # Items stay pointers: a chunk whose output frames are not today's j/K pattern says "timed", and
    # the request builder reads its slice from plan.json.
    timed = not is_uniform(timing)
    manifest = [{**chunk.to_dict(), **({"timed": True} if timed else {})} for chunk in planned]
    _put_json(s3, layout.work_bucket, layout.plan_key, plan)
    _put_json(s3, layout.work_bucket, layout.manifest_key, manifest)
    return {
        "manifest": {"Bucket": layout.work_bucket, "Key": layout.manifest_key},
        "chunkCount": plan["chunkCount"],
        "sourceFrames": plan["sourceFrames"],
        "outputFrames": plan["outputFrames"],
        "fps": plan["fps"],
        "width": info.width,
        "height": info.height,
    }


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
    from ..plan import LinearTimeMap

    return (plan.constant_rate and isinstance(plan.time_map, LinearTimeMap) and plan.output_fps == plan.source_fps
            and plan.window_start == 0 and plan.window_end is None)


def chunk_plan(plan: dict[str, Any]):
    """The Plan stored in plan.json, or None for a plan written before timing was planned."""
    from ..plan import Plan

    return Plan.from_dict(plan["timing"]) if plan.get("timing") else None


# -- encode one chunk -----------------------------------------------------------------------------
def _color(plan: dict[str, Any]):
    from ..probe import ColorTags

    c = (plan.get("video") or {}).get("color") or {}
    return ColorTags(c.get("range"), c.get("space"), c.get("primaries"), c.get("transfer"))


def encode_chunk(*, s3, layout: JobLayout, chunk: dict[str, Any], plan: dict[str, Any] | None = None,
                 workdir: str | None = None) -> dict[str, Any]:
    """Encode the model's output chunk into this chunk's MP4 segment (and its side-by-side segment).

    The first output frame of every chunk after the first is the previous chunk's last one, so it is
    dropped here; concatenating the segments in order then gives the single-pass frame sequence.
    """
    from .. import chunkio
    from ..compare import SideBySide
    from ..encode import VideoWriter

    plan = plan or load_plan(s3, layout)
    options = plan["options"]
    factor = int(options["factor"])
    index = int(chunk["index"])
    width, height = int(plan["video"]["width"]), int(plan["video"]["height"])
    out_fps = Fraction(plan["outputFps"])
    from ..options import working_depth

    depth = working_depth(int(plan["video"].get("bit_depth") or 8), options.get("engine", "film"))
    enc = {"codec": options.get("codec", "auto"), "crf": int(options.get("crf", 18)),
           "preset": options.get("preset", "medium"), "color": _color(plan), "depth": depth}
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
                from ..plan import PlanChunk

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


def join_args(listing: str, audio: dict[str, Any] | None) -> list[str]:
    """ffmpeg arguments that join the segments in ``listing`` (a concat list of URLs) by stream copy and,
    with ``audio`` (url, mode, slowdown, duration), mux the source's audio filtered for the mode."""
    from ..audio import AUDIO_BITRATE, audio_args
    from .s3http import PROTOCOLS

    args = ["-loglevel", "error", "-f", "concat", "-safe", "0", "-protocol_whitelist", PROTOCOLS, "-i", listing]
    if audio is None:
        args += ["-map", "0:v:0"]
    else:
        args += ["-i", audio["url"], "-map", "0:v:0", *audio_args(audio["mode"], audio["slowdown"], **audio.get("curve", {})),
                 "-c:a", "aac", "-b:a", AUDIO_BITRATE, "-t", f"{audio['duration']:.6f}"]
    return [*args, "-c:v", "copy", *STREAMED_MP4, "pipe:1"]


def _stream_to_s3(s3, bucket: str, key: str, args: list[str]) -> None:
    """Run ffmpeg with ``args`` (writing to pipe:1) and upload what it writes as one object, in parts."""
    import subprocess

    from ..errors import FFmpegError
    from ..ffmpeg import last_error_line, popen_ffmpeg

    with tempfile.TemporaryFile() as errors:
        proc = popen_ffmpeg(args, stdout=subprocess.PIPE, stderr=errors)
        try:
            s3.upload_fileobj(proc.stdout, bucket, key, ExtraArgs={"ContentType": "video/mp4"})
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


def assemble(*, s3, layout: JobLayout, workdir: str | None = None) -> dict[str, Any]:
    """Join the chunk segments into the final MP4(s) and mux the audio as they stream from S3, upload the
    result in parts while ffmpeg writes it, then publish to the output bucket.

    Nothing of the output is held on /tmp: ffmpeg reads the segments and the source through a loopback
    HTTP server that answers with ranged GetObjects (slowmo.cloud.s3http) and writes a fragmented MP4
    to a pipe that a multipart upload consumes. Its peak /tmp is the two concat lists, whatever the
    output's length. The upload goes to a temporary key; only a complete output is copied into place.
    """
    from ..audio import plan_audio
    from ..timing import make_timeline
    from .s3http import ObjectServer

    plan = load_plan(s3, layout)
    timing = chunk_plan(plan)
    manifest = _get_json(s3, layout.work_bucket, layout.manifest_key)
    options = plan["options"]
    source = plan["source"]
    factor = int(options["factor"])
    info = plan["video"]
    if timing is not None:
        output_frames, duration, slowdown = timing.output_count, timing.output_duration, timing.slowdown
    else:  # a plan.json from before timed plans
        timeline = make_timeline(plan["sourceFrames"], Fraction(plan["fps"]), factor, Fraction(plan["outputFps"]))
        output_frames, duration, slowdown = timeline.output_frames, timeline.output_duration, timeline.slowdown
    keep_audio = bool(info.get("has_audio")) and options.get("audio", "stretch") != "drop"
    kinds = ["video"] + (["compare"] if options.get("compare") else [])
    outputs: dict[str, str] = {}
    staged: list[tuple[str, str]] = []
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
            for kind in kinds:
                listing = os.path.join(tmp, f"{kind}.txt")
                _write_concat_list(listing, [server.url(layout.work_bucket, layout.segment_key(int(item["index"]), kind))
                                             for item in manifest])
                final_key = layout.output_key(source["key"], factor, "video" if kind == "video" else "compare")
                temp_key = layout.temporary_key(final_key)
                staged.append((temp_key, final_key))  # before the upload: a failed upload is cleaned up too
                try:
                    _stream_to_s3(s3, layout.output_bucket, temp_key, join_args(listing, audio))
                finally:
                    server.check()  # an object ffmpeg could not read: name it (a skipped segment would lose frames)
                outputs["video" if kind == "video" else "comparison"] = s3_uri(layout.output_bucket, final_key)
        publish_all(s3, layout.output_bucket, staged)
        staged = []
    finally:
        for temp_key, _ in staged:  # failed before publishing: no half-written output stays behind
            s3.delete_object(Bucket=layout.output_bucket, Key=temp_key)
        shutil.rmtree(tmp, ignore_errors=True)
    return {"outputs": outputs, "outputFrames": output_frames, "outputDuration": round(duration, 3)}
