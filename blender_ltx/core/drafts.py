"""Draft, then final, the pure rules the add-on needs (no bpy).

A draft is made at the final width and height divided by the model's draft divisor, on the model's 32-pixel
grid, so a final size must be a multiple of grid x divisor each way: 64 for LTX-Video and LTX-2 (half size),
32 for SANA-WM (its draft is at the final size). The connected server says which in its health
(``recipe.draft``: ``divisor``, and ``size_multiple`` where the family names the final's multiple);
``final_multiple`` reads it. ``final_size`` moves a planned size (a multiple of 32 within the pixel budget) to
the nearest such size that keeps the budget; the clip is fitted into the shot's frame in the VSE either way.
"""

from __future__ import annotations

from typing import Any

from .protocol import SPATIAL_MULTIPLE

#: The draft divisor assumed where the server was not asked yet (LTX-Video's and LTX-2's half size).
DEFAULT_DIVISOR = 2
#: What a final width and height must be multiples of for that divisor: the 32-pixel grid times 2.
FINAL_MULTIPLE = SPATIAL_MULTIPLE * DEFAULT_DIVISOR


def final_multiple(health: dict[str, Any] | None) -> int:
    """What a draft's final width and height must be multiples of on the server whose health is ``health``:
    its ``recipe.draft.size_multiple``, else the 32-pixel grid times its ``recipe.draft.divisor``; 64
    (today's half-size rule) where the health is unknown or has no recipe. Raises ValueError (one sentence)
    when the recipe says the server makes no drafts."""
    recipe = (health or {}).get("recipe")
    if not isinstance(recipe, dict):
        return FINAL_MULTIPLE
    draft = recipe.get("draft")
    if not isinstance(draft, dict):
        why = recipe.get("why_not") or "its model has no two-stage recipe"
        model = (health or {}).get("model") or "a model"
        raise ValueError(f"The server runs {model}, which makes no drafts ({why}); use Generate instead.")
    multiple = draft.get("size_multiple")
    if isinstance(multiple, int) and not isinstance(multiple, bool) and multiple > 0:
        return max(SPATIAL_MULTIPLE, multiple)
    divisor = draft.get("divisor", DEFAULT_DIVISOR)
    if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor < 1:
        divisor = DEFAULT_DIVISOR
    return SPATIAL_MULTIPLE * divisor


def final_size(width: int, height: int, pixel_budget: int, multiple: int = FINAL_MULTIPLE) -> tuple[int, int]:
    """The size nearest ``width`` x ``height`` whose sides are multiples of ``multiple`` (``final_multiple``)
    and whose area stays within ``pixel_budget`` (a side is rounded down when rounding to the nearest would
    exceed it)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"A shot of {width}x{height} pixels has no draft size: check its resolution.")
    m = multiple

    def near(v: int) -> int:
        return max(m, (v + m // 2 - 1) // m * m)

    def down(v: int) -> int:
        return max(m, v // m * m)

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
