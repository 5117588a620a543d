"""plan_scene: shots from markers, frame ranges, names, grids, and errors (real bpy scenes)."""

from __future__ import annotations

import math

import bpy
import pytest
import scenes

from blender_ltx import plan_scene
from blender_ltx.bl.plan.scene import PlanError
from blender_ltx.core.shots import ShotPlan


def _cuts(plan):
    return [(s.name, s.camera, s.frame_start, s.frame_end) for s in plan.shots]


def test_no_markers_whole_range_is_one_shot(scene):
    scenes.set_range(scene, 5, 77)
    scenes.add_camera(scene, "Main")
    plan = plan_scene(scene)
    assert _cuts(plan) == [("Main", "Main", 5, 77)]
    assert plan.warnings == []
    assert plan.shots[0].trajectory.frames == list(range(5, 78))


def test_bound_markers_cut_between_cameras_like_blender_switches(scene):
    scenes.set_range(scene, 1, 100)
    a = scenes.add_camera(scene, "A")
    b = scenes.add_camera(scene, "B", location=(5, -10, 1.5))
    c = scenes.add_camera(scene, "C", location=(-5, -10, 1.5))
    scenes.add_marker(scene, "Wide", 10, b)
    scenes.add_marker(scene, "Close", 40, a)
    scenes.add_marker(scene, "Reverse", 71, c)
    plan = plan_scene(scene)
    # Before the first bound marker Blender keeps that marker's camera; the leading shot is named after it.
    assert _cuts(plan) == [
        ("B", "B", 1, 9),
        ("Wide", "B", 10, 39),
        ("Close", "A", 40, 70),
        ("Reverse", "C", 71, 100),
    ]
    # The plan's camera per frame is the one Blender's own marker switching renders.
    for shot in plan.shots:
        for f in (shot.frame_start, shot.frame_end):
            scene.frame_set(f)
            assert scene.camera.name == shot.camera


def test_unbound_markers_split_the_camera_in_effect(scene):
    scenes.set_range(scene, 1, 60)
    main = scenes.add_camera(scene, "Main")
    other = scenes.add_camera(scene, "Other")
    assert scene.camera == main
    scenes.add_marker(scene, "Intro", 1)
    scenes.add_marker(scene, "Beat", 20)
    scenes.add_marker(scene, "Cut", 35, other)
    scenes.add_marker(scene, "Beat2", 50)
    plan = plan_scene(scene)
    # Once any marker is bound, Blender renders the first bound marker's camera before that marker, not
    # scene.camera, so Intro and Beat split Other's time: the plan follows what Blender renders.
    assert _cuts(plan) == [
        ("Intro", "Other", 1, 19),
        ("Beat", "Other", 20, 34),
        ("Cut", "Other", 35, 49),
        ("Beat2", "Other", 50, 60),
    ]


def test_unbound_markers_only_use_the_scene_camera(scene):
    scenes.set_range(scene, 1, 30)
    scenes.add_camera(scene, "Main")
    scenes.add_marker(scene, "Later", 11)
    scenes.add_marker(scene, "Last", 21)
    plan = plan_scene(scene)
    assert _cuts(plan) == [("Main", "Main", 1, 10), ("Later", "Main", 11, 20), ("Last", "Main", 21, 30)]


def test_preview_range_and_markers_outside_the_range_are_clipped(scene):
    scenes.set_range(scene, 1, 200)
    cam = scenes.add_camera(scene, "Cam")
    scenes.add_marker(scene, "Before", -20, cam)
    scenes.add_marker(scene, "Mid", 50)
    scenes.add_marker(scene, "After", 150)
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = 30, 120
    assert _cuts(plan_scene(scene)) == [("Before", "Cam", 30, 49), ("Mid", "Cam", 50, 120)]
    assert _cuts(plan_scene(scene, use_preview_range=False)) == [
        ("Before", "Cam", 1, 49),
        ("Mid", "Cam", 50, 149),
        ("After", "Cam", 150, 200),
    ]
    scene.use_preview_range = False
    assert len(plan_scene(scene).shots) == 3


def test_names_are_made_unique(scene):
    scenes.set_range(scene, 1, 40)
    cam = scenes.add_camera(scene, "Cam")
    for f in (1, 11, 21, 31):
        scenes.add_marker(scene, "A" if f != 21 else "A.001", f, cam)
    names = [s.name for s in plan_scene(scene).shots]
    assert names == ["A", "A.002", "A.001", "A.003"]
    assert len(set(names)) == len(names)


def test_zero_frame_shot_is_dropped_with_a_warning(scene):
    scenes.set_range(scene, 1, 40)
    a = scenes.add_camera(scene, "A")
    b = scenes.add_camera(scene, "B")
    scenes.add_marker(scene, "First", 10, a)
    scenes.add_marker(scene, "Twin", 10, b)  # same frame: no frames of its own
    plan = plan_scene(scene)
    assert _cuts(plan) == [("A", "A", 1, 9), ("First", "A", 10, 40)]
    assert len(plan.warnings) == 1 and "'Twin'" in plan.warnings[0] and "dropped" in plan.warnings[0]
    scene.frame_set(10)
    assert scene.camera == a  # Blender also renders the first of two markers on one frame


def test_marker_bound_to_a_camera_hidden_from_render_only_splits(scene):
    scenes.set_range(scene, 1, 20)
    scenes.add_camera(scene, "Main")
    hidden = scenes.add_camera(scene, "Hidden")
    hidden.hide_render = True
    scenes.add_marker(scene, "H", 11, hidden)
    plan = plan_scene(scene)
    assert _cuts(plan) == [("Main", "Main", 1, 10), ("H", "Main", 11, 20)]
    assert any("hidden from render" in w for w in plan.warnings)


def test_no_camera_is_a_plan_error(scene):
    scenes.set_range(scene, 1, 20)
    with pytest.raises(PlanError, match="has no camera") as info:
        plan_scene(scene)
    assert isinstance(info.value, ValueError)
    scenes.add_marker(scene, "Unbound", 5)
    with pytest.raises(PlanError, match="Scene Properties > Camera"):
        plan_scene(scene)


@pytest.mark.parametrize(
    "fps,base,rate",
    [(24, 1.0, 24.0), (25, 1.0, 25.0), (30, 1.0, 30.0), (24000, 1001.0, 24000 / 1001)],
)
@pytest.mark.parametrize("length", [1, 2, 9, 37, 300])
def test_grid_per_fps_and_odd_lengths(scene, fps, base, rate, length):
    scenes.set_fps(scene, fps, base)
    scenes.set_range(scene, 3, 3 + length - 1)
    scenes.add_camera(scene)
    plan = plan_scene(scene)
    assert math.isclose(plan.fps, rate)
    (shot,) = plan.shots
    g = shot.generation
    assert math.isclose(g.frame_rate, rate)
    assert shot.length == length
    # Segments tile the shot; each is 8k+1 frames covering its part, within the model's maximum.
    assert g.segments[0].frame_start == 3 and g.segments[-1].frame_end == shot.frame_end
    for a, b in zip(g.segments, g.segments[1:], strict=False):
        assert b.frame_start == a.frame_end + 1
    for seg in g.segments:
        n = seg.frame_end - seg.frame_start + 1
        assert (seg.num_frames - 1) % 8 == 0 and n <= seg.num_frames < n + 8 and seg.num_frames <= 257
    assert g.num_frames == g.segments[0].num_frames
    assert len(g.segments) == (2 if length > 257 else 1)


def test_grid_follows_render_aspect_and_budget(scene):
    scenes.set_range(scene, 1, 24)
    scenes.add_camera(scene)
    r = scene.render
    r.resolution_x, r.resolution_y, r.pixel_aspect_x, r.pixel_aspect_y = 1000, 1000, 2.0, 1.0
    plan = plan_scene(scene, pixel_budget=300_000)
    g, traj = plan.shots[0].generation, plan.shots[0].trajectory
    assert traj.aspect == pytest.approx(2.0)
    assert g.width % 32 == 0 and g.height % 32 == 0 and g.width * g.height <= 300_000
    assert abs((g.width / g.height) / 2.0 - 1) <= 0.03
    assert plan_scene(scene, max_frames=17).shots[0].generation.segments[-1].num_frames <= 17


def test_camera_data_and_json_round_trip(scene):
    scenes.set_range(scene, 1, 12)
    cam = scenes.add_camera(scene, lens=42.0)
    cam.data.sensor_width, cam.data.sensor_height, cam.data.sensor_fit = 30.0, 20.0, "VERTICAL"
    cam.data.shift_x, cam.data.shift_y = 0.1, -0.05
    scenes.add_marker(scene, "Only", 1, cam)
    plan = plan_scene(scene)
    t = plan.shots[0].trajectory
    assert t.lens_mm == pytest.approx([42.0] * 12)
    assert (t.sensor_width_mm, t.sensor_height_mm, t.sensor_fit) == (30.0, 20.0, "VERTICAL")
    assert (t.shift_x, t.shift_y) == (pytest.approx(0.1), pytest.approx(-0.05))
    again = ShotPlan.from_json(plan.to_json())
    assert again == plan


# Custom (script) cameras exist from Blender 4.5 on.
_CAMERA_TYPES = {e.identifier for e in bpy.types.Camera.bl_rna.properties["type"].enum_items}
_REFUSED = [(k, said) for k, said in (("PANO", "panoramic"), ("CUSTOM", "custom")) if k in _CAMERA_TYPES]


@pytest.mark.parametrize("kind, said", _REFUSED)
def test_panoramic_camera_is_refused_with_what_to_do(scene, kind, said):
    scenes.set_range(scene, 1, 20)
    scenes.add_marker(scene, "Wide", 1, scenes.add_camera(scene, "Wide"))
    dome = scenes.add_camera(scene, "Dome")
    dome.data.type = kind
    scenes.add_marker(scene, "Sky", 11, dome)
    with pytest.raises(PlanError) as e:
        plan_scene(scene)
    assert str(e.value) == (
        f"Camera 'Dome' of shot 'Sky' is {said}, which the video model cannot follow: set its Type to "
        "Perspective (or Orthographic) in the camera's properties."
    )
    dome.data.type = "ORTHO"
    assert plan_scene(scene).shots[1].trajectory.camera_type == "ORTHO"


def test_ortho_camera_gets_the_same_grid(scene):
    # The generation grid follows the render aspect, whatever the projection.
    scenes.set_range(scene, 1, 40)
    scene.render.resolution_x, scene.render.resolution_y = 1000, 420
    cam = scenes.add_camera(scene)
    persp = plan_scene(scene).shots[0]
    cam.data.type = "ORTHO"
    ortho = plan_scene(scene).shots[0]
    assert ortho.generation == persp.generation and ortho.trajectory.aspect == persp.trajectory.aspect
    assert ortho.trajectory.ortho_scale == [cam.data.ortho_scale] * 40


def test_object_used_as_camera_that_is_not_a_camera(scene):
    scenes.set_range(scene, 1, 10)
    empty = bpy.data.objects.new("Empty", None)
    scene.collection.objects.link(empty)
    scene.camera = empty
    plan = plan_scene(scene)
    assert plan.shots[0].camera == "Empty"
    assert plan.shots[0].trajectory.lens_mm[0] == 50.0
    assert any("not a camera" in w for w in plan.warnings)


def test_an_extreme_render_aspect_is_warned_not_silently_squashed(scene):
    scenes.set_range(scene, 1, 24)
    scenes.add_camera(scene, "Main")
    scene.render.resolution_x, scene.render.resolution_y = 4000, 10  # 400:1
    plan = plan_scene(scene)
    g = plan.shots[0].generation
    assert (g.width, g.height) != (4000, 10)
    (warning,) = [w for w in plan.warnings if "aspect" in w]
    assert "400:1" in warning and f"{g.width}x{g.height}" in warning and "render resolution" in warning
    scene.render.resolution_x, scene.render.resolution_y = 1920, 1080
    assert not [w for w in plan_scene(scene).warnings if "aspect" in w]


def test_deleting_a_markers_camera_is_said_on_the_shot_until_the_marker_is_bound_again():
    """Issue 15 #19: the marker loses its camera with the camera, and the shot used to render through the
    previous marker's camera without a word."""
    from addon_env import registered_scene

    from blender_ltx.bl.addon import props
    from blender_ltx.bl.ui.panels import lost_camera_line

    with registered_scene() as scene:
        scenes.set_range(scene, 1, 60)
        a = scenes.add_camera(scene, "CamA")
        b = scenes.add_camera(scene, "CamB", location=(5, -10, 1.5))
        scenes.add_marker(scene, "SH010", 1, a)
        scenes.add_marker(scene, "SH020", 20, b)
        scenes.add_marker(scene, "SH025", 40)  # follows CamB
        props.sync_shots(scene, plan_scene(scene))
        assert props.shot_settings(scene, "SH020").lost_camera == ""

        bpy.data.objects.remove(b)  # what Delete does: the marker's pointer is cleared with it
        assert scene.timeline_markers["SH020"].camera is None
        for _refresh in range(2):  # said again on the next refresh: the marker is still unbound
            plan = plan_scene(scene)
            assert _cuts(plan)[1:] == [("SH020", "CamA", 20, 39), ("SH025", "CamA", 40, 60)]
            assert [s.lost_camera for s in plan.shots] == ["", "CamB", "CamB"]
            said = [w for w in plan.warnings if "CamB" in w]
            assert said[0] == (
                "Shot SH020 was filmed through camera 'CamB', which is no longer in the file, so it now "
                "renders through 'CamA': bind the marker at frame 20 to the camera it should use ('CamA' "
                "to keep this one)."
            )
            assert len(said) == 2 and "marker at frame 40" in said[1]
            props.sync_shots(scene, plan)
            ss = props.shot_settings(scene, "SH020")
            assert ss.lost_camera == "CamB" and lost_camera_line(ss) == said[0]

        scene.timeline_markers["SH020"].camera = a  # the user's choice: no more warning
        plan = plan_scene(scene)
        assert [s.lost_camera for s in plan.shots] == ["", "", ""] and plan.warnings == []
        props.sync_shots(scene, plan)
        assert props.shot_settings(scene, "SH025").lost_camera == ""
