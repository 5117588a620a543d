"""Camera moves built in Blender come out of plan_scene as the right motion kinds and script."""

from __future__ import annotations

import pytest
import scenes

from blender_ltx import plan_scene

SINGLE = [m for m in scenes.MOVES if m != "static"]


def _kinds(shot) -> set[str]:
    return {k for seg in shot.motion for k in seg.kinds}


def _opposite(kind: str) -> str:
    pairs = [("in", "out"), ("left", "right"), ("up", "down")]
    head, _, tail = kind.rpartition("_")
    for a, b in pairs:
        if tail in (a, b):
            return f"{head}_{b if tail == a else a}"
    return kind


@pytest.mark.parametrize("move", SINGLE)
def test_single_moves(scene, move):
    scenes.set_range(scene, 1, 49)
    scenes.add_move(scenes.add_camera(scene), move, 1, 49)
    (shot,) = plan_scene(scene).shots
    assert move in _kinds(shot)
    assert _opposite(move) not in _kinds(shot)
    assert shot.script and move.split("_")[0] in shot.script.lower()
    assert shot.motion[0].frame_start == 1 and shot.motion[-1].frame_end == 49


def test_static(scene):
    scenes.set_range(scene, 1, 30)
    scenes.add_camera(scene)
    (shot,) = plan_scene(scene).shots
    assert [seg.kinds for seg in shot.motion] == [["static"]]


@pytest.mark.parametrize("direction", ["left", "right"])
def test_orbit_of_a_parented_camera(scene, direction):
    scenes.set_range(scene, 1, 49)
    scenes.orbit_rig(scene, direction, 1, 49)
    (shot,) = plan_scene(scene).shots
    assert f"orbit_{direction}" in _kinds(shot)


@pytest.mark.parametrize("combo", ["dolly_in+pan_left", "truck_right+pedestal_up", "dolly_out+zoom_in"])
def test_combined_moves(scene, combo):
    scenes.set_range(scene, 1, 49)
    scenes.add_move(scenes.add_camera(scene), combo, 1, 49)
    (shot,) = plan_scene(scene).shots
    assert set(combo.split("+")) <= _kinds(shot)


def test_sequential_moves_across_two_shots(scene):
    scenes.set_range(scene, 1, 145)
    cam = scenes.add_camera(scene)
    scenes.add_move(cam, "dolly_in", 1, 48)
    scenes.add_move(cam, "pan_right", 49, 96)
    scenes.add_marker(scene, "Push", 1)
    scenes.add_marker(scene, "Hold", 97)
    push, hold = plan_scene(scene).shots
    assert [seg.kinds for seg in push.motion] == [["dolly_in"], ["pan_right"]]
    assert push.motion[0].frame_end in range(44, 53)
    assert "then" in push.script
    assert [seg.kinds for seg in hold.motion] == [["static"]]


def test_constrained_camera_motion(scene):
    scenes.set_range(scene, 1, 48)
    scenes.track_to_camera(scene)  # trucks right while turning to follow a rising target
    (shot,) = plan_scene(scene).shots
    kinds = _kinds(shot)
    assert "tilt_up" in kinds and ("truck_right" in kinds or "orbit_right" in kinds)


@pytest.mark.parametrize("scales, kind", [((6.0, 3.0), "zoom_in"), ((3.0, 6.0), "zoom_out")])
def test_ortho_scale_change_is_a_zoom(scene, scales, kind):
    scenes.set_range(scene, 1, 49)
    scenes.ortho_camera(scene, scales=scales, f0=1, f1=49)
    (shot,) = plan_scene(scene).shots
    assert _kinds(shot) == {kind}
    assert kind.replace("_", " ") in shot.script.lower()


def test_ortho_camera_moving_along_its_view_is_no_dolly(scene):
    # Pushed in while its view narrows: only the narrowing shows in an orthographic picture.
    scenes.set_range(scene, 1, 49)
    cam = scenes.ortho_camera(scene, scales=(6.0, 4.0), f0=1, f1=49)
    scenes.add_move(cam, "dolly_in", 1, 49)
    (shot,) = plan_scene(scene).shots
    assert _kinds(shot) == {"zoom_in"} and "dolly" not in shot.script.lower()
    # Moves across the view are still moves.
    scene = scenes.reset()
    scenes.set_range(scene, 1, 49)
    cam = scenes.ortho_camera(scene, scales=(6.0, 6.0), f0=1, f1=49)
    scenes.add_move(cam, "truck_left+dolly_out", 1, 49)
    (shot,) = plan_scene(scene).shots
    assert _kinds(shot) == {"truck_left"}
