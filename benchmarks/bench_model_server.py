"""Throughput of the model server loop vs calling the engine directly, per engine and frame size.

The server path is the whole request: download the input chunk (moto S3, in process), decode it
(chunkio), synthesise, encode the output chunk and upload it (streamed while the engine computes). The
direct path is ``synthesize`` over the same frames already in memory, with the same engine object (same
thread settings) in the same process. The two paths run interleaved ``--repeat`` times after one warm-up
each; the report gives medians (and minima). Overhead = server time / direct time - 1 (target <= 10%).
``cpu_overhead_pct`` compares CPU seconds (this process + its ffmpeg children): what the server loop costs
even when spare cores hide it from the wall clock.

It also reports the chunk format: input and output chunk bytes vs PNG of the same frames, and the
round-trip PSNR of the output chunk against the frames the engine produced ("inf" = bit-exact).

CPU (this repository's CI machine, 2 cores)::

    python benchmarks/bench_model_server.py --engine flow,blend --size 640x360 --frames 24 --factor 4 --json
    python benchmarks/bench_model_server.py --engine flow,blend --size 1280x720 --frames 12 --factor 4 --json
    python benchmarks/bench_model_server.py --codec ffv1 ...   # compare chunk codecs (chunkio.CODECS)

GPU, FILM (on a g5/g6 instance or the endpoint container, with the official Style SavedModel)::

    pip install 'slowmo[film]' boto3 'moto[s3]'
    python benchmarks/bench_model_server.py --engine film --model ~/film/pretrained_models/film_net/Style \
        --size 1280x720,1920x1080,3840x2160 --frames 9 --factor 8 --batch-size 2 --json >> film-gpu.jsonl

(one JSON line per engine and size; 4K tiles automatically from the GPU's memory).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
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


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def _png_bytes(frames) -> int:
    import cv2

    return sum(len(cv2.imencode(".png", f[..., ::-1])[1]) for f in frames)


def bench_one(engine_name: str, width: int, height: int, args, s3, tmp: str) -> dict:
    from slowmo.media import chunkio
    from slowmo.modelserver import handler as modelserver
    from slowmo.synthesis.engines import create_engine
    from slowmo.synthesis.frames import synthesize

    frames = make_frames(args.frames, width, height)
    opts = {"model_path": args.model, "batch_size": args.batch_size} if engine_name == "film" else {}
    engine = create_engine(engine_name, **opts)
    n_out = (len(frames) - 1) * args.factor + 1
    key = f"{engine_name}-{width}x{height}"
    info = chunkio.write_chunk(frames, Path(tmp) / f"{key}.mkv", 30)
    s3.upload_file(info.path, "bench", f"{key}/in.chunk")
    request = modelserver.build_request(f"s3://bench/{key}/in.chunk", f"s3://bench/{key}/out.chunk", args.factor,
                                        engine=engine_name, batch_size=args.batch_size)

    def direct(keep: bool = False):
        c, t = _cpu(), time.perf_counter()
        out = [] if keep else None
        n = 0
        for f in synthesize(frames, args.factor, engine):
            n += 1
            if keep:
                out.append(f)
        assert n == n_out
        return time.perf_counter() - t, _cpu() - c, out

    def served():
        c, t = _cpu(), time.perf_counter()
        result = modelserver.handle_request(request, s3=s3, engine=engine)
        return time.perf_counter() - t, _cpu() - c, result

    _, _, reference = direct(keep=True)  # warm-up (model load, kernels, caches) and the reference output
    served()
    d_wall, d_cpu, s_wall, s_cpu = [], [], [], []
    result: dict = {}
    for i in range(args.repeat):  # interleaved, alternating which goes first, so load drift hits both alike
        order = (direct, served) if i % 2 == 0 else (served, direct)
        for fn in order:
            w, c, r = fn()
            if fn is direct:
                d_wall.append(w)
                d_cpu.append(c)
            else:
                s_wall.append(w)
                s_cpu.append(c)
                result = r
    local = Path(tmp) / f"{key}-out.mkv"
    s3.download_file("bench", f"{key}/out.chunk", str(local))
    back = list(chunkio.read_chunk(local))
    assert len(back) == len(reference) == n_out
    psnr = min(_psnr(a, b) for a, b in zip(reference, back, strict=True))
    out_bytes = local.stat().st_size
    in_png, out_png = _png_bytes(frames), _png_bytes(reference)
    d, s = statistics.median(d_wall), statistics.median(s_wall)
    dc, sc = statistics.median(d_cpu), statistics.median(s_cpu)
    return {
        "engine": engine_name, "size": f"{width}x{height}", "codec": info.codec, "source_frames": len(frames),
        "factor": args.factor, "output_frames": n_out, "repeat": args.repeat,
        "direct_s": round(d, 3), "server_s": round(s, 3),
        "direct_fps": round(n_out / d, 1), "server_fps": round(n_out / s, 1),
        "overhead_pct": round(100 * (s / d - 1), 1),
        "overhead_pct_min": round(100 * (min(s_wall) / min(d_wall) - 1), 1),
        "cpu_direct_s": round(dc, 3), "cpu_server_s": round(sc, 3),
        "cpu_overhead_pct": round(100 * (sc / dc - 1), 1),
        "server_seconds": result.get("seconds"),
        "input_chunk_bytes": info.size_bytes, "input_png_bytes": in_png,
        "input_chunk_vs_png": round(info.size_bytes / in_png, 3),
        "output_chunk_bytes": out_bytes, "output_png_bytes": out_png,
        "output_chunk_vs_png": round(out_bytes / out_png, 3),
        "round_trip_psnr_db": "inf" if psnr == float("inf") else round(psnr, 2),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", default="flow,blend", help="comma list of flow, blend, film")
    ap.add_argument("--model", help="FILM SavedModel folder (film engine)")
    ap.add_argument("--size", default="640x360", help="comma list of WxH")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--factor", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of each path (medians reported)")
    ap.add_argument("--codec", help="chunk codec for input and output chunks (default: chunkio's)")
    ap.add_argument("--json", action="store_true", help="one JSON line per engine and size")
    args = ap.parse_args(argv)
    engines = [e.strip() for e in args.engine.split(",") if e.strip()]
    for e in engines:
        if e not in ("flow", "blend", "film"):
            ap.error(f"unknown engine {e!r}")
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.size.split(",")]

    for k, v in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(k, v)
    import boto3
    from moto import mock_aws

    from slowmo.media import chunkio

    if args.codec:
        if args.codec not in chunkio.CODECS:
            ap.error(f"unknown codec {args.codec!r}; choose from {sorted(chunkio.CODECS)}")
        chunkio.DEFAULT_CODEC = args.codec
    reports = []
    with mock_aws(), tempfile.TemporaryDirectory() as tmp:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bench")
        for width, height in sizes:
            for engine_name in engines:
                report = bench_one(engine_name, width, height, args, s3, tmp)
                reports.append(report)
                if args.json:
                    print(json.dumps(report), flush=True)
                else:
                    for k, v in report.items():
                        print(f"{k:>20}: {v}")
                    print(flush=True)
    return reports


if __name__ == "__main__":
    main()
