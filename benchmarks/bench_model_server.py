"""Throughput of the model server loop vs calling the engine directly.

The server path is the whole request: download the input chunk (moto S3, in process), decode it
(chunkio), synthesise, encode the output chunk, upload it. The direct path is ``synthesize`` over the
same frames already in memory. Overhead = server time / direct time - 1 (target <= 10%).

CPU (this repository's CI machine)::

    python benchmarks/bench_model_server.py --engine flow --size 640x360 --frames 24 --factor 4
    python benchmarks/bench_model_server.py --engine blend --size 1280x720 --frames 24 --factor 4

GPU, FILM (on a g5/g6 instance or the endpoint container, with the official Style SavedModel)::

    pip install 'slowmo[film]' boto3 'moto[s3]'
    for s in 1280x720 1920x1080 3840x2160; do
      python benchmarks/bench_model_server.py --engine film --model ~/film/pretrained_models/film_net/Style \
          --size $s --frames 9 --factor 8 --batch-size 2 --json >> film-gpu.jsonl
    done

(each line reports output frames/s for both paths; 4K tiles automatically from the GPU's memory).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "slowmo_core"))


def make_frames(n: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    """Textured objects moving over a textured background: real motion for the flow engine."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    import cv2

    bg = cv2.resize(bg, (width, height), interpolation=cv2.INTER_CUBIC)
    obj = cv2.resize(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8), (width // 5, height // 5),
                     interpolation=cv2.INTER_NEAREST)
    frames = []
    for i in range(n):
        f = np.roll(bg, i * 2, axis=1).copy()
        x = (i * width // 60) % (width - obj.shape[1])
        y = height // 3 + int(10 * np.sin(i / 3))
        f[y : y + obj.shape[0], x : x + obj.shape[1]] = obj
        frames.append(np.ascontiguousarray(f))
    return frames


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", default="flow", choices=["flow", "blend", "film"])
    ap.add_argument("--model", help="FILM SavedModel folder (film engine)")
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--factor", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="take the best of this many runs of each path")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    for k, v in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(k, v)
    import boto3
    from moto import mock_aws

    from slowmo import chunkio, modelserver
    from slowmo.engines import create_engine
    from slowmo.synthesis import synthesize

    frames = make_frames(args.frames, width, height)
    opts = {}
    if args.engine == "film":
        opts = {"model_path": args.model, "batch_size": args.batch_size}
    engine = create_engine(args.engine, **opts)
    # warm up (model load, kernels, caches) outside the timings
    list(synthesize(frames[:2], args.factor, engine))

    def direct() -> float:
        t = time.perf_counter()
        n = sum(1 for _ in synthesize(frames, args.factor, engine))
        assert n == (len(frames) - 1) * args.factor + 1
        return time.perf_counter() - t

    with mock_aws(), tempfile.TemporaryDirectory() as tmp:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bench")
        info = chunkio.write_chunk(frames, Path(tmp) / "in.mkv", 30)
        s3.upload_file(info.path, "bench", "in.chunk")
        request = modelserver.build_request("s3://bench/in.chunk", "s3://bench/out.chunk", args.factor,
                                            engine=args.engine, batch_size=args.batch_size)

        def served() -> tuple[float, dict]:
            t = time.perf_counter()
            result = modelserver.handle_request(request, s3=s3, engine=engine)
            return time.perf_counter() - t, result

        d_times, s_times = [], []
        result = {}
        for _ in range(args.repeat):  # interleave so drifting CPU clocks hit both paths alike
            d_times.append(direct())
            t, result = served()
            s_times.append(t)
        out_bytes = s3.head_object(Bucket="bench", Key="out.chunk")["ContentLength"]

    n_out = (len(frames) - 1) * args.factor + 1
    d, s = min(d_times), min(s_times)
    import cv2

    png = sum(len(cv2.imencode(".png", f[..., ::-1])[1]) for f in frames)
    report = {
        "engine": args.engine, "size": f"{width}x{height}", "source_frames": len(frames), "factor": args.factor,
        "output_frames": n_out, "direct_s": round(d, 3), "server_s": round(s, 3),
        "direct_fps": round(n_out / d, 2), "server_fps": round(n_out / s, 2),
        "overhead_pct": round(100 * (s / d - 1), 1), "server_seconds": result.get("seconds"),
        "input_chunk_bytes": info.size_bytes, "input_png_bytes": png,
        "input_chunk_vs_png": round(info.size_bytes / png, 3), "output_chunk_bytes": out_bytes,
    }
    if args.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k:>20}: {v}")
    return report


if __name__ == "__main__":
    main()
