"""Draft, then final, the pure rules the add-on needs (no bpy).

A draft is made at half the final width and height, on the model's 32-pixel grid, so a final size must be a
multiple of 64 each way. ``final_size`` moves a planned size (a multiple of 32 within the pixel budget) to
the nearest such size that keeps the budget; the clip is fitted into the shot's frame in the VSE either way.
"""

from __future__ import annotations

#: The draft's grid (32) times its divisor (2): what a final width and height must be multiples of.
FINAL_MULTIPLE = 64


def final_size(width: int, height: int, pixel_budget: int) -> tuple[int, int]:
    """The size nearest ``width`` x ``height`` whose sides are multiples of 64 and whose area stays within
    ``pixel_budget`` (a side is rounded down when rounding to the nearest would exceed it)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"A shot of {width}x{height} pixels has no draft size: check its resolution.")

    def near(v: int) -> int:
        return max(FINAL_MULTIPLE, (v + FINAL_MULTIPLE // 2 - 1) // FINAL_MULTIPLE * FINAL_MULTIPLE)

    def down(v: int) -> int:
        return max(FINAL_MULTIPLE, v // FINAL_MULTIPLE * FINAL_MULTIPLE)

    for w, h in ((near(width), near(height)), (near(width), down(height)), (down(width), near(height))):
        if w * h <= pixel_budget:
            return w, h
    w, h = down(width), down(height)
    if w * h > pixel_budget:
        raise ValueError(
            f"No draft size fits the pixel budget of {pixel_budget} for a {width}x{height} shot; raise the "
            f"budget to at least {w * h}."
        )
    return w, h
