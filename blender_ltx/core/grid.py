"""The generation grid: what LTX is asked for, given a shot's length, aspect and frame rate.

LTX compresses 8x in time and 32x in space, so a clip has 8k+1 frames and a size in multiples of 32.
The clip is generated a little longer than the shot (trimmed back on import) and at a size whose
aspect is within ``ASPECT_TOLERANCE`` of the render's (scaled to fill the scene frame on import).
Shots longer than the model's maximum are split into balanced segments, each generated as one clip.
"""

from __future__ import annotations

import math

from .protocol import (
    DEFAULT_MAX_FRAMES,
    DEFAULT_PIXEL_BUDGET,
    SPATIAL_MULTIPLE,
    is_valid_num_frames,
    num_frames_for,
)
from .shots import GenerationGrid, Segment

#: Relative aspect error accepted between the generated clip and the render (3 %).
ASPECT_TOLERANCE = 0.03

__all__ = [
    "ASPECT_TOLERANCE",
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_PIXEL_BUDGET",
    "aspect_error",
    "choose_size",
    "generation_grid",
    "size_within_tolerance",
    "split_frames",
]


def aspect_error(width: int, height: int, aspect: float) -> float:
    """Relative error of ``width / height`` against ``aspect`` (0.03 = 3 %)."""
    return abs((width / height) / aspect - 1.0)


def size_within_tolerance(width: int, height: int, aspect: float) -> bool:
    """Whether the size keeps the aspect within ``ASPECT_TOLERANCE`` (callers warn when it does not)."""
    return aspect_error(width, height, aspect) <= ASPECT_TOLERANCE + 1e-12


def _check_aspect(aspect: float) -> None:
    if not isinstance(aspect, (int, float)) or not math.isfinite(aspect) or aspect <= 0:
        raise ValueError(f"aspect must be a positive finite width/height ratio, got {aspect!r}")


def _check_budget(pixel_budget: int) -> None:
    smallest = SPATIAL_MULTIPLE * SPATIAL_MULTIPLE
    numeric = isinstance(pixel_budget, (int, float)) and not isinstance(pixel_budget, bool)
    if not numeric or not math.isfinite(pixel_budget) or pixel_budget < smallest:
        raise ValueError(
            f"pixel_budget must be at least {smallest} ({SPATIAL_MULTIPLE}x{SPATIAL_MULTIPLE}), "
            f"got {pixel_budget!r}; raise the pixel budget"
        )


def choose_size(aspect: float, pixel_budget: int = DEFAULT_PIXEL_BUDGET) -> tuple[int, int]:
    """The largest (width, height), multiples of 32 with width*height <= pixel_budget, whose aspect is
    within ``ASPECT_TOLERANCE`` of ``aspect``; ties go to the smaller aspect error.

    When no size meets the tolerance (an extreme aspect for the budget), the size with the closest
    aspect is returned (largest area among equals); check it with ``size_within_tolerance`` and warn.
    """
    _check_aspect(aspect)
    _check_budget(pixel_budget)
    m = SPATIAL_MULTIPLE
    best_ok: tuple[int, float, int, int] | None = None  # (area, -error, w, h): max wins
    best_any: tuple[float, int, int, int] | None = None  # (-error, area, w, h): max wins
    for h in range(m, int(pixel_budget // m) + 1, m):
        w_max = int(pixel_budget // h) // m * m
        if w_max < m:
            break
        ideal = aspect * h
        # Only the two multiples of 32 around the ideal width can be closest in aspect for this height.
        lo = max(m, min(w_max, int(ideal // m) * m))
        for w in {lo, min(w_max, lo + m)}:
            err = aspect_error(w, h, aspect)
            area = w * h
            if err <= ASPECT_TOLERANCE + 1e-12:
                cand = (area, -err, w, h)
                if best_ok is None or cand > best_ok:
                    best_ok = cand
            cand_any = (-err, area, w, h)
            if best_any is None or cand_any > best_any:
                best_any = cand_any
    if best_ok is not None:
        return best_ok[2], best_ok[3]
    assert best_any is not None  # the budget admits 32x32, so the loop ran at least once
    return best_any[2], best_any[3]


def split_frames(frame_start: int, length: int, max_frames: int = DEFAULT_MAX_FRAMES) -> list[Segment]:
    """Scene frame ranges of at most ``max_frames`` each, as few as possible and of balanced lengths
    (the first ones one frame longer when the length does not divide evenly)."""
    count = math.ceil(length / max_frames)
    base, extra = divmod(length, count)
    segments = []
    start = frame_start
    for i in range(count):
        n = base + (1 if i < extra else 0)
        segments.append(Segment(frame_start=start, frame_end=start + n - 1, num_frames=num_frames_for(n)))
        start += n
    return segments


def generation_grid(
    length: int,
    aspect: float,
    frame_rate: float,
    frame_start: int,
    pixel_budget: int = DEFAULT_PIXEL_BUDGET,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> GenerationGrid:
    """The grid for a shot of ``length`` frames starting at scene frame ``frame_start``.

    ``num_frames`` is the first segment's (the only one unless the shot is longer than ``max_frames``).
    """
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise ValueError(f"a shot needs at least one frame, got length {length!r}")
    if not isinstance(frame_start, int) or isinstance(frame_start, bool):
        raise ValueError(f"frame_start must be an integer scene frame, got {frame_start!r}")
    if not isinstance(frame_rate, (int, float)) or not math.isfinite(frame_rate) or frame_rate <= 0:
        raise ValueError(f"frame_rate must be a positive number of frames per second, got {frame_rate!r}")
    if not isinstance(max_frames, int) or isinstance(max_frames, bool) or not is_valid_num_frames(max_frames):
        raise ValueError(f"max_frames must be 8k+1 (9, 17, ..., 257) but is {max_frames!r}")
    width, height = choose_size(aspect, pixel_budget)
    segments = split_frames(frame_start, length, max_frames)
    return GenerationGrid(
        num_frames=segments[0].num_frames,
        width=width,
        height=height,
        frame_rate=float(frame_rate),
        segments=segments,
    )
