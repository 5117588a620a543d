"""Depth control frames from a real Z pass: one normalization for the whole shot (pure numpy).

The Union-Control / Depth IC-LoRAs were trained on the output of monocular depth estimators run in
Lightricks' example workflows (Depth Anything style relative depth): grey levels where near is bright and
far is dark, spread over the full 0..255 range, linear in inverse depth (disparity) rather than in
distance, with the empty background black. A previs has the true depth, so we map it the same way, but
with ONE near/far for every frame of the shot: an estimator rescales each frame, which makes a wall
brighten as other things leave the view; ours keeps an object's grey level while the camera moves.
"""

from __future__ import annotations

import numpy as np


def depth_range(depths, max_depth: float = np.inf) -> tuple[float, float]:
    """(near, far) over every frame of a shot: the smallest and largest finite, positive depth below
    ``max_depth`` (the camera's clip end: the Z pass writes it, or a huge value, where nothing is hit)."""
    d = np.asarray(depths, dtype=float)
    hit = np.isfinite(d) & (d > 0.0) & (d < max_depth)
    if not hit.any():
        raise ValueError("the depth pass hits nothing: put geometry in front of the shot's camera")
    return float(d[hit].min()), float(d[hit].max())


def normalize_depth(depths, near: float, far: float, max_depth: float = np.inf) -> np.ndarray:
    """Grey uint8 frames, same shape as ``depths``: 255 at ``near``, 0 at ``far`` and beyond (and where
    nothing is hit), linear in 1/depth between. With near == far (one flat wall facing the camera)
    everything hit is 255."""
    if not 0.0 < near <= far:
        raise ValueError(f"near and far must satisfy 0 < near <= far, got {near} and {far}")
    d = np.asarray(depths, dtype=float)
    hit = np.isfinite(d) & (d > 0.0) & (d < max_depth)
    inv = np.where(hit, 1.0 / np.where(hit, d, 1.0), 0.0)
    span = 1.0 / near - 1.0 / far
    level = np.ones_like(d) if span <= 0.0 else (inv - 1.0 / far) / span
    level = np.where(hit, np.clip(level, 0.0, 1.0), 0.0)
    return np.rint(level * 255.0).astype(np.uint8)


def depth_video(depths, max_depth: float = np.inf) -> np.ndarray:
    """A shot's depth frames (n, h, w) as the IC-LoRA's reference video (n, h, w, 3) uint8 RGB grey."""
    near, far = depth_range(depths, max_depth)
    grey = normalize_depth(depths, near, far, max_depth)
    return np.repeat(grey[..., None], 3, axis=-1)
