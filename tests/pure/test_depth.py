"""Depth normalization (core.depth): near bright, far dark, in 1/depth, one range for the whole shot."""

from __future__ import annotations

import numpy as np
import pytest

from blender_ltx.core.depth import depth_range, depth_video, normalize_depth

CLIP_END = 100.0


def _frame(plane: float, back: float | None, h: int = 8, w: int = 12) -> np.ndarray:
    """A plane at ``plane`` on the left half, a wall at ``back`` (or nothing: clip end) on the right."""
    d = np.full((h, w), CLIP_END if back is None else back)
    d[:, : w // 2] = plane
    return d


def test_plane_at_known_distance_gets_its_disparity_level():
    # Near 2, far 8: a plane at 4 is half way in 1/depth ((1/4 - 1/8) / (1/2 - 1/8) = 1/3).
    frames = np.stack([_frame(4.0, 8.0), _frame(2.0, 8.0)])
    near, far = depth_range(frames, CLIP_END)
    assert (near, far) == (2.0, 8.0)
    grey = normalize_depth(frames, near, far, CLIP_END)
    assert grey.dtype == np.uint8
    assert grey[0, 0, 0] == round(255 / 3) and grey[1, 0, 0] == 255 and grey[0, 0, -1] == 0


def test_an_object_keeps_its_grey_level_while_the_rest_of_the_shot_changes():
    # The plane stays at 4 while the background leaves the view (clip end: nothing hit) then returns.
    frames = np.stack([_frame(4.0, 10.0), _frame(4.0, None), _frame(4.0, 6.0)])
    video = depth_video(frames, CLIP_END)
    assert video.shape == (3, 8, 12, 3)
    plane = video[:, 0, 0, 0]
    assert plane[0] == plane[1] == plane[2] == 255  # the nearest thing of the shot
    assert video[1, 0, -1, 0] == 0  # nothing hit: black
    assert 0 < video[2, 0, -1, 0] < 255 and video[0, 0, -1, 0] == 0  # far end of the shot: black
    assert (video[..., 0] == video[..., 2]).all()  # grey


def test_flat_wall_alone_is_white_and_nothing_hit_is_an_error():
    grey = normalize_depth(np.full((1, 2, 2), 5.0), 5.0, 5.0)
    assert (grey == 255).all()
    with pytest.raises(ValueError, match="hits nothing"):
        depth_range(np.full((2, 2), CLIP_END), CLIP_END)
