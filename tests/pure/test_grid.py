"""Generation grid rules: 8k+1 frames, 32-multiple sizes within 3 % of the aspect and the pixel budget,
long shots split into balanced segments."""

from __future__ import annotations

import pytest

from blender_ltx.core.grid import (
    ASPECT_TOLERANCE,
    aspect_error,
    choose_size,
    generation_grid,
    size_within_tolerance,
)
from blender_ltx.core.protocol import DEFAULT_MAX_FRAMES, DEFAULT_PIXEL_BUDGET, check_num_frames, check_size
from blender_ltx.core.shots import GenerationGrid

ASPECTS = [16 / 9, 1.5, 4 / 3, 1.0, 2.39, 1.85, 2.0, 9 / 16, 2 / 3, 0.5, 21 / 9, 1920 / 1080 * 1.1]


@pytest.mark.parametrize("aspect", ASPECTS)
@pytest.mark.parametrize("budget", [DEFAULT_PIXEL_BUDGET, 512 * 512, 1280 * 720, 64 * 64])
def test_size_rules(aspect, budget):
    w, h = choose_size(aspect, budget)
    assert w % 32 == 0 and h % 32 == 0 and w >= 32 and h >= 32
    assert w * h <= budget
    check_size(w, h, budget)  # the server's own rule agrees
    # Brute force over every 32-multiple size in the budget.
    sizes = [(ww, hh) for hh in range(32, budget // 32 + 1, 32) for ww in range(32, budget // hh + 1, 32)]
    ok = [s for s in sizes if size_within_tolerance(*s, aspect)]
    if ok:
        assert aspect_error(w, h, aspect) <= ASPECT_TOLERANCE
        assert w * h == max(ww * hh for ww, hh in ok)
    else:
        assert aspect_error(w, h, aspect) == min(aspect_error(ww, hh, aspect) for ww, hh in sizes)
    if budget >= 512 * 512:
        assert ok, "every usual aspect fits within 3 % at a real budget"


def test_default_sixteen_nine():
    w, h = choose_size(16 / 9)
    assert (w, h) == (800, 448)
    assert choose_size(1.5) == (768, 512)  # the budget itself is 768x512


def test_extreme_aspect_takes_the_closest_and_reports_the_error():
    w, h = choose_size(1000.0)
    assert (w, h) == (DEFAULT_PIXEL_BUDGET // 32, 32)
    assert not size_within_tolerance(w, h, 1000.0)
    assert aspect_error(w, h, 1000.0) == pytest.approx(1 - w / 32 / 1000)
    w, h = choose_size(1 / 1000)
    assert (w, h) == (32, DEFAULT_PIXEL_BUDGET // 32)
    # A small budget forces the square-ish minimum.
    assert choose_size(2.0, 32 * 32) == (32, 32)
    assert not size_within_tolerance(32, 32, 2.0)


@pytest.mark.parametrize(
    "length, num_frames", [(1, 1), (2, 9), (8, 9), (9, 9), (10, 17), (120, 121), (121, 121), (257, 257)]
)
def test_num_frames_is_the_smallest_covering_8k_plus_1(length, num_frames):
    g = generation_grid(length, 16 / 9, 24.0, 1)
    assert g.num_frames == num_frames
    assert len(g.segments) == 1
    seg = g.segments[0]
    assert (seg.frame_start, seg.frame_end, seg.num_frames) == (1, length, num_frames)
    check_num_frames(g.num_frames)


@pytest.mark.parametrize("length", [258, 300, 514, 515, 1000, 2571])
@pytest.mark.parametrize("max_frames", [DEFAULT_MAX_FRAMES, 121, 9])
def test_long_shots_split_into_balanced_segments(length, max_frames):
    g = generation_grid(length, 2.39, 23.976, 1001, max_frames=max_frames)
    segs = g.segments
    assert len(segs) == -(-length // max_frames)  # as few as possible
    assert segs[0].frame_start == 1001 and segs[-1].frame_end == 1001 + length - 1
    for a, b in zip(segs, segs[1:], strict=False):
        assert b.frame_start == a.frame_end + 1
    lengths = [s.frame_end - s.frame_start + 1 for s in segs]
    assert max(lengths) - min(lengths) <= 1
    for s, n in zip(segs, lengths, strict=True):
        assert n <= max_frames
        assert s.num_frames >= n and (s.num_frames - 1) % 8 == 0 and s.num_frames - n < 8
        check_num_frames(s.num_frames, max_frames)
    assert g.num_frames == segs[0].num_frames


def test_258_frames_split_in_halves():
    g = generation_grid(258, 16 / 9, 24, 0)
    assert [(s.frame_start, s.frame_end, s.num_frames) for s in g.segments] == [
        (0, 128, 129),
        (129, 257, 129),
    ]


def test_grid_fields_and_json_round_trip():
    g = generation_grid(100, 16 / 9, 24000 / 1001, -5, pixel_budget=512 * 512)
    assert (g.width, g.height, g.frame_rate) == (*choose_size(16 / 9, 512 * 512), 24000 / 1001)
    assert g.segments[0].frame_start == -5
    import dataclasses

    assert GenerationGrid.from_dict(dataclasses.asdict(g)) == g


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(length=0), "at least one frame"),
        (dict(length=-3), "at least one frame"),
        (dict(length=2.5), "at least one frame"),
        (dict(aspect=0), "aspect"),
        (dict(aspect=-1.5), "aspect"),
        (dict(aspect=float("nan")), "aspect"),
        (dict(pixel_budget=1023), "pixel_budget"),
        (dict(max_frames=256), "8k\\+1"),
        (dict(max_frames=0), "8k\\+1"),
        (dict(frame_rate=0), "frame_rate"),
        (dict(frame_start=1.5), "frame_start"),
    ],
)
def test_nonsense_is_refused(kwargs, match):
    args = dict(length=48, aspect=16 / 9, frame_rate=24.0, frame_start=1) | kwargs
    with pytest.raises(ValueError, match=match):
        generation_grid(**args)
