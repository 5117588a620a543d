"""Trajectories match frame_set + matrix_world to 1e-5, on the fast F-Curve path and the evaluated ones."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
import scenes

from blender_ltx import plan_scene
from blender_ltx.bl.plan import sampling
from blender_ltx.bl.plan.scene import PlanError
from blender_ltx.bl.plan.sampling import fcurve_blocker, sample_cameras

TOL = 1e-5


def _rig_scene(scene):
    """One shot per kind of camera: keyed, parented rig, orbit, Track To, Follow Path, driven lens."""
    scenes.set_range(scene, 1, 120)
    keyed = scenes.add_camera(scene, "Keyed")
    scenes.add_move(keyed, "dolly_in+pan_left+zoom_in", 1, 20)
    quat = scenes.add_camera(scene, "Quat")
    quat.rotation_mode = "QUATERNION"
    scenes.key(quat, "rotation_quaternion", 21, (1.0, 0.5, 0.2, 0.1))
    scenes.key(quat, "rotation_quaternion", 40, (0.3, 0.0, 2.0, 0.5), interpolation="BEZIER")
    axis = scenes.add_camera(scene, "Axis")
    axis.rotation_mode = "AXIS_ANGLE"
    scenes.key(axis, "rotation_axis_angle", 21, (0.3, 1.0, 0.2, 0.1))
    scenes.key(axis, "rotation_axis_angle", 40, (1.3, 0.0, 1.0, 0.5))
    rig = scenes.parented_camera(scene, f0=41, f1=60)
    orbit, _pivot = scenes.orbit_rig(scene, "left", 61, 80)
    track, _target = scenes.track_to_camera(scene, f0=81, f1=100)
    rail, _curve = scenes.follow_path_camera(scene, f0=101, f1=110)
    driven = scenes.driven_lens_camera(scene, f0=111, f1=120)
    cams = [keyed, quat, axis, rig, orbit, track, rail, driven]
    starts = [1, 21, 31, 41, 61, 81, 101, 111]
    for cam, f in zip(cams, starts, strict=True):
        scenes.add_marker(scene, cam.name, f, cam)
    return cams


def _assert_matches_frame_set(scene, plan):
    for shot in plan.shots:
        cam = bpy.data.objects[shot.camera]
        mats, lenses = scenes.naive_samples(scene, cam, shot.trajectory.frames)
        got = np.array(shot.trajectory.matrix_world)
        assert got.shape == (shot.length, 16)
        err = np.abs(got - np.array(mats)).max()
        assert err < TOL, f"{shot.name}: matrix off by {err}"
        assert np.abs(np.array(shot.trajectory.lens_mm) - np.array(lenses)).max() < TOL, shot.name


@pytest.mark.parametrize("mode", ["auto", "isolated", "scene"])
def test_trajectories_match_frame_set(scene, mode):
    _rig_scene(scene)
    plan = plan_scene(scene, sampling=mode)
    assert [s.camera for s in plan.shots] == [
        "Keyed",
        "Quat",
        "Axis",
        "Rig",
        "Orbit",
        "Tracker",
        "Rail",
        "Driven",
    ]
    _assert_matches_frame_set(scene, plan)
    # The shots do move: a constant trajectory would match trivially.
    for shot in plan.shots:
        m = np.array(shot.trajectory.matrix_world)
        moved = np.ptp(m, axis=0).max() > 0.01 or np.ptp(shot.trajectory.lens_mm) > 1.0
        assert moved, shot.name


def test_auto_reads_fcurves_where_exact_and_evaluates_the_rest(scene):
    cams = _rig_scene(scene)
    frames = list(range(1, 121, 7))
    got = sample_cameras(scene, [(c, frames) for c in cams])
    methods = {c.name: g.method for c, g in zip(cams, got, strict=True)}
    assert methods == {
        "Keyed": "fcurves",
        "Quat": "fcurves",
        "Axis": "fcurves",
        "Rig": "fcurves",
        "Orbit": "fcurves",
        "Tracker": "isolated",
        "Rail": "isolated",
        "Driven": "isolated",
    }
    assert "constraints" in fcurve_blocker(cams[5])
    assert "drivers" in fcurve_blocker(cams[7])
    with pytest.raises(ValueError, match="'Tracker' cannot be read from F-Curves"):
        sample_cameras(scene, [(cams[5], frames)], mode="fcurves")
    assert len(bpy.data.scenes) == 1  # the isolated scene is gone


def test_fcurve_path_handles_time_remap_and_muted_curves(scene):
    scenes.set_range(scene, 1, 60)
    cam = scenes.add_camera(scene)
    scenes.add_move(cam, "truck_right+tilt_up", 1, 60)
    muted = scenes.add_camera(scene, "Muted")
    scenes.add_move(muted, "pedestal_up", 1, 60)
    from blender_ltx.bl.addon import compat

    for fc in compat.anim_fcurves(muted):
        if fc.data_path == "location" and fc.array_index == 2:
            fc.mute = True
    scenes.add_marker(scene, "Muted", 31, muted)
    scene.render.frame_map_old, scene.render.frame_map_new = 100, 37
    plan = plan_scene(scene, sampling="fcurves")
    _assert_matches_frame_set(scene, plan)


def test_nla_and_path_parenting_fall_back_and_stay_exact(scene):
    scenes.set_range(scene, 1, 30)
    nla = scenes.add_camera(scene, "Nla")
    nla.animation_data_create().nla_tracks.new()
    assert "NLA" in fcurve_blocker(nla)
    # Parenting to a curve with a path makes the child ride the path: Blender-only evaluation.
    _rail, curve = scenes.follow_path_camera(scene)
    curve.data.use_path = True
    scenes.key(curve.data, "eval_time", 1, 0.0)
    scenes.key(curve.data, "eval_time", 30, 60.0)
    rider = scenes.add_camera(scene, "Rider")
    rider.parent = curve
    assert "path" in fcurve_blocker(rider)
    scenes.add_marker(scene, "Ride", 1, rider)
    plan = plan_scene(scene)
    assert np.ptp(np.array(plan.shots[0].trajectory.matrix_world), axis=0).max() > 1.0
    _assert_matches_frame_set(scene, plan)


def test_user_frame_subframe_and_camera_are_restored(scene):
    cams = _rig_scene(scene)
    scene.frame_set(57, subframe=0.25)
    scene.camera = cams[2]  # differs from what the markers would switch to at frame 57
    before = np.array(cams[5].matrix_world)
    plan_scene(scene, sampling="scene")
    assert (scene.frame_current, scene.frame_subframe) == (57, 0.25)
    assert scene.camera == cams[2]
    assert np.allclose(np.array(cams[5].matrix_world), before)
    plan_scene(scene)  # auto never changes the frame at all
    assert (scene.frame_current, scene.frame_subframe) == (57, 0.25)


def test_frame_is_restored_on_error(scene):
    cams = _rig_scene(scene)
    scene.frame_set(33)
    frames = np.arange(1, 10)
    with pytest.raises(AttributeError):
        # The second request is broken: the pass fails after it has changed the frame.
        sampling.sample_in_scene(scene, {0: (cams[5], frames), 1: (None, frames)})
    assert scene.frame_current == 33


def test_rigid_body_world_evaluates_in_the_scene(scene):
    cam, _target = scenes.track_to_camera(scene)
    bpy.ops.rigidbody.world_add()
    (got,) = sample_cameras(scene, [(cam, range(1, 20))])
    assert got.method == "scene"


def test_scene_specific_dependency_is_caught_and_evaluated_in_the_scene(scene):
    # A driver reading the active scene sees the temporary scene in the isolated depsgraph: the check at
    # the current frame notices and the camera is evaluated in the real scene instead.
    scenes.set_range(scene, 1, 20)
    scene.render.resolution_x = 1000
    cam = scenes.add_camera(scene)
    fc = cam.data.driver_add("lens")
    var = fc.driver.variables.new()
    var.type = "CONTEXT_PROP"
    var.name = "rx"
    var.targets[0].context_property = "ACTIVE_SCENE"
    var.targets[0].data_path = "render.resolution_x"
    fc.driver.expression = "rx / 20 + frame"
    (got,) = sample_cameras(scene, [(cam, range(1, 21))])
    assert got.method == "scene"
    assert got.data["lens"].tolist() == pytest.approx([50.0 + f for f in range(1, 21)])


def _ortho_scene(scene):
    """An orthographic camera keyed (F-Curve path) and one driven (evaluated path), each moving too."""
    scenes.set_range(scene, 1, 80)
    keyed = scenes.ortho_camera(scene, "Ortho", (6.0, 2.5), 1, 40)
    scenes.add_move(keyed, "dolly_in+truck_right", 1, 40)
    driven = scenes.driven_ortho_camera(scene, "OrthoDriven", 41, 80)
    scenes.add_move(driven, "pan_left", 41, 80)
    scenes.add_marker(scene, "Keyed", 1, keyed)
    scenes.add_marker(scene, "Driven", 41, driven)
    return keyed, driven


@pytest.mark.parametrize("mode", ["auto", "isolated", "scene"])
def test_ortho_scales_match_the_evaluated_camera(scene, mode):
    keyed, driven = _ortho_scene(scene)
    plan = plan_scene(scene, sampling=mode)
    _assert_matches_frame_set(scene, plan)
    for shot, cam in zip(plan.shots, (keyed, driven), strict=True):
        t = shot.trajectory
        want = scenes.evaluated_camera_data(scene, cam, t.frames, "ortho_scale")
        assert t.camera_type == "ORTHO" and len(t.ortho_scale) == shot.length
        assert np.abs(np.array(t.ortho_scale) - np.array(want)).max() < TOL, shot.name
        assert np.ptp(t.ortho_scale) > 2.0, shot.name  # the scale does change: a constant would match
    # The F-Curve path gives the keyed camera the same scales.
    frames = plan.shots[0].trajectory.frames
    (direct,) = sample_cameras(scene, [(keyed, frames)], mode="fcurves")
    assert np.abs(direct.data["ortho_scale"] - plan.shots[0].trajectory.ortho_scale).max() < TOL
    assert list(direct.camera_type) == ["ORTHO"] * len(frames)


def test_perspective_plans_carry_no_ortho_scale(scene):
    _rig_scene(scene)
    for shot in plan_scene(scene).shots:
        assert (shot.trajectory.camera_type, shot.trajectory.ortho_scale) == ("PERSP", [])


def test_animated_camera_type_is_read_per_frame_and_a_switch_inside_a_shot_refused(scene):
    scenes.set_range(scene, 1, 30)
    cam = scenes.add_camera(scene, "Switch")
    scenes.key(cam.data, "type", 1, "PERSP")
    scenes.key(cam.data, "type", 16, "ORTHO")
    assert "animates its type" in fcurve_blocker(cam)
    frames = list(range(1, 31))
    want = scenes.evaluated_camera_data(scene, cam, frames, "type")
    assert want[0] == "PERSP" and want[-1] == "ORTHO"
    for mode in ("auto", "isolated", "scene"):
        (got,) = sample_cameras(scene, [(cam, frames)], mode=mode)
        assert list(got.camera_type) == want, mode
    switch = want.index("ORTHO") + 1
    said = f"'Switch' switches from perspective to orthographic at frame {switch}, inside shot 'Switch'"
    with pytest.raises(PlanError, match=said):
        plan_scene(scene)
    # Cut where it switches, as the sentence says: each shot keeps one projection.
    scenes.add_marker(scene, "Wide", 1, cam)
    scenes.add_marker(scene, "Plan", switch, cam)
    wide, top = plan_scene(scene).shots
    assert (wide.trajectory.camera_type, top.trajectory.camera_type) == ("PERSP", "ORTHO")
    assert len(top.trajectory.ortho_scale) == top.length and wide.trajectory.ortho_scale == []
