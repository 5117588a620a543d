"""Camera poses for camera-conditioned models (core.poses): convention, intrinsics, resampling, scale."""

from __future__ import annotations

import math

import numpy as np
import pytest

from blender_ltx.core.poses import (
    METRIC_DEPTH_RANGE_M,
    camera_poses,
    intrinsics,
    pose_scale,
    relative_poses,
    resample,
    retime,
)
from blender_ltx.core.shots import Trajectory
from blender_ltx.core.tracks import project_points
from blender_ltx.core.trajectory import look_at_matrix

W, H = 320, 180


def _traj(positions, targets, lens=50.0, **kw) -> Trajectory:
    mats = [look_at_matrix(p, t).reshape(-1).tolist() for p, t in zip(positions, targets, strict=True)]
    lenses = list(lens) if np.ndim(lens) else [float(lens)] * len(mats)
    kw.setdefault("aspect", W / H)
    return Trajectory(frames=list(range(len(mats))), matrix_world=mats, lens_mm=lenses, **kw)


def _ray_miss(c2w, intr, pixel, point) -> float:
    """Distance of ``point`` from the ray through ``pixel``, relative to the point's distance."""
    fx, fy, cx, cy = intr
    d = c2w[:3, :3] @ np.array([(pixel[0] - cx) / fx, (pixel[1] - cy) / fy, 1.0])
    d /= np.linalg.norm(d)
    rel = np.asarray(point) - c2w[:3, 3]
    assert rel @ d > 0
    return float(np.linalg.norm(rel - (rel @ d) * d) / np.linalg.norm(rel))


def test_rotations_are_proper_and_axes_are_opencv():
    # A camera at the origin looking down world +Y (Blender: local -Z along +Y, local +Y up along +Z).
    traj = _traj([(0, 0, 0)], [(0, 5, 0)])
    c2w, _ = camera_poses(traj, W, H)
    r = c2w[0, :3, :3]
    np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(r[:, 0], [1, 0, 0], atol=1e-12)  # +X right is world +X
    np.testing.assert_allclose(r[:, 1], [0, 0, -1], atol=1e-12)  # +Y down is world -Z
    np.testing.assert_allclose(r[:, 2], [0, 1, 0], atol=1e-12)  # +Z forward is world +Y


def test_blender_default_camera_looks_down_world_minus_z():
    # Blender's identity camera looks down its -Z; in OpenCV axes forward is then world -Z, down is -Y.
    traj = Trajectory(frames=[0], matrix_world=[np.eye(4).reshape(-1).tolist()], lens_mm=[50.0])
    c2w, _ = camera_poses(traj, W, H)
    np.testing.assert_allclose(c2w[0, :3, :3], np.diag([1.0, -1.0, -1.0]), atol=1e-12)


def test_scaled_and_sheared_camera_gets_a_rigid_rotation():
    m = look_at_matrix((1, 2, 3), (4, 5, 1))
    m[:3, :3] = m[:3, :3] @ np.diag([2.0, 0.5, 3.0])
    traj = Trajectory(frames=[0], matrix_world=[m.reshape(-1).tolist()], lens_mm=[35.0])
    r = camera_poses(traj, W, H)[0][0, :3, :3]
    np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)


def test_scale_multiplies_translation_only():
    traj = _traj([(1, -2, 3), (2, -1, 3.5)], [(0, 5, 1), (1, 5, 2)])
    c2w, intr = camera_poses(traj, W, H)
    c2w_s, intr_s = camera_poses(traj, W, H, scale=0.25)
    np.testing.assert_allclose(c2w_s[:, :3, 3], 0.25 * c2w[:, :3, 3])
    np.testing.assert_array_equal(c2w_s[:, :3, :3], c2w[:, :3, :3])
    np.testing.assert_array_equal(intr_s, intr)


def test_points_lie_on_the_rays_of_the_pixels_project_points_gives():
    # The same camera model as the Motion-Track tracks: their pixel (corner origin) minus half a pixel.
    rng = np.random.default_rng(3)
    for fit, aspect, shift in [
        ("AUTO", W / H, (0.1, -0.05)),
        ("AUTO", 0.6, (0.0, 0.2)),
        ("VERTICAL", 2.39, (-0.2, 0.1)),
    ]:
        traj = _traj(
            [(1, -3, 2)],
            [(2, 4, 1)],
            lens=28.0,
            sensor_fit=fit,
            aspect=aspect,
            shift_x=shift[0],
            shift_y=shift[1],
        )
        c2w, intr = camera_poses(traj, W, H)
        pts = c2w[0, :3, 3] + (c2w[0, :3, :3] @ np.c_[rng.uniform(-2, 2, (20, 2)), rng.uniform(1, 9, 20)].T).T
        px = project_points(traj, pts, W, H)[0] - 0.5
        for p, x in zip(pts, px, strict=True):
            assert _ray_miss(c2w[0], intr[0], x, p) < 1e-12


def test_animated_lens_gives_per_frame_focal_length():
    traj = _traj([(0, 0, 0)] * 3, [(0, 1, 0)] * 3, lens=[25.0, 50.0, 100.0], sensor_width_mm=36.0)
    intr = intrinsics(traj, W, H)
    np.testing.assert_allclose(intr[:, 0], [25 / 36 * W, 50 / 36 * W, 100 / 36 * W])
    np.testing.assert_allclose(intr[:, 1], intr[:, 0])  # square pixels: W / H is the aspect
    np.testing.assert_allclose(intr[:, 2:], [[(W - 1) / 2, (H - 1) / 2]] * 3)


def test_shift_moves_the_principal_point_the_way_the_image_moves():
    # Shift X > 0 moves the frame right over the scene, so the optical axis lands left of centre;
    # shift Y > 0 moves the frame up, so the axis lands below centre (pixel y grows downward).
    base = intrinsics(_traj([(0, 0, 0)], [(0, 1, 0)]), W, H)[0]
    shifted = intrinsics(_traj([(0, 0, 0)], [(0, 1, 0)], shift_x=0.1, shift_y=0.1), W, H)[0]
    assert shifted[2] == pytest.approx(base[2] - 0.1 * W)
    assert shifted[3] == pytest.approx(base[3] + 0.1 * W)  # shift is in units of the fitted width
    portrait = intrinsics(_traj([(0, 0, 0)], [(0, 1, 0)], shift_y=0.1, aspect=H / W), H, W)[0]
    assert portrait[3] == pytest.approx((W - 1) / 2 + 0.1 * W)  # AUTO portrait: fitted to the height


def test_non_square_frame_keeps_the_aspect_in_the_focal_lengths():
    # A 2:1 render asked at 320 x 320: each axis stretched on its own, fy = 2 fx.
    fx, fy, _, _ = intrinsics(_traj([(0, 0, 0)], [(0, 1, 0)], aspect=2.0), 320, 320)[0]
    assert fy == pytest.approx(2 * fx)


def test_orthographic_camera_is_refused_with_a_sentence():
    traj = _traj([(0, 0, 0)], [(0, 1, 0)], camera_type="ORTHO", ortho_scale=[6.0])
    with pytest.raises(ValueError, match="orthographic.*Perspective"):
        camera_poses(traj, W, H)


@pytest.mark.parametrize("size", [(0, 180), (320.5, 180), (320, -1)])
def test_bad_sizes_and_scales_are_refused(size):
    traj = _traj([(0, 0, 0)], [(0, 1, 0)])
    with pytest.raises(ValueError, match="width and height"):
        camera_poses(traj, *size)
    for bad in (0.0, -1, float("nan"), "big", True):
        with pytest.raises(ValueError, match="scale must be a number above 0"):
            camera_poses(traj, W, H, scale=bad)
    assert camera_poses(traj, W, H, scale=np.float32(0.5))[0][0, 3, 3] == 1.0


def test_relative_poses_start_at_identity_and_keep_the_motion():
    traj = _traj([(1, 2, 3), (1.5, 2.5, 3), (2, 3, 4)], [(0, 9, 1), (2, 9, 1), (3, 8, 5)])
    c2w, _ = camera_poses(traj, W, H)
    rel = relative_poses(c2w)
    np.testing.assert_allclose(rel[0], np.eye(4), atol=1e-12)
    np.testing.assert_allclose(c2w[0] @ rel, c2w, atol=1e-12)
    # Relative poses do not depend on where the shot started: the same path moved elsewhere gives them.
    moved = c2w.copy()
    moved[:, :3, 3] += [10, -4, 2]
    np.testing.assert_allclose(relative_poses(moved), rel, atol=1e-12)


def test_resample_endpoints_are_exact_and_midpoints_halfway():
    traj = _traj(
        [(0, 0, 0), (2, 0, 0), (2, 4, 0)], [(0, 5, 0), (-5, 0, 0), (-5, 4, 3)], lens=[24.0, 48.0, 30.0]
    )
    c2w, intr = camera_poses(traj, W, H)
    at, at_intr = resample(c2w, intr, [0, 1, 2])
    np.testing.assert_allclose(at, c2w, atol=1e-12)
    np.testing.assert_allclose(at_intr, intr, atol=1e-12)
    mid, mid_intr = resample(c2w, intr, [0.5, 1.25])
    np.testing.assert_allclose(mid[0, :3, 3], [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(mid_intr[0], (intr[0] + intr[1]) / 2)
    np.testing.assert_allclose(mid_intr[1], 0.75 * intr[1] + 0.25 * intr[2])
    # Between a camera facing +Y and one facing -X (a 90 degree pan left), halfway faces 45 degrees.
    fwd = mid[0, :3, 2]
    np.testing.assert_allclose(fwd, [-math.sqrt(0.5), math.sqrt(0.5), 0], atol=1e-12)
    for r in mid[:, :3, :3]:
        np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)


def test_resample_turns_the_short_way_and_through_half_turns():
    # A 170 degree roll about the view axis: halfway is 85 degrees, not 95 the long way round.
    angles = [0.0, math.radians(170.0), math.radians(180.0)]
    c2w = np.tile(np.eye(4), (3, 1, 1))
    for i, a in enumerate(angles):
        c2w[i, :2, :2] = [[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]
    mid, _ = resample(c2w, np.ones((3, 4)), [0.5, 1.5])
    assert math.degrees(math.atan2(mid[0, 1, 0], mid[0, 0, 0])) == pytest.approx(85.0)
    assert math.degrees(math.atan2(mid[1, 1, 0], mid[1, 0, 0])) == pytest.approx(175.0)


def test_resample_refuses_times_outside_the_samples():
    c2w, intr = np.tile(np.eye(4), (2, 1, 1)), np.ones((2, 4))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        resample(c2w, intr, [0.0, 1.5])


def test_retime_spans_the_shot_at_the_model_rate():
    t = retime(49, 24.0, 16.0)  # 2 s of scene frames: 33 model frames, 1.5 scene frames apart
    assert len(t) == 33 and t[0] == 0 and t[-1] == 48
    np.testing.assert_allclose(np.diff(t), 1.5)
    assert len(retime(1, 25.0, 16.0)) == 1
    t25 = retime(101, 25.0, 16.0)
    assert t25[-1] == 100 and len(t25) == 65


def test_pose_scale_keeps_real_sized_scenes_and_brings_others_into_range():
    near, far = METRIC_DEPTH_RANGE_M
    scale, how = pose_scale(7.4)
    assert scale == 1.0 and "median depth 7.4 m" in how
    scale, _ = pose_scale(7.4, metres_per_unit=0.01)  # a scene in centimetres: 7.4 cm deep
    assert 7.4 * scale == pytest.approx(near)  # 7.4 units times the scale: the model's metres
    scale, how = pose_scale(5000.0)
    assert 5000.0 * scale == pytest.approx(far) and f"{far:g} m" in how
    assert pose_scale(None) == (1.0, "nothing in the first frame to measure: scene units taken as metres")


def test_pose_scale_override_wins_and_bad_ones_are_refused():
    assert pose_scale(7.4, override=0.31) == (0.31, "set on the shot")
    assert pose_scale(None, override=2.0)[1] == "set on the shot"
    with pytest.raises(ValueError, match="Pose Scale must be a number above 0"):
        pose_scale(7.4, override=-1.0)
