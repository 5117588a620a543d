"""core.tracks.project_points agrees with Blender's own world_to_camera_view to 0.01 px."""

from __future__ import annotations

import numpy as np
import pytest
import scenes
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from blender_ltx import plan_scene
from blender_ltx.core.tracks import project_points

TOL_PX = 0.01

# (render size, lens, sensor fit, sensor w/h, shift x/y, move)
CAMERAS = {
    "landscape_auto": ((1920, 1080), 50.0, "AUTO", (36.0, 24.0), (0.0, 0.0), "dolly_in+pan_left"),
    "portrait_auto": ((1080, 1920), 35.0, "AUTO", (36.0, 24.0), (0.1, -0.05), "truck_right+tilt_up"),
    "landscape_vertical_shift": ((1280, 720), 85.0, "VERTICAL", (30.0, 20.0), (-0.2, 0.15), "roll_left"),
    "portrait_horiz": ((720, 1280), 24.0, "HORIZONTAL", (36.0, 24.0), (0.05, 0.3), "zoom_in+pedestal_up"),
    "square_wide": ((1000, 1000), 18.0, "AUTO", (23.0, 15.0), (0.0, 0.0), "orbit_left"),
}


def _points() -> np.ndarray:
    rng = np.random.default_rng(7)
    ahead = rng.uniform([-6, -4, -2], [6, 12, 5], size=(40, 3))
    behind = np.array([[0.0, -14.0, 1.5], [3.0, -20.0, 0.0], [-2.0, -11.0, 4.0]])  # behind REST_POS
    return np.vstack([ahead, behind])


@pytest.mark.parametrize("name", sorted(CAMERAS))
def test_project_points_matches_world_to_camera_view(scene, name):
    (rx, ry), lens, fit, (sw, sh), (shx, shy), move = CAMERAS[name]
    scenes.set_range(scene, 1, 12)
    scene.render.resolution_x, scene.render.resolution_y = rx, ry
    cam = scenes.add_camera(scene, "Cam", lens=lens)
    cam.data.sensor_fit, cam.data.sensor_width, cam.data.sensor_height = fit, sw, sh
    cam.data.shift_x, cam.data.shift_y = shx, shy
    if move == "orbit_left":
        cam.location = (0.0, -10.0, 1.5)
        scenes.key_pose(cam, 1, location=(0.0, -10.0, 1.5))
        scenes.key_pose(cam, 12, location=(-7.0, -7.5, 1.5), yaw=-40.0)
    else:
        scenes.add_move(cam, move, 1, 12, base_lens=lens)
    plan = plan_scene(scene)
    shot = plan.shots[0]
    width, height = shot.generation.width, shot.generation.height
    pts = _points()
    got = project_points(shot.trajectory, pts, width, height)
    assert got.shape == (len(shot.trajectory), len(pts), 2)

    behind_seen = near_frame = 0
    for i, frame in enumerate(shot.trajectory.frames):
        scene.frame_set(frame)
        for j, p in enumerate(pts):
            ndc = world_to_camera_view(scene, cam, Vector(p))
            if ndc.z <= 0.0:
                assert np.isnan(got[i, j]).all(), f"{name} frame {frame} point {j}: behind but projected"
                behind_seen += 1
                continue
            want = np.array([ndc.x * width, (1.0 - ndc.y) * height])
            err = np.abs(got[i, j] - want).max()
            # Blender computes in float32: far outside the frame (a point grazing the camera plane lands
            # tens of thousands of pixels away) only its relative precision can be asked for.
            scale = max(1.0, float(np.abs(want).max()) / (2.0 * max(width, height)))
            near_frame += scale == 1.0
            assert err < TOL_PX * scale, f"{name} frame {frame} point {j}: off by {err:.4f} px"
    assert behind_seen > 0 and near_frame > 100  # both cases are exercised
    # The camera moves and the points move with it in the image (a constant answer would not pass).
    assert np.nanmax(np.abs(got[-1] - got[0])) > 5.0
