"""Tiny stand-ins for the FILM SavedModel, with FILM's exact calling convention.

``model({"x0": f32[B,H,W,3], "x1": f32[B,H,W,3], "time": f32[B,1]}, training=False)["image"]``

kind="blend": image = (1-t)*x0 + t*x1 (pointwise, so results are predictable).
kind="conv":  the same after a 5x5 box blur of each input (a local receptive field of radius 2), to test
              that tiling matches the untiled result away from the frame border.

Each model is built once per test session in a temporary directory (TensorFlow is imported only here).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np


@functools.cache
def tiny_film_savedmodel(kind: str = "blend") -> str:
    import tensorflow as tf

    root = Path(tempfile.mkdtemp(prefix=f"slowmo-film-{kind}-"))
    atexit.register(shutil.rmtree, root, True)

    class TinyFilm(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kernel = tf.constant(np.full((5, 5, 3, 1), 1.0 / 25.0, dtype=np.float32))

        @tf.function
        def __call__(self, inputs, training=False):
            x0, x1 = inputs["x0"], inputs["x1"]
            t = tf.reshape(inputs["time"], [-1, 1, 1, 1])
            if kind == "conv":
                x0 = tf.nn.depthwise_conv2d(x0, self.kernel, [1, 1, 1, 1], "SAME")
                x1 = tf.nn.depthwise_conv2d(x1, self.kernel, [1, 1, 1, 1], "SAME")
            return {"image": (1.0 - t) * x0 + t * x1}

    module = TinyFilm()
    spec = {
        "x0": tf.TensorSpec([None, None, None, 3], tf.float32, name="x0"),
        "x1": tf.TensorSpec([None, None, None, 3], tf.float32, name="x1"),
        "time": tf.TensorSpec([None, 1], tf.float32, name="time"),
    }
    module.__call__.get_concrete_function(spec, training=False)
    path = root / "saved_model"
    tf.saved_model.save(module, str(path))
    return str(root)


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
