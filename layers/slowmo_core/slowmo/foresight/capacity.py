"""What a cloud job needs, step by step, against the stack's limits: one pure estimate.

    report = estimate(Source.from_probe(info, file_bytes), Job.from_options(options), Stack.from_env())
    report.fits, report.refusal(), report.to_dict()

From the probe's facts (size, frames, rate, bit depth, file size), the job's options (factor, fps,
compare, codec) and the stack's settings (each container Lambda's memory, /tmp and timeout, chunk
frames, Map concurrency, endpoint instance type and count) it returns, for every step of the state
machine (ClaimJob, Extract, Interpolate on the endpoint, EncodeChunk, Assemble) and for the
comparison's share: the invocations, the peak /tmp and memory of the largest invocation, its
expected duration, the GPU-seconds, and every limit it is held against with what it needs. Then the
job's wall clock and its cost at list prices (slowmo.foresight.prices).

Where the figures come from (docs/capacity.md has the table and the commands):

* CPU work: rates measured by benchmarks/bench_cloud_steps.py on this machine, per core and per
  megapixel (MEASURED_RATES), scaled to a Lambda's vCPUs by AWS's rule: CPU is allocated in
  proportion to memory, one vCPU's worth at 1,769 MB, at most 6 vCPUs at 10,240 MB
  (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html,
  https://aws.amazon.com/blogs/aws/new-for-aws-lambda-functions-with-up-to-10-gb-of-memory-and-6-vcpus/).
  Linear scaling with cores and with pixels is an assumption (ffmpeg's decoders and libx264 thread
  well up to 6 cores).
* GPU work: GPU_SECONDS_PER_FRAME_1080P (slowmo.synthesis.film_figures), seconds of one FILM call at 1080p on an A10G,
  scaled by pixels and by the instance's GPU (GPU_SPEED). Not measured here: no GPU was lent to
  this project's machine.
* S3 transfer: LAMBDA_S3_BYTES_PER_S, an assumption, not measured here.

The model counts; it never runs anything. Standard library only: the zip Lambdas (ClaimJob, the API)
import it to admit or refuse a job before anything is spent.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from typing import Any

from slowmo.foresight import prices

# Seconds of one FILM model call (one midpoint) at 1080p on one A10G (ml.g5.xlarge): the FILM-shaped network's
# counted arithmetic over an ASSUMED A10G throughput. Not measured (no GPU was lent to this project); one
# constant, shared with the film engine's figures.
from slowmo.synthesis.film_figures import GPU_SECONDS_PER_FRAME_1080P
from slowmo.timeline.timing import factor_json, factor_value, output_frame_count

# ---------------------------------------------------------------------------------------- rules
LAMBDA_MB_PER_VCPU = 1769  # one vCPU's worth of CPU at 1,769 MB (AWS, see the module docstring)
LAMBDA_MAX_VCPUS = 6  # at 10,240 MB
LAMBDA_FREE_TMP_MB = 512  # ephemeral storage above this is billed
MB = 1024**2  # Lambda's "MB" (MemorySize, EphemeralStorage) are mebibytes
GB = 1024**3

PIXELS_1080P = 1920 * 1080
# Relative seconds per frame of each allowed instance's GPU against the A10G (>1: slower). From the
# GPUs' FP32 throughput (A10G 31 TFLOPS, L4 30, T4 8.1): an assumption until measured per instance.
GPU_SPEED = {"ml.g5.xlarge": 1.0, "ml.g6.xlarge": 1.05, "ml.g4dn.xlarge": 2.5}
ENDPOINT_COLD_START_S = 600  # scale from zero: alarm + provisioning + image + model load (docs/model-endpoint.md)
ENDPOINT_SCALE_IN_IDLE_S = 600  # the scaling policy's scale-in cooldown: billed idle time per instance

LAMBDA_S3_BYTES_PER_S = 100e6  # one Lambda's S3 throughput with parallel transfers: an assumption
S3_REQUEST_LATENCY_S = 0.02  # first byte of a GetObject: an assumption
S3_COPY_BYTES_PER_S = 300e6  # a server-side multipart copy (publishing): an assumption
UPLOAD_PARTS_IN_FLIGHT = 4  # Assemble's streamed upload buffers at most this many parts (slowmo.cloud.media)
# Assemble streams its output from a pipe, so boto3 cannot size the parts from the length: the part size is
# fixed, and S3 takes at most 10,000 parts of 5 MiB..5 GiB ("Amazon S3 multipart upload limits",
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html). 64 MiB parts hold 625 GiB, far beyond what
# one join can write in Lambda's 15 minutes (at LAMBDA_S3_BYTES_PER_S, ~84 GiB), where 8 MiB parts stop at 78 GiB.
ASSEMBLE_PART_BYTES = 64 * MB
S3_MAX_PARTS = 10_000
LAMBDA_BASE_MEMORY = 300 * MB  # Python + numpy + OpenCV + boto3 in a container Lambda, before any frame
X264_FRAMES_HELD = 60  # lookahead + reference frames libx264 keeps at preset medium (YUV 4:2:0)
EXTRACT_UPLOAD_WORKERS = 4  # slowmo.cloud.media.extract: chunk files written and uploaded in parallel
S3_PART_BYTES = 8 * MB  # boto3's multipart part size: one PUT request per part
SOURCE_BITS_PER_PIXEL = 0.12  # a source whose file size is unknown: ~8 Mbit/s at 1080p30
# H.264 CRF 18 output of real footage, bytes per megapixel of a frame: ~8 Mbit/s at 1080p30 (the
# synthetic benchmark clip compresses 5x better, so it cannot size outputs). An assumption.
SEGMENT_BYTES_PER_MPX = 16_000

# The share of a limit a job may be planned to use. Admission refuses above ADMIT_FRACTION (the
# estimate's tolerance, see tests/unit/test_capacity.py's calibration); the stack's design targets
# hold every Lambda below TARGET_FRACTION of its time and /tmp.
ADMIT_FRACTION = 0.8
TARGET_FRACTION = 0.5


@dataclass(frozen=True)
class MeasuredRates:
    """Per-core throughput (megapixels per second) and sizes (bytes per megapixel) measured by
    ``benchmarks/bench_cloud_steps.py --json`` on 1080p frames. Sizes are of synthetic footage
    (slowmo.foresight.sample): real footage with grain compresses worse, so budgets keep headroom."""

    measured_on: str = "2 cores (rates per CPU-second), load average 20.20, 2026-11-30"
    command: str = "benchmarks/bench_cloud_steps.py --json rates.json"
    decode_mpx_per_core_s: float = 84.16  # decode the H.264 source
    # signature + pair classification of every frame (Extract's scans); measured later the same day, load 4.96
    scan_mpx_per_core_s: float = 382.71
    chunk_write_mpx_per_core_s: float = 47.36  # write lossless chunk frames (slowmo.media.chunkio, Ut Video)
    encode_mpx_per_core_s: float = 18.03  # H.264 CRF 18 medium, including reading the lossless chunk
    compare_mpx_per_core_s: float = 24.51  # the side-by-side comparison, per megapixel of its frame
    chunk_bytes_per_mpx: int = 1_033_373  # a lossless chunk frame
    # H.264 CRF 18 of the synthetic clip is far smaller than of real footage; the model does not use
    # these two for sizing (see SEGMENT_BYTES_PER_MPX), they are kept to show the difference
    segment_bytes_per_mpx: int = 2_968
    compare_bytes_per_mpx: int = 2_749


MEASURED_RATES = MeasuredRates()


# ---------------------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Source:
    """The probe's facts about the input."""

    width: int
    height: int
    frames: int
    fps: float
    bit_depth: int = 8
    file_bytes: int | None = None
    has_audio: bool = True

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    @property
    def size_bytes(self) -> int:
        """The file's size, or an ordinary bitrate's worth when it is not known."""
        if self.file_bytes is not None:
            return int(self.file_bytes)
        return int(self.width * self.height * self.frames * SOURCE_BITS_PER_PIXEL / 8)

    @property
    def label(self) -> str:
        """'1080p30', '2160p29.97': the short side and the rate, as people name footage."""
        rate = f"{self.fps:.2f}".rstrip("0").rstrip(".")
        return f"{min(self.width, self.height)}p{rate}"

    @classmethod
    def from_probe(cls, info: Any, file_bytes: int | None = None) -> Source:
        """From slowmo.media.probe.VideoInfo (or its to_dict()), plus the object's size in bytes."""
        d = info if isinstance(info, Mapping) else info.to_dict()
        fps = d.get("fps_float") or _rate(d["fps"])
        return cls(int(d["width"]), int(d["height"]), int(d["frame_count"]), float(fps), int(d.get("bit_depth") or 8),
                   file_bytes, bool(d.get("has_audio", True)))

    @classmethod
    def of_length(cls, width: int, height: int, fps: float, seconds: float, **kw) -> Source:
        """A source of this size, rate and length (the targets, and the 'largest that fits' search)."""
        return cls(width, height, max(2, round(seconds * fps)), fps, **kw)

    def with_frames(self, frames: int) -> Source:
        """The same footage cut to ``frames``: the file shrinks in proportion."""
        size = None if self.file_bytes is None else int(self.file_bytes * frames / max(self.frames, 1))
        return replace(self, frames=frames, file_bytes=size)


@dataclass(frozen=True)
class Job:
    """The options that change the work: factor, output rate, comparison, codec.

    factor: output frames per source frame interval, as the model counts them; whole (8) or not (2.5: a
    fractional slowdown makes (n-1) x 2.5 intervals' worth of frames, rounded down, as the plan does)."""

    factor: int | Fraction = 8
    fps: float | None = None
    compare: bool = True
    codec: str = "h264"

    @classmethod
    def from_options(cls, options: Any) -> Job:
        """From validated job options: slowmo.options.JobOptions or its JSON form."""
        d = options if isinstance(options, Mapping) else options.to_dict()
        fps = d.get("fps")
        return cls(_factor(d.get("factor", 8)), None if fps in (None, "") else _rate(fps), bool(d.get("compare", False)),
                   str(d.get("codec") or "h264"))


@dataclass(frozen=True)
class FunctionLimits:
    """A Lambda function's MemorySize and EphemeralStorage (MB) and Timeout (s), as in template.yaml."""

    memory_mb: int
    tmp_mb: int
    timeout_s: int

    @property
    def vcpus(self) -> float:
        return min(LAMBDA_MAX_VCPUS, self.memory_mb / LAMBDA_MB_PER_VCPU)


# env name prefix per container function: EXTRACT_MEMORY_MB, EXTRACT_TMP_MB, EXTRACT_TIMEOUT_S, ...
_FUNCTION_ENV = {"extract": "EXTRACT", "encode": "ENCODE_CHUNK", "assemble": "ASSEMBLE"}


@dataclass(frozen=True)
class Stack:
    """The deployed stack's settings; the defaults are template.yaml's (a test keeps them equal)."""

    extract: FunctionLimits = FunctionLimits(10240, 10240, 900)
    encode: FunctionLimits = FunctionLimits(6144, 2048, 900)
    assemble: FunctionLimits = FunctionLimits(3008, 10240, 900)
    claim: FunctionLimits = FunctionLimits(256, 512, 30)
    chunk_frames: int = 16
    map_concurrency: int = 16
    instance_type: str = "ml.g5.xlarge"
    max_instances: int = 2
    invocation_timeout_s: int = 900  # the async endpoint's InvocationTimeoutSeconds per chunk
    chunk_timeout_s: int = 3600  # ChunkTimeoutSeconds: how long a Map item waits for the endpoint
    retention_days: int = 7
    extract_range_frames: int = 5400  # ExtractRangeFrames: source frames per Extract scan and cut group
    assemble_streaming: bool = True  # Assemble streams into a multipart upload (False: the older local join)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Stack:
        """The settings the template hands every function (CHUNK_FRAMES, MAP_CONCURRENCY, ...)."""
        env = os.environ if environ is None else environ
        base = cls()

        def num(name: str, default: int) -> int:
            raw = env.get(name)
            return default if raw in (None, "") else int(raw)

        limits = {}
        for attr, prefix in _FUNCTION_ENV.items():
            current: FunctionLimits = getattr(base, attr)
            limits[attr] = FunctionLimits(num(f"{prefix}_MEMORY_MB", current.memory_mb),
                                          num(f"{prefix}_TMP_MB", current.tmp_mb),
                                          num(f"{prefix}_TIMEOUT_S", current.timeout_s))
        return replace(
            base, **limits,
            chunk_frames=num("CHUNK_FRAMES", base.chunk_frames),
            map_concurrency=num("MAP_CONCURRENCY", base.map_concurrency),
            instance_type=env.get("ENDPOINT_INSTANCE_TYPE") or base.instance_type,
            max_instances=num("ENDPOINT_MAX_INSTANCES", base.max_instances),
            invocation_timeout_s=num("INVOCATION_TIMEOUT_SECONDS", base.invocation_timeout_s),
            chunk_timeout_s=num("CHUNK_TIMEOUT_SECONDS", base.chunk_timeout_s),
            retention_days=num("RETENTION_DAYS", base.retention_days),
            extract_range_frames=num("EXTRACT_RANGE_FRAMES", base.extract_range_frames),
            assemble_streaming=(env.get("ASSEMBLE_STREAMING") or str(base.assemble_streaming)).lower() == "true",
        )


# ---------------------------------------------------------------------------------------- outputs
@dataclass(frozen=True)
class Limit:
    """One limit an invocation is held against: what it needs and what the stack allows."""

    name: str  # "time", "/tmp", "memory", "endpoint time", "callback wait", "upload parts"
    need: float  # seconds, bytes or parts
    limit: float
    unit: str  # "s", "bytes" or "parts"

    @property
    def share(self) -> float:
        return self.need / self.limit if self.limit else math.inf

    def fits(self, fraction: float = 1.0) -> bool:
        return self.need <= self.limit * fraction

    def describe(self, step: str, fraction: float = 1.0) -> str:
        """'needs 14.2 GB of /tmp in Assemble (limit 10 GB)'; a need under the limit but over the
        share that may be planned says that share: '(limit 10 GB, 8 GB of it may be planned)'."""
        show = {"bytes": _bytes, "parts": lambda n: f"{n:,.0f} parts"}.get(self.unit, _duration)
        planned = f", {show(self.limit * fraction)} of it may be planned" if self.need <= self.limit else ""
        return f"needs {show(self.need)} of {self.name} in {step} (limit {show(self.limit)}{planned})"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "need": round(self.need, 3), "limit": self.limit, "unit": self.unit,
                "share": round(self.share, 4)}


@dataclass(frozen=True)
class StepEstimate:
    """One step of the state machine: its invocations and its largest invocation's needs."""

    name: str
    invocations: int
    peak_tmp_bytes: int  # of the largest invocation
    peak_memory_bytes: int
    duration_s: float  # of the largest invocation
    total_seconds: float  # all invocations together (what is billed)
    gpu_seconds: float = 0.0
    memory_mb: int = 0  # what is billed per second (Lambda), 0 for the endpoint
    tmp_mb: int = 0
    limits: tuple[Limit, ...] = ()

    def worst(self, fraction: float = 1.0) -> Limit | None:
        """The limit overrun by the most, or None if every limit holds at ``fraction`` of itself."""
        over = [lim for lim in self.limits if not lim.fits(fraction)]
        return max(over, key=lambda lim: lim.share) if over else None

    def fits(self, fraction: float = 1.0) -> bool:
        return self.worst(fraction) is None

    def to_dict(self, fraction: float = 1.0) -> dict[str, Any]:
        worst = self.worst(fraction)
        return {
            "step": self.name,
            "invocations": self.invocations,
            "peakTmpBytes": self.peak_tmp_bytes,
            "peakMemoryBytes": self.peak_memory_bytes,
            "durationSeconds": round(self.duration_s, 2),
            "totalSeconds": round(self.total_seconds, 1),
            "gpuSeconds": round(self.gpu_seconds, 1),
            "limits": [lim.to_dict() for lim in self.limits],
            "fits": worst is None,
            "failure": None if worst is None else worst.describe(self.name, fraction),
        }


@dataclass(frozen=True)
class CapacityReport:
    source: Source
    job: Job
    stack: Stack
    steps: tuple[StepEstimate, ...]
    comparison: dict[str, float]
    output_frames: int
    output_bytes: int
    wall_clock_s: float
    cost: dict[str, float]
    fraction: float = ADMIT_FRACTION  # the share of each limit the job may use

    @property
    def gpu_seconds(self) -> float:
        return sum(s.gpu_seconds for s in self.steps)

    @property
    def cost_usd(self) -> float:
        return round(sum(self.cost.values()), 2)

    def step(self, name: str) -> StepEstimate:
        return next(s for s in self.steps if s.name == name)

    def failure(self) -> tuple[StepEstimate, Limit] | None:
        """The step and limit overrun by the most, or None when the job fits."""
        found = [(s, s.worst(self.fraction)) for s in self.steps]
        found = [(s, lim) for s, lim in found if lim is not None]
        return max(found, key=lambda pair: pair[1].share) if found else None

    @property
    def fits(self) -> bool:
        return self.failure() is None

    def refusal(self) -> str | None:
        """One line naming the limit and the largest input that fits at these options, or None.

        'needs 14.2 GB of /tmp in Assemble (limit 10 GB); at factor 8 with compare, 1080p30 fits up
        to 6 min 10 s'"""
        found = self.failure()
        if found is None:
            return None
        step, limit = found
        options = f"at factor {self.job.factor}{' with compare' if self.job.compare else ''}"
        longest = largest_duration(self.source, self.job, self.stack, fraction=self.fraction)
        if longest > 0:
            return f"{limit.describe(step.name, self.fraction)}; {options}, {self.source.label} fits up to {_duration(longest)}"
        fits = f"no length of {self.source.width}x{self.source.height} fits"
        lower = next((k for k in range(math.ceil(self.job.factor) - 1, 1, -1)
                      if estimate(self.source, replace(self.job, factor=k), self.stack, fraction=self.fraction).fits), None)
        if lower is not None:
            fits += f"; this input fits at factor {lower}"
        return f"{limit.describe(step.name, self.fraction)}; {options}, {fits}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": asdict(self.source) | {"durationSeconds": round(self.source.duration_s, 3),
                                             "label": self.source.label},
            "job": asdict(self.job) | {"factor": factor_json(self.job.factor)},
            "stack": asdict(self.stack),
            "steps": [s.to_dict(self.fraction) for s in self.steps],
            "comparison": {k: round(v, 2) for k, v in self.comparison.items()},
            "outputFrames": self.output_frames,
            "outputBytes": self.output_bytes,
            "gpuSeconds": round(self.gpu_seconds, 1),
            "wallClockSeconds": round(self.wall_clock_s),
            "cost": {k: round(v, 4) for k, v in self.cost.items()},
            "costUsd": self.cost_usd,
            "fits": self.fits,
            "refusal": self.refusal(),
            "fraction": self.fraction,
            "rates": asdict(MEASURED_RATES),
            "prices": prices.table(),
        }


# ---------------------------------------------------------------------------------------- the model
def estimate(source: Source, job: Job, stack: Stack | None = None, *, rates: MeasuredRates = MEASURED_RATES,
             fraction: float = ADMIT_FRACTION) -> CapacityReport:
    """Every step's needs for this source, these options and this stack (see the module docstring)."""
    stack = stack or Stack()
    if stack.instance_type not in GPU_SPEED or stack.instance_type not in prices.SAGEMAKER_INSTANCE_HOUR:
        raise ValueError(f"no speed or price for endpoint instance {stack.instance_type}; "
                         f"known: {', '.join(sorted(GPU_SPEED))}")
    k, c, n = _factor(job.factor), max(2, stack.chunk_frames), max(2, source.frames)
    mpx = source.megapixels
    raw_frame = source.width * source.height * 3  # frames are uint8 RGB in memory
    chunks, largest = chunk_counts(n, c)
    out_frames = output_frames(n, k)
    chunk_out = output_frames(largest, k)
    chunk_file_in = largest * mpx * rates.chunk_bytes_per_mpx
    chunk_file_out = chunk_out * mpx * rates.chunk_bytes_per_mpx
    segment = chunk_out * mpx * SEGMENT_BYTES_PER_MPX
    compare_segment = chunk_out * 2 * mpx * SEGMENT_BYTES_PER_MPX if job.compare else 0.0
    video_bytes = out_frames * mpx * SEGMENT_BYTES_PER_MPX
    compare_bytes = out_frames * 2 * mpx * SEGMENT_BYTES_PER_MPX if job.compare else 0.0
    depth = max(1.0, source.bit_depth / 8)  # high-bit-depth sources decode slower (an assumption)
    bw = LAMBDA_S3_BYTES_PER_S

    def lambda_limits(fn: FunctionLimits, seconds: float, tmp: float, memory: float) -> tuple[Limit, ...]:
        return (Limit("time", seconds, fn.timeout_s, "s"), Limit("/tmp", tmp, fn.tmp_mb * MB, "bytes"),
                Limit("memory", memory, fn.memory_mb * MB, "bytes"))

    # ClaimJob: HEAD + a header-only probe + one conditional write; bounded, whatever the video
    claim_s = 2.0
    claim = StepEstimate("ClaimJob", 1, 0, 128 * MB, claim_s, claim_s, memory_mb=stack.claim.memory_mb,
                         tmp_mb=stack.claim.tmp_mb,
                         limits=lambda_limits(stack.claim, claim_s, 0, 128 * MB))

    # Extract (slowmo.timeline.ranges): one call reads the container's packet index (the whole file, streamed), a
    # scan per time range decodes and classifies its frames, one call plans, and a cut per group of chunks
    # (about a range long) decodes its frames again and writes and uploads their chunk files. Nothing of
    # the source is copied to /tmp. The step's duration is its slowest call.
    from slowmo.timeline.ranges import frames_per_range

    per_range = frames_per_range(stack.extract_range_frames, source.width, source.height)
    ranges = 1 if per_range <= 0 or n <= per_range else math.ceil((n - 1) / per_range)
    range_frames = n if ranges == 1 else per_range
    # slowmo.timeline.ranges.cut_groups adds chunks to a group until it spans a range: ceil(range / step) chunks
    group_chunks = chunks if ranges == 1 else min(chunks, math.ceil(per_range / (c - 1)))
    group_frames = min(n, group_chunks * (c - 1) + 1)
    groups = math.ceil(chunks / group_chunks)
    vcpus = stack.extract.vcpus
    decode_s = lambda frames: frames * mpx * depth / rates.decode_mpx_per_core_s / vcpus  # noqa: E731
    index_s = source.size_bytes / bw + n * 2e-6 + 1.0  # a stream copy of every packet: I/O bound
    scan_s = (source.size_bytes * range_frames / n / bw + decode_s(range_frames)
              + range_frames * mpx / rates.scan_mpx_per_core_s / vcpus)
    plan_s = 1.0 + n * 2e-5 + ranges * S3_REQUEST_LATENCY_S  # reads every scan, plans in pure Python
    # cut_range: each upload worker writes one chunk file, uploads and deletes it; up to 2 x workers
    # more chunks wait as frames in memory beside the one being filled
    on_disk = min(EXTRACT_UPLOAD_WORKERS, group_chunks)
    cut_cpu = decode_s(group_frames) + group_frames * mpx / rates.chunk_write_mpx_per_core_s / vcpus
    cut_s = source.size_bytes * group_frames / n / bw + max(cut_cpu, group_chunks * chunk_file_in / bw)
    extract_s = max(index_s, scan_s, plan_s, cut_s)
    extract_tmp = on_disk * chunk_file_in
    extract_mem = LAMBDA_BASE_MEMORY + (min(3 * EXTRACT_UPLOAD_WORKERS, group_chunks) + 1) * largest * raw_frame
    extract_total = index_s + ranges * scan_s + plan_s + groups * cut_s
    extract = StepEstimate("Extract", 2 + ranges + groups, int(extract_tmp), int(extract_mem), extract_s, extract_total,
                           memory_mb=stack.extract.memory_mb, tmp_mb=stack.extract.tmp_mb,
                           limits=lambda_limits(stack.extract, extract_s, extract_tmp, extract_mem))

    # Interpolate: one async request per chunk on the endpoint's GPU
    per_frame = GPU_SECONDS_PER_FRAME_1080P * (source.width * source.height / PIXELS_1080P) * GPU_SPEED[stack.instance_type]
    calls = film_calls_per_pair(k)
    request_s = (largest - 1) * calls * per_frame
    gpu_total = (n - 1) * calls * per_frame
    instances = max(1, min(stack.max_instances, stack.map_concurrency))
    # a chunk waits for: scale from zero, the requests queued ahead of it on each instance, its own
    callback_wait = ENDPOINT_COLD_START_S + math.ceil(stack.map_concurrency / instances) * request_s
    interpolate = StepEstimate("Interpolate", chunks, 0, 0, request_s, gpu_total, gpu_seconds=gpu_total,
                               limits=(Limit("endpoint time", request_s, stack.invocation_timeout_s, "s"),
                                       Limit("callback wait", callback_wait, stack.chunk_timeout_s, "s")))

    # EncodeChunk: download the output (and input) chunk, encode the segment(s), upload
    encode_tmp = chunk_file_out + segment + (chunk_file_in + compare_segment if job.compare else 0)
    encode_mem = (LAMBDA_BASE_MEMORY + 64 * MB + X264_FRAMES_HELD * raw_frame / 2
                  + ((largest * raw_frame + X264_FRAMES_HELD * raw_frame) if job.compare else 0))
    encode_cpu = chunk_out * mpx / rates.encode_mpx_per_core_s / stack.encode.vcpus
    compare_cpu = chunk_out * 2 * mpx / rates.compare_mpx_per_core_s / stack.encode.vcpus if job.compare else 0.0
    encode_io = (chunk_file_out + segment + (chunk_file_in + compare_segment if job.compare else 0)) / bw
    encode_s = encode_cpu + compare_cpu + encode_io
    encode = StepEstimate("EncodeChunk", chunks, int(encode_tmp), int(encode_mem), encode_s, encode_s * chunks,
                          memory_mb=stack.encode.memory_mb, tmp_mb=stack.encode.tmp_mb,
                          limits=lambda_limits(stack.encode, encode_s, encode_tmp, encode_mem))

    # Assemble: each output (the video, the comparison) is joined by a call of its own, side by side, with the
    # audio muxed; then one call publishes them all. The step's duration is its slowest call.
    audio_source = source.size_bytes if source.has_audio else 0
    kinds = 2 if job.compare else 1
    if stack.assemble_streaming:
        # ffmpeg reads the segments and the source from S3 as it goes and writes a fragmented MP4 into a
        # multipart upload: /tmp holds the concat list; memory the upload's parts in flight. The segments
        # are read one after the other, so each costs a request's latency.
        assemble_tmp = chunks * 120
        assemble_mem = LAMBDA_BASE_MEMORY + UPLOAD_PARTS_IN_FLIGHT * ASSEMBLE_PART_BYTES
        upload_parts = math.ceil(max(video_bytes, compare_bytes) / ASSEMBLE_PART_BYTES)
        joins = [(2 * out + audio_source) / bw + chunks * S3_REQUEST_LATENCY_S
                 for out in (video_bytes, compare_bytes)[:kinds]]
        # publishing copies each output into place inside S3 (no data through the function)
        publish_s = (video_bytes + compare_bytes) / S3_COPY_BYTES_PER_S + 2.0
        assemble_s = max(*joins, publish_s)
        assemble_total = sum(joins) + publish_s
        assemble_wall = max(joins) + publish_s  # the joins side by side, then the publish
        assemble_calls = kinds + 1
    else:  # segments + the joined file, then the joined file + the muxed copy (+ the source for its audio)
        assemble_tmp = 2 * max(video_bytes, compare_bytes) + audio_source
        assemble_mem = LAMBDA_BASE_MEMORY
        assemble_s = (3 * (video_bytes + compare_bytes) + audio_source) / bw \
            + (video_bytes + compare_bytes) / S3_COPY_BYTES_PER_S + 2.0
        assemble_total = assemble_wall = assemble_s
        assemble_calls = 1
        upload_parts = 0  # uploaded with upload_file, which sizes its parts from the file's length
    assemble_limits = lambda_limits(stack.assemble, assemble_s, assemble_tmp, assemble_mem)
    if upload_parts:
        assemble_limits += (Limit("upload parts", upload_parts, S3_MAX_PARTS, "parts"),)
    assemble = StepEstimate("Assemble", assemble_calls, int(assemble_tmp), int(assemble_mem), assemble_s, assemble_total,
                            memory_mb=stack.assemble.memory_mb, tmp_mb=stack.assemble.tmp_mb, limits=assemble_limits)
    steps = (claim, extract, interpolate, encode, assemble)

    comparison = {
        "outputBytes": compare_bytes,
        "encodeSecondsPerChunk": compare_cpu + compare_segment / bw,
        "encodeTmpBytes": chunk_file_in + compare_segment if job.compare else 0.0,
        "assembleTmpBytes": (2 * compare_bytes if not stack.assemble_streaming else chunks * 120.0),
    }

    # wall clock: the chunks flow through the Map at the pace of the GPUs or of the Map's slots
    per_chunk = request_s + encode_s + 1.0
    chunks_per_s = min(instances / max(request_s, 1e-6), stack.map_concurrency / per_chunk)
    map_s = ENDPOINT_COLD_START_S + chunks / chunks_per_s + encode_s
    waves = lambda items: math.ceil(items / max(1, stack.map_concurrency))  # noqa: E731 - the Maps' MaxConcurrency
    extract_wall = index_s + waves(ranges) * scan_s + plan_s + waves(groups) * cut_s
    wall = claim_s + extract_wall + map_s + assemble_wall

    cost = _cost(steps, chunks, stack, gpu_total, instances, map_s, chunk_file_in, chunk_file_out, segment,
                 compare_segment, video_bytes, compare_bytes)
    return CapacityReport(source, job, stack, steps, comparison, out_frames, int(video_bytes + compare_bytes), wall,
                          cost, fraction)


def film_calls_per_pair(factor) -> int:
    """FILM model calls for one source pair at factor K (slowmo.synthesis.engines.film.calls_per_pair, counted
    without numpy): FILM only makes midpoints, so a dyadic K bisects exactly (K-1 calls); any other K
    is bracketed at depth 2 or at the depth of the power of two dividing it, whichever is deeper, and
    the rest is a flow retime on the endpoint's CPU. A fractional K (2.5) puts its t values anywhere in
    the pair: bracketed at depth 2, like an odd K."""
    factor = Fraction(factor)
    if factor.denominator != 1:
        return 3
    factor = factor.numerator
    if factor & (factor - 1) == 0:
        return factor - 1
    twos = (factor & -factor).bit_length() - 1  # the power of two dividing K
    return (1 << max(2, twos)) - 1


def output_frames(source_frames: int, factor) -> int:
    """(n-1) x K + 1, rounded down for a fractional K (the plan's count at the source's rate)."""
    return output_frame_count(source_frames, factor)


def _factor(value):
    """A factor from options or their JSON form (8, "8", 2.5, "5/2"): int when whole, else a Fraction."""
    return factor_value(Fraction(str(value).strip()))


def chunk_counts(frames: int, chunk_frames: int) -> tuple[int, int]:
    """(chunks, source frames of the largest) of slowmo.timeline.chunks.plan_chunks(frames, chunk_frames),
    counted without listing them: steps of chunk_frames - 1 pairs, and a runt tail shorter than a
    quarter step merged into the chunk before it. Cuts only move boundaries within a quarter step and
    are not known before the video is read, so the plan without cuts stands for them."""
    step = chunk_frames - 1
    last = frames - 1
    full, rest = divmod(last, step)
    if full == 0:
        return 1, frames
    if rest and rest < max(1, step // 4):
        return full, step + rest + 1
    return full + (1 if rest else 0), step + 1


def _cost(steps, chunks: int, stack: Stack, gpu_s: float, instances: int, map_s: float, chunk_in: float,
          chunk_out: float, segment: float, compare_segment: float, video: float, compare: float) -> dict[str, float]:
    lambda_usd = 0.0
    for step in steps:
        if not step.memory_mb:
            continue
        lambda_usd += step.total_seconds * step.memory_mb / 1024 * prices.LAMBDA_GB_SECOND
        lambda_usd += step.invocations * prices.LAMBDA_REQUEST
        extra_tmp = max(0, step.tmp_mb - LAMBDA_FREE_TMP_MB) / 1024
        lambda_usd += step.total_seconds * extra_tmp * prices.LAMBDA_EPHEMERAL_GB_SECOND
    # per chunk: InvokeEndpoint and Resume (256 MB, ~0.5 s each); per job: FinishJob
    small = 2 * chunks + 1
    lambda_usd += small * (0.5 * 0.25 * prices.LAMBDA_GB_SECOND + prices.LAMBDA_REQUEST)
    # per chunk: Map item start, InterpolateChunk, EncodeChunk, CountChunk, end; per job ~10
    transitions = 5 * chunks + 10
    parts = lambda size: max(1, math.ceil(size / S3_PART_BYTES))  # noqa: E731 - one PUT per part
    puts = chunks * (parts(chunk_in) + 2 + parts(chunk_out) + parts(segment) + (parts(compare_segment) if compare else 0))
    puts += parts(video) + parts(compare) + 4
    gets = chunks * 6 + 4
    work_bytes = chunks * (chunk_in + chunk_out + segment + compare_segment)
    storage = (work_bytes * stack.retention_days / 30 + (video + compare)) / GB * prices.S3_GB_MONTH
    hours = (gpu_s + instances * (ENDPOINT_COLD_START_S + ENDPOINT_SCALE_IN_IDLE_S)) / 3600
    return {
        "lambda": lambda_usd,
        "stepFunctions": transitions * prices.STEP_FUNCTIONS_TRANSITION,
        "s3Requests": puts * prices.S3_PUT_REQUEST + gets * prices.S3_GET_REQUEST,
        "s3Storage": storage,
        "sagemaker": hours * prices.SAGEMAKER_INSTANCE_HOUR[stack.instance_type],
    }


def largest_duration(source: Source, job: Job, stack: Stack | None = None, *, fraction: float = ADMIT_FRACTION,
                     rates: MeasuredRates = MEASURED_RATES) -> float:
    """The longest input (seconds) of this source's size, rate and bitrate that fits at these options
    and this stack; 0 when not even two frames fit. A binary search on the frame count: every need
    grows with the length or stays put."""
    stack = stack or Stack()

    def fits(frames: int) -> bool:
        return estimate(source.with_frames(frames), job, stack, rates=rates, fraction=fraction).fits

    if not fits(2):
        return 0.0
    low, high = 2, 2
    while fits(high):
        low, high = high, high * 2
        if high > 10**9:
            return math.inf
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low / source.fps


# Frame sizes the defaults consider, largest first (16:9 and DCI 4K)
STANDARD_SIZES = ((7680, 4320), (5120, 2880), (4096, 2160), (3840, 2160), (2560, 1440), (1920, 1080))


def default_limits(stack: Stack | None = None, job: Job | None = None, fps: float = 30.0) -> dict[str, int]:
    """The template's Max* parameter defaults, derived from the model so that the defaults never admit
    what cannot finish at the default options (``job``: factor 8 with the comparison):

    * MaxWidth/MaxHeight: the largest standard frame whose full chunk fits;
    * MaxDurationSeconds: the longest 1080p input at ``fps`` that fits, in whole minutes;
    * MaxOutputFrames: what that input makes at the default factor;
    * MaxFileBytes: the file Extract's index step can stream once within ADMIT_FRACTION of its timeout
      (the source is never copied to /tmp), at most the CLI's own limit (slowmo.foresight.limits), in GiB.

    Admission still judges every job on its own facts; these bound what is worth looking at."""
    stack = stack or Stack()
    job = job or Job(factor=8, compare=True)
    width, height = next(((w, h) for w, h in STANDARD_SIZES
                          if estimate(Source(w, h, stack.chunk_frames, fps), job, stack).fits), STANDARD_SIZES[-1])
    seconds = largest_duration(Source.of_length(1920, 1080, fps, 60), job, stack)
    minutes = int(min(seconds, 24 * 3600) // 60)
    from slowmo.foresight.limits import Limits

    streamed = stack.extract.timeout_s * ADMIT_FRACTION * LAMBDA_S3_BYTES_PER_S
    file_gib = int(min(streamed, Limits().max_file_bytes) // GB)
    return {
        "MaxWidth": width,
        "MaxHeight": height,
        "MaxDurationSeconds": minutes * 60,
        "MaxOutputFrames": output_frames(round(minutes * 60 * fps), job.factor),
        "MaxFileBytes": file_gib * GB,
    }


PNG_BYTES_PER_MPX = 1_500_000  # a PNG frame of real footage: about half of raw RGB (an assumption)


def local_disk_needs(source: Source, job: Job, *, sequence: bool = False) -> dict[str, int]:
    """Bytes `slowmo run` writes at each destination: {"output": ..., "compare": ...}. A video is made
    of per-chunk segments in a work folder beside it, then joined: both are on disk at the end (twice
    the video). A PNG sequence is one file per output frame. The comparison is twice as wide."""
    out_frames = output_frames(max(2, source.frames), job.factor)
    if sequence:
        output = out_frames * source.megapixels * PNG_BYTES_PER_MPX
    else:
        output = 2 * out_frames * source.megapixels * SEGMENT_BYTES_PER_MPX
    compare = 2 * out_frames * 2 * source.megapixels * SEGMENT_BYTES_PER_MPX if job.compare else 0
    return {"output": int(output), "compare": int(compare)}


def check_free_space(folder: str | os.PathLike, need: int, what: str = "the output") -> None:
    """Refuse (InputError, one line) when ``need`` bytes will not fit the free disk under ``folder``."""
    import shutil

    from slowmo.errors import InputError

    free = shutil.disk_usage(folder).free
    if need > free:
        raise InputError(f"{what} needs about {_bytes(need)} of disk at {folder} and only {_bytes(free)} is free")


def check(source: Source, job: Job, stack: Stack | None = None) -> CapacityReport:
    """Admission: the report if the job fits, else slowmo.errors.InputError with the one-line refusal."""
    from slowmo.errors import InputError

    report = estimate(source, job, stack)
    if not report.fits:
        raise InputError(report.refusal())
    return report


# ---------------------------------------------------------------------------------------- formatting
def _rate(value: Any) -> float:
    text = str(value)
    if "/" in text:
        num, den = text.split("/", 1)
        return float(num) / float(den)
    return float(text)


def _bytes(n: float) -> str:
    if n >= GB:
        return f"{n / GB:.1f}".removesuffix(".0") + " GB"
    return f"{n / MB:.0f} MB"


def _duration(seconds: float) -> str:
    """'6 min 10 s', '2 h 5 min', '45 s'."""
    if math.isinf(seconds):
        return "any length"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min".removesuffix(" 0 min")
    if s >= 60:
        return f"{s // 60} min {s % 60} s".removesuffix(" 0 s")
    return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.2f} s"


__all__ = ["Source", "Job", "Stack", "FunctionLimits", "Limit", "StepEstimate", "CapacityReport", "MeasuredRates",
           "MEASURED_RATES", "estimate", "largest_duration", "check", "default_limits", "chunk_counts"]
