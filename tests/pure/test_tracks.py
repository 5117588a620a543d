"""Track-point choice and track ending (core.tracks), on a plain camera looking down +Y."""

from __future__ import annotations

import numpy as np

from blender_ltx.core.shots import Trajectory
from blender_ltx.core.tracks import (
    choose_track_points,
    end_tracks,
    farthest_point_sample,
    project_points,
    to_json_tracks,
    tracks_for,
)
from blender_ltx.core.trajectory import look_at_matrix

W, H = 320, 180


def _traj(xs) -> Trajectory:
    """A camera at (x, -10, 0) looking along +Y for each x (a truck), 36 mm sensor, 36 mm lens."""
    mats = [look_at_matrix((x, -10.0, 0.0), (x, 0.0, 0.0)).reshape(-1).tolist() for x in xs]
    return Trajectory(frames=list(range(len(xs))), matrix_world=mats, lens_mm=[36.0] * len(xs), aspect=W / H)


def test_centre_point_lands_mid_frame_and_edges_on_the_border():
    # Lens = sensor width: the horizontal half-width at distance 10 is 5.
    px = project_points(_traj([0.0]), [[0, 0, 0], [5, 0, 0], [0, 0, 5 * H / W], [0, -20, 0]], W, H)[0]
    np.testing.assert_allclose(px[:3], [[W / 2, H / 2], [W, H / 2], [W / 2, 0]], atol=1e-9)
    assert np.isnan(px[3]).all()  # behind the camera


def test_tracks_end_when_leaving_the_frame_and_stay_ended():
    # The camera trucks right past a point and back: the point leaves at the left edge, comes back.
    traj = _traj([0, 2, 4, 6, 4, 2, 0])
    raw = project_points(traj, [[0, 0, 0], [3, 0, 0]], W, H)
    assert np.isfinite(raw[:, 0]).all() and raw[3, 0, 0] < 0 and raw[6, 0, 0] == W / 2
    ended = end_tracks(raw, W, H)
    assert np.isfinite(ended[:3, 0]).all() and np.isnan(ended[3:, 0]).all()
    assert np.isfinite(ended[:, 1]).all()  # the other point stays in view throughout


def test_tracks_end_behind_the_camera():
    traj = _traj([0.0, 0.0])
    traj.matrix_world[1] = look_at_matrix((0, -10, 0), (0, -20, 0)).reshape(-1).tolist()  # turned round
    ended = end_tracks(project_points(traj, [[0, 0, 0]], W, H), W, H)
    assert np.isfinite(ended[0]).all() and np.isnan(ended[1]).all()


def test_farthest_point_sampling_spreads_over_the_frame():
    rng = np.random.default_rng(1)
    # A dense blob in one corner and four lone points: all four lone ones are among the first picks.
    blob = rng.normal([10, 10], 2.0, size=(200, 2))
    lone = np.array([[300, 10], [300, 170], [10, 170], [160, 90]])
    pts = np.vstack([blob, lone])
    picked = farthest_point_sample(pts, 6)
    assert len(set(picked.tolist())) == 6
    assert set(range(200, 204)) <= set(picked.tolist())
    assert farthest_point_sample(np.zeros((5, 2)), 3).tolist() == [0]  # duplicates give one point


def test_choice_keeps_points_the_first_frame_sees():
    traj = _traj([0.0, 1.0])
    inside = [[x, 0.0, z] for x in np.linspace(-4, 4, 9) for z in np.linspace(-2, 2, 5)]
    outside = [[40.0, 0.0, 0.0], [0.0, -30.0, 0.0]]  # off to the side; behind
    chosen = choose_track_points(traj, inside + outside, W, H, count=12)
    assert len(chosen) == 12
    assert not any(np.allclose(c, o) for c in chosen for o in outside)
    px = project_points(traj, chosen, W, H)[0]
    all_px = project_points(traj, inside, W, H)[0]
    np.testing.assert_allclose(np.ptp(px, axis=0), np.ptp(all_px, axis=0))  # spread to the extremes


def test_tracks_for_gives_json_ready_numbers():
    traj = _traj([0, 3, 6, 9])
    tracks = tracks_for(traj, [[-4, 0, 0], [4, 0, 0]], W, H, count=2)
    assert tracks.shape == (4, 2, 2)
    data = to_json_tracks(tracks)
    assert len(data) == 4 and all(len(f) == 2 for f in data)
    assert any(p is None for f in data for p in f)  # the left point leaves and its track ends
    assert all(p is None or (isinstance(p, list) and len(p) == 2) for f in data for p in f)
