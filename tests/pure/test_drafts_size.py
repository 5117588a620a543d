"""The final size of a draft take: multiples of 64 (a half-size draft stays on the 32-pixel grid), nearest
the planned size, within the pixel budget."""

from __future__ import annotations

import pytest

from blender_ltx.core.drafts import final_size


@pytest.mark.parametrize(
    "planned, budget, expected",
    [
        ((768, 512), 768 * 512, (768, 512)),  # already on the grid
        ((832, 480), 768 * 512, (832, 448)),  # 480 -> 512 would exceed the budget: rounded down
        ((736, 416), 768 * 512, (704, 384)),  # halfway each way: ties go down
        ((800, 448), 768 * 512, (768, 448)),  # nearest: 800 -> 768
        ((96, 64), 768 * 512, (64, 64)),
        ((1280, 704), 1280 * 736, (1280, 704)),
    ],
)
def test_final_size_is_on_the_64_grid_within_the_budget(planned, budget, expected):
    w, h = final_size(*planned, budget)
    assert (w, h) == expected
    assert w % 64 == 0 and h % 64 == 0 and w * h <= budget


def test_no_size_fits_a_tiny_budget():
    with pytest.raises(ValueError, match="raise the budget to at least 4096"):
        final_size(64, 64, 1000)
