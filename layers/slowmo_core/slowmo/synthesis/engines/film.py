"""FILM (Frame Interpolation for Large Motion, Google Research) as a slowmo engine.

The engine loads a FILM TF2 SavedModel (the official ``pretrained_models/film_net/<Style|L1|VGG>/saved_model``
directories) once per path per process and calls it the way FILM's own ``eval/interpolator.py`` does::

    model({"x0": f32[B,H,W,3] in [0,1], "x1": ..., "time": f32[B,1]}, training=False)["image"]

film_net ignores ``time``: "time: ignored by film_net. We always infer a frame at t = 0.5"
(google-research/frame-interpolation, models/film_net/interpolator.py, ``create_model``). So every model
call here asks for a midpoint, and any other time is reached by recursive bisection (``plan_midpoints``):

* a dyadic time j/2^n (every slot of K = 2, 4, 8, 16 ...) is exact: t = 1/2 first, then the midpoints of
  each half from the model's own outputs, down to depth n;
* any other time t (K = 3, 5, 6 ..., any retime) is first bracketed by the two dyadic frames at depth D
  around it, then placed exactly between them by the flow engine, whose motion is now 2^D times smaller
  (``nondyadic="bracket"``, the default; docs/film.md has the measurements), or it takes the nearest
  dyadic frame at depth D, a time error of at most 1/2^(D+1) of the source interval (``"nearest"``).

Nodes of the bisection tree that several times (or both brackets) share are computed once. All model
calls that a window of pairs needs at one bisection level go into batches of ``batch_size``
(``interpolate_many``); frames are padded to a multiple of 64 and cropped back, and large frames are
tiled (``slowmo.synthesis.tiling``) with a tile chosen from the free GPU memory.

``schedule="direct"`` sends t itself to the model instead: only for a FILM variant trained to honour
``time`` (FILM's interpolator.py notes such models); never for film_net.

TensorFlow is an optional extra and is imported lazily, only here.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from slowmo.errors import EngineUnavailableError, SlowmoError
from slowmo.synthesis import tiling

ALIGN = 64
MAX_RECURSION_DEPTH = 10  # dyadic times down to 1/1024 are exact
SCHEDULES = ("auto", "recursive", "direct")
NONDYADIC_METHODS = ("bracket", "nearest")
#: Default non-dyadic method and depth, chosen from benchmarks/bench_film_schedule.py (docs/film.md).
DEFAULT_NONDYADIC = "bracket"
DEFAULT_DEPTH = 2
MODEL_ENV = "SLOWMO_FILM_MODEL"

INSTALL_HINT = (
    "FILM needs TensorFlow and the FILM saved model: pip install 'slowmo-film[film]' (or pip install -e '.[film]' "
    "in the checkout), download a pretrained "
    "saved_model (Style, L1 or VGG) from the Google Drive / Cloud Storage folder linked in the README of "
    "https://github.com/google-research/frame-interpolation, and pass --model PATH "
    f"(or set {MODEL_ENV})"
)

ModelFn = Callable[[dict], dict]

_MODEL_CACHE: dict[str, ModelFn] = {}
_CACHE_LOCK = threading.Lock()


class FilmOutOfMemoryError(SlowmoError):
    """The model ran out of (GPU) memory; the message names the frame size, batch and tile."""


class FilmModelError(SlowmoError):
    """The model failed on a batch for another reason; the message is the model's own first line."""


def _import_tf():
    try:
        import tensorflow as tf  # noqa: PLC0415 - optional heavy dependency, import lazily
    except ImportError as exc:
        raise EngineUnavailableError(f"TensorFlow is not installed. {INSTALL_HINT}") from exc
    try:  # allocate GPU memory as needed, so the free memory we measured stays meaningful
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    except (RuntimeError, ValueError):  # already initialised in this process: keep its setting
        pass
    return tf


def resolve_model_dir(path: str | os.PathLike) -> str:
    """The directory holding ``saved_model.pb``: ``path`` itself or its ``saved_model`` child."""
    p = os.path.abspath(os.fspath(path))
    for cand in (p, os.path.join(p, "saved_model")):
        if os.path.isfile(os.path.join(cand, "saved_model.pb")):
            return cand
    raise EngineUnavailableError(f"no FILM saved model (saved_model.pb) at {path}. {INSTALL_HINT}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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
            raise EngineUnavailableError(f"cannot load the FILM model at {model_dir}: {_first_line(exc)}") from exc
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


def _nvidia_smi(query: str) -> int | None:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run(  # noqa: S603 - fixed argument list
            [exe, f"--query-gpu={query}", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
        return int(out.split()[0]) * 1024 * 1024
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def gpu_memory_bytes() -> int | None:
    """Free memory of the first NVIDIA GPU now (before our model takes any), or None without a GPU.

    ``SLOWMO_GPU_MEMORY_MB`` overrides it (tests, or to leave room for another process).
    """
    env = os.environ.get("SLOWMO_GPU_MEMORY_MB")
    if env:
        return int(env) * 1024 * 1024
    return _nvidia_smi("memory.free")


# --------------------------------------------------------------------------------------------- schedule


def dyadic_depth(t: float, max_depth: int = MAX_RECURSION_DEPTH) -> int | None:
    """n such that t == j / 2**n exactly (j odd), or None."""
    for n in range(1, max_depth + 1):
        v = t * (1 << n)
        if abs(v - round(v)) < 1e-9:
            return n
    return None


def use_recursive(ts: Sequence[float], schedule: str) -> bool:
    """Whether the times go through midpoint bisection (every schedule but "direct")."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown FILM schedule {schedule!r} ({', '.join(SCHEDULES)})")
    return schedule != "direct" and bool(ts)


@dataclass(frozen=True)
class Retime:
    """Time t lies between the dyadic frames ``lo`` and ``hi``; the flow engine places it at ``s``."""

    lo: Fraction
    hi: Fraction
    s: float


@dataclass
class MidpointPlan:
    """How one pair's times are made from t = 0.5 model calls.

    ``levels[L]`` are the intervals (a, b) whose midpoint is synthesised at bisection level L, from the frames
    at a and b (the source frames 0 and 1, or nodes of earlier levels). ``recipes[i]`` says how time i is
    made: a ``Fraction`` names the frame at that node (0 and 1 are the source frames), a ``Retime`` a flow
    retime between two nodes. ``time_used[i]`` is the time the recipe's frame really shows.
    """

    levels: list[list[tuple[Fraction, Fraction]]] = field(default_factory=list)
    recipes: list[Fraction | Retime] = field(default_factory=list)
    time_used: list[float] = field(default_factory=list)

    @property
    def calls(self) -> int:
        """Model evaluations (frames through the network) this plan needs."""
        return sum(len(level) for level in self.levels)


def _dyadic(t: float) -> Fraction | None:
    n = dyadic_depth(t)
    if n is None:
        return None
    return Fraction(round(t * (1 << n)), 1 << n)


def plan_midpoints(ts: Sequence[float], depth: int = DEFAULT_DEPTH, method: str = DEFAULT_NONDYADIC) -> MidpointPlan:
    """The bisection tree (shared nodes once) and one recipe per time, for times in (0, 1)."""
    if method not in NONDYADIC_METHODS:
        raise ValueError(f"unknown non-dyadic method {method!r} ({', '.join(NONDYADIC_METHODS)})")
    if not 1 <= depth <= MAX_RECURSION_DEPTH:
        raise ValueError(f"depth must be 1..{MAX_RECURSION_DEPTH}, got {depth}")
    plan = MidpointPlan()
    nodes: set[Fraction] = set()
    scale = 1 << depth
    for t in ts:
        if not 0.0 < t < 1.0 or math.isnan(t):
            raise ValueError(f"every t must lie strictly between 0 and 1, not {t!r}")
        exact = _dyadic(t)
        if exact is not None:
            recipe: Fraction | Retime = exact
            used = t
            nodes.add(exact)
        elif method == "nearest":
            recipe = Fraction(round(t * scale), scale)
            used = float(recipe)
            nodes.add(recipe)
        else:
            lo = Fraction(math.floor(t * scale), scale)
            hi = lo + Fraction(1, scale)
            recipe = Retime(lo, hi, (t - float(lo)) * scale)
            used = t
            nodes.update((lo, hi))
        plan.recipes.append(recipe)
        plan.time_used.append(used)
    # every node needs its ancestors: the ends of the interval it halves
    todo = [n for n in nodes if 0 < n < 1]
    needed: set[Fraction] = set()
    while todo:
        node = todo.pop()
        if node in needed or not 0 < node < 1:
            continue
        needed.add(node)
        half = Fraction(1, node.denominator)
        todo += [node - half, node + half]
    by_level: dict[int, list[tuple[Fraction, Fraction]]] = {}
    for node in sorted(needed):
        half = Fraction(1, node.denominator)
        level = node.denominator.bit_length() - 2  # 1/2 -> 0, 1/4 and 3/4 -> 1, ...
        by_level.setdefault(level, []).append((node - half, node + half))
    plan.levels = [by_level[level] for level in sorted(by_level)]
    return plan


def recursive_plan(ts: Sequence[float]) -> list[list[tuple[Fraction, Fraction]]]:
    """The bisection levels for dyadic times (kept for callers of the old name)."""
    return plan_midpoints(ts).levels


def calls_per_pair(ts: Sequence[float], depth: int = DEFAULT_DEPTH, method: str = DEFAULT_NONDYADIC) -> int:
    """Model evaluations one source pair needs for the times ``ts`` (the cost table's figure)."""
    return plan_midpoints(ts, depth, method).calls


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
        nondyadic: str = DEFAULT_NONDYADIC,
        depth: int = DEFAULT_DEPTH,
        tile_overlap: int = tiling.DEFAULT_OVERLAP,
        tile_margin: int = tiling.DEFAULT_MARGIN,
        memory_bytes: int | None = None,
        model: ModelFn | None = None,
        retimer=None,
        **_ignored,
    ) -> None:
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown FILM schedule {schedule!r} ({', '.join(SCHEDULES)})")
        if nondyadic not in NONDYADIC_METHODS:
            raise ValueError(f"unknown non-dyadic method {nondyadic!r} ({', '.join(NONDYADIC_METHODS)})")
        if not 1 <= int(depth) <= MAX_RECURSION_DEPTH:
            raise ValueError(f"depth must be 1..{MAX_RECURSION_DEPTH}, got {depth}")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if isinstance(tile, str) and tile != "auto":
            tile = int(tile)
        self.schedule = schedule
        self.nondyadic = nondyadic
        self.depth = int(depth)
        self.tile = tile
        self.batch_size = int(batch_size)
        self.tile_overlap = int(tile_overlap)
        self.tile_margin = int(tile_margin)
        self.calls = 0  # model invocations (batches, per tile), for reports and tests
        self.evaluations = 0  # frames through the model (per tile), independent of batching
        # free GPU memory is read before TensorFlow takes any of it
        self._memory = memory_bytes if memory_bytes is not None else (
            gpu_memory_bytes() if tile == "auto" else None
        )
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
        self._retimer = retimer

    # -- public ---------------------------------------------------------------------------------

    @property
    def pair_window(self) -> int:
        """How many consecutive pairs a caller should hand to ``interpolate_many`` at once: enough for
        the first bisection level (one call per pair) to fill a batch."""
        return self.batch_size

    def interpolate(self, frame0: np.ndarray, frame1: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]:
        return self.interpolate_many([(frame0, frame1, ts)])[0]

    def interpolate_many(self, pairs: Sequence[tuple[np.ndarray, np.ndarray, Sequence[float]]]) -> list[list[np.ndarray]]:
        """Frames for several pairs at once: every model call one bisection level needs, across all the
        pairs, goes into the same batches. The frames equal ``interpolate`` on each pair alone."""
        jobs = []
        for frame0, frame1, ts in pairs:
            if frame0.shape != frame1.shape or frame0.ndim != 3 or frame0.shape[2] != 3:
                raise ValueError(f"frames must be (H, W, 3) and equal: {frame0.shape} vs {frame1.shape}")
            jobs.append((frame0, frame1, [float(t) for t in ts]))
        if not jobs:
            return []
        shapes = {f0.shape for f0, _, _ in jobs}
        if len(shapes) > 1:
            raise ValueError(f"all pairs must have one frame size, got {sorted(shapes)}")
        if self.schedule == "direct":
            return self._direct(jobs)
        plans = [plan_midpoints(ts, self.depth, self.nondyadic) for _, _, ts in jobs]
        known: list[dict[Fraction, np.ndarray]] = [
            {Fraction(0): f0.astype(np.float32) / 255.0, Fraction(1): f1.astype(np.float32) / 255.0}
            for f0, f1, _ in jobs
        ]
        depth = max((len(p.levels) for p in plans), default=0)
        for level in range(depth):
            work = [(i, a, b) for i, p in enumerate(plans) if level < len(p.levels) for a, b in p.levels[level]]
            mids = self.predict([known[i][a] for i, a, _ in work], [known[i][b] for i, _, b in work],
                                [0.5] * len(work))
            for (i, a, b), img in zip(work, mids, strict=True):
                known[i][(a + b) / 2] = img
        return [self._realise(p, k, f0, f1) for p, k, (f0, f1, _) in zip(plans, known, jobs, strict=True)]

    def tile_for(self, height: int, width: int) -> int | None:
        if self.tile == "auto":
            return tiling.choose_tile(height, width, self._memory, batch=self.batch_size,
                                      overlap=self.tile_overlap)
        return self.tile  # type: ignore[return-value]

    def predict(self, x0s: Sequence[np.ndarray], x1s: Sequence[np.ndarray], ts: Sequence[float]) -> list[np.ndarray]:
        """Run the model on float32 [0,1] (H, W, 3) pairs at times ``ts``, batched and tiled."""
        out: list[np.ndarray] = []
        if not x0s:
            return out
        h, w = x0s[0].shape[:2]
        tile = self.tile_for(h, w)
        for i in range(0, len(ts), self.batch_size):
            a = np.stack(x0s[i : i + self.batch_size])
            b = np.stack(x1s[i : i + self.batch_size])
            t = np.asarray(ts[i : i + self.batch_size], dtype=np.float32).reshape(-1, 1)

            def fn(ta: np.ndarray, tb: np.ndarray, t=t) -> np.ndarray:
                return self._call_padded(ta, tb, t, frame=(h, w), tile=tile)

            y = tiling.run_tiled(fn, a, b, tile=tile, overlap=self.tile_overlap, margin=self.tile_margin)
            out.extend(np.clip(y, 0.0, 1.0))
        return out

    # -- internals ------------------------------------------------------------------------------

    def _direct(self, jobs) -> list[list[np.ndarray]]:
        x0s, x1s, ts, sizes = [], [], [], []
        for f0, f1, times in jobs:
            a, b = f0.astype(np.float32) / 255.0, f1.astype(np.float32) / 255.0
            x0s += [a] * len(times)
            x1s += [b] * len(times)
            ts += times
            sizes.append(len(times))
        flat = [_to_uint8(x) for x in self.predict(x0s, x1s, ts)]
        out, at = [], 0
        for n in sizes:
            out.append(flat[at : at + n])
            at += n
        return out

    def _realise(self, plan: MidpointPlan, known: dict[Fraction, np.ndarray],
                 f0: np.ndarray, f1: np.ndarray) -> list[np.ndarray]:
        as_uint8: dict[Fraction, np.ndarray] = {Fraction(0): f0, Fraction(1): f1}

        def frame(node: Fraction) -> np.ndarray:
            if node not in as_uint8:
                as_uint8[node] = _to_uint8(known[node])
            return as_uint8[node]

        out: list[np.ndarray | None] = [None] * len(plan.recipes)
        brackets: dict[tuple[Fraction, Fraction], list[int]] = {}
        for i, recipe in enumerate(plan.recipes):
            if isinstance(recipe, Retime):
                brackets.setdefault((recipe.lo, recipe.hi), []).append(i)
            else:
                out[i] = frame(recipe).copy()
        for (lo, hi), idx in brackets.items():  # one flow analysis per bracket, shared by its times
            frames = self._retime_engine().interpolate(frame(lo), frame(hi), [plan.recipes[i].s for i in idx])
            for i, img in zip(idx, frames, strict=True):
                out[i] = img
        return out  # type: ignore[return-value]

    def _retime_engine(self):
        if self._retimer is None:
            from slowmo.synthesis.engines.flow import FlowEngine  # noqa: PLC0415 - only when a non-dyadic time needs it

            self._retimer = FlowEngine()
        return self._retimer

    def _call_padded(self, a: np.ndarray, b: np.ndarray, t: np.ndarray, *,
                     frame: tuple[int, int], tile: int | None) -> np.ndarray:
        h, w = a.shape[1:3]
        ph, pw = (-h) % ALIGN, (-w) % ALIGN
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "edge"
            pad = ((0, 0), (0, ph), (0, pw), (0, 0))
            a = np.pad(a, pad, mode=mode)
            b = np.pad(b, pad, mode=mode)
        self.calls += 1
        self.evaluations += a.shape[0]
        try:
            result = self._model({"x0": np.ascontiguousarray(a, dtype=np.float32),
                                  "x1": np.ascontiguousarray(b, dtype=np.float32),
                                  "time": t.astype(np.float32)})
        except Exception as exc:  # noqa: BLE001 - TensorFlow raises its own types; one line for the job
            raise _model_failure(exc, frame=frame, batch=a.shape[0], tile=tile, padded=a.shape[1:3]) from exc
        img = result["image"] if isinstance(result, dict) else result
        img = np.asarray(img, dtype=np.float32)
        return img[:, :h, :w, :]


def _is_oom(exc: BaseException) -> bool:
    if type(exc).__name__ == "ResourceExhaustedError":  # tf.errors.ResourceExhaustedError, without importing TF
        return True
    text = str(exc)
    return "OOM when allocating" in text or "out of memory" in text.lower()


def _model_failure(exc: BaseException, *, frame: tuple[int, int], batch: int, tile: int | None,
                   padded: tuple[int, int]) -> SlowmoError:
    h, w = frame
    where = f"{w}x{h} frames, batch of {batch}, " + (
        f"tile {tile} px (model input {padded[1]}x{padded[0]})" if tile else f"no tiling (model input {padded[1]}x{padded[0]})"
    )
    if _is_oom(exc):
        return FilmOutOfMemoryError(
            f"FILM ran out of GPU memory on {where}: lower batch_size or set a smaller tile (e.g. tile=512)")
    return FilmModelError(f"FILM model failed on {where}: {type(exc).__name__}: {_first_line(exc)}")


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8))
