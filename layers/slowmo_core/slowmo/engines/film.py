"""FILM (Frame Interpolation for Large Motion, Google Research) as a slowmo engine.

The engine loads a FILM TF2 SavedModel (the official ``pretrained_models/film_net/<Style|L1|VGG>/saved_model``
directories) once per path per process and calls it the way FILM's own interpolator does::

    model({"x0": f32[B,H,W,3] in [0,1], "x1": ..., "time": f32[B,1]}, training=False)["image"]

Frames are padded to a multiple of 64 (reflect) and cropped back, pairs/times are batched, large frames are
tiled (``slowmo.tiling``) to fit GPU memory, and for the usual slow-motion times ``j/K`` with K a power of two
the FILM recursive schedule is used (t=0.5 first, then the midpoints of each half from the synthesised
frames), which is what FILM was trained for. Other times are sent to the model directly.

TensorFlow is an optional extra and is imported lazily, only here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from fractions import Fraction

import numpy as np

from slowmo import tiling
from slowmo.errors import EngineUnavailableError

ALIGN = 64
MAX_RECURSION_DEPTH = 10  # K up to 1024
MODEL_ENV = "SLOWMO_FILM_MODEL"

INSTALL_HINT = (
    "FILM needs TensorFlow and the FILM saved model: pip install 'slowmo[film]', download a pretrained "
    "saved_model (Style, L1 or VGG) from the Google Drive / Cloud Storage folder linked in the README of "
    "https://github.com/google-research/frame-interpolation, and pass --model PATH "
    f"(or set {MODEL_ENV})"
)

ModelFn = Callable[[dict], dict]

_MODEL_CACHE: dict[str, ModelFn] = {}
_CACHE_LOCK = threading.Lock()


def _import_tf():
    try:
        import tensorflow as tf  # noqa: PLC0415 - optional heavy dependency, import lazily
    except ImportError as exc:
        raise EngineUnavailableError(f"TensorFlow is not installed. {INSTALL_HINT}") from exc
    return tf


def resolve_model_dir(path: str | os.PathLike) -> str:
    """The directory holding ``saved_model.pb``: ``path`` itself or its ``saved_model`` child."""
    p = os.path.abspath(os.fspath(path))
    for cand in (p, os.path.join(p, "saved_model")):
        if os.path.isfile(os.path.join(cand, "saved_model.pb")):
            return cand
    raise EngineUnavailableError(f"no FILM saved model (saved_model.pb) at {path}. {INSTALL_HINT}")


def load_model(path: str | os.PathLike) -> ModelFn:
    """Load (once per resolved path per process) a FILM SavedModel and return a dict -> dict callable."""
    model_dir = resolve_model_dir(path)
    with _CACHE_LOCK:
        fn = _MODEL_CACHE.get(model_dir)
        if fn is not None:
            return fn
        tf = _import_tf()
        try:
            loaded = tf.saved_model.load(model_dir)
        except Exception as exc:  # noqa: BLE001 - TF raises many types; report one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EngineUnavailableError(f"cannot load the FILM model at {model_dir}: {first}") from exc
        fn = _wrap_loaded(tf, loaded, model_dir)
        _MODEL_CACHE[model_dir] = fn
        return fn


def _wrap_loaded(tf, loaded, model_dir: str) -> ModelFn:
    if callable(loaded):

        def call(inputs: dict) -> dict:
            tensors = {k: tf.convert_to_tensor(v) for k, v in inputs.items()}
            try:
                return loaded(tensors, training=False)
            except (TypeError, ValueError):
                return loaded(tensors)

        return call
    sig = getattr(loaded, "signatures", {}).get("serving_default")
    if sig is None:
        raise EngineUnavailableError(f"{model_dir} is not callable and has no serving_default signature")

    def call_sig(inputs: dict) -> dict:
        return sig(**{k: tf.convert_to_tensor(v) for k, v in inputs.items()})

    return call_sig


def gpu_memory_bytes() -> int | None:
    """Total memory of the first NVIDIA GPU, or None when there is none (or it cannot be asked)."""
    env = os.environ.get("SLOWMO_GPU_MEMORY_MB")
    if env:
        return int(env) * 1024 * 1024
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run(  # noqa: S603 - fixed argument list
            [exe, "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
        return int(out.split()[0]) * 1024 * 1024
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


# --------------------------------------------------------------------------------------------- schedule


def dyadic_depth(t: float, max_depth: int = MAX_RECURSION_DEPTH) -> int | None:
    """n such that t == j / 2**n exactly (j odd), or None."""
    for n in range(1, max_depth + 1):
        v = t * (1 << n)
        if abs(v - round(v)) < 1e-9:
            return n
    return None


def use_recursive(ts: Sequence[float], schedule: str) -> bool:
    if schedule not in ("auto", "recursive", "direct"):
        raise ValueError(f"unknown FILM schedule {schedule!r} (auto, recursive, direct)")
    if schedule == "direct" or not ts:
        return False
    return all(0.0 < t < 1.0 and dyadic_depth(t) is not None for t in ts)


def recursive_plan(ts: Sequence[float]) -> list[list[tuple[Fraction, Fraction]]]:
    """Midpoint intervals to synthesise, level by level, to reach every (dyadic) time in ``ts``.

    Level 0 is [(0, 1)] (synthesise t=1/2); each later level holds the halves that still contain a
    requested time. Every model call in the recursive schedule uses time 0.5 on an interval's end frames.
    """
    wanted = {Fraction(round(t * (1 << MAX_RECURSION_DEPTH)), 1 << MAX_RECURSION_DEPTH) for t in ts}
    levels: list[list[tuple[Fraction, Fraction]]] = []
    current = [(Fraction(0), Fraction(1))]
    while current:
        level = [(a, b) for (a, b) in current if any(a < t < b for t in wanted)]
        if not level:
            break
        levels.append(level)
        current = []
        for a, b in level:
            m = (a + b) / 2
            current += [(a, m), (m, b)]
    return levels


# ----------------------------------------------------------------------------------------------- engine


class FilmEngine:
    """FILM frame interpolation. ``model`` (a dict -> dict callable) may replace the SavedModel (tests)."""

    name = "film"

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        schedule: str = "auto",
        tile: int | str | None = "auto",
        batch_size: int = 2,
        *,
        tile_overlap: int = tiling.DEFAULT_OVERLAP,
        tile_margin: int = tiling.DEFAULT_MARGIN,
        memory_bytes: int | None = None,
        model: ModelFn | None = None,
        **_ignored,
    ) -> None:
        if schedule not in ("auto", "recursive", "direct"):
            raise ValueError(f"unknown FILM schedule {schedule!r} (auto, recursive, direct)")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if isinstance(tile, str) and tile != "auto":
            tile = int(tile)
        self.schedule = schedule
        self.tile = tile
        self.batch_size = int(batch_size)
        self.tile_overlap = int(tile_overlap)
        self.tile_margin = int(tile_margin)
        self.calls = 0  # model invocations (batches), for reports and tests
        if model is not None:
            self._model = model
            self.model_path = None
        else:
            model_path = model_path or os.environ.get(MODEL_ENV)
            if not model_path:
                raise EngineUnavailableError(f"no FILM model given. {INSTALL_HINT}")
            _import_tf()
            self._model = load_model(model_path)
            self.model_path = resolve_model_dir(model_path)
        self._memory = memory_bytes if memory_bytes is not None else (
            gpu_memory_bytes() if tile == "auto" else None
        )

    # -- public ---------------------------------------------------------------------------------

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]:
        ts = [float(t) for t in ts]
        if not ts:
            return []
        if frame0.shape != frame1.shape or frame0.ndim != 3 or frame0.shape[2] != 3:
            raise ValueError(f"frames must be (H, W, 3) and equal: {frame0.shape} vs {frame1.shape}")
        f0 = frame0.astype(np.float32) / 255.0
        f1 = frame1.astype(np.float32) / 255.0
        if use_recursive(ts, self.schedule):
            by_time = self._recursive(f0, f1, ts)
            out = [by_time[_key(t)] for t in ts]
        else:
            out = self.predict([f0] * len(ts), [f1] * len(ts), ts)
        return [_to_uint8(x) for x in out]

    def tile_for(self, height: int, width: int) -> int | None:
        if self.tile == "auto":
            return tiling.choose_tile(height, width, self._memory, batch=self.batch_size,
                                      overlap=self.tile_overlap)
        return self.tile  # type: ignore[return-value]

    def predict(self, x0s: Sequence[np.ndarray], x1s: Sequence[np.ndarray], ts: Sequence[float]) -> list[np.ndarray]:
        """Run the model on float32 [0,1] (H, W, 3) pairs at times ``ts``, batched and tiled."""
        out: list[np.ndarray] = []
        h, w = x0s[0].shape[:2]
        tile = self.tile_for(h, w)
        for i in range(0, len(ts), self.batch_size):
            a = np.stack(x0s[i : i + self.batch_size])
            b = np.stack(x1s[i : i + self.batch_size])
            t = np.asarray(ts[i : i + self.batch_size], dtype=np.float32).reshape(-1, 1)

            def fn(ta: np.ndarray, tb: np.ndarray, t=t) -> np.ndarray:
                return self._call_padded(ta, tb, t)

            y = tiling.run_tiled(fn, a, b, tile=tile, overlap=self.tile_overlap, margin=self.tile_margin)
            out.extend(np.clip(y, 0.0, 1.0))
        return out

    # -- internals ------------------------------------------------------------------------------

    def _recursive(self, f0: np.ndarray, f1: np.ndarray, ts: Sequence[float]) -> dict[Fraction, np.ndarray]:
        known: dict[Fraction, np.ndarray] = {Fraction(0): f0, Fraction(1): f1}
        for level in recursive_plan(ts):
            mids = self.predict([known[a] for a, _ in level], [known[b] for _, b in level], [0.5] * len(level))
            for (a, b), img in zip(level, mids, strict=True):
                known[(a + b) / 2] = img
        return {_key(float(k)): v for k, v in known.items()}

    def _call_padded(self, a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
        h, w = a.shape[1:3]
        ph, pw = (-h) % ALIGN, (-w) % ALIGN
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "edge"
            pad = ((0, 0), (0, ph), (0, pw), (0, 0))
            a = np.pad(a, pad, mode=mode)
            b = np.pad(b, pad, mode=mode)
        self.calls += 1
        result = self._model({"x0": np.ascontiguousarray(a, dtype=np.float32),
                              "x1": np.ascontiguousarray(b, dtype=np.float32),
                              "time": t.astype(np.float32)})
        img = result["image"] if isinstance(result, dict) else result
        img = np.asarray(img, dtype=np.float32)
        return img[:, :h, :w, :]


def _key(t: float) -> Fraction:
    return Fraction(round(t * (1 << MAX_RECURSION_DEPTH)), 1 << MAX_RECURSION_DEPTH)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8))
