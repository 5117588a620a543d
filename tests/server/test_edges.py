"""Canny edges of beauty frames (server.generation.control.edges): strong outlines in, faint steps out."""

from __future__ import annotations

import numpy as np

from server.generation.control.edges import canny_video


def test_outline_of_a_bright_square_and_nothing_for_a_faint_step():
    frame = np.zeros((64, 96, 3), dtype=np.uint8)
    frame[16:48, 16:48] = 255  # a white square: a strong edge
    frame[:, 70:] = 40  # a faint step (40/255 of a unit step) stays under the low threshold
    video = canny_video(np.stack([frame, frame[:, ::-1]]))
    assert video.shape == (2, 64, 96, 3) and video.dtype == np.uint8
    edges = video[0, ..., 0]
    assert set(np.unique(edges)) == {0, 255}
    ys, xs = np.nonzero(edges)
    assert 14 <= xs.min() <= 17 and 46 <= xs.max() <= 49 and 14 <= ys.min() <= 17 and 46 <= ys.max() <= 49
    assert not edges[24:40, 24:40].any()  # the inside of the square is flat
    assert not edges[:, 60:].any()  # the faint step gives no edge
    xs1 = np.nonzero(video[1, ..., 0])[1]  # the mirrored frame: its own square, no faint step
    assert 46 <= xs1.min() <= 49 and 78 <= xs1.max() <= 81
