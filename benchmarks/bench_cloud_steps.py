"""Throughput of the container Lambdas' work, measured here, and what it means for a long job.

Extract = decode the source + write lossless chunks (slowmo.media.chunkio); EncodeChunk = read one output
chunk + encode its H.264 segment (slowmo.media.encode, the job's default CRF 18 / medium) and, optionally, the
side-by-side comparison. Both are timed on 1080p frames on this machine, then the arithmetic for the
issue's reference job (10 minutes of 1080p30 at factor 8) is printed with the measured rates scaled by
the vCPU ratio between a Lambda (6 vCPUs at 10 GB) and this machine. S3 transfer is not measured.

    .venv/bin/python benchmarks/bench_cloud_steps.py [--frames 30] [--factor 8] [--chunk-frames 16] [--lambda-vcpus 6]
        [--json rates.json]

--json writes the rates the capacity model uses (slowmo.foresight.capacity.MeasuredRates: megapixels per second
per core, bytes per megapixel), so `slowmo.foresight.capacity` can be re-based on a new measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from slowmo.foresight.sample import make_clip
from slowmo.media import chunkio
from slowmo.media.compare import SideBySide
from slowmo.media.decode import read_frames
from slowmo.media.encode import VideoWriter
from slowmo.media.probe import probe
from slowmo.synthesis.engines.blend import BlendEngine
from slowmo.synthesis.frames import synthesize
from slowmo.timeline.scenes import classify_pair, signature


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the ffmpeg processes): a per-core rate from
    it does not depend on how busy the machine's other cores are, unlike one from the wall clock."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


REFERENCE_SOURCE_FRAMES = 10 * 60 * 30  # 10 minutes of 1080p30
LAMBDA_LIMIT_S = 15 * 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=30, help="source frames rendered for the measurement")
    parser.add_argument("--factor", type=int, default=8)
    parser.add_argument("--chunk-frames", type=int, default=16, help="the stack's ChunkFrames")
    parser.add_argument("--lambda-vcpus", type=int, default=6, help="vCPUs of a 10 GB Lambda")
    parser.add_argument("--json", type=Path, help="write the per-core rates for slowmo.foresight.capacity here")
    args = parser.parse_args()
    here = os.cpu_count() or 2
    scale = args.lambda_vcpus / here

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = make_clip(tmp / "src.mp4", width=1920, height=1080, fps=30, frames=args.frames, audio=False)
        info = probe(src)

        start, cpu = time.perf_counter(), cpu_seconds()
        frames = list(read_frames(info))
        decode_s, decode_cpu = time.perf_counter() - start, cpu_seconds() - cpu
        start, cpu = time.perf_counter(), cpu_seconds()
        chunkio.write_chunk(frames, tmp / "in.chunk", info.fps)
        write_in_s, write_cpu = time.perf_counter() - start, cpu_seconds() - cpu
        extract_fps = len(frames) / (decode_s + write_in_s)
        # Extract's scans: each frame's scene signature, and each pair classified (slowmo.cloud.media.scan_range)
        start, cpu = time.perf_counter(), cpu_seconds()
        previous = previous_sig = None
        for frame in frames:
            sig = signature(frame)
            if previous is not None:
                classify_pair(previous, frame, previous_sig, sig)
            previous, previous_sig = frame, sig
        scan_s, scan_cpu = time.perf_counter() - start, cpu_seconds() - cpu

        # an output chunk as the endpoint would write it: ChunkFrames source frames at factor K
        chunk_src = frames[: args.chunk_frames]
        out = list(synthesize(chunk_src, args.factor, BlendEngine()))
        chunkio.write_chunk(out, tmp / "out.chunk", info.fps)
        start, cpu = time.perf_counter(), cpu_seconds()
        with VideoWriter(tmp / "seg.mp4", info.width, info.height, info.fps, crf=18, preset="medium") as writer:
            for frame in chunkio.read_chunk(tmp / "out.chunk"):
                writer.write(frame)
        encode_s, encode_cpu = time.perf_counter() - start, cpu_seconds() - cpu
        side = SideBySide(info.width, info.height, "original", "slowmo")
        start, cpu = time.perf_counter(), cpu_seconds()
        with VideoWriter(tmp / "cmp.mp4", side.width, side.height, info.fps, crf=18, preset="medium") as writer:
            for i, frame in enumerate(chunkio.read_chunk(tmp / "out.chunk")):
                writer.write(side.compose(chunk_src[i // args.factor], frame))
        compare_s, compare_cpu = time.perf_counter() - start, cpu_seconds() - cpu
        sizes = {name: (tmp / name).stat().st_size for name in ("in.chunk", "out.chunk", "seg.mp4", "cmp.mp4")}

    n_out = len(out)
    if args.json:
        mpx = info.width * info.height / 1e6
        rates = {
            "measured_on": f"{here} cores (rates per CPU-second), load average {os.getloadavg()[0]:.2f}, "
                           f"{time.strftime('%Y-%m-%d')}",
            "command": "benchmarks/bench_cloud_steps.py " + " ".join(sys.argv[1:]),
            "decode_mpx_per_core_s": round(len(frames) * mpx / decode_cpu, 2),
            "chunk_write_mpx_per_core_s": round(len(frames) * mpx / write_cpu, 2),
            "scan_mpx_per_core_s": round(len(frames) * mpx / scan_cpu, 2),
            "encode_mpx_per_core_s": round(n_out * mpx / encode_cpu, 2),
            "compare_mpx_per_core_s": round(n_out * 2 * mpx / compare_cpu, 2),
            "chunk_bytes_per_mpx": round((sizes["in.chunk"] / len(frames) + sizes["out.chunk"] / n_out) / 2 / mpx),
            "segment_bytes_per_mpx": round(sizes["seg.mp4"] / n_out / mpx),
            "compare_bytes_per_mpx": round(sizes["cmp.mp4"] / n_out / (2 * mpx)),
        }
        args.json.write_text(json.dumps(rates, indent=2) + "\n")
    print(f"## Container Lambda throughput, measured on {here} cores (1080p, K={args.factor})\n")
    print("| step | frames | seconds | frames/s here | frames/s at "
          f"{args.lambda_vcpus} vCPUs (x{scale:.1f}) |\n|---|---|---|---|---|")
    print(f"| extract: decode 1080p H.264 | {len(frames)} | {decode_s:.2f} | {len(frames) / decode_s:.1f} | {len(frames) / decode_s * scale:.1f} |")
    print(f"| extract: classify pairs (scan) | {len(frames)} | {scan_s:.2f} | {len(frames) / scan_s:.1f} | {len(frames) / scan_s * scale:.1f} |")
    print(f"| extract: write lossless chunks | {len(frames)} | {write_in_s:.2f} | {len(frames) / write_in_s:.1f} | {len(frames) / write_in_s * scale:.1f} |")
    print(f"| encode chunk: H.264 CRF 18 medium | {n_out} | {encode_s:.2f} | {n_out / encode_s:.1f} | {n_out / encode_s * scale:.1f} |")
    print(f"| encode chunk: comparison 3840x1080 | {n_out} | {compare_s:.2f} | {n_out / compare_s:.1f} | {n_out / compare_s * scale:.1f} |")

    extract_ref = REFERENCE_SOURCE_FRAMES / (extract_fps * scale)
    chunk_out = (args.chunk_frames - 1) * args.factor + 1
    encode_ref = chunk_out / (n_out / encode_s * scale) + chunk_out / (n_out / compare_s * scale)
    print(f"\n## The reference job: 10 min of 1080p30 at K={args.factor} ({REFERENCE_SOURCE_FRAMES} source frames, "
          f"{(REFERENCE_SOURCE_FRAMES - 1) * args.factor + 1} output frames)\n")
    print(f"- Extract, one invocation: {REFERENCE_SOURCE_FRAMES} frames / {extract_fps * scale:.0f} fps = "
          f"**{extract_ref / 60:.1f} min** of compute (+ S3 transfer), budget {LAMBDA_LIMIT_S / 2 / 60:.1f} min: "
          f"{'within' if extract_ref < LAMBDA_LIMIT_S / 2 else 'OVER'}")
    print(f"- EncodeChunk, one invocation per chunk of {args.chunk_frames} source frames ({chunk_out} output frames, "
          f"video + comparison): **{encode_ref:.0f} s**, budget {LAMBDA_LIMIT_S / 2:.0f} s: "
          f"{'within' if encode_ref < LAMBDA_LIMIT_S / 2 else 'OVER'}")
    print(f"- Chunks: {-(-(REFERENCE_SOURCE_FRAMES - 1) // (args.chunk_frames - 1))} EncodeChunk invocations; "
          "Assemble only stream-copies the segments.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
