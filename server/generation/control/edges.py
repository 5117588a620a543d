"""Canny edges of the previs beauty frames, the Union-Control IC-LoRA's ``canny`` reference.

Lightricks' IC-LoRA workflows run ComfyUI's Canny node at its defaults: low 0.4 and high 0.8 on the
gradient magnitude of a [0, 1] image (kornia's canny: a 5x5 Gaussian with sigma 1 first, then the L2
magnitude of the raw Sobel). OpenCV does the same on 0..255, so the thresholds are 0.4 and 0.8 times
255 here. A full black/white outline passes easily; a step under about a quarter of full contrast is no
edge. White edges on black, grey in RGB.
"""

from __future__ import annotations

import cv2
import numpy as np

LOW, HIGH = 0.4, 0.8
_SOBEL_SCALE = 255.0  # a [0, 1] image's thresholds on OpenCV's 0..255


def canny_frame(rgb: np.ndarray, low: float = LOW, high: float = HIGH) -> np.ndarray:
    """Edges (h, w) uint8, 255 on an edge, of one RGB uint8 frame."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    blurred = cv2.GaussianBlur(grey, (5, 5), 1.0)
    return cv2.Canny(blurred, low * _SOBEL_SCALE, high * _SOBEL_SCALE, apertureSize=3, L2gradient=True)


def canny_video(frames, low: float = LOW, high: float = HIGH) -> np.ndarray:
    """The canny reference video (n, h, w, 3) uint8 from beauty frames (n, h, w, 3) uint8 RGB."""
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"frames must be n x height x width x 3, got shape {arr.shape}")
    edges = np.stack([canny_frame(f, low, high) for f in arr])
    return np.repeat(edges[..., None], 3, axis=-1)
