"""The capacity model against what the end-to-end run measures: each container function's peak /tmp, sampled
while the real handler runs on moto (one invocation at a time), is within CALIBRATION_TOLERANCE of the model's
figure for the same source, options and stack.

What is not compared, and why: durations and memory. The handlers run in this process on a shared 2-core
machine, not in a Lambda with its own vCPUs and memory; the model's durations come from the per-CPU-second rates
of benchmarks/bench_cloud_steps.py instead."""

from __future__ import annotations

import os
from contextlib import ExitStack

import pytest
from cloud_fixtures import load_handler, running_stack
from test_assemble_streaming import TmpPeak

from slowmo.foresight import capacity
from slowmo.media.probe import probe

pytestmark = pytest.mark.slow

# |model / measured - 1| for /tmp. Extract's measured peak depends on scheduling: how many of its upload workers
# hold a chunk file at the same moment (up to EXTRACT_UPLOAD_WORKERS, which the model assumes). Runs of the same
# clip have measured 1,027,695 and 781,875 bytes against the model's 993,427 (model -3 % and +27 %: it never
# undercounted), so 25 % failed now and then; 35 % holds that spread. A deterministic on-disk count would let
# this tighten again.
CALIBRATION_TOLERANCE = 0.35
FACTOR = 4
CHUNK_FRAMES = 4
RANGE_FRAMES = 4  # Extract cuts groups of two 4-frame chunks


@pytest.fixture
def cloud(monkeypatch):
    with ExitStack() as stack:
        yield running_stack(monkeypatch, stack, chunk_frames=CHUNK_FRAMES, default_factor=FACTOR, map_concurrency=1,
                            extract_range_frames=RANGE_FRAMES)


class PeakOfAll:
    """TmpPeak for every invocation of one function, one at a time: the largest peak."""

    def __init__(self, folder: str):
        self.meter = TmpPeak(load_handler(folder))

    def __call__(self, event, context):
        return self.meter(event, context)

    @property
    def peak(self) -> int:
        return self.meter.peak


def test_peak_tmp_of_each_function_is_the_models(cloud, make_clip):
    clip = make_clip("calibration", width=320, height=180, fps=24, frames=25, audio=True)
    meters = {name: PeakOfAll(folder) for name, folder in
              (("ExtractFunction", "extract"), ("EncodeChunkFunction", "encode_chunk"))}
    cloud.lambdas.overrides.update(meters)
    desc = cloud.wait(cloud.start(cloud.upload(clip, "uploads/clip.mp4")))
    assert desc["status"] == "SUCCEEDED", (desc.get("cause"), cloud.lambdas.errors)

    source = capacity.Source.from_probe(probe(clip), os.path.getsize(clip))
    report = capacity.estimate(source, capacity.Job(factor=FACTOR, compare=True), capacity.Stack(chunk_frames=CHUNK_FRAMES,
                                                                                                   extract_range_frames=RANGE_FRAMES))
    for name, step in (("ExtractFunction", "Extract"), ("EncodeChunkFunction", "EncodeChunk")):
        measured, model = meters[name].peak, report.step(step).peak_tmp_bytes
        print(f"\n{step}: peak /tmp measured {measured} bytes, model {model} bytes ({model / measured - 1:+.0%})")
        assert abs(model / measured - 1) <= CALIBRATION_TOLERANCE, (step, measured, model)
