"""Side-by-side comparison frames: the source slowed by repeating frames, beside the result."""

from __future__ import annotations

import cv2
import numpy as np

MAX_HALF_WIDTH = 1920


class SideBySide:
    """Compose comparison frames for output index i: left = source frame i // K, right = result i."""

    def __init__(self, width: int, height: int, left_label: str, right_label: str):
        scale = min(1.0, MAX_HALF_WIDTH / width)
        self.half_width = max(2, int(round(width * scale / 2)) * 2)
        self.height = max(2, int(round(height * scale / 2)) * 2)
        self.width = self.half_width * 2
        self._resize = scale < 1.0 or (self.half_width, self.height) != (width, height)
        self._labels = (left_label, right_label)
        self._font_scale = max(0.4, self.height / 720)
        self._thickness = max(1, int(round(self._font_scale * 2)))

    def _fit(self, frame: np.ndarray) -> np.ndarray:
        if self._resize:
            return cv2.resize(frame, (self.half_width, self.height), interpolation=cv2.INTER_AREA)
        return frame

    def _label(self, canvas: np.ndarray, text: str, x: int) -> None:
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, self._font_scale, self._thickness)
        pad = max(4, th // 2)
        cv2.rectangle(canvas, (x + pad, pad), (x + 3 * pad + tw, 3 * pad + th + base), (0, 0, 0), thickness=-1)
        if canvas.dtype == np.uint8:
            cv2.putText(canvas, text, (x + 2 * pad, 2 * pad + th), cv2.FONT_HERSHEY_SIMPLEX, self._font_scale,
                        (255, 255, 255), self._thickness, cv2.LINE_AA)
            return
        # 16-bit frames: OpenCV draws text on 8-bit images only; draw the label on an 8-bit patch of its black
        # box and scale it up (the same white text on black as the 8-bit path, at 16 bits)
        y0, y1 = pad, min(canvas.shape[0], 3 * pad + th + base + 1)
        x0, x1 = x + pad, min(canvas.shape[1], x + 3 * pad + tw + 1)
        if y1 <= y0 or x1 <= x0:
            return
        patch = np.zeros((y1 - y0, x1 - x0, 3), dtype=np.uint8)
        cv2.putText(patch, text, (pad, pad + th), cv2.FONT_HERSHEY_SIMPLEX, self._font_scale, (255, 255, 255),
                    self._thickness, cv2.LINE_AA)
        canvas[y0:y1, x0:x1] = patch.astype(canvas.dtype) * (np.iinfo(canvas.dtype).max // 255)

    def compose(self, source_frame: np.ndarray, result_frame: np.ndarray) -> np.ndarray:
        canvas = np.empty((self.height, self.width, 3), dtype=result_frame.dtype)
        canvas[:, : self.half_width] = self._fit(source_frame)
        canvas[:, self.half_width :] = self._fit(result_frame)
        self._label(canvas, self._labels[0], 0)
        self._label(canvas, self._labels[1], self.half_width)
        return canvas
