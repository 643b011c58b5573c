"""The whole job on one machine: probe, decode, synthesise, encode, audio, comparison.

Output is written under a temporary name next to the destination and renamed into place only when
complete, so an interrupted or failed run never leaves something that looks finished.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

from slowmo import __version__
from slowmo.errors import InputError
from slowmo.foresight.capacity import (
    PNG_BYTES_PER_MPX,
    SEGMENT_BYTES_PER_MPX,
    Source,
    check_free_space,
    local_disk_needs,
)
from slowmo.foresight.capacity import Job as CapacityJob
from slowmo.foresight.estimate import human_size
from slowmo.foresight.limits import Limits
from slowmo.local.chunkjob import COMPARE_SEGMENT, FRAMES_FOLDER, VIDEO_SEGMENT, RenderSettings, join_segments
from slowmo.local.destination import (
    FRAME_PATTERN,
    OutputError,
    check_destination,
    check_outputs,
    describe,
    write_errors_as_one_line,
)
from slowmo.local.parallel import WorkerFailed, default_jobs, run_parallel, run_serial
from slowmo.local.workdir import ChunkStore, SavedWorkKept, work_folder_for
from slowmo.media.audio import mux_audio, plan_audio
from slowmo.media.decode import read_frames
from slowmo.media.fidelity import check_output_container, encode_options, fidelity_warnings
from slowmo.media.interlace import deinterlaced_info
from slowmo.media.probe import VideoInfo, probe
from slowmo.media.subtitles import mux_subtitles, retime_subtitles, text_subtitle_indexes
from slowmo.options import JobOptions, output_codec, working_depth
from slowmo.synthesis.engines import create_engine
from slowmo.synthesis.frames import SynthesisReport
from slowmo.timeline.plan import Plan, plan_job
from slowmo.timeline.timing import factor_json

log = logging.getLogger(__name__)

ProgressFactory = Callable[..., object]  # (total, initial=0) -> object with update(n) and close()


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; the message says how to resume it."""


@dataclass
class JobReport:
    input: str
    output: str
    compare: str | None
    factor: int | float | str
    engine: str
    source_fps: str
    output_fps: str
    source_frames: int
    output_frames: int
    output_duration_s: float
    audio: str
    output_rate_reason: str = ""
    variable_frame_rate: bool = False
    cuts: list[int] = field(default_factory=list)
    repeated_pairs: int = 0
    fallback: dict[str, list[int]] = field(default_factory=dict)  # action -> pairs (second frame's index)
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    jobs: int = 1
    chunks: int = 1
    resumed_chunks: int = 0
    # what became of the picture's properties and companion tracks (picture_report; docs/fidelity.md)
    picture: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def is_sequence_output(output: str | os.PathLike) -> bool:
    """A directory (existing, or named with a trailing slash) means a PNG sequence."""
    text = str(output)
    return text.endswith(("/", os.sep)) or os.path.isdir(text)  # False, not an error, for an impossible name


def check_input(info: VideoInfo, options: JobOptions, limits: Limits, plan: Plan | None = None, *,
                file_bytes: int | None = None) -> list[str]:
    """Refuse what cannot be processed; return warnings for what is processed with a caveat. file_bytes: the
    input's size when info.path is not a local file (the cloud reads the source from S3)."""
    warnings = []
    limits.check_file_size(os.path.getsize(info.path) if file_bytes is None else file_bytes, Path(info.path).name)
    if info.frame_count < 2:
        raise InputError(f"{Path(info.path).name}: has only {info.frame_count} frame; need at least 2 to interpolate")
    plan = plan or plan_job(info, options)
    limits.check_video(info.width, info.height, info.duration, plan.output_count, Path(info.path).name)
    if info.bit_depth > 8 and working_depth(info.bit_depth, options.engine) == 8:
        warnings.append(f"{info.pix_fmt} input is processed in 8 bits per channel by the {options.engine} engine "
                        "(flow and blend keep 16); colour tags are kept")
    return warnings


def fidelity_notes(source: VideoInfo, options: JobOptions, *, depth: int, sequence: bool) -> list[str]:
    """The one-line warnings for what the output cannot keep of the source (alpha, bitmap subtitles, dynamic
    HDR metadata, RGB's matrix, chroma: slowmo.media.fidelity), for anamorphic PNG frames, and for
    interlaced input left woven."""
    lines = fidelity_warnings(source, options, depth=depth, sequence=sequence, subtitles_kept=True)
    if sequence and source.sar:
        lines.append(f"{Path(source.path).name}: PNG frames carry no pixel aspect: show them at SAR {source.sar} "
                     "(a video output keeps it)")
    if options.deinterlace == "off":
        from slowmo.media.interlace import detect_field_order

        order = detect_field_order(source, measure=False)
        if order is not None:
            lines.append(f"{Path(source.path).name}: interlaced ({order}) input processed as whole frames "
                         "(--deinterlace off): its combing is kept and smeared by synthesis")
    return lines


def picture_report(source: VideoInfo, info: VideoInfo, options: JobOptions, encode: dict, *,
                   sequence: bool) -> dict:
    """What the run does with the source's picture and tracks, for the report: the deinterlacing (mode,
    field order, the rate synthesis works at), the pixel aspect, the output's codec, pixel format and colour
    tags, HDR10 static metadata, subtitles kept or dropped, alpha."""
    from slowmo.media.encode import output_color, pixel_format
    from slowmo.media.probe import TEXT_SUBTITLE_CODECS

    picture: dict = {"deinterlace": None}
    if info.deinterlace:
        order = "tff" if "parity=tff" in info.deinterlace else "bff"
        picture["deinterlace"] = {"mode": options.deinterlace, "field_order": order, "filter": info.deinterlace,
                                  "fps": _rate(info.fps), "frames": info.frame_count}
    subs = list(source.subtitles)
    text = [c for c in subs if c in TEXT_SUBTITLE_CODECS and not sequence]
    picture["subtitles"] = {"kept": text, "dropped": [c for c in subs if c not in text]}
    picture["alpha"] = "dropped" if source.alpha else None
    if sequence:
        picture.update(output="png", sar=source.sar, square_pixels=False)  # PNG frames have no pixel aspect tag
        return picture
    codec = output_codec(options.codec, encode["depth"])
    tags = output_color(encode["color"], info.width, info.height, codec)
    picture.update(
        output=codec, pix_fmt=pixel_format(codec, encode["depth"], encode.get("chroma", "420")),
        sar="1:1" if encode.get("square_pixels") else encode.get("sar"),
        square_pixels=bool(encode.get("square_pixels")),
        color={"range": tags.range, "space": tags.space, "primaries": tags.primaries, "transfer": tags.transfer},
        hdr10_metadata=bool(encode.get("master_display") or encode.get("max_cll")))
    return picture


def local_chunk_frames(frame_count: int) -> int:
    """Source frames per chunk of a local run: about 1/32 of the video (so up to 32 workers have
    work), from 9 to 121. It depends on the video only, never on --jobs, so any --jobs can resume."""
    return max(9, min(121, -(-(frame_count - 1) // 32) + 1))


def run_key(info: VideoInfo, options: JobOptions, engine, *, chunk_frames: int, sequence: bool) -> dict:
    """What a run's chunks are made from: a resume reuses chunks only when all of it is the same."""
    stat = os.stat(info.path)
    chunk_options = {k: v for k, v in options.to_dict().items() if k != "audio"}  # audio is muxed at the end
    return {
        "input": {"path": os.path.abspath(info.path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns},
        "options": chunk_options,
        "engine": {"name": engine.name, "version": str(getattr(engine, "version", "")), "slowmo": __version__},
        "chunk_frames": chunk_frames,
        "output": "png" if sequence else "video",
    }


def assembled_records(records: list[dict]) -> list[dict]:
    """The chunk records in order, checked to tile the video: each starts where the previous ended."""
    ordered = sorted(records, key=lambda r: r["index"])
    for before, after in zip(ordered, ordered[1:], strict=False):
        if after["index"] != before["index"] + 1 or after["start"] != before["end"]:
            raise RuntimeError(f"chunks {before['index']} and {after['index']} do not meet; the work folder is inconsistent")
    return ordered


def summarise(records: list[dict]) -> SynthesisReport:
    report = SynthesisReport()
    if records:  # the frames the chunks span: a trimmed run counts from its first frame, not from 0 s
        report.source_frames = records[-1]["end"] - records[0]["start"] + 1
    report.output_frames = sum(r["frames"] for r in records)
    report.interpolated_pairs = sum(r["interpolated_pairs"] for r in records)
    report.repeated_pairs = sum(r["repeated_pairs"] for r in records)
    report.cuts = sorted(c for r in records for c in r["cuts"])
    for r in records:
        for action, pairs in r.get("fallback", {}).items():
            report.fallback.setdefault(action, []).extend(pairs)
    return report


VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv")


def _temp_path(final: Path, suffix: str) -> Path:
    return final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.partial{suffix}")


@dataclass
class PreparedJob:
    """Everything a run needs, decided before any frame is decoded: the plan every executor follows, the
    engine, the destinations (checked) and the render settings the chunks are made with."""

    input_path: str
    output: str
    info: VideoInfo
    options: JobOptions
    plan: Plan
    engine: object
    settings: RenderSettings
    final: Path
    folder: Path
    compare: Path | None
    sequence: bool
    created_folder: bool
    keep_audio: bool
    depth: int
    jobs: int
    key: dict
    warnings: list[str]
    overwrite: bool = True
    picture: dict = field(default_factory=dict)


def run_job(
    input_path: str | os.PathLike,
    output: str | os.PathLike,
    options: JobOptions,
    *,
    compare_path: str | os.PathLike | None = None,
    limits: Limits | None = None,
    progress: ProgressFactory | None = None,
    engine_options: dict | None = None,
    jobs: int | None = None,
    resume: bool = False,
    chunk_frames: int | None = None,
    bit_depth: int | None = None,
    overwrite: bool = True,
    discard_saved: bool = True,
    announce: Callable[[list[str]], object] | None = None,
) -> JobReport:
    """Make the slow-motion video (or PNG frames) of input_path at output: prepare the job from its plan,
    open its work folder, execute the chunks (serially, in parallel or resumed: one path), publish.

    bit_depth: bits per channel to work at, 8 or 16 (default: 16 for input deeper than 8 bits when the
    engine takes it, else 8; the benchmark forces 8 to measure the 16-bit path's cost).
    jobs: worker processes (default: the usable cores, within the available memory). resume: reuse
    the chunks an interrupted run of the same input and options left in its work folder.
    overwrite: replace outputs that exist (False: refuse them, OutputExists). An output is never the input
    or another output (OutputClash). discard_saved: without resume, discard the saved chunks of an
    interrupted run (False: refuse the run and keep them, SavedWorkKept). announce(lines): told the plan and
    what becomes of saved work once the job is prepared, before any work starts.
    """
    started = time.monotonic()
    job = prepare_job(input_path, output, options, compare_path=compare_path, limits=limits,
                      engine_options=engine_options, jobs=jobs, chunk_frames=chunk_frames, bit_depth=bit_depth,
                      overwrite=overwrite)
    saved_note = decide_saved_work(job, resume=resume, discard_saved=discard_saved)
    if announce is not None:
        announce([*plan_lines(job), *([saved_note] if saved_note else [])])
    store, done = open_work(job, resume=resume)
    with _published_or_kept(job, store):
        records = execute_chunks(job, store, done, progress)
        publish(job, store, records)
    return job_report(job, records, done, started)


def prepare_job(input_path, output, options: JobOptions, *, compare_path=None, limits: Limits | None = None,
                engine_options: dict | None = None, jobs: int | None = None, chunk_frames: int | None = None,
                bit_depth: int | None = None, overwrite: bool = True) -> PreparedJob:
    """Probe, plan and judge the job; check where its outputs go and that they fit; choose the engine."""
    sequence = is_sequence_output(output)
    outputs = [("output", output, sequence)] + ([("--compare", compare_path, False)] if compare_path is not None else [])
    check_outputs(input_path, outputs, overwrite=overwrite)
    limits = limits or Limits.from_env()
    source = probe(input_path)
    if source.frame_count < 2:
        raise InputError(f"{Path(source.path).name}: has only {source.frame_count} frame; need at least 2 to interpolate")
    # interlaced input: the plan sees the frames decoding delivers (bwdif: at field rate, each field a frame)
    info = deinterlaced_info(source, options.deinterlace)
    chunk_frames = chunk_frames or local_chunk_frames(info.frame_count)
    plan = plan_job(info, options, chunk_frames=chunk_frames)  # timing and chunks: every executor follows it
    depth = bit_depth or working_depth(info.bit_depth, options.engine)
    warnings = check_input(info, options, limits, plan)
    warnings += fidelity_notes(source, options, depth=depth, sequence=sequence)
    for message in warnings:
        log.warning(message)

    engine_opts = dict(engine_options or {})
    if options.engine == "film" and options.model:
        engine_opts.setdefault("model_path", options.model)
    engine = create_engine(options.engine, **engine_opts)

    final = Path(output)
    compare = Path(compare_path) if compare_path is not None else None
    created_folder = sequence and not os.path.exists(final)
    folder = _checked_destinations(info, options, output, compare, sequence, depth)

    # codec, colour tags, pixel aspect (or square pixels), HDR10 static metadata, chroma: from the source
    encode_opts = encode_options(info, options, depth=depth)
    settings = RenderSettings(
        factor=options.factor, engine=options.engine, width=info.width, height=info.height,
        output_fps=plan.output_fps, sequence=sequence, encode=encode_opts, compare=compare is not None,
        compare_labels=("original (frames repeated)", f"slowmo {engine.name} x{options.factor}"),
        engine_options=engine_opts, fallback=options.fallback, plan=plan)
    jobs = min(jobs or default_jobs(info.width, info.height, options.engine, output_frames=plan.output_count),
               len(plan.chunks))
    key = run_key(info, options, engine, chunk_frames=chunk_frames, sequence=sequence)
    # the plan itself (grid, chunk ranges): a planner that changed since the interruption starts afresh
    key["plan"] = {name: value for name, value in plan.to_dict().items() if name != "source"}
    return PreparedJob(
        input_path=str(input_path), output=str(output), info=info, options=options, plan=plan, engine=engine, settings=settings,
        final=final, folder=folder, compare=compare, sequence=sequence, created_folder=created_folder,
        keep_audio=info.has_audio and options.audio != "drop" and not sequence, depth=depth, jobs=jobs, key=key,
        warnings=warnings, overwrite=overwrite,
        picture=picture_report(source, info, options, encode_opts, sequence=sequence))


def _checked_destinations(info: VideoInfo, options: JobOptions, output: str | os.PathLike, compare: Path | None,
                          sequence: bool, depth: int = 8) -> Path:
    """The output's folder, after checking both outputs' names (and that their container holds the codec),
    folders and free space (the same disk model as the cloud's admission: refuse now what the disk cannot
    hold at the end)."""
    final = Path(output)
    if not sequence and final.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"{final.name}: output must end in .mp4, .mov, .m4v or .mkv, or be a directory for PNG frames")
    if compare is not None and compare.suffix.lower() not in VIDEO_SUFFIXES:
        raise InputError(f"{compare.name}: comparison output must be a video file (.mp4)")
    codec = output_codec(options.codec, depth)
    if not sequence:
        check_output_container(codec, final)
    if compare is not None:  # the comparison is written with the output's codec
        check_output_container(codec, compare)
    folder = check_destination(output, sequence=sequence)
    if compare is not None:
        check_destination(compare, sequence=False)
    needs = local_disk_needs(Source.from_probe(info), CapacityJob(options.factor, compare=compare is not None),
                             sequence=sequence)
    check_free_space(folder, needs["output"], final.name)
    if compare is not None:
        check_free_space(compare.resolve().parent, needs["compare"], compare.name)
    return folder


def decide_saved_work(job: PreparedJob, *, resume: bool, discard_saved: bool) -> str | None:
    """Before any work: what becomes of the chunks an interrupted run saved for this output, said in one line
    (None: nothing saved, nothing to say). Saved work the run could not reuse is kept, and the run refused,
    unless discard_saved."""
    path = work_folder_for(job.final, job.folder)
    try:
        saved, why_not = ChunkStore.inspect(path, job.key)
    except OSError as exc:
        raise OutputError(f"cannot use the work folder {path}: {describe(exc)}") from None
    total = len(job.plan.chunks)
    if resume and saved and why_not is None:
        return f"resuming: {saved} of {total} chunks saved in {path} are reused"
    if resume and not saved:
        job.warnings.append("no earlier work to resume; starting from the beginning")  # for a log, at the end too
        return "no earlier work to resume; starting from the beginning"
    if not saved:
        return None
    if discard_saved:
        return f"discarding {saved} saved chunks in {path} (--fresh)" + (f": {why_not}" if resume and why_not else "")
    if resume:
        raise SavedWorkKept(f"the {saved} chunks saved in {path} cannot be resumed: {why_not}. They are kept: "
                            "run the earlier command with --resume to finish it, or add --fresh to discard them")
    if why_not is None:
        raise SavedWorkKept(f"{saved} of {total} chunks of an interrupted run of this command are saved in {path}; "
                            "add --resume to continue it, or --fresh to discard them and start again")
    raise SavedWorkKept(f"{saved} chunks of an interrupted run are saved in {path} ({why_not}); they are kept: "
                        "run the earlier command with --resume to finish it, or add --fresh to discard them")


def plan_lines(job: PreparedJob) -> list[str]:
    """The plan in a line or two, and a warning when it is long or the outputs would not fit the disk."""
    from slowmo.foresight.estimate import quick_seconds

    plan, info = job.plan, job.info
    mpx = info.width * info.height / 1e6
    per_frame = PNG_BYTES_PER_MPX if job.sequence else SEGMENT_BYTES_PER_MPX
    needed = plan.output_count * mpx * (per_frame + (2 * SEGMENT_BYTES_PER_MPX if job.compare is not None else 0))
    seconds = quick_seconds(info, job.options, plan, jobs=job.jobs, sequence=job.sequence)
    kind = "PNG frames" if job.sequence else f"{_rate(plan.output_fps)} fps video"
    lines = [f"plan: {plan.output_count} output frames ({kind}), {plan.output_duration:.2f} s, about "
             f"{human_size(needed)} on disk; roughly {_minutes(seconds)} with {job.jobs} "
             f"worker{'s' if job.jobs > 1 else ''} (`slowmo estimate` measures it)"]
    done = job.picture.get("deinterlace")
    if done:
        order = "top" if done["field_order"] == "tff" else "bottom"
        lines.append(f"interlaced input ({order} field first): deinterlaced (bwdif) at {done['mode']} rate, "
                     f"{done['frames']} frames at {done['fps']} fps" + (", each field its own moment"
                                                                        if done["mode"] == "field" else ""))
    if seconds > LONG_RUN_S:
        lines.append(f"warning: this run may take {_minutes(seconds)}; Ctrl-C keeps the finished chunks for --resume")
    free = shutil.disk_usage(job.folder).free
    if (needed if job.sequence else 2 * needed) > free:  # a video's segments and the joined file, both at the end
        lines.append(f"warning: the outputs need about {human_size(needed)}, more than the {human_size(free)} free at {job.folder}")
    return lines


LONG_RUN_S = 600


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def open_work(job: PreparedJob, *, resume: bool) -> tuple[ChunkStore, dict[int, dict]]:
    """The run's work folder and the chunks it already holds (only with resume, and only when they were made
    from the same input, options, engine and plan)."""
    path = work_folder_for(job.final, job.folder)
    try:
        store, fresh_reason = ChunkStore.open(path, job.key, resume=resume)
    except OSError as exc:
        raise OutputError(f"cannot use the work folder {path}: {describe(exc)}; nothing was published") from None
    if fresh_reason is not None:
        log.info(fresh_reason)  # said before any work started (decide_saved_work)
    return store, store.finished()


def execute_chunks(job: PreparedJob, store: ChunkStore, done: dict[int, dict],
                   progress: ProgressFactory | None) -> list[dict]:
    """Render every chunk not already done, then check that the chunks tile the planned output exactly."""
    plan, info = job.plan, job.info
    with write_errors_as_one_line(job.output, job.folder):
        bar = progress(plan.output_count, initial=sum(r["frames"] for r in done.values())) if progress else None
        frames = _window(read_frames(info, depth=job.depth), plan.first_frame, plan.last_frame)  # a trim keeps only these
        on_frames = bar.update if bar is not None else None
        with _progress_ended(bar):
            if job.jobs > 1:
                fresh = run_parallel(frames, plan.chunks, job.settings, store, done, job.jobs, on_frames)
            else:
                fresh = run_serial(frames, plan.chunks, job.settings, store, done, job.engine, on_frames)
    records = assembled_records([*done.values(), *fresh])
    report = summarise(records)
    if report.source_frames < 2:
        raise InputError(f"{Path(info.path).name}: only {report.source_frames} frame could be decoded; need at least 2")
    if report.source_frames < plan.last_frame - plan.first_frame + 1 or report.output_frames != plan.output_count:
        raise InputError(f"{Path(info.path).name}: is truncated or corrupt: decoded {report.source_frames} of the "
                         f"{plan.last_frame - plan.first_frame + 1} frames it needs")
    return records


@contextlib.contextmanager
def _progress_ended(bar):
    """The progress ends here, whatever happens: finished, its last line; interrupted or failed, stopped where
    it is (a terminal bar stays as it stood, on a line of its own; log lines add nothing), before the one line
    that says why. A bar left open was redrawn under that line when the process ended."""
    if bar is None:
        yield
        return
    try:
        yield
    except BaseException:
        getattr(bar, "stop", bar.close)()
        raise
    bar.close()


def publish(job: PreparedJob, store: ChunkStore, records: list[dict]) -> None:
    """Join the chunks into the outputs (PNG frames moved into place, or segments joined and muxed with the
    audio) and rename each into place only when it is whole."""
    info, plan = job.info, job.plan
    with write_errors_as_one_line(job.output, job.folder):
        if job.sequence:
            if job.overwrite:  # -y: the frames of an earlier run go, so the folder holds this run's only
                for old in job.final.glob(FRAME_PATTERN):
                    old.unlink()
            for record in records:
                for png in sorted((store.chunk_folder(record["index"]) / FRAMES_FOLDER).iterdir()):
                    os.replace(png, job.final / png.name)
        else:
            video_tmp = store.path / f"video{job.final.suffix}"
            join_segments([(store.chunk_folder(r["index"]) / VIDEO_SEGMENT, r["frames"]) for r in records],
                          video_tmp, plan.output_fps)
            subtitles = retime_subtitles(info, plan, store.path) if text_subtitle_indexes(info) else []
            _publish(video_tmp, job.final, info, job.keep_audio, job.options.audio, plan.slowdown,
                     plan.output_duration, plan_audio(plan, info), subtitles)
        if job.compare is not None:
            compare_tmp = store.path / f"compare{job.compare.suffix}"
            join_segments([(store.chunk_folder(r["index"]) / COMPARE_SEGMENT, r["frames"]) for r in records],
                          compare_tmp, plan.output_fps)
            _publish(compare_tmp, job.compare, info, job.keep_audio, job.options.audio, plan.slowdown,
                     plan.output_duration, plan_audio(plan, info))


@contextlib.contextmanager
def _published_or_kept(job: PreparedJob, store: ChunkStore):
    """After a run: the work folder goes once the outputs are published or the run failed for good; an
    interrupt or a worker's crash keeps it, and says how to resume."""
    keep_work = succeeded = False
    try:
        yield
        succeeded = True
    except (KeyboardInterrupt, WorkerFailed) as exc:
        keep_work = True
        saved = len(store.finished())
        hint = (f"{saved} of {len(job.plan.chunks)} chunks are saved in {store.path}; "
                "run the same command with --resume to continue")
        if isinstance(exc, KeyboardInterrupt):
            raise RunInterrupted(f"interrupted; no output was published. {hint}") from None
        raise WorkerFailed(f"{exc}. {hint}") from None
    finally:
        if keep_work:
            store.close()
        else:
            store.remove()
        if job.created_folder and not succeeded and not keep_work:
            with contextlib.suppress(OSError):
                job.final.rmdir()  # the PNG folder this run made, if it is still empty


def job_report(job: PreparedJob, records: list[dict], done: dict[int, dict], started: float) -> JobReport:
    report = summarise(records)
    options, plan = job.options, job.plan
    return JobReport(
        input=job.input_path,
        output=job.output,
        compare=str(job.compare) if job.compare else None,
        factor=factor_json(options.factor),  # 8, or 2.5 / "7/3" for a fractional slowdown (JSON has no Fraction)
        engine=job.engine.name,
        source_fps=_rate(job.info.fps),
        output_fps=_rate(plan.output_fps),
        source_frames=report.source_frames,
        output_frames=report.output_frames,
        output_duration_s=round(plan.output_duration, 6),
        audio=options.audio if job.keep_audio else "none",
        output_rate_reason=plan.rate_reason,
        variable_frame_rate=not plan.constant_rate,
        cuts=report.cuts,
        repeated_pairs=report.repeated_pairs,
        fallback=report.fallback,
        warnings=job.warnings,
        elapsed_s=round(time.monotonic() - started, 3),
        jobs=job.jobs,
        chunks=len(records),
        resumed_chunks=sum(1 for r in records if r["index"] in done),
        picture=job.picture,
    )


def _window(frames, first: int, last: int):
    """The frames first..last of the stream; the rest is still read, so a damaged file is still noticed."""
    for index, frame in enumerate(frames):
        if first <= index <= last:
            yield frame


def _publish(video_tmp: Path, final: Path, info: VideoInfo, keep_audio: bool, mode: str, slowdown: Fraction, duration: float,
             audio_curve: dict | None = None, subtitles: list[str] | None = None):
    """Mux the joined video with the audio and the retimed subtitle tracks (if any) under a temporary name,
    then rename it into place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staged = _temp_path(final, final.suffix)
    try:
        if keep_audio:
            mux_audio(str(video_tmp), info.path, str(staged), mode=mode, slowdown=slowdown, duration=duration,
                      **(audio_curve or {}), subtitles=subtitles or ())
        elif subtitles:
            mux_subtitles(str(video_tmp), str(staged), subtitles)
        else:
            shutil.move(str(video_tmp), staged)
        os.replace(staged, final)
    finally:
        staged.unlink(missing_ok=True)


def _rate(fps: Fraction) -> str:
    return str(fps.numerator) if fps.denominator == 1 else f"{fps.numerator}/{fps.denominator}"
