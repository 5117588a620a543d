"""The Motion-Track reference drawing, pixel by pixel on small cases
(server.generation.control.tracks_draw)."""

from __future__ import annotations

import numpy as np
import pytest

from server.generation.control.tracks_draw import draw_frame, draw_tracks

BLUE, GREEN, YELLOW, RED, BLACK = (255, 0, 0), (0, 255, 0), (0, 255, 255), (0, 0, 255), (0, 0, 0)  # BGR


def _line(n: int, step: float, y: float = 50.0, x0: float = 10.0) -> np.ndarray:
    """One track moving right by ``step`` px a frame: (n, 1, 2)."""
    return np.array([[[x0 + step * k, y]] for k in range(n)], dtype=float)


def test_colour_runs_blue_green_yellow_red_in_bgr_order():
    # Four-position trail: freshness 0, 1/3, 2/3, 1 exactly at ages 3, 2, 1, 0.
    tracks = _line(4, 40.0)
    img = draw_frame(tracks, 3, 200, 100, short_side=100, trail=4)
    assert [tuple(img[50, x]) for x in (10, 50, 90, 130)] == [BLUE, GREEN, YELLOW, RED]
    assert tuple(img[50, 170]) == BLACK and tuple(img[20, 130]) == BLACK


def test_dot_radius_grows_from_2_to_8_and_trail_is_50_positions():
    tracks = _line(60, 20.0)
    img = draw_frame(tracks, 59, 1300, 100, short_side=100)
    newest, oldest, gone = 10 + 20 * 59, 10 + 20 * 10, 10 + 20 * 9
    # Newest: radius 8, red; the dot spans 8 px each side of its centre and no further.
    assert tuple(img[50, newest]) == RED
    assert tuple(img[50, newest + 8]) == RED and tuple(img[50, newest + 9]) == BLACK
    assert tuple(img[50 - 8, newest]) == RED and tuple(img[50 - 9, newest]) == BLACK
    # Oldest in the trail (49 frames back): radius 2, blue.
    assert tuple(img[50, oldest]) == BLUE
    assert tuple(img[52, oldest]) == BLUE and tuple(img[53, oldest]) == BLACK
    # 50 frames back is no longer drawn.
    assert tuple(img[50, gone]) == BLACK
    lit_columns = np.flatnonzero(img[50].any(axis=1))
    assert lit_columns.min() == oldest - 2 and lit_columns.max() == newest + 8


def test_ended_tracks_are_not_drawn_and_live_ones_are():
    tracks = np.concatenate([_line(5, 10.0, y=30.0), _line(5, 10.0, y=70.0)], axis=1)
    tracks[3:, 0] = np.nan  # the first track ends at frame 3
    video = draw_tracks(tracks, 100, 100, short_side=100)
    assert video.shape == (5, 100, 100, 3) and video.dtype == np.uint8
    assert tuple(video[2, 30, 30]) == RED and not video[4, 20:40].any()
    assert tuple(video[4, 70, 50]) == RED


def test_drawn_on_a_1080_canvas_then_resized():
    tracks = _line(3, 8.0, y=32.0, x0=20.0)
    video = draw_tracks(tracks, 96, 64)
    assert video.shape == (3, 64, 96, 3)
    # A radius-8 dot on the 1080 canvas is under half a pixel here: it blends into a dim red pixel.
    px = video[2, 32, 36].astype(int)
    assert px[2] > 0 and px[2] > px[0] and px[2] < 255
    assert not video[2, :, 60:].any()


def test_bad_shape_is_refused():
    with pytest.raises(ValueError, match="frames x points x 2"):
        draw_tracks(np.zeros((3, 2)), 64, 64)
