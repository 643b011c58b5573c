"""`slowmo estimate`: what a run would make and what it would cost, before running it.

Counts come from the plan (the same one `run` executes), so the output frames and duration are exact.
The local time and the file size come from a calibration on this very input: a stretch of real source
pairs is decoded, synthesised by the chosen engine at the job's own t values and encoded with the
job's codec settings, each stage alone and timed. Then the same synthesis and encoding run together,
as `run` runs them (the encoder is another process), and that time over the sum of the stages' times
is the overlap on this machine under its present load. The run then takes

    startup + overlap x (decode + synthesis + encode)

where each stage's total is its per-unit cost times the plan's counts (source frames read; pairs and
frames synthesised; output frames, and with --compare the side-by-side frames, composed and encoded
in the calibration too).

The calibration asks the engine for at most CALIBRATION_SLOTS of the densest pair's t values (a
-k 64 run at 4K took minutes to calibrate on all 63), and its cost per frame is what scales to the
plan's counts. --jobs N (by default what `run` would choose) divides the work by the cores N workers
keep busy beyond the one process's own threads, plus the workers' start; only the cores other processes
leave free count (the load average), since a busy machine gives the workers no more than one process gets. A PNG sequence is timed and
sized by writing the calibration's frames as PNG. Nothing is written except temporary files, which
are removed.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slowmo.errors import InputError
from slowmo.foresight.limits import Limits
from slowmo.media.decode import decode_args
from slowmo.media.encode import VideoWriter
from slowmo.media.ffmpeg import popen_ffmpeg
from slowmo.media.probe import VideoInfo, probe
from slowmo.options import JobOptions
from slowmo.synthesis.engines import create_engine
from slowmo.timeline.plan import Plan, plan_job
from slowmo.timeline.scenes import classify_pair, signature
from slowmo.timeline.timing import factor_json

CALIBRATION_PAIRS = 3  # at least; more when few frames lie between two source frames
CALIBRATION_SLOTS = 6  # t values asked of the engine per calibrated pair, at most
RUN_START_S = 0.6  # what the calibration never times: the interpreter's start and imports (0.41 s) and the probe (0.2 s)
PARALLEL_START_S = 1.5  # starting the worker processes (a fresh interpreter with OpenCV each)
SINGLE_PROCESS_CORES = 1.3  # cores one process keeps busy with its threads (OpenCV, x264), about
ENCODE_SAMPLE_FRAMES = 40  # consecutive output frames encoded to calibrate: enough for x264 to reach its steady rate


@dataclass
class Calibration:
    """Seconds per unit, measured on this input with this engine and these encoder settings."""

    pairs: int
    decode_s_per_frame: float
    engine_s_per_pair: float
    engine_s_per_frame: float
    classify_s_per_frame: float
    encode_s_per_frame: float
    bytes_per_frame: float
    startup_s: float
    measured_in_s: float
    # wall time of the same synthesis and encoding run together, as `run` does, over their time run
    # apart: how much the stages overlap on this machine under its present load
    overlap: float = 1.0
    compare_s_per_frame: float = 0.0  # composing and encoding one side-by-side frame (--compare only)
    png_s_per_frame: float = 0.0  # writing one PNG frame (PNG output only)
    png_bytes_per_frame: float = 0.0


@dataclass
class Estimate:
    input: str
    engine: str
    factor: int | float | str  # the slowdown as given, JSON-ready: 8, 2.5 or "7/3"
    width: int
    height: int
    jobs: int
    output_kind: str  # "video" or "png"
    source_frames: int  # frames the run decodes
    pairs_synthesised: int
    output_frames: int
    synthesised_frames: int
    output_fps: str
    output_duration_s: float
    output_size_bytes: int
    local_seconds: float
    fits: bool
    limit_exceeded: str | None
    calibration: Calibration
    cloud: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def human(self) -> str:
        lines = [
            f"{Path(self.input).name}: {self.width}x{self.height}, engine {self.engine}",
            f"output: {self.output_frames} frames ({self.synthesised_frames} synthesised) at {self.output_fps} fps, "
            f"{self.output_duration_s:.2f} s, about {human_size(self.output_size_bytes)}"
            + (" of PNG frames" if self.output_kind == "png" else ""),
            f"time on this machine with --jobs {self.jobs}: about {_duration(self.local_seconds)} "
            f"(calibrated on {self.calibration.pairs} pairs of this input in {self.calibration.measured_in_s:.1f} s)",
            "fits the limits" if self.fits else f"does not fit: {self.limit_exceeded}",
        ]
        if self.cloud is not None:
            lines.append(_cloud_line(self.cloud))
        return "\n".join(lines)


def human_size(n: float) -> str:
    """Bytes as people read them: 347.4 KB, 1.2 GB (decimal units, as disks are sold)."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _cloud_line(cloud: dict[str, Any]) -> str:
    parts = ["cloud:"]
    for key, label in (("gpuSeconds", "GPU-seconds"), ("wallClockSeconds", "wall clock s"), ("costUsd", "USD")):
        if key in cloud:
            parts.append(f"{label} {cloud[key]}")
    if "fits" in cloud:
        parts.append("fits" if cloud["fits"] else f"does not fit: {cloud.get('failure') or cloud.get('reason')}")
    return " ".join(parts)


# ------------------------------------------------------------------------------------------ counting


@dataclass(frozen=True)
class PlanCounts:
    source_frames: int
    pairs_synthesised: int
    synthesised_frames: int
    output_frames: int


def count_plan(plan: Plan) -> PlanCounts:
    """What the run will do, read off the plan: no video needed."""
    synthesised = 0
    pairs: set[int] = set()
    for frame in plan.frames():
        if not frame.is_source:
            synthesised += 1
            pairs.add(frame.index)
    return PlanCounts(plan.last_frame + 1, len(pairs), synthesised, plan.output_count)


# ------------------------------------------------------------------------------------------ calibration


def _read_at(info: VideoInfo, seconds: float, count: int) -> tuple[list[np.ndarray], float]:
    """`count` consecutive decoded frames from `seconds` on (accurate seek), and the wall time it took."""
    args = decode_args(info, max_frames=count)
    at = args.index("-i")
    args[at:at] = ["-ss", f"{max(0.0, seconds):.6f}"]
    size = info.width * info.height * 3
    started = time.perf_counter()
    proc = popen_ffmpeg(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    data, _ = proc.communicate()
    elapsed = time.perf_counter() - started
    frames = [np.frombuffer(data[i * size:(i + 1) * size], dtype=np.uint8).reshape(info.height, info.width, 3)
              for i in range(len(data) // size)]
    return frames, elapsed


def _slot_times(plan: Plan, limit: int = 64) -> list[float]:
    """The t values the run asks of the engine for its densest pair: what each calibrated pair runs."""
    best: dict[int, list[float]] = {}
    for frame in plan.frames():
        if not frame.is_source:
            best.setdefault(frame.index, []).append(frame.t)
    if not best:
        return []
    return max(best.values(), key=len)[:limit]


def _spread(ts: list[float], n: int) -> list[float]:
    """At most n of ts, spread over them (first and last kept)."""
    if len(ts) <= n:
        return ts
    return [ts[round(i * (len(ts) - 1) / (n - 1))] for i in range(n)]


def calibrate(info: VideoInfo, options: JobOptions, plan: Plan, *, engine_options: dict | None = None,
              sequence: bool = False) -> Calibration:
    """Time each stage on one contiguous stretch from the middle of the processed part of this input.

    The stretch holds enough source pairs for ENCODE_SAMPLE_FRAMES output frames at the job's densest
    t values, so the encoder sees real consecutive content (its size per frame is then realistic).
    """
    started = time.perf_counter()
    engine_opts = dict(engine_options or {})
    if options.engine == "film" and options.model:
        engine_opts.setdefault("model_path", options.model)
    engine = create_engine(options.engine, **engine_opts)
    ts = _spread(_slot_times(plan) or [0.5], CALIBRATION_SLOTS)
    pairs = max(CALIBRATION_PAIRS, min(12, -(-ENCODE_SAMPLE_FRAMES // (len(ts) + 1))))
    first, last = plan.first_frame, plan.last_frame
    middle = max(first, min((first + last) // 2 - pairs // 2, last - pairs))
    at = float(plan.source_times[middle])

    # decode: one frame, then the whole stretch, from the same place; the difference is the per-frame rate
    _, one = _read_at(info, at, 1)
    frames, many = _read_at(info, at, pairs + 1)
    if len(frames) < 2:
        raise InputError(f"{Path(info.path).name}: could not decode frames to calibrate on")
    decode_per_frame = _per_unit(one, 1, many, len(frames))

    engine.interpolate(frames[0], frames[1], [ts[len(ts) // 2]])  # warm-up: the first call builds what later ones reuse
    classify = single = full = 0.0
    outputs: list[np.ndarray] = []
    for a, b in zip(frames, frames[1:], strict=False):
        t0 = time.perf_counter()
        classify_pair(a, b, signature(a), signature(b))
        t1 = time.perf_counter()
        engine.interpolate(a, b, [ts[len(ts) // 2]])
        t2 = time.perf_counter()
        made = engine.interpolate(a, b, ts)
        t3 = time.perf_counter()
        classify, single, full = classify + t1 - t0, single + t2 - t1, full + t3 - t2
        outputs += [a, *made]
    used = len(frames) - 1
    outputs.append(frames[-1])
    # full = pairs x (pair cost + len(ts) x frame cost), single = pairs x (pair cost + frame cost)
    per_frame = max(0.0, (full - single) / (used * (len(ts) - 1))) if len(ts) > 1 else 0.0
    per_pair = max(0.0, single / used - per_frame)

    encode_per_frame, bytes_per_frame, encode_wall = _calibrate_encode(info, options, plan, outputs)
    compare_per_frame = _calibrate_compare(info, options, plan, outputs) if options.compare else 0.0
    png_per_frame, png_bytes = _calibrate_png(outputs) if sequence else (0.0, 0.0)
    together = _run_together(info, options, plan, engine, frames, ts)
    overlap = together / max(1e-6, classify + full + encode_wall)
    return Calibration(
        pairs=used,
        decode_s_per_frame=decode_per_frame,
        engine_s_per_pair=per_pair,
        engine_s_per_frame=per_frame,
        classify_s_per_frame=classify / used,
        encode_s_per_frame=encode_per_frame,
        bytes_per_frame=bytes_per_frame,
        startup_s=one,
        measured_in_s=time.perf_counter() - started,
        overlap=overlap,
        compare_s_per_frame=compare_per_frame,
        png_s_per_frame=png_per_frame,
        png_bytes_per_frame=png_bytes,
    )


def _calibrate_png(frames: list[np.ndarray]) -> tuple[float, float]:
    """Seconds and bytes per PNG frame, written as a PNG sequence is (OpenCV, compression 1)."""
    import cv2

    sample = frames[: min(len(frames), 8)]
    with tempfile.TemporaryDirectory(prefix="slowmo-estimate-") as tmp:
        started = time.perf_counter()
        for n, frame in enumerate(sample):
            cv2.imwrite(str(Path(tmp) / f"{n}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        elapsed = time.perf_counter() - started
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
    return elapsed / len(sample), size / len(sample)


def _per_unit(short_s: float, short_n: int, long_s: float, long_n: int) -> float:
    """Seconds per unit from a short and a long run: their difference removes the start-up cost. When
    noise makes it vanish (tiny frames, a busy machine), the long run's average, an upper bound."""
    if long_n > short_n and long_s > short_s:
        return (long_s - short_s) / (long_n - short_n)
    return long_s / max(1, long_n)


def _encode_options(info: VideoInfo, options: JobOptions) -> dict:
    return {"codec": options.codec, "crf": options.crf, "preset": options.preset, "color": info.color}


def _run_together(info: VideoInfo, options: JobOptions, plan: Plan, engine, frames: list[np.ndarray], ts) -> float:
    """Wall seconds of the stretch's synthesis and encoding run at once, as `run` does."""
    with tempfile.TemporaryDirectory(prefix="slowmo-estimate-") as tmp:
        started = time.perf_counter()
        with VideoWriter(Path(tmp) / "together.mp4", info.width, info.height, plan.output_fps,
                         **_encode_options(info, options)) as writer:
            for a, b in zip(frames, frames[1:], strict=False):
                classify_pair(a, b, signature(a), signature(b))
                writer.write(a)
                for made in engine.interpolate(a, b, ts):
                    writer.write(made)
            writer.write(frames[-1])
        return time.perf_counter() - started


def _calibrate_encode(info: VideoInfo, options: JobOptions, plan: Plan, frames: list[np.ndarray]) -> tuple[float, float, float]:
    """Seconds and bytes per output frame for this content at the job's codec, crf and preset, and the
    wall seconds of encoding the sample once.

    The sample, then the sample and its reverse (motion continues, no cut): the difference between the
    two encodes is the steady per-frame cost, without ffmpeg's start and x264's lookahead fill, which
    make the first few dozen frames of an encode look about twice as dear (measured on 720p)."""
    once = frames
    twice = frames + frames[::-1]
    timings = []
    with tempfile.TemporaryDirectory(prefix="slowmo-estimate-") as tmp:
        path = Path(tmp) / "calibration.mp4"
        for sample in (once, twice):
            started = time.perf_counter()
            with VideoWriter(path, info.width, info.height, plan.output_fps, **_encode_options(info, options)) as writer:
                for frame in sample:
                    writer.write(frame)
            timings.append((len(sample), time.perf_counter() - started, os.path.getsize(path)))
    (n1, s1, b1), (n2, s2, b2) = timings
    return _per_unit(s1, n1, s2, n2), max(1.0, (b2 - b1) / (n2 - n1)), s1


def _calibrate_compare(info: VideoInfo, options: JobOptions, plan: Plan, frames: list[np.ndarray]) -> float:
    """Seconds per side-by-side frame: composed from the sample and encoded at twice the width."""
    from slowmo.media.compare import SideBySide

    side = SideBySide(info.width, info.height, "original", "slowmo")
    timings = []
    with tempfile.TemporaryDirectory(prefix="slowmo-estimate-") as tmp:
        for sample in (frames, frames + frames[::-1]):
            started = time.perf_counter()
            with VideoWriter(Path(tmp) / "compare.mp4", side.width, side.height, plan.output_fps,
                             **_encode_options(info, options)) as writer:
                for frame in sample:
                    writer.write(side.compose(frames[0], frame))
            timings.append((len(sample), time.perf_counter() - started))
    (n1, s1), (n2, s2) = timings
    return _per_unit(s1, n1, s2, n2)


# ------------------------------------------------------------------------------------------ the estimate


def local_seconds(counts: PlanCounts, cal: Calibration, *, compare: bool, jobs: int = 1, sequence: bool = False,
                  cores: int | None = None) -> float:
    """The run's wall time: its stages' times, times how much they overlap when run together, over what
    --jobs N workers gain on the usable cores."""
    encoded = counts.output_frames
    decode = cal.decode_s_per_frame * counts.source_frames
    synthesis = (cal.classify_s_per_frame * counts.source_frames + cal.engine_s_per_pair * counts.pairs_synthesised
                 + cal.engine_s_per_frame * counts.synthesised_frames)
    write = cal.png_s_per_frame if sequence else cal.encode_s_per_frame
    encode = write * encoded + (cal.compare_s_per_frame * encoded if compare else 0.0)
    work = cal.overlap * (decode + synthesis + encode)
    if jobs <= 1:
        return RUN_START_S + cal.startup_s + work
    cores = free_cores() if cores is None else cores
    gain = max(1.0, min(jobs, cores) / SINGLE_PROCESS_CORES)
    return RUN_START_S + cal.startup_s + PARALLEL_START_S + decode + work / gain  # the decoder feeds the workers alone


def cloud_estimate(info: VideoInfo, options: JobOptions, plan: Plan, counts: PlanCounts | None = None,
                   stack: Any = None) -> dict[str, Any]:
    """The capacity model's report (slowmo.foresight.capacity, what the cloud's admission uses) for this plan.

    The model counts (frames - 1) x (factor - 1) synthesised frames over the whole source. A trim or
    slow ranges do less work; it is handed the frames the plan reads and the smallest whole factor
    that gives at least the plan's output frames over them, so its figures never undercount.
    """
    from slowmo.foresight import capacity

    counts = counts or count_plan(plan)
    kept = max(2, plan.last_frame - plan.first_frame + 1)
    factor = max(2, -(-(counts.output_frames - 1) // (kept - 1)))
    source = capacity.Source.from_probe(info, os.path.getsize(info.path)).with_frames(kept)
    job = capacity.Job(factor=factor, fps=None if options.fps is None else float(options.fps), compare=options.compare,
                       codec=options.codec)
    report = capacity.estimate(source, job, stack or capacity.Stack.from_env())
    result = report.to_dict()
    result["modelFactor"] = factor
    result["modelSourceFrames"] = kept
    result["failure"] = report.refusal()
    return result


def estimate_job(input_path: str | os.PathLike, options: JobOptions, *, limits: Limits | None = None,
                 cloud: Any = None, engine_options: dict | None = None, jobs: Any = 1, sequence: bool = False,
                 chunk_frames: int | None = None) -> Estimate:
    """The estimate for running `options` on input_path; cloud: True (the stack from the environment) or a
    slowmo.foresight.capacity.Stack for the capacity model's figures too. jobs: the workers, or a function
    (width, height, engine, output_frames, chunks) -> workers, as `run` chooses them. sequence: PNG output."""
    limits = limits or Limits.from_env()
    info = probe(input_path)
    if info.frame_count < 2:
        raise InputError(f"{Path(info.path).name}: has only {info.frame_count} frame; need at least 2 to interpolate")
    plan = plan_job(info, options, chunk_frames=chunk_frames) if chunk_frames else plan_job(info, options)
    counts = count_plan(plan)
    if callable(jobs):
        jobs = jobs(info, options, plan)
    jobs = max(1, int(jobs or 1))  # run_jobs already counts the chunks run would make
    fits, exceeded = True, None
    try:
        limits.check_file_size(os.path.getsize(info.path), Path(info.path).name)
        limits.check_video(info.width, info.height, info.duration, plan.output_count, Path(info.path).name)
    except InputError as exc:
        fits, exceeded = False, str(exc)
    cal = calibrate(info, options, plan, engine_options=engine_options, sequence=sequence)
    cloud_report = cloud_estimate(info, options, plan, counts, stack=None if cloud is True else cloud) if cloud else None
    fps = plan.output_fps
    return Estimate(
        input=str(input_path), engine=options.engine, factor=factor_json(options.factor), width=info.width, height=info.height,
        jobs=jobs, output_kind="png" if sequence else "video",
        source_frames=counts.source_frames, pairs_synthesised=counts.pairs_synthesised,
        output_frames=counts.output_frames, synthesised_frames=counts.synthesised_frames,
        output_fps=str(fps.numerator) if fps.denominator == 1 else f"{fps.numerator}/{fps.denominator}",
        output_duration_s=round(plan.output_duration, 6),
        output_size_bytes=int((cal.png_bytes_per_frame if sequence else cal.bytes_per_frame) * counts.output_frames),
        local_seconds=round(local_seconds(counts, cal, compare=options.compare, jobs=jobs, sequence=sequence), 3),
        fits=fits and (cloud_report is None or bool(cloud_report.get("fits", True))),
        limit_exceeded=exceeded if not fits else (None if cloud_report is None or cloud_report.get("fits", True)
                                                   else cloud_report.get("failure") or "a cloud limit"),
        calibration=cal,
        cloud=cloud_report,
    )


# Wall seconds per output megapixel-frame of a whole run on one core (decode, synthesis, encode), rough
# figures from runs on this project's 2-core test machine; `quick_seconds` is the plan's first word, before
# any frame is read, and `estimate` measures instead.
ROUGH_S_PER_MPX = {"blend": 0.03, "flow": 0.15, "film": 3.0}
PNG_COST = 1.5  # a PNG frame costs about this much more than an H.264 one to write


def quick_seconds(info: VideoInfo, options: JobOptions, plan: Plan, *, jobs: int, sequence: bool) -> float:
    """A rough time for the run, from its counts alone (no calibration): for the plan `run` prints."""
    mpx = info.width * info.height / 1e6
    per = ROUGH_S_PER_MPX.get(options.engine, ROUGH_S_PER_MPX["film"]) * (PNG_COST if sequence else 1.0)
    per *= 2.0 if options.compare else 1.0
    cores = free_cores()
    # one process already spreads its threads over about 1.5 cores; N workers use up to N of the free ones
    speedup = min(cores, 1.5) if jobs <= 1 else min(cores, jobs) * 0.9
    return 1.0 + plan.output_count * mpx * per / max(1.0, speedup)


def free_cores(cores: int | None = None, load: float | None = None) -> float:
    """The cores workers would have to themselves: the usable cores less what other processes keep busy now
    (the 1-minute load average, less the one process estimating). On a shared 2-core machine at load 4 the
    workers of a --jobs 2 run gained nothing over one process (benchmarks/estimate_accuracy.json), though an
    idle one would give them both cores."""
    cores = _cores() if cores is None else cores
    if load is None:
        try:
            load = float(Path("/proc/loadavg").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            load = 0.0
    return max(1.0, cores - max(0.0, load - 1.0))


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
