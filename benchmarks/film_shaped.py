"""A FILM-shaped network for measuring memory and time: FILM's architecture and size, random weights.

Written from the FILM paper's description (Reda et al., "FILM: Frame Interpolation for Large Motion",
ECCV 2022) and the option names its public code documents, not from its code:

* an image pyramid of ``pyramid_levels`` (7) levels, each half the size of the one above;
* a **shared-weight, cascaded feature extractor**: the same ``sub_levels`` (4) stages of two 3x3 convs
  (64, 128, 256, 512 filters) run on every pyramid level of both images; the feature at level L joins the
  outputs of stage i computed on image level L - i, so coarse levels see features learned at fine ones;
* **bidirectional flow estimation**, coarse to fine: at each level the other image's features are warped
  by the upsampled flow, and a small conv stack predicts the residual flow; the three finest levels have
  their own (narrower) predictors, the coarser levels share one; forward and backward flow use the same
  weights;
* a **fusion decoder** (U-Net style) over the five finest levels: both images' pyramids of pixels and
  features, warped to the middle by half the flows, and the flows themselves, are merged from coarse to
  fine into the output image.

It has FILM's calling convention (``{"x0", "x1": f32[B,H,W,3], "time": f32[B,1]}`` -> ``{"image"}``,
``time`` ignored, H and W multiples of 64) and about FILM's 34M parameters. With random weights its
output is meaningless; its memory and arithmetic are what a FILM of this shape costs.

TensorFlow is imported by the caller (benchmarks only).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

PYRAMID_LEVELS = 7
SUB_LEVELS = 4
FILTERS = 64
FUSION_LEVELS = 5
SPECIALIZED_LEVELS = 3
FLOW_FILTERS = (32, 64, 128, 256)
FLOW_CONVS = (3, 3, 3, 3)


class FilmShaped(tf.Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__(name="film_shaped")
        self._rng = np.random.default_rng(seed)
        # feature extractor: stage i = two 3x3 convs, FILTERS << i channels
        self.stages = []
        cin = 3
        for i in range(SUB_LEVELS):
            c = FILTERS << i
            self.stages.append((self._conv(3, cin, c), self._conv(3, c, c)))
            cin = c
        self.feature_channels = [sum(FILTERS << i for i in range(min(level, SUB_LEVELS - 1) + 1))
                                 for level in range(PYRAMID_LEVELS)]
        # flow predictors: own ones for the finest SPECIALIZED_LEVELS, one shared by the coarser levels
        self.predictors = []
        for level in range(SPECIALIZED_LEVELS + 1):
            cin = 2 * self.feature_channels[min(level, PYRAMID_LEVELS - 1)]
            if level == SPECIALIZED_LEVELS:
                cin = 2 * self.feature_channels[-1]
            f, n = FLOW_FILTERS[level], FLOW_CONVS[level]
            convs = [self._conv(3, cin if k == 0 else f, f) for k in range(n)]
            self.predictors.append((convs, self._conv(1, f, f // 2), self._conv(1, f // 2, 2)))
        # fusion decoder over the FUSION_LEVELS finest levels
        aligned = [2 * (3 + self.feature_channels[level]) + 4 for level in range(FUSION_LEVELS)]
        self.fusion = []
        cin = aligned[-1]
        for level in reversed(range(FUSION_LEVELS - 1)):
            f = FILTERS << level
            up = self._conv(2, cin, f)
            a = self._conv(3, f + aligned[level], f)
            b = self._conv(3, f, f)
            self.fusion.append((up, a, b))
            cin = f
        self.output_conv = self._conv(1, cin, 3)

    def _conv(self, k: int, cin: int, cout: int) -> tuple[tf.Variable, tf.Variable]:
        std = np.sqrt(2.0 / (k * k * cin))
        w = tf.Variable(self._rng.normal(0.0, std, (k, k, cin, cout)).astype(np.float32))
        return w, tf.Variable(np.zeros(cout, np.float32))

    @property
    def parameter_count(self) -> int:
        return int(sum(np.prod(v.shape) for v in self.trainable_variables))

    # -- building blocks --------------------------------------------------------------------------

    @staticmethod
    def _apply(x, conv, act=True):
        w, b = conv
        y = tf.nn.conv2d(x, w, 1, "SAME") + b
        return tf.nn.leaky_relu(y, 0.2) if act else y

    @staticmethod
    def _pool(x):
        return tf.nn.avg_pool2d(x, 2, 2, "VALID")

    @staticmethod
    def _upsample(x):
        shape = tf.shape(x)
        return tf.image.resize(x, [shape[1] * 2, shape[2] * 2], method="bilinear")

    @staticmethod
    def _warp(image, flow):
        """Backward warp: output(x) = image(x + flow(x)), bilinear, clamped at the border."""
        shape = tf.shape(image)
        b, h, w, c = shape[0], shape[1], shape[2], shape[3]
        gy, gx = tf.meshgrid(tf.range(h, dtype=tf.float32), tf.range(w, dtype=tf.float32), indexing="ij")
        x = tf.clip_by_value(gx[None] + flow[..., 0], 0.0, tf.cast(w - 1, tf.float32))
        y = tf.clip_by_value(gy[None] + flow[..., 1], 0.0, tf.cast(h - 1, tf.float32))
        x0, y0 = tf.floor(x), tf.floor(y)
        wx, wy = (x - x0)[..., None], (y - y0)[..., None]
        x0i, y0i = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
        x1i, y1i = tf.minimum(x0i + 1, w - 1), tf.minimum(y0i + 1, h - 1)
        flat = tf.reshape(image, [-1, c])
        base = (tf.range(b) * h * w)[:, None, None]

        def take(yi, xi):
            return tf.gather(flat, base + yi * w + xi)

        top = take(y0i, x0i) * (1 - wx) + take(y0i, x1i) * wx
        bottom = take(y1i, x0i) * (1 - wx) + take(y1i, x1i) * wx
        return top * (1 - wy) + bottom * wy

    # -- the three stages -------------------------------------------------------------------------

    def _features(self, pyramid):
        stage_out = []  # stage_out[j][i]: stage i on image level j (at level j + i)
        for j, img in enumerate(pyramid):
            outs, x = [], img
            for i, (c1, c2) in enumerate(self.stages):
                if j + i >= PYRAMID_LEVELS:
                    break
                if i > 0:
                    x = self._pool(x)
                x = self._apply(self._apply(x, c1), c2)
                outs.append(x)
            stage_out.append(outs)
        return [tf.concat([stage_out[level - i][i] for i in range(min(level, SUB_LEVELS - 1) + 1)], -1)
                for level in range(PYRAMID_LEVELS)]

    def _predict(self, level, x):
        convs, mid, out = self.predictors[min(level, SPECIALIZED_LEVELS)]
        for conv in convs:
            x = self._apply(x, conv)
        return self._apply(self._apply(x, mid), out, act=False)

    def _flows(self, fa, fb):
        """Flow pyramid from a to b (finest first), coarse to fine with residual updates."""
        flows = [None] * PYRAMID_LEVELS
        v = self._predict(PYRAMID_LEVELS - 1, tf.concat([fa[-1], fb[-1]], -1))
        flows[-1] = v
        for level in reversed(range(PYRAMID_LEVELS - 1)):
            v = self._upsample(v) * 2.0
            warped = self._warp(fb[level], v)
            v = v + self._predict(level, tf.concat([fa[level], warped], -1))
            flows[level] = v
        return flows

    @tf.function(input_signature=[{
        "x0": tf.TensorSpec([None, None, None, 3], tf.float32, name="x0"),
        "x1": tf.TensorSpec([None, None, None, 3], tf.float32, name="x1"),
        "time": tf.TensorSpec([None, 1], tf.float32, name="time"),
    }])
    def __call__(self, inputs):
        x0, x1 = inputs["x0"], inputs["x1"]  # "time" is ignored, as by film_net: the midpoint
        pyr0, pyr1 = [x0], [x1]
        for _ in range(PYRAMID_LEVELS - 1):
            pyr0.append(self._pool(pyr0[-1]))
            pyr1.append(self._pool(pyr1[-1]))
        f0, f1 = self._features(pyr0), self._features(pyr1)
        forward = self._flows(f0, f1)  # where in x1 each pixel of x0 goes
        backward = self._flows(f1, f0)
        aligned = []
        for level in range(FUSION_LEVELS):
            half_b, half_f = backward[level] * 0.5, forward[level] * 0.5
            w0 = self._warp(tf.concat([pyr0[level], f0[level]], -1), half_b)
            w1 = self._warp(tf.concat([pyr1[level], f1[level]], -1), half_f)
            aligned.append(tf.concat([w0, w1, half_b, half_f], -1))
        x = aligned[-1]
        for (up, a, b), level in zip(self.fusion, reversed(range(FUSION_LEVELS - 1)), strict=True):
            x = self._apply(self._upsample(x), up)
            x = self._apply(self._apply(tf.concat([aligned[level], x], -1), a), b)
        return {"image": self._apply(x, self.output_conv, act=False)}
