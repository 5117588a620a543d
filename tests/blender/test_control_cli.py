"""``generate --control KIND`` end to end: the real CLI in a subprocess, the real server on the tiny LTX-2
(its tiny IC-LoRAs), the real background control render. Takes land with the control named in their
``applied.layers``, the previs strip is in the edit, the user's render settings stay, a retake of an
unchanged previs uploads nothing, and a kind the server lacks is refused before anything is sent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.blender, pytest.mark.server, pytest.mark.slow]
bpy = pytest.importorskip("bpy")

from blender_ltx.bl.flow import generate, session  # noqa: E402
from blender_ltx.bl.edit import previs_strip, vse  # noqa: E402
from blender_ltx.core.client import Client  # noqa: E402
from test_roundtrip import registered, user_render_state  # noqa: E402,F401  (add-on registered)
from addon_env import demo_blend  # noqa: E402
from support.server import run_server  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "blender_ltx", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )


def reopen(path: Path):
    bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    session.reset()  # this process only inspects the file
    return bpy.context.scene


def uploaded(srv) -> int:
    return Client(srv.url).health()["assets"]["uploaded_bytes"]


def applied_layers(strip) -> list[str]:
    return json.loads(strip.ltx.applied or "{}").get("layers", [])


def test_depth_then_tracks_takes_name_their_control_and_a_retake_uploads_nothing(ltx2, tmp_path):
    blend = tmp_path / "shot.blend"
    scene = demo_blend(blend)
    scene.render.filepath = "//render/out_"
    bpy.ops.wm.save_mainfile()
    before = user_render_state(scene)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    start = uploaded(ltx2)

    out = cli(
        "generate", str(blend), "--shots", "SH010", "--server", ltx2.url, "--wait", "--control", "depth"
    )
    assert out.returncode == 0, out.stderr + out.stdout
    first_upload = uploaded(ltx2)
    assert first_upload > start  # the depth frames went up once
    scene = reopen(blend)
    assert user_render_state(scene) == before
    (take,) = vse.takes(scene, "SH010")
    assert "control_depth" in applied_layers(take)
    (previs,) = previs_strip.previs_strips(scene, "SH010")
    assert previs.mute and previs.channel < take.channel
    assert previs.name == "SH010 previs"
    assert (previs.frame_final_start, previs.frame_final_duration) == (take.frame_final_start, 48)
    bpy.ops.wm.read_factory_settings(use_empty=True)

    again = cli("generate", str(blend), "--shots", "SH010", "--server", ltx2.url, "--wait",
                "--control", "depth", "--force")  # fmt: skip
    assert again.returncode == 0, again.stderr + again.stdout
    assert uploaded(ltx2) == first_upload  # the same previs: every frame is already on the server

    tracks = cli("generate", str(blend), "--shots", "SH010", "--server", ltx2.url, "--wait",
                 "--control", "tracks", "--force")  # fmt: skip
    assert tracks.returncode == 0, tracks.stderr + tracks.stdout
    assert uploaded(ltx2) == first_upload  # tracks travel as numbers in the request
    scene = reopen(blend)
    assert user_render_state(scene) == before
    takes = vse.takes(scene, "SH010")
    assert len(takes) == 3
    assert "control_depth" in applied_layers(takes[1]) and "control_tracks" in applied_layers(takes[2])
    assert len(previs_strip.previs_strips(scene, "SH010")) == 1  # replaced in place, not stacked
    bpy.ops.wm.read_factory_settings(use_empty=True)


def test_a_kind_the_server_lacks_is_refused_before_sending(tmp_path, tiny_model_dir):
    blend = tmp_path / "shot.blend"
    demo_blend(blend)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    with run_server(tmp_path / "srv", model=str(tiny_model_dir)) as srv:
        out = cli("generate", str(blend), "--shots", "SH010", "--server", srv.url, "--control", "depth")
        assert out.returncode == 1 and "Traceback" not in out.stderr
        assert "Control 'depth' is not available: this server offers no control" in out.stderr
        assert Client(srv.url).list_jobs() == []


def test_the_courier_refuses_a_shots_kind_the_server_lacks_without_posting(tmp_path, tiny_model_dir):
    """The panel path: capabilities unknown in Blender, so the courier checks them before posting."""
    from addon_env import no_jobs_in_flight

    from blender_ltx.bl.addon import props

    with run_server(tmp_path / "srv", model=str(tiny_model_dir)) as srv, no_jobs_in_flight():
        scene = demo_blend(tmp_path / "shot.blend")
        props.shot_settings(scene, "SH010").control_kind = "tracks"
        generate.set_server(srv.url)
        try:
            generate.submit(scene, ["SH010"], report=None)
            assert not generate.wait(scene, ["SH010"], timeout=120)
        finally:
            generate.set_server(None)
        ss = props.shot_settings(scene, "SH010")
        assert ss.job_status == "error" and "Control 'tracks' is not available" in ss.message, ss.message
        assert Client(srv.url).list_jobs() == [] and uploaded(srv) == 0
        assert previs_strip.previs_strips(scene, "SH010")  # the previs was rendered all the same


def test_the_control_kind_and_track_points_are_inputs_of_a_take(tmp_path):
    from blender_ltx.bl.addon import props
    from blender_ltx.bl.flow.submit import refresh_plan

    scene = demo_blend(tmp_path / "shot.blend")
    shot, ss = refresh_plan(scene).shot("SH010"), props.shot_settings(scene, "SH010")
    auto = props.input_hash(scene, shot, ss)
    assert ss.control_kind == "auto"
    assert props.input_hash(scene, shot, ss, "depth") != auto  # a run's --control counts
    ss.control_kind = "depth"
    assert props.input_hash(scene, shot, ss) == props.input_hash(scene, shot, ss, "depth") != auto
    depth = props.input_hash(scene, shot, ss)
    scene.ltx.track_collection = "Markers"
    assert props.input_hash(scene, shot, ss) != depth
    bpy.ops.wm.read_factory_settings(use_empty=True)


def test_tracks_on_a_grey_box_set_and_a_shot_with_nothing_to_track_fails_alone(ltx2, tmp_path):
    """Issue 15 #11: a shot that sees only a big ground plane is tracked (points on the plane), and a
    shot looking at the empty sky fails alone, with its sentence, while the other one is generated."""
    import scenes
    from addon_env import TEST_PIXEL_BUDGET

    from blender_ltx.bl.addon import props

    blend = tmp_path / "grey.blend"
    scene = scenes.grey_box(scenes.reset(), sky_shot=True)
    props.scene_settings(scene).pixel_budget = TEST_PIXEL_BUDGET
    for name in ("GROUND", "SKY"):
        props.shot_settings(scene, name).steps = 1
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    before = len(Client(ltx2.url).list_jobs())

    out = cli("generate", str(blend), "--server", ltx2.url, "--wait", "--control", "tracks", "--force")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr + out.stdout
    assert "failed SKY (Shot SKY: no surface or point to track is in view on its first frame" in out.stdout
    assert len(Client(ltx2.url).list_jobs()) == before + 1  # GROUND's job, and only that
    scene = reopen(blend)
    (take,) = vse.takes(scene, "GROUND")
    assert "control_tracks" in applied_layers(take)
    assert vse.takes(scene, "SKY") == []
    assert props.shot_settings(scene, "SKY").job_status == "error"  # its sentence went to the report
    bpy.ops.wm.read_factory_settings(use_empty=True)
