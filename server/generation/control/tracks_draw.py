"""Sparse point tracks drawn as the Motion-Track IC-LoRA's reference video.

The format, as Lightricks' ComfyUI nodes document it: each frame shows, for every live track, a trail
of its last 50 positions as filled dots whose radius grows from 2 px (oldest) to 8 px (the current
position) and whose colour runs with age from blue through green and yellow to red (newest), on black.
The dots are sized for a canvas whose short side is 1080 px; the canvas is then resized to the size
asked for, so the look does not depend on the generation size. The frames come out in BGR channel
order, as the LoRA's training data was written by OpenCV: the backend passes them on unchanged.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

TRAIL = 50
MIN_RADIUS = 2
MAX_RADIUS = 8
CANVAS_SHORT_SIDE = 1080

# The colour ramp's stops, oldest to newest, as (R, G, B).
_STOPS_RGB = np.array([[0, 0, 255], [0, 255, 0], [255, 255, 0], [255, 0, 0]], dtype=float)


def age_colour_bgr(freshness: float) -> tuple[int, int, int]:
    """The dot colour, in BGR order, for ``freshness`` in [0, 1] (0: oldest in the trail, 1: now)."""
    f = min(max(float(freshness), 0.0), 1.0) * (len(_STOPS_RGB) - 1)
    i = min(int(f), len(_STOPS_RGB) - 2)
    r, g, b = np.rint(_STOPS_RGB[i] + (f - i) * (_STOPS_RGB[i + 1] - _STOPS_RGB[i])).astype(int)
    return int(b), int(g), int(r)


def dot_radius(freshness: float) -> int:
    """Radius in canvas pixels for ``freshness`` in [0, 1] (0: oldest, 1: now)."""
    return int(round(MIN_RADIUS + min(max(freshness, 0.0), 1.0) * (MAX_RADIUS - MIN_RADIUS)))


def canvas_size(width: int, height: int, short_side: int = CANVAS_SHORT_SIDE) -> tuple[int, int, float]:
    """(canvas width, canvas height, scale from frame pixels to canvas pixels)."""
    scale = short_side / min(width, height)
    return int(round(width * scale)), int(round(height * scale)), scale


@functools.lru_cache(maxsize=None)
def _disk(radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel offsets (dy, dx) of a filled dot: the pixels whose centre is within ``radius``."""
    r = np.arange(-radius, radius + 1)
    dy, dx = np.meshgrid(r, r, indexing="ij")
    inside = dy**2 + dx**2 <= radius**2
    return dy[inside], dx[inside]


def draw_frame(
    tracks: np.ndarray,
    t: int,
    width: int,
    height: int,
    short_side: int = CANVAS_SHORT_SIDE,
    trail: int = TRAIL,
) -> np.ndarray:
    """Frame ``t`` (height, width, 3) uint8 BGR of ``tracks`` (frames, N, 2) given in frame pixels
    (x right, y down), NaN where a track has ended or not begun. A track that has ended at ``t`` is not
    drawn; a live one shows its positions of the last ``trail`` frames (gaps skipped)."""
    cw, ch, scale = canvas_size(width, height, short_side)
    canvas = np.zeros((ch, cw, 3), dtype=np.uint8)
    first = max(0, t - trail + 1)
    live = np.isfinite(tracks[t]).all(axis=1)
    # Oldest first, so that newer (larger, redder) dots cover older ones. All dots of one age share a
    # size and colour, so each age is stamped at once (a call per dot made a 121-frame clip take 9 s).
    for frame in range(first, t + 1):
        pts = tracks[frame][live]
        pts = pts[np.isfinite(pts).all(axis=1)]
        if not len(pts):
            continue
        age = t - frame
        freshness = 1.0 - age / (trail - 1) if trail > 1 else 1.0
        dy, dx = _disk(dot_radius(freshness))
        # A pixel's centre is at +0.5 in frame coordinates; the canvas indexes pixel centres.
        cx = np.floor(pts[:, 0] * scale).astype(np.int64)
        cy = np.floor(pts[:, 1] * scale).astype(np.int64)
        ys, xs = (cy[:, None] + dy[None, :]).ravel(), (cx[:, None] + dx[None, :]).ravel()
        inside = (ys >= 0) & (ys < ch) & (xs >= 0) & (xs < cw)
        canvas[ys[inside], xs[inside]] = age_colour_bgr(freshness)
    if (cw, ch) == (width, height):
        return canvas
    return cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)


def draw_tracks(
    tracks, width: int, height: int, short_side: int = CANVAS_SHORT_SIDE, trail: int = TRAIL
) -> np.ndarray:
    """The reference video (frames, height, width, 3) uint8 BGR for ``tracks`` (frames, N, 2)."""
    arr = np.asarray(tracks, dtype=float)
    if arr.ndim != 3 or arr.shape[2] != 2:
        raise ValueError(f"tracks must be frames x points x 2, got shape {arr.shape}")
    return np.stack([draw_frame(arr, t, width, height, short_side, trail) for t in range(len(arr))])
