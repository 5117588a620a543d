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


LTX2_HEALTH = {"model": "tiny-ltx2", "recipe": {"draft": {"divisor": 2, "size_multiple": 64}}}
SANA_HEALTH = {"model": "tiny-sana-wm", "recipe": {"draft": {"divisor": 1, "model_width": 128}}}


@pytest.mark.parametrize(
    "health, multiple",
    [
        (None, 64),  # never asked: today's half-size rule
        ({"model": "old"}, 64),  # a server from before recipes
        (LTX2_HEALTH, 64),
        (SANA_HEALTH, 32),  # the draft is at the final size: the planned 32-pixel grid stands
        ({"recipe": {"draft": {"divisor": 4}}}, 128),  # a quarter-size draft, no size_multiple named
        ({"recipe": {"draft": {"divisor": 2, "size_multiple": 96}}}, 96),  # the family's own multiple wins
    ],
)
def test_the_final_multiple_follows_the_servers_recipe(health, multiple):
    from blender_ltx.core.drafts import final_multiple

    assert final_multiple(health) == multiple


def test_a_sana_wm_draft_keeps_the_planned_size():
    from blender_ltx.core.drafts import final_multiple

    assert final_size(160, 96, 160 * 96, final_multiple(SANA_HEALTH)) == (160, 96)
    assert final_size(160, 96, 160 * 96) == (128, 64)  # the half-size rule would have shrunk it


def test_a_server_without_a_draft_recipe_says_so():
    from blender_ltx.core.drafts import final_multiple

    health = {"model": "m", "recipe": {"draft": None, "why_not": "no latent upsampler was found"}}
    why = r"runs m, which makes no drafts \(no latent upsampler was found\); use Generate instead"
    with pytest.raises(ValueError, match=why):
        final_multiple(health)
