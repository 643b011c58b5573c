"""Stand-ins for the FILM SavedModel, with FILM's exact signature, and frames to feed them.

What the real model is (google-research/frame-interpolation): a TF2 SavedModel called as
``model({"x0": f32[B,H,W,3], "x1": f32[B,H,W,3], "time": f32[B,1]}, training=False)`` returning a dict
whose ``"image"`` is f32[B,H,W,3] (eval/interpolator.py, ``Interpolator.interpolate``). film_net ignores
``time`` and always infers t = 0.5 (models/film_net/interpolator.py, ``create_model``: "time: ignored by
film_net"). Its feature pyramid halves the frame several times, so FILM's own tools pad H and W to a
multiple of 64 (``align``); the stand-ins refuse other sizes, so a missing pad fails here too.

* ``film_midpoint_savedmodel("average")``: FILM's behaviour: image = (x0 + x1) / 2, ``time`` accepted
  and ignored. The default stand-in everywhere.
* ``film_midpoint_savedmodel("blur")``: the same midpoint after a 5x5 box blur of each input (a local
  receptive field of radius 2), for the test that tiling matches the untiled result.
* ``time_honouring_savedmodel()``: image = (1 - t) x0 + t x1. Not FILM's behaviour: only for the
  ``schedule="direct"`` path, which exists for FILM variants trained to honour ``time``.

Each model is built once per test session in a temporary directory (TensorFlow is imported only here).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

ALIGN = 64


def _tf():
    """TensorFlow, or a skip: it is an optional extra (the Python 3.10 core-test venv has none)."""
    import pytest

    return pytest.importorskip("tensorflow")


def _save(module, name: str) -> str:
    tf = _tf()

    root = Path(tempfile.mkdtemp(prefix=f"slowmo-film-{name}-"))
    atexit.register(shutil.rmtree, root, True)
    spec = {
        "x0": tf.TensorSpec([None, None, None, 3], tf.float32, name="x0"),
        "x1": tf.TensorSpec([None, None, None, 3], tf.float32, name="x1"),
        "time": tf.TensorSpec([None, 1], tf.float32, name="time"),
    }
    module.__call__.get_concrete_function(spec, training=False)
    tf.saved_model.save(module, str(root / "saved_model"))
    return str(root)


def _check_aligned(tf, x):
    shape = tf.shape(x)
    tf.debugging.assert_equal(shape[1] % ALIGN, 0, message="FILM needs H divisible by 64")
    tf.debugging.assert_equal(shape[2] % ALIGN, 0, message="FILM needs W divisible by 64")


@functools.cache
def film_midpoint_savedmodel(kind: str = "average") -> str:
    """A SavedModel that behaves like film_net: the midpoint of x0 and x1, whatever ``time`` says."""
    tf = _tf()

    if kind not in ("average", "blur"):
        raise ValueError(kind)

    class MidpointFilm(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kernel = tf.constant(np.full((5, 5, 3, 1), 1.0 / 25.0, dtype=np.float32))

        @tf.function
        def __call__(self, inputs, training=False):
            x0, x1 = inputs["x0"], inputs["x1"]
            _check_aligned(tf, x0)
            tf.debugging.assert_equal(tf.shape(inputs["time"])[0], tf.shape(x0)[0])  # [B,1], read, not used
            if kind == "blur":
                x0 = tf.nn.depthwise_conv2d(x0, self.kernel, [1, 1, 1, 1], "SAME")
                x1 = tf.nn.depthwise_conv2d(x1, self.kernel, [1, 1, 1, 1], "SAME")
            return {"image": 0.5 * x0 + 0.5 * x1}

    return _save(MidpointFilm(), f"midpoint-{kind}")


@functools.cache
def time_honouring_savedmodel() -> str:
    """FILM's signature, but image = (1 - t) x0 + t x1: a model that really uses ``time`` (not film_net)."""
    tf = _tf()

    class TimeHonouring(tf.Module):
        @tf.function
        def __call__(self, inputs, training=False):
            x0, x1 = inputs["x0"], inputs["x1"]
            _check_aligned(tf, x0)
            t = tf.reshape(inputs["time"], [-1, 1, 1, 1])
            return {"image": (1.0 - t) * x0 + t * x1}

    return _save(TimeHonouring(), "time-honouring")


def moving_frames(n: int, height: int = 72, width: int = 96, seed: int = 0) -> list[np.ndarray]:
    """n RGB frames of a textured square sliding over a gradient (motion, no cuts)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1), (xx + yy) % 256], -1)
    texture = rng.integers(0, 256, (height // 3, width // 4, 3))
    frames = []
    for i in range(n):
        f = base.copy()
        y0, x0 = height // 4, (i * 3) % (width - width // 4)
        f[y0 : y0 + texture.shape[0], x0 : x0 + texture.shape[1]] = texture
        frames.append(np.ascontiguousarray(f.astype(np.uint8)))
    return frames
