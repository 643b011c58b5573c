"""slowmo.foresight.capacity: the pure estimate of what a cloud job needs, step by step, against the stack's limits."""

from __future__ import annotations

import json
import math
import re

import pytest

from slowmo.errors import InputError
from slowmo.foresight import capacity, prices
from slowmo.foresight.capacity import FunctionLimits, Job, Source, Stack, estimate, largest_duration
from slowmo.timeline.chunks import plan_chunks
from slowmo.timeline.timing import output_frame_count

HD = dict(width=1920, height=1080, fps=30)
UHD = dict(width=3840, height=2160, fps=30)


def test_lambda_gets_one_vcpu_per_1769_mb_up_to_six():
    assert FunctionLimits(1769, 512, 60).vcpus == pytest.approx(1.0)
    assert FunctionLimits(3538, 512, 60).vcpus == pytest.approx(2.0)
    assert FunctionLimits(10240, 512, 60).vcpus == pytest.approx(10240 / 1769)  # 5.79 vCPU-s per second
    assert FunctionLimits(20000, 512, 60).vcpus == 6


@pytest.mark.parametrize("chunk_frames", [3, 4, 5, 16, 17, 121, 241])
def test_chunk_counts_are_the_planners(chunk_frames):
    for frames in [*range(2, 4 * chunk_frames + 3), 18000, 18001, *([108000] if chunk_frames >= 16 else [])]:
        planned = plan_chunks(frames, chunk_frames)
        assert capacity.chunk_counts(frames, chunk_frames) == (len(planned), max(c.source_frames for c in planned)), frames


@pytest.mark.parametrize(("frames", "chunk_frames"), [(2, 16), (16, 16), (17, 16), (18000, 16), (101, 4), (1000, 241)])
def test_invocations_are_the_planners_chunks_and_frames_the_timing_rules(frames, chunk_frames):
    report = estimate(Source(320, 180, frames, 24.0), Job(factor=8), Stack(chunk_frames=chunk_frames))
    chunks = len(list(plan_chunks(frames, chunk_frames)))
    assert report.step("Interpolate").invocations == chunks
    assert report.step("EncodeChunk").invocations == chunks
    # Extract: the index, a scan per time range, the plan, a cut per group of chunks (slowmo.timeline.ranges)
    from slowmo.timeline.ranges import cut_groups, frames_per_range, split_ranges

    per_range = frames_per_range(Stack().extract_range_frames, 320, 180)
    ranges = split_ranges(range(frames), [0], per_range)
    groups = cut_groups([c.to_dict() for c in plan_chunks(frames, chunk_frames)], range(frames), [0],
                        per_range if len(ranges) > 1 else 0)
    assert report.step("Extract").invocations == 2 + len(ranges) + len(groups)
    assert report.step("Assemble").invocations == 2 + Job(factor=8).compare  # a join per output, then the publish
    assert report.output_frames == output_frame_count(frames, 8)


def test_film_calls_per_pair_are_the_engines():
    film = pytest.importorskip("slowmo.synthesis.engines.film")
    for k in range(2, 65):
        assert capacity.film_calls_per_pair(k) == film.calls_per_pair([j / k for j in range(1, k)]), k


def test_gpu_seconds_follow_model_calls_pixels_and_the_instance():
    src = Source.of_length(**HD, seconds=60)
    base = estimate(src, Job(factor=8))
    synthesised = (src.frames - 1) * 7  # K=8: exact bisection, one call per synthesised frame
    assert estimate(src, Job(factor=6)).gpu_seconds == pytest.approx(base.gpu_seconds * 3 / 7)  # 3 calls a pair
    assert base.gpu_seconds == pytest.approx(synthesised * capacity.GPU_SECONDS_PER_FRAME_1080P)
    assert estimate(Source.of_length(**UHD, seconds=60), Job(factor=8)).gpu_seconds == pytest.approx(4 * base.gpu_seconds)
    slower = estimate(src, Job(factor=8), Stack(instance_type="ml.g4dn.xlarge"))
    assert slower.gpu_seconds == pytest.approx(base.gpu_seconds * capacity.GPU_SPEED["ml.g4dn.xlarge"])
    # more instances: the same GPU work, sooner
    wide = estimate(src, Job(factor=8), Stack(max_instances=8))
    assert wide.gpu_seconds == pytest.approx(base.gpu_seconds) and wide.wall_clock_s < base.wall_clock_s / 2


def test_unknown_instance_type_is_refused_rather_than_guessed():
    with pytest.raises(ValueError, match="ml.p3.2xlarge"):
        estimate(Source.of_length(**HD, seconds=10), Job(), Stack(instance_type="ml.p3.2xlarge"))
    assert set(capacity.GPU_SPEED) == set(prices.SAGEMAKER_INSTANCE_HOUR)


def test_per_chunk_steps_do_not_grow_with_length_but_whole_video_steps_do():
    short, long = (estimate(Source.of_length(**HD, seconds=s), Job(factor=8)) for s in (60, 600))
    for name in ("EncodeChunk", "Interpolate"):
        assert long.step(name).duration_s == pytest.approx(short.step(name).duration_s)
        assert long.step(name).peak_tmp_bytes == short.step(name).peak_tmp_bytes
        assert long.step(name).invocations > 9 * short.step(name).invocations
    # Extract decodes in time ranges: past one range its slowest call stays put, its calls multiply
    hour = estimate(Source.of_length(**HD, seconds=3600), Job(factor=8))
    assert hour.step("Extract").duration_s == pytest.approx(long.step("Extract").duration_s, rel=0.05)
    assert hour.step("Extract").invocations > 5 * long.step("Extract").invocations - 10
    assert long.step("Extract").duration_s > 2 * short.step("Extract").duration_s  # a minute is less than a range
    assert long.step("Assemble").duration_s > 5 * short.step("Assemble").duration_s
    # a local join holds the whole output; the streaming one only its concat lists (~120 bytes a chunk)
    local = [estimate(Source.of_length(**HD, seconds=s), Job(factor=8), Stack(assemble_streaming=False)) for s in (60, 600)]
    assert local[1].step("Assemble").peak_tmp_bytes > 9 * local[0].step("Assemble").peak_tmp_bytes
    assert local[1].step("Assemble").peak_tmp_bytes > local[1].output_bytes
    assert long.step("Assemble").peak_tmp_bytes < capacity.MB < long.output_bytes / 1000


def test_comparison_costs_encode_time_tmp_and_output():
    src = Source.of_length(**HD, seconds=120)
    plain, compared = estimate(src, Job(8, compare=False)), estimate(src, Job(8, compare=True))
    assert compared.step("EncodeChunk").duration_s > plain.step("EncodeChunk").duration_s
    assert compared.step("EncodeChunk").peak_tmp_bytes > plain.step("EncodeChunk").peak_tmp_bytes
    assert compared.output_bytes == pytest.approx(3 * plain.output_bytes, rel=0.01)  # double width
    assert compared.comparison["outputBytes"] > 0 and plain.comparison["outputBytes"] == 0
    assert compared.cost_usd > plain.cost_usd


def test_each_limit_is_checked_and_the_worst_one_is_named():
    src = Source.of_length(**HD, seconds=60)
    tight = Stack(encode=FunctionLimits(6144, 600, 900))  # /tmp too small for one K=64 chunk
    report = estimate(src, Job(factor=64), tight)
    step, limit = report.failure()
    assert (step.name, limit.name) == ("EncodeChunk", "/tmp")
    assert limit.need > 600 * capacity.MB
    slow = Stack(invocation_timeout_s=60)  # FILM on 15 pairs x 63 calls takes minutes
    step, limit = estimate(src, Job(factor=64), slow).failure()
    assert (step.name, limit.name) == ("Interpolate", "endpoint time")


def test_refusal_names_the_limit_and_the_longest_input_that_fits():
    src = Source.of_length(**HD, seconds=3600, file_bytes=4 * capacity.GB)
    report = estimate(src, Job(factor=8, compare=True))
    assert not report.fits
    line = report.refusal()
    assert "\n" not in line
    m = re.fullmatch(r"needs (\S+) (GB|MB|min \d+ s|h \d+ min|s) of (.+) in (\w+) \(limit .+\); at factor 8 with "
                     r"compare, 1080p30 fits up to (.+)", line)
    assert m, line
    longest = largest_duration(src, Job(factor=8, compare=True))
    assert 0 < longest < 3600
    frames = round(longest * 30)
    assert estimate(src.with_frames(frames), Job(factor=8, compare=True)).fits
    assert not estimate(src.with_frames(frames + 1), Job(factor=8, compare=True)).fits
    with pytest.raises(InputError) as err:
        capacity.check(src, Job(factor=8, compare=True))
    assert str(err.value) == line


def test_a_size_that_never_fits_says_so():
    src = Source.of_length(width=7680, height=4320, fps=30, seconds=10)
    report = estimate(src, Job(factor=64, compare=True), Stack(encode=FunctionLimits(6144, 512, 900)))
    assert re.search(r"; at factor 64 with compare, no length of 7680x4320 fits(; this input fits at factor \d+)?$",
                     report.refusal()), report.refusal()


def test_when_no_length_fits_a_lower_factor_is_offered():
    # 640x360: even one pair at factor 64 needs more than the 1 s limit, so no length fits at factor 64
    src = Source.of_length(width=640, height=360, fps=24, seconds=1)
    stack = Stack(invocation_timeout_s=1)
    line = estimate(src, Job(factor=64), stack).refusal()
    factor = int(re.search(r"this input fits at factor (\d+)$", line).group(1))
    assert estimate(src, Job(factor=factor), stack).fits
    assert not estimate(src, Job(factor=factor + 1), stack).fits


def test_a_fitting_job_has_no_refusal_and_its_report_is_json():
    report = estimate(Source.of_length(width=320, height=180, fps=24, seconds=5), Job(factor=4))
    assert report.fits and report.refusal() is None
    d = json.loads(json.dumps(report.to_dict()))
    assert [s["step"] for s in d["steps"]] == ["ClaimJob", "Extract", "Interpolate", "EncodeChunk", "Assemble"]
    assert all(s["fits"] for s in d["steps"])
    assert d["costUsd"] == pytest.approx(sum(d["cost"].values()), abs=0.01)
    assert d["prices"]["date"] == prices.PRICES_DATE


def test_cost_is_mostly_gpu_time_and_grows_with_the_factor():
    src = Source.of_length(**HD, seconds=600)
    k8, k16 = estimate(src, Job(factor=8)), estimate(src, Job(factor=16))
    assert k8.cost["sagemaker"] > 0.5 * k8.cost_usd
    assert k16.cost["sagemaker"] > 1.9 * k8.cost["sagemaker"]
    hours = k8.gpu_seconds / 3600
    assert k8.cost["sagemaker"] >= hours * prices.SAGEMAKER_INSTANCE_HOUR["ml.g5.xlarge"]


def test_source_from_probe_and_job_from_options():
    info = {"width": 1920, "height": 1080, "frame_count": 300, "fps": "30000/1001", "bit_depth": 10, "has_audio": False}
    src = Source.from_probe(info, file_bytes=12345)
    assert (src.width, src.frames, src.bit_depth, src.file_bytes, src.has_audio) == (1920, 300, 10, 12345, False)
    assert src.fps == pytest.approx(29.97, abs=0.001) and src.label == "1080p29.97"
    job = Job.from_options({"factor": 16, "fps": "240", "compare": True, "codec": "h265", "engine": "film"})
    assert job == Job(16, 240.0, True, "h265")


def test_stack_reads_the_environment_the_template_sets():
    stack = Stack.from_env({"CHUNK_FRAMES": "32", "MAP_CONCURRENCY": "40", "ENDPOINT_INSTANCE_TYPE": "ml.g6.xlarge",
                            "ENDPOINT_MAX_INSTANCES": "4", "ASSEMBLE_TMP_MB": "4096", "EXTRACT_TIMEOUT_S": "600"})
    assert (stack.chunk_frames, stack.map_concurrency, stack.instance_type, stack.max_instances) == (32, 40, "ml.g6.xlarge", 4)
    assert stack.assemble == FunctionLimits(3008, 4096, 900)
    assert stack.extract.timeout_s == 600
    assert Stack.from_env({}) == Stack()


def test_stack_defaults_are_the_templates():
    from test_security_template import raw_template

    template = raw_template()
    res, params = template["Resources"], template["Parameters"]
    stack = Stack()
    for logical, limits in (("ExtractFunction", stack.extract), ("EncodeChunkFunction", stack.encode),
                            ("AssembleFunction", stack.assemble), ("ClaimJobFunction", stack.claim)):
        props = res[logical]["Properties"]
        tmp = props.get("EphemeralStorage", {}).get("Size", 512)
        memory = props["MemorySize"]
        if isinstance(memory, dict):  # a parameter (ExtractMemoryMB, ...): its default
            memory = int(params[memory["Ref"]]["Default"])
        assert (memory, tmp, props["Timeout"]) == (limits.memory_mb, limits.tmp_mb, limits.timeout_s), logical
    assert int(params["ChunkFrames"]["Default"]) == stack.chunk_frames
    assert int(params["ExtractRangeFrames"]["Default"]) == stack.extract_range_frames
    assert int(params["MapConcurrency"]["Default"]) == stack.map_concurrency
    assert params["EndpointInstanceType"]["Default"] == stack.instance_type
    assert int(params["EndpointMaxInstances"]["Default"]) == stack.max_instances
    assert int(params["ChunkTimeoutSeconds"]["Default"]) == stack.chunk_timeout_s
    assert int(params["RetentionDays"]["Default"]) == stack.retention_days


def test_durations_read_like_people_say_them():
    assert capacity._duration(370) == "6 min 10 s"
    assert capacity._duration(7500) == "2 h 5 min"
    assert capacity._duration(45) == "45 s"
    assert capacity._duration(900) == "15 min" and capacity._duration(3600) == "1 h"
    assert capacity._duration(math.inf) == "any length"


def test_template_max_defaults_are_the_models_and_admit_only_what_fits():
    from test_security_template import raw_template

    params = raw_template()["Parameters"]
    job = Job(factor=int(params["DefaultFactor"]["Default"]), compare=True)
    derived = capacity.default_limits(Stack(), job)
    assert {name: int(params[name]["Default"]) for name in derived} == derived
    # at the default options: the longest 1080p30 input allowed fits, a minute more does not
    longest = Source.of_length(1920, 1080, 30, derived["MaxDurationSeconds"])
    assert estimate(longest, job).fits
    assert not estimate(Source.of_length(1920, 1080, 30, derived["MaxDurationSeconds"] + 60), job).fits
    assert (longest.frames - 1) * job.factor + 1 == derived["MaxOutputFrames"]
    # the largest frame allowed fits a whole chunk; the next standard size up does not
    assert estimate(Source(derived["MaxWidth"], derived["MaxHeight"], Stack().chunk_frames, 30.0), job).fits
    bigger = capacity.STANDARD_SIZES[capacity.STANDARD_SIZES.index((derived["MaxWidth"], derived["MaxHeight"])) - 1]
    assert not estimate(Source(*bigger, Stack().chunk_frames, 30.0), job).fits


def test_local_disk_needs_count_segments_and_the_joined_video_or_png_frames():
    src = Source.of_length(width=1920, height=1080, fps=30, seconds=60)
    video = capacity.local_disk_needs(src, Job(factor=8, compare=False))
    compared = capacity.local_disk_needs(src, Job(factor=8, compare=True))
    frames = capacity.local_disk_needs(src, Job(factor=8, compare=False), sequence=True)
    out_frames = (src.frames - 1) * 8 + 1
    assert video == {"output": int(2 * out_frames * src.megapixels * capacity.SEGMENT_BYTES_PER_MPX), "compare": 0}
    assert compared["output"] == video["output"] and compared["compare"] == pytest.approx(2 * video["output"], abs=2)
    assert frames["output"] > 10 * video["output"]  # a PNG per frame


def test_the_zip_functions_admit_without_numpy_opencv_or_ffmpeg():
    """ClaimJob and the API run admission in zip Lambdas whose layer has no numpy, OpenCV or ffmpeg."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    program = f"""
import importlib.util, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('numpy', 'cv2', 'imageio_ffmpeg'):
            raise ImportError('not in the zip layer: ' + name)
sys.meta_path.insert(0, Block())
for folder in ('claim_job', 'api'):
    spec = importlib.util.spec_from_file_location('app_' + folder, '{root}/functions/' + folder + '/app.py')
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
import slowmo.cloud.admission
print('ok')
"""
    env = {"PYTHONPATH": str(root / "layers" / "slowmo_core"), "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin",
           "POWERTOOLS_TRACE_DISABLED": "1"}
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=120)  # noqa: S603
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_fractional_factor_counts_the_plans_frames_and_serialises():
    from fractions import Fraction

    job = Job.from_options({"factor": 2.5, "compare": False})
    assert job.factor == Fraction(5, 2)
    assert Job.from_options({"factor": "5/2"}).factor == Fraction(5, 2) and Job.from_options({"factor": "8"}).factor == 8
    report = estimate(Source(320, 180, 48, 24.0), job)
    assert report.output_frames == output_frame_count(48, Fraction(5, 2)) == 118  # 47 x 2.5 = 117.5 intervals
    data = json.loads(json.dumps(report.to_dict()))
    assert data["job"]["factor"] == 2.5
    # more work than factor 2, less than factor 3
    two, three = (estimate(Source(320, 180, 48, 24.0), Job(factor=k, compare=False)) for k in (2, 3))
    assert two.output_bytes < report.output_bytes < three.output_bytes
    assert capacity.film_calls_per_pair(Fraction(5, 2)) == 3 and capacity.film_calls_per_pair(1) == 0
    needs = capacity.local_disk_needs(Source(320, 180, 48, 24.0), job)
    assert needs["output"] == int(2 * 118 * Source(320, 180, 48, 24.0).megapixels * capacity.SEGMENT_BYTES_PER_MPX)
