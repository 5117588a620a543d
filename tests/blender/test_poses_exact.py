"""core.poses against Blender itself: every point in front of a camera lies on the ray that the pose and
intrinsics give for the pixel ``world_to_camera_view`` puts it at, on cameras drawn at random (fixed seed)
and sampled by the add-on's own plan; and the first frame's depth against planes at known distances."""

from __future__ import annotations

import math

import bpy
import numpy as np
import pytest
import scenes
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Euler, Vector

from blender_ltx import plan_scene
from blender_ltx.core.poses import camera_poses

SEED = 20260516
TOL = 1e-4  # of the point's distance
FRAMES = (1, 9)
CASES = 12


def _scene_depth():
    from blender_ltx.bl.plan import scene_depth

    return scene_depth


def _random_camera(scene, rng, case: int):
    """A camera with everything drawn at random: resolution (even cases landscape, odd portrait), pixel
    aspect, sensor, fit (cycling AUTO, HORIZONTAL, VERTICAL), shift, scale, and a keyed move and zoom."""
    long_side, short_side = int(rng.integers(640, 2400)), int(rng.integers(240, 1200))
    r = scene.render
    r.resolution_x, r.resolution_y = (long_side, short_side) if case % 2 == 0 else (short_side, long_side)
    r.resolution_percentage = 100
    r.pixel_aspect_x, r.pixel_aspect_y = (1.0, 1.0) if case % 3 == 1 else tuple(rng.uniform(0.6, 2.0, 2))
    cam = scenes.add_camera(scene, f"Random{case}")
    data = cam.data
    data.sensor_fit = ("AUTO", "HORIZONTAL", "VERTICAL")[case % 3]
    data.sensor_width, data.sensor_height = rng.uniform(6.0, 70.0), rng.uniform(5.0, 50.0)
    data.shift_x, data.shift_y = rng.uniform(-0.8, 0.8, 2)
    cam.rotation_mode = str(rng.choice(["XYZ", "ZXY", "YZX", "QUATERNION"]))
    cam.scale = tuple(rng.uniform(0.3, 3.0, 3))
    for f in FRAMES:
        scenes.key(cam, "location", f, Vector(rng.uniform(-20.0, 20.0, 3)))
        euler = Euler(rng.uniform(-math.pi, math.pi, 3))
        if cam.rotation_mode == "QUATERNION":
            scenes.key(cam, "rotation_quaternion", f, euler.to_quaternion())
        else:
            scenes.key(cam, "rotation_euler", f, euler)
        scenes.key(data, "lens", f, rng.uniform(8.0, 250.0), interpolation="BEZIER")
    return cam


def _rig_camera(scene, rng):
    """A camera under a rotated, non-uniformly scaled, moving empty, kept on a moving target by Track To."""
    parent = bpy.data.objects.new("Dolly", None)
    scene.collection.objects.link(parent)
    parent.scale = tuple(rng.uniform(0.4, 2.5, 3))
    target = bpy.data.objects.new("Target", None)
    scene.collection.objects.link(target)
    for f in FRAMES:
        scenes.key(parent, "location", f, Vector(rng.uniform(-5.0, 5.0, 3)))
        scenes.key(parent, "rotation_euler", f, Euler(rng.uniform(-1.0, 1.0, 3)))
        scenes.key(target, "location", f, Vector(rng.uniform(-3.0, 3.0, 3)) + Vector((0, 15, 0)))
    cam = scenes.add_camera(scene, "Rigged")
    cam.parent = parent
    cam.location = (1.0, -2.0, 0.5)
    cam.scale = (1.3, 0.7, 1.1)
    cam.data.lens = 42.0
    cam.data.shift_x, cam.data.shift_y = -0.15, 0.07
    con = cam.constraints.new("TRACK_TO")
    con.target = target
    con.track_axis, con.up_axis = "TRACK_NEGATIVE_Z", "UP_Y"
    return cam


def _worst_miss(scene, cam, traj, sizes, rng, scale: float = 1.0) -> float:
    """The largest distance, relative to the point's, of a random point in front of the camera from the
    ray of its pixel, over every frame of ``traj`` and every (width, height) in ``sizes``."""
    worst = 0.0
    for width, height in sizes:
        c2w, intr = camera_poses(traj, width, height, scale=scale)
        for i, frame in enumerate(traj.frames):
            scene.frame_set(frame)
            ev = cam.evaluated_get(bpy.context.evaluated_depsgraph_get())
            m = ev.matrix_world.normalized()
            fx, fy, cx, cy = intr[i]
            for _ in range(25):
                # Anywhere in front, inside the frame or well outside it, 0.2 to 300 units deep.
                depth = rng.uniform(0.2, 300.0)
                local = Vector((rng.uniform(-3, 3) * depth, rng.uniform(-3, 3) * depth, -depth))
                point = m @ local
                u, v, z = world_to_camera_view(scene, ev, point)
                x, y = u * width - 0.5, (1.0 - v) * height - 0.5
                ray = c2w[i, :3, :3] @ np.array([(x - cx) / fx, (y - cy) / fy, 1.0])
                ray /= np.linalg.norm(ray)
                rel = np.array(point) * scale - c2w[i, :3, 3]
                along = rel @ ray
                assert along > 0, f"frame {frame}: the point is behind the pose"
                assert abs(rel @ c2w[i, :3, 2] - z * scale) <= TOL * np.linalg.norm(rel)  # same depth
                worst = max(worst, float(np.linalg.norm(rel - along * ray) / np.linalg.norm(rel)))
    return worst


def _plan_one(scene):
    plan = plan_scene(scene, use_preview_range=False)
    assert len(plan.shots) == 1
    return plan.shots[0]


@pytest.mark.parametrize("case", range(CASES))
def test_random_cameras_project_onto_their_rays(scene, case):
    rng = np.random.default_rng([SEED, case])
    scenes.set_range(scene, FRAMES[0], FRAMES[1])
    cam = _random_camera(scene, rng, case)
    shot = _plan_one(scene)
    traj = shot.trajectory
    assert traj.lens_mm[0] != traj.lens_mm[-1]  # a zoom: per-frame intrinsics are exercised
    r = scene.render
    sizes = [(r.resolution_x, r.resolution_y), (shot.generation.width, shot.generation.height)]
    assert _worst_miss(scene, cam, traj, sizes, rng) < TOL
    # The focal length follows the lens: the intrinsics at each frame scale with it.
    _, intr = camera_poses(traj, *sizes[0])
    np.testing.assert_allclose(intr[:, 0] / np.array(traj.lens_mm), intr[0, 0] / traj.lens_mm[0], rtol=1e-12)


def test_parented_camera_with_track_to_and_a_scale(scene):
    rng = np.random.default_rng([SEED, 100])
    scenes.set_range(scene, FRAMES[0], FRAMES[1])
    scene.render.resolution_x, scene.render.resolution_y = 1920, 818  # 2.35:1
    cam = _rig_camera(scene, rng)
    traj = _plan_one(scene).trajectory
    # The planned matrices carry the camera's scale, which the poses must drop.
    mats = np.array(traj.matrix_world).reshape(-1, 4, 4)
    assert np.abs(np.linalg.norm(mats[:, :3, :3], axis=1) - 1.0).max() > 0.1
    assert _worst_miss(scene, cam, traj, [(1280, 544)], rng) < TOL
    assert _worst_miss(scene, cam, traj, [(1280, 544)], rng, scale=0.37) < TOL


def test_two_level_rig_with_deltas_and_a_keyed_camera_scale(scene):
    rng = np.random.default_rng([SEED, 101])
    scenes.set_range(scene, 1, 12)
    scene.render.resolution_x, scene.render.resolution_y = 720, 1280
    cam = scenes.parented_camera(scene, f0=1, f1=12)
    traj = _plan_one(scene).trajectory
    assert traj.shift_x == pytest.approx(0.1)
    assert _worst_miss(scene, cam, traj, [(720, 1280), (352, 640)], rng) < TOL


def test_orthographic_shot_is_refused(scene):
    scenes.set_range(scene, 1, 5)
    scenes.ortho_camera(scene, f0=1, f1=5)
    traj = _plan_one(scene).trajectory
    with pytest.raises(ValueError, match="orthographic.*Perspective"):
        camera_poses(traj, 640, 360)


# --- first_frame_depth ------------------------------------------------------------------------------


def _quad(scene, name: str, corners) -> None:
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(c) for c in corners], [], [(0, 1, 2, 3)])
    obj = bpy.data.objects.new(name, mesh)
    scene.collection.objects.link(obj)


def _facing_quad(scene, cam, name: str, depth: float, x0: float, x1: float, big: float = 1e3) -> None:
    """A quad square to the view axis at ``depth`` in front of ``cam``, spanning the fraction x0..x1 of
    its frame's width (and far beyond top and bottom); 0..1 with a large ``big`` fills the frame."""
    tr, _br, bl, _tl = cam.data.view_frame(scene=scene)
    sx, sy = depth / -tr.z, depth / -tr.z
    left, right = bl.x * sx, tr.x * sx
    xa = left + x0 * (right - left) if x0 > 0 else -big
    xb = left + x1 * (right - left) if x1 < 1 else big
    ya, yb = bl.y * sy - big, tr.y * sy + big
    m = cam.matrix_world.normalized()
    _quad(scene, name, [m @ Vector((x, y, -depth)) for x, y in ((xa, ya), (xb, ya), (xb, yb), (xa, yb))])


def test_first_frame_depth_is_the_median_distance_along_the_view_axis(scene):
    depth_of = _scene_depth().first_frame_depth
    scenes.set_range(scene, 1, 20)
    cam = scenes.add_camera(scene, "Cam", location=(1.0, 2.0, 3.0), yaw=37.0, pitch=-12.0, roll=5.0)
    scene.render.resolution_x, scene.render.resolution_y = 1280, 720
    bpy.context.view_layer.update()
    scene.frame_set(4)
    assert depth_of(scene, cam, 1) is None  # nothing to hit
    assert scene.frame_current == 4
    _facing_quad(scene, cam, "Far", 7.25, 0.0, 1.0)
    assert depth_of(scene, cam, 1) == pytest.approx(7.25, abs=1e-4)
    # A nearer wall over 70 % of the width (11 of the 16 columns): the median is its depth, not a mean.
    _facing_quad(scene, cam, "Near", 3.0, 0.0, 0.7)
    assert depth_of(scene, cam, 1) == pytest.approx(3.0, abs=1e-4)
    assert scene.frame_current == 4


def test_first_frame_depth_reads_the_asked_frame_and_restores_the_current_one(scene):
    depth_of = _scene_depth().first_frame_depth
    scenes.set_range(scene, 1, 20)
    cam = scenes.add_camera(scene, "Cam")  # at rest: at y = -10 looking along +Y
    _quad(scene, "Wall", [(-500, 5, -500), (500, 5, -500), (500, 5, 500), (-500, 5, 500)])
    scenes.key(cam, "location", 1, scenes.REST_POS)
    scenes.key(cam, "location", 11, scenes.REST_POS + Vector((0, 4, 0)))
    scene.frame_set(15, subframe=0.25)
    assert depth_of(scene, cam, 1) == pytest.approx(15.0, abs=1e-4)
    assert depth_of(scene, cam, 6) == pytest.approx(13.0, abs=1e-4)
    assert (scene.frame_current, scene.frame_subframe) == (15, 0.25)
    assert depth_of(scene, cam, 15, samples=(4, 3)) == pytest.approx(11.0, abs=1e-4)


def test_first_frame_depth_through_an_orthographic_camera(scene):
    depth_of = _scene_depth().first_frame_depth
    cam = scenes.add_camera(scene, "Ortho", yaw=20.0)
    cam.data.type = "ORTHO"
    bpy.context.view_layer.update()
    _facing_quad(scene, cam, "Far", 9.5, 0.0, 1.0)
    assert depth_of(scene, cam, scene.frame_current) == pytest.approx(9.5, abs=1e-4)


def test_metres_per_unit_follows_the_unit_scale(scene):
    mod = _scene_depth()
    scene.unit_settings.system = "METRIC"
    scene.unit_settings.scale_length = 0.01
    assert mod.metres_per_unit(scene) == pytest.approx(0.01)
    scene.unit_settings.system = "NONE"
    assert mod.metres_per_unit(scene) == 1.0


def test_first_frame_depths_of_many_shots_change_frame_once_per_frame(scene):
    depths_of = _scene_depth().first_frame_depths
    scenes.set_range(scene, 1, 20)
    mover = scenes.add_camera(scene, "Mover")
    still = scenes.add_camera(scene, "Still", location=(0.0, -20.0, 1.5))
    _quad(scene, "Wall", [(-500, 5, -500), (500, 5, -500), (500, 5, 500), (-500, 5, 500)])
    scenes.key(mover, "location", 1, scenes.REST_POS)
    scenes.key(mover, "location", 11, scenes.REST_POS + Vector((0, 4, 0)))
    scene.frame_set(15)
    changes = []

    def count(scn, *_args):
        changes.append(scn.frame_current)

    bpy.app.handlers.frame_change_post.append(count)
    try:
        got = depths_of(scene, [(mover, 6), (still, 1), (mover, 1), (still, 6)])
    finally:
        bpy.app.handlers.frame_change_post.remove(count)
    np.testing.assert_allclose(got, [13.0, 25.0, 15.0, 25.0], atol=1e-4)
    assert changes == [1, 6, 15]  # each asked frame once, then back
    assert scene.frame_current == 15
