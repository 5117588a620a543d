"""The plan command line: ``python -m blender_ltx plan FILE.blend --json OUT`` on saved .blend files."""

from __future__ import annotations

import json

import bpy
import pytest

import scenes
from addon_env import cli

from blender_ltx.bl.cli import commands

pytestmark = pytest.mark.slow  # a Blender subprocess per test

ROOT = scenes.ROOT


@pytest.fixture
def saved_blend(scene, tmp_path):
    scenes.set_range(scene, 1, 60)
    a = scenes.add_camera(scene, "A")
    scenes.add_move(a, "dolly_in", 1, 30)
    b = scenes.track_to_camera(scene, f0=31, f1=60)[0]
    scenes.add_marker(scene, "Push", 1, a)
    scenes.add_marker(scene, "Track", 31, b)
    second = bpy.data.scenes.new("Empty")
    second.frame_start, second.frame_end = 1, 10
    path = tmp_path / "shots.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


def test_plan_json_from_a_saved_blend(saved_blend, tmp_path):
    out = tmp_path / "plan.json"
    proc = cli("plan", str(saved_blend), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(out.read_text())
    assert {"version", "scene", "fps", "shots"} <= set(plan)
    assert plan["scene"] == "Scene" and plan["fps"] == 24.0
    assert [(s["name"], s["camera"], s["frame_start"], s["frame_end"]) for s in plan["shots"]] == [
        ("Push", "A", 1, 30),
        ("Track", "Tracker", 31, 60),
    ]
    shot = plan["shots"][0]
    assert {"num_frames", "width", "height", "frame_rate", "segments"} <= set(shot["generation"])
    traj = shot["trajectory"]
    assert {
        "frames",
        "matrix_world",
        "lens_mm",
        "sensor_width_mm",
        "sensor_fit",
        "shift_x",
        "shift_y",
    } <= set(traj)
    assert len(traj["frames"]) == len(traj["matrix_world"]) == len(traj["lens_mm"]) == 30
    assert all(len(m) == 16 for m in traj["matrix_world"])
    assert {"kinds", "speed", "frame_start", "frame_end"} <= set(shot["motion"][0])
    assert "dolly in" in shot["script"].lower()


def test_scene_without_camera_fails_clearly(saved_blend):
    proc = cli("plan", str(saved_blend), "--scene", "Empty")
    assert proc.returncode == 1
    assert "no camera" in proc.stderr and "Traceback" not in proc.stderr


def test_panoramic_camera_fails_with_what_to_do(scene, tmp_path):
    scenes.set_range(scene, 1, 20)
    scenes.add_camera(scene, "Dome").data.type = "PANO"
    path = tmp_path / "dome.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    proc = cli("plan", str(path))
    assert proc.returncode == 1
    assert "Camera 'Dome' of shot 'Dome' is panoramic" in proc.stderr, proc.stderr
    assert "set its Type to Perspective" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_file_and_non_blend(tmp_path, capsys):
    # In-process: the same main() as the subprocesses, failing before Blender loads anything.
    assert commands.main(["plan", str(tmp_path / "nope.blend")]) == 1
    assert "does not exist" in capsys.readouterr().err
    text = tmp_path / "notes.blend"
    text.write_text("not a blend file")
    assert commands.main(["plan", str(text)]) == 1
    assert "is not a .blend file" in capsys.readouterr().err
    assert commands.main(["plan", str(tmp_path)]) == 1
    assert "is not a file" in capsys.readouterr().err


def test_missing_file_exit_code_in_a_subprocess(tmp_path):
    proc = cli("plan", str(tmp_path / "missing.blend"))
    assert proc.returncode == 1
    assert "missing.blend does not exist" in proc.stderr


def test_usage_errors_and_unknown_scene(saved_blend, capsys):
    assert commands.main([]) == 2
    assert commands.main(["plan"]) == 2
    assert commands.main(["--help"]) == 0
    assert "plan" in capsys.readouterr().out
    assert commands.main(["plan", str(saved_blend), "--scene", "Nope"]) == 1
    err = capsys.readouterr().err
    assert "no scene named 'Nope'" in err and "'Scene'" in err


def test_summary_and_cli_registration(saved_blend, capsys):
    assert commands.main(["plan", str(saved_blend)]) == 0
    out = capsys.readouterr().out
    assert "2 shot(s)" in out and "Push" in out and "Track" in out
    commands.register()
    try:
        commands.register()  # idempotent
    finally:
        commands.unregister()
    commands.register()
    commands.unregister()
