"""Measured figures for FILM's memory and arithmetic, and the GPU time derived from them.

The official FILM weights cannot be had here, so these were measured on a **FILM-shaped network with
random weights**: benchmarks/film_shaped.py, which has FILM's architecture and size (34.4M parameters).
Its memory and arithmetic are those of a FILM of that shape. Weights do not change either.

The measurements were taken on the CPU (2 shared cores, TensorFlow 2.21, batch 1) with
``python benchmarks/bench_film_shaped.py --sizes 960x540,1920x1080`` and ``--sizes tile256``
(docs/film.md has the table). **No GPU was lent to this project: GPU time is not measured.**
GPU_SECONDS_PER_FRAME_1080P is the counted arithmetic divided by an assumed GPU throughput, and is
labelled as such.
"""

from __future__ import annotations

#: Padded 1080p frame (FILM's pyramid needs multiples of 64): 1920 x 1088.
PIXELS_1080P_PADDED = 1920 * 1088

#: FILM-shaped, random weights: FLOPs of one model evaluation (one synthesised midpoint) per padded input
#: pixel, counted from the convolutions' shapes (2 x k x k x Cin x Cout per output pixel, every conv at its
#: pyramid level; warps and resizes are not counted). Measured 8870.2 GFLOP at 1920x1088, 2348.0 at
#: 960x576 (the same per pixel, 4.25 M).
FILM_FLOPS_PER_PIXEL = 8870.2e9 / PIXELS_1080P_PADDED

#: FILM-shaped, random weights, CPU-measured: peak memory growth of one evaluation per padded pixel, batch 1
#: (process peak RSS over the traced model's baseline). Measured: 5167 B at 1920x1088 (10.05 GiB), 4819 B at
#: 960x576, 4492 B at 256x256. The GPU's allocator and cuDNN workspaces add to this; the tiler keeps
#: tiling.MEMORY_HEADROOM of the free memory spare for them.
FILM_BYTES_PER_PIXEL = 5200

#: FILM-shaped, random weights, CPU-measured: CPU seconds of one evaluation at 1920x1088 on this project's
#: shared 2-core machine (145 s; 996 s of wall clock on the loaded machine). For scale only.
CPU_SECONDS_PER_FRAME_1080P = 145.0

#: ASSUMPTION, not measured: the FLOP/s an A10G sustains on FILM. The A10's datasheet peak is 31.2 TFLOPS
#: FP32 and 62.5 TFLOPS TF32 on tensor cores (TensorFlow uses TF32 for convolutions on Ampere by default).
#: About a third of the TF32 peak is assumed, because FILM's warps, concatenations and resizes are bound
#: by memory bandwidth. Replace this when a GPU run of bench_film_shaped.py is available.
ASSUMED_A10G_FLOPS = 20e12

#: GPU seconds per model evaluation (one synthesised midpoint) at 1080p on an A10G: the FILM-shaped
#: network's counted FLOPs over ASSUMED_A10G_FLOPS (about 0.44 s). FILM-shaped, random weights. The
#: arithmetic is counted; the GPU throughput is assumed. A factor K costs
#: engines.film.calls_per_pair(t = j/K) evaluations per source pair for its K - 1 frames (docs/film.md).
GPU_SECONDS_PER_FRAME_1080P = FILM_FLOPS_PER_PIXEL * PIXELS_1080P_PADDED / ASSUMED_A10G_FLOPS
