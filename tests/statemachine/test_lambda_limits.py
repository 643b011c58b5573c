"""Lambda limits measured on an end-to-end run: peak memory, peak /tmp and duration per function.

moto enforces none of Lambda's limits. Each in-process invocation is measured (tests/lambda_meter.py)
and held to the configured MemorySize / EphemeralStorage / Timeout, and /tmp to the configured limit
scaled to this run: what the capacity model (slowmo.foresight.capacity) predicts for this very run, divided
by the share of a limit admission lets a job plan (ADMIT_FRACTION).
Set SLOWMO_LAMBDA_LIMITS_JSON=path to keep the measurements (benchmarks/lambda_limits.json).
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack

import pytest
from cloud_fixtures import running_stack
from iam_harness import translated_template
from lambda_meter import LambdaMeter

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]

STEP_OF = {"ExtractFunction": "Extract", "EncodeChunkFunction": "EncodeChunk", "AssembleFunction": "Assemble"}


def test_every_function_stays_within_its_limits_scaled_to_the_run(monkeypatch, tmp_path, clip):
    import tempfile

    from slowmo.foresight import capacity
    from slowmo.media.probe import probe

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    meter = LambdaMeter()
    factor, chunk_frames = 4, 8
    with ExitStack() as stack:
        cloud = running_stack(monkeypatch, stack, chunk_frames=chunk_frames, default_factor=factor, map_concurrency=1)
        cloud.lambdas.meter = meter
        desc = cloud.wait(cloud.start(cloud.upload(clip, "uploads/clip.mp4")))
        assert desc["status"] == "SUCCEEDED", (desc.get("cause"), cloud.lambdas.errors)
    peaks = meter.peaks()
    assert {"ClaimJobFunction", "ExtractFunction", "InvokeEndpointFunction", "ResumeFunction",
            "EncodeChunkFunction", "AssembleFunction", "FinishJobFunction"} <= set(peaks)

    info = probe(str(clip))
    source = capacity.Source(width=info.width, height=info.height, frames=info.frame_count,
                             fps=float(info.fps), file_bytes=clip.stat().st_size,
                             has_audio=info.has_audio)
    predicted = {s.name: s for s in capacity.estimate(source, capacity.Job(factor=factor),
                                                        capacity.Stack(chunk_frames=chunk_frames)).steps}
    translated = translated_template()
    resources = translated["Resources"]
    report = {"run": {"clip": f"{info.width}x{info.height}", "frames": info.frame_count, "factor": factor,
                      "chunkFrames": chunk_frames}, "functions": {}}
    for function, row in sorted(peaks.items()):
        props = resources[function]["Properties"]
        memory = props.get("MemorySize", 128)
        if isinstance(memory, dict):  # a parameter: its default, what a deploy gets unless overridden
            memory = int(translated["Parameters"][memory["Ref"]]["Default"])
        limits = {"memoryMiB": memory, "tmpMiB": props.get("EphemeralStorage", {}).get("Size", 512),
                  "timeoutSeconds": props.get("Timeout", 3)}
        entry = {**row, "configured": limits}
        step = predicted.get(STEP_OF.get(function, ""))
        if step is not None:
            entry["predictedPeakTmpMiB"] = round(step.peak_tmp_bytes / 2**20, 3)
            entry["predictedPeakMemoryMiB"] = round(step.peak_memory_bytes / 2**20, 1)
        report["functions"][function] = entry
        # never above the configured limit itself, at any run size
        assert row["peak_memory_growth_mib"] < limits["memoryMiB"], (function, row)
        assert row["peak_tmp_mib"] < limits["tmpMiB"], (function, row)
        assert row["max_seconds"] < limits["timeoutSeconds"], (function, row)
        if step is not None:
            # Scaled to this run: admission lets a job plan up to ADMIT_FRACTION of a limit (the
            # estimate's tolerance), so an admitted job stays inside EphemeralStorage only if its real
            # /tmp is at most its predicted /tmp / ADMIT_FRACTION. Memory growth inside this shared
            # process also counts other threads (moto), and durations here are a loaded 2-core box's:
            # both are reported, and held to the configured limits above.
            allowed = step.peak_tmp_bytes / capacity.ADMIT_FRACTION / 2**20
            entry["allowedPeakTmpMiB"] = round(allowed, 3)
            assert row["peak_tmp_mib"] <= allowed, (function, row, step)
    if os.environ.get("SLOWMO_LAMBDA_LIMITS_JSON"):
        with open(os.environ["SLOWMO_LAMBDA_LIMITS_JSON"], "w") as fh:
            json.dump(report, fh, indent=2, sort_keys=True)
            fh.write("\n")
