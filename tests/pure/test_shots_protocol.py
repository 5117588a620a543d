"""The shot plan's JSON form and the wire protocol's validation rules."""

from __future__ import annotations

import json
import math

import pytest

from blender_ltx.core import protocol
from blender_ltx.core.protocol import (
    ProtocolError,
    ServerError,
    check_condition_index,
    check_finite,
    check_num_frames,
    check_size,
    check_trajectory,
    is_valid_num_frames,
    num_frames_for,
    snap_condition_index,
)
from blender_ltx.core.shots import (
    MOTION_KINDS,
    PLAN_VERSION,
    SPEEDS,
    GenerationGrid,
    MotionSegment,
    Segment,
    Shot,
    ShotPlan,
    Trajectory,
)

IDENTITY = [1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 1.0]


def make_plan() -> ShotPlan:
    traj = Trajectory(
        frames=[10, 11, 12],
        matrix_world=[IDENTITY, IDENTITY, [*IDENTITY[:3], 0.5, *IDENTITY[4:]]],
        lens_mm=[35.0, 36.0, 37.5],
        sensor_width_mm=36.0,
        sensor_fit="HORIZONTAL",
        shift_x=0.1,
        aspect=2.39,
    )
    grid = GenerationGrid(
        num_frames=9, width=928, height=384, frame_rate=23.976, segments=[Segment(10, 12, 9)]
    )
    shot = Shot(
        name="sh010",
        camera="CamA",
        frame_start=10,
        frame_end=12,
        generation=grid,
        trajectory=traj,
        motion=[MotionSegment(["dolly_in", "pan_left"], "slow", 10, 12)],
        script="Slow dolly in and pan left over 0.1 s.",
    )
    return ShotPlan(scene="Scene", fps=23.976, shots=[shot], warnings=["a warning"])


def test_plan_json_round_trip_and_public_keys():
    plan = make_plan()
    text = plan.to_json()
    again = ShotPlan.from_json(text)
    assert again == plan
    assert again.to_json() == text
    d = json.loads(text)
    assert d["version"] == PLAN_VERSION and d["scene"] == "Scene" and d["fps"] == 23.976
    shot = d["shots"][0]
    assert {
        "name",
        "camera",
        "frame_start",
        "frame_end",
        "generation",
        "trajectory",
        "motion",
        "script",
    } <= set(shot)
    assert set(shot["generation"]) >= {"num_frames", "width", "height", "frame_rate", "segments"}
    assert set(shot["trajectory"]) >= {
        "frames",
        "matrix_world",
        "lens_mm",
        "sensor_width_mm",
        "sensor_fit",
        "shift_x",
        "shift_y",
    }
    assert shot["motion"] == [
        {"kinds": ["dolly_in", "pan_left"], "speed": "slow", "frame_start": 10, "frame_end": 12}
    ]
    assert len(shot["trajectory"]["matrix_world"][0]) == 16
    assert plan.shots[0].length == 3
    assert json.loads(plan.to_json(indent=None)) == d


def test_from_dict_ignores_unknown_keys_everywhere():
    d = make_plan().to_dict()
    d["future"] = 1
    d["shots"][0]["future"] = {"x": 1}
    d["shots"][0]["generation"]["future"] = []
    d["shots"][0]["generation"]["segments"][0]["future"] = 2
    d["shots"][0]["trajectory"]["future"] = "y"
    d["shots"][0]["motion"][0]["future"] = None
    assert ShotPlan.from_dict(d) == make_plan()


def test_from_dict_fills_defaults_for_missing_optional_keys():
    plan = ShotPlan.from_dict({"scene": "S", "fps": 24.0})
    assert (plan.shots, plan.warnings, plan.version) == ([], [], PLAN_VERSION)
    shot = Shot.from_dict(
        {
            "name": "a",
            "camera": "c",
            "frame_start": 1,
            "frame_end": 1,
            "generation": {"num_frames": 1, "width": 32, "height": 32, "frame_rate": 24.0},
            "trajectory": {"frames": [1], "matrix_world": [IDENTITY], "lens_mm": [50.0]},
        }
    )
    assert shot.motion == [] and shot.script == "" and shot.generation.segments == []
    assert shot.trajectory.sensor_fit == "AUTO" and shot.trajectory.aspect == pytest.approx(16 / 9)
    # Plans written before orthographic cameras were modelled are perspective ones.
    assert (shot.trajectory.camera_type, shot.trajectory.ortho_scale) == ("PERSP", [])


def test_plan_shot_lookup():
    plan = make_plan()
    assert plan.shot("sh010") is plan.shots[0]
    with pytest.raises(KeyError, match="sh010"):
        plan.shot("nope")


def test_trajectory_slice():
    traj = make_plan().shots[0].trajectory
    part = traj.slice(11, 20)
    assert part.frames == [11, 12] and part.lens_mm == [36.0, 37.5] and len(part) == 2
    assert part.matrix_world == traj.matrix_world[1:]
    assert (part.sensor_fit, part.shift_x, part.aspect) == ("HORIZONTAL", 0.1, 2.39)
    assert len(traj.slice(100, 200)) == 0
    assert (part.camera_type, part.ortho_scale) == ("PERSP", [])


def test_ortho_trajectory_round_trips_and_slices():
    plan = make_plan()
    traj = plan.shots[0].trajectory
    traj.camera_type, traj.ortho_scale = "ORTHO", [6.0, 5.5, 5.0]
    d = json.loads(plan.to_json())
    assert (d["shots"][0]["trajectory"]["camera_type"], d["shots"][0]["trajectory"]["ortho_scale"]) == (
        "ORTHO",
        [6.0, 5.5, 5.0],
    )
    assert ShotPlan.from_dict(d) == plan
    part = traj.slice(11, 12)
    assert (part.camera_type, part.ortho_scale) == ("ORTHO", [5.5, 5.0])


def test_vocabulary():
    assert len(set(MOTION_KINDS)) == 17 and MOTION_KINDS[0] == "static"
    for base in (
        "dolly_in",
        "truck_left",
        "pedestal_up",
        "pan_left",
        "tilt_up",
        "roll_left",
        "zoom_in",
        "orbit_left",
    ):
        assert base in MOTION_KINDS
    assert SPEEDS == ("slow", "medium", "fast")


# --- protocol -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("length, expect", [(1, 1), (2, 9), (8, 9), (9, 9), (10, 17), (257, 257), (258, 265)])
def test_num_frames_for(length, expect):
    assert num_frames_for(length) == expect
    assert is_valid_num_frames(expect)


def test_num_frames_for_refuses_empty():
    with pytest.raises(ValueError, match="at least one frame"):
        num_frames_for(0)


def test_is_valid_num_frames():
    assert [n for n in range(-1, 30) if is_valid_num_frames(n)] == [1, 9, 17, 25]


def test_check_num_frames():
    check_num_frames(121)
    check_num_frames(257)
    with pytest.raises(ProtocolError, match="nearest valid: 121") as e:
        check_num_frames(120)
    assert e.value.field == "num_frames"
    with pytest.raises(ProtocolError, match="above this model's maximum of 121"):
        check_num_frames(129, max_frames=121)
    for bad in (9.0, "9", True, None):
        with pytest.raises(ProtocolError, match="integer"):
            check_num_frames(bad)
    with pytest.raises(ProtocolError) as e:
        check_num_frames(0, field="segments[1].num_frames")
    assert e.value.field == "segments[1].num_frames"
    assert str(e.value).startswith("segments[1].num_frames: ")


def test_check_size():
    check_size(768, 512)
    check_size(32, 32)
    with pytest.raises(ProtocolError, match="multiple of 32 but is 100") as e:
        check_size(100, 64)
    assert e.value.field == "width"
    with pytest.raises(ProtocolError, match="multiple of 32 but is 0") as e:
        check_size(64, 0)
    assert e.value.field == "height"
    with pytest.raises(ProtocolError, match="integer"):
        check_size(64.0, 64)
    with pytest.raises(ProtocolError, match="pixel budget of 393216"):
        check_size(800, 512)
    check_size(800, 512, pixel_budget=800 * 512)


def test_check_finite():
    check_finite({"a": [1.0, 2, {"b": 3.5}], "c": "text"}, "x")
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ProtocolError) as e:
            check_finite({"a": [1.0, {"b": bad}]}, "x")
        assert e.value.field == "x.a[1].b"


def test_check_trajectory():
    good = make_plan().shots[0].trajectory
    import dataclasses

    d = dataclasses.asdict(good)
    check_trajectory(d)
    check_trajectory(None)
    with pytest.raises(ProtocolError, match="has 2 entries but trajectory.frames has 3") as e:
        check_trajectory(d | {"lens_mm": [1.0, 2.0]})
    assert e.value.field == "trajectory.lens_mm"
    with pytest.raises(ProtocolError, match="16 floats, got 15") as e:
        check_trajectory(d | {"matrix_world": [IDENTITY, IDENTITY, IDENTITY[:15]]})
    assert e.value.field == "trajectory.matrix_world[2]"
    with pytest.raises(ProtocolError) as e:
        check_trajectory(d | {"lens_mm": [35.0, math.nan, 36.0]})
    assert e.value.field == "trajectory.lens_mm[1]"
    check_trajectory(d | {"camera_type": "ORTHO", "ortho_scale": [6.0, 6.0, 5.0]})
    with pytest.raises(ProtocolError, match="has 0 entries but trajectory.frames has 3") as e:
        check_trajectory(d | {"camera_type": "ORTHO"})
    assert e.value.field == "trajectory.ortho_scale"
    with pytest.raises(ProtocolError, match="must be one of PERSP, ORTHO, got 'PANO'") as e:
        check_trajectory(d | {"camera_type": "PANO"})
    assert e.value.field == "trajectory.camera_type"


def test_check_condition_index():
    check_condition_index(0, 9, "conditions[0].frame_index")
    check_condition_index(8, 9, "c")
    with pytest.raises(ProtocolError, match="outside the clip's frames 0..8") as e:
        check_condition_index(9, 9, "conditions[1].frame_index")
    assert e.value.field == "conditions[1].frame_index"
    for bad in (-1, 9):
        with pytest.raises(ProtocolError):
            check_condition_index(bad, 9, "c")
    for bad in (1.0, True, "3"):
        with pytest.raises(ProtocolError, match="integer"):
            check_condition_index(bad, 9, "c")


@pytest.mark.parametrize(
    "index, num_frames, expect",
    [(0, 121, 0), (-5, 121, 0), (1, 121, 1), (12, 121, 12), (120, 121, 120), (200, 121, 120), (3, 1, 0)],
)
def test_snap_condition_index_clamps_into_the_clip(index, num_frames, expect):
    assert snap_condition_index(index, num_frames) == expect


def test_errors_read_as_sentences():
    err = ProtocolError("width", "must be a positive multiple of 32 but is 100")
    assert isinstance(err, ValueError)
    assert str(err) == "width: must be a positive multiple of 32 but is 100"
    se = ServerError("The server at http://127.0.0.1:8765 is not running; start it.", status=None)
    assert str(se) == se.message and se.status is None
    assert protocol.DEFAULT_URL == "http://127.0.0.1:8765"
    assert set(protocol.FINAL_STATUSES) <= set(protocol.JOB_STATUSES)
    assert protocol.DEFAULT_PIXEL_BUDGET == 768 * 512 and protocol.DEFAULT_MAX_FRAMES == 257
