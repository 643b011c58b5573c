#!/usr/bin/env python3
"""Extract in time ranges against one pass, on real footage you point it at (nothing is downloaded).

For each file: the cloud's Extract (slowmo.cloud.media.extract: index, scans, plan, cuts) runs against moto S3
with short ranges, so that every file is split many times, and its plan, cuts and every chunk file's frames
are compared with one probe and one decode of the whole file (what Extract did before ranges). Also reports
how many ranges started from a seek and the wall-clock ratio ranged / single pass (one process here; the
cloud runs the scans and cuts in parallel).

    .venv/bin/python benchmarks/ranges_real.py --range-frames 40 ~/footage/*.mp4

Exit status 1 if any file differs. No network, no AWS account (moto).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def single_pass(path: Path, chunk_frames: int):
    from slowmo.media.decode import read_frames
    from slowmo.media.probe import probe
    from slowmo.options import JobOptions, working_depth
    from slowmo.timeline.plan import plan_job
    from slowmo.timeline.scenes import PairKind, classify_pair

    info = probe(path)
    frames = [f.copy() for f in read_frames(info, depth=working_depth(info.bit_depth, "blend"))]
    from slowmo.synthesis.frames import eight_bit

    cuts = [i for i in range(1, len(frames))
            if classify_pair(eight_bit(frames[i - 1]), eight_bit(frames[i])) is PairKind.CUT]
    return info, frames, cuts, plan_job(info, JobOptions(factor=2, engine="blend"), chunk_frames=chunk_frames, cuts=cuts)


def ranged(s3, path: Path, job: str, chunk_frames: int, range_frames: int):
    from slowmo.cloud.layout import JobLayout
    from slowmo.cloud.media import extract
    from slowmo.media import chunkio

    key = f"uploads/{job}{path.suffix.lower()}"
    s3.upload_file(str(path), "inbox", key)
    layout = JobLayout(job, "work", "out")
    extract(s3=s3, layout=layout, source={"bucket": "inbox", "key": key}, options={"factor": 2, "engine": "blend"},
            chunk_frames=chunk_frames, range_frames=range_frames, group_frames=range_frames)

    def load(k):
        return json.loads(s3.get_object(Bucket="work", Key=k)["Body"].read())

    plan, manifest, ranges = load(layout.plan_key), load(layout.manifest_key), load(layout.ranges_key)
    chunks = {}
    with tempfile.TemporaryDirectory() as tmp:
        for item in manifest:
            local = os.path.join(tmp, f"{item['index']}{chunkio.EXTENSION}")
            s3.download_file("work", layout.chunk_input_key(item["index"]), local)
            chunks[item["index"]] = list(chunkio.read_chunk(local))
    return plan, manifest, ranges, chunks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--range-frames", type=int, default=40, help="frames per range (the stack's 5,400 is for hours)")
    parser.add_argument("--chunk-frames", type=int, default=16)
    args = parser.parse_args()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ[name] = value
    from moto import mock_aws

    print("| file | frames | ranges (from a seek) | cuts | chunks | equal to one pass | time ranged / one pass |")
    print("|---|---|---|---|---|---|---|")
    failed = 0
    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in ("inbox", "work", "out"):
            s3.create_bucket(Bucket=bucket)
        for n, path in enumerate(args.files):
            try:
                start = time.perf_counter()
                info, frames, cuts, reference = single_pass(path, args.chunk_frames)
                one = time.perf_counter() - start
                start = time.perf_counter()
                plan, manifest, ranges, chunks = ranged(s3, path, f"job{n}", args.chunk_frames, args.range_frames)
                many = time.perf_counter() - start
            except Exception as exc:  # a file the tool refuses: say why, keep going
                print(f"| {path.name} | – | – | – | – | refused: {str(exc)[:80]} | – |")
                continue
            problems = []
            if plan["cuts"] != cuts:
                problems.append(f"cuts {plan['cuts']} != {cuts}")
            if plan["timing"] != reference.to_dict():
                problems.append("plan differs")
            for item in manifest:
                want = frames[item["start"]: item["end"] + 1]
                got = chunks[item["index"]]
                if len(got) != len(want) or any((g != w).any() for g, w in zip(got, want, strict=False)):
                    problems.append(f"chunk {item['index']} frames differ")
                    break
            failed += bool(problems)
            seeks = sum(1 for r in ranges if r["seek"] is not None)
            print(f"| {path.name} | {len(frames)} | {len(ranges)} ({seeks}) | {len(cuts)} | {len(manifest)} | "
                  f"{'yes' if not problems else 'NO: ' + '; '.join(problems)} | {many / one:.2f} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
