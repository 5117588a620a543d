"""The add-on against the tiny SANA-WM on a real server over loopback: a shot goes with its exact camera
path's scale inputs (the first frame's median depth, the scene's unit scale, the shot's Pose Scale), only
its frame-0 picture (no later guides, no control, camera LoRA or audio), the take lands with
``applied.camera_poses`` on its strip, in the shot's message and in the Shot panel's words, its measured
motion arrives like any take's, and ``python -m blender_ltx demo --model tiny-sana-wm`` runs on it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.blender,
    pytest.mark.server,
    pytest.mark.slow,
    pytest.mark.usefixtures("registered"),
]
bpy = pytest.importorskip("bpy")

from blender_ltx.bl.addon import compat, props  # noqa: E402
from blender_ltx.bl.edit import vse  # noqa: E402
from blender_ltx.bl.flow import finalize, generate, request  # noqa: E402
from blender_ltx.bl.flow.session import session  # noqa: E402
from blender_ltx.bl.link import tick  # noqa: E402
from blender_ltx.bl.link import connection  # noqa: E402
from blender_ltx.bl.plan import scene_depth  # noqa: E402
from blender_ltx.bl.ui import panels  # noqa: E402
from blender_ltx.core import server_info  # noqa: E402
from blender_ltx.core.client import Client  # noqa: E402
from addon_env import CheckingLayout, blender_events, demo_blend, registered_scene  # noqa: E402
from support.pngs import noise_png  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def quiet(_line: str) -> None:
    pass


def shot_panel_labels(scene, shot_name: str) -> list[str]:
    """The Shot panel's label texts, drawn against Blender's UILayout RNA (as test_addon does)."""
    assert bpy.context.scene == scene
    scene.ltx.active_shot_index = [ss.name for ss in scene.ltx.shots].index(shot_name)
    calls: list = []
    panels.draw_shot(CheckingLayout(calls), bpy.context)
    return [c[2]["text"] for c in calls if c[0] == "label" and "text" in c[2]]


def guide_pngs(scene, shot_name: str, take: int) -> list[str]:
    folder = Path(bpy.path.abspath(f"{vse.shot_dir(scene, shot_name)}/guides/take_{take}"))
    return sorted(p.name for p in folder.rglob("*.png"))


def test_a_take_lands_with_its_exact_camera_path_and_its_motion(sana_wm, tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(sana_wm.url)
    st = props.scene_settings(scene)
    st.guide_every_n = 8  # a family without keyframes gets the frame-0 picture only (else a 422)
    ss = props.shot_settings(scene, "SH010")
    ss.camera_lora, ss.control_kind = "Dolly-In", "auto"  # neither goes to a server without them
    camera = bpy.data.objects["CamDolly"]
    depth = scene_depth.first_frame_depth(scene, camera, 1)
    assert depth is not None and 5.0 < depth < 20.0, depth

    result = generate.run_sync(scene, ["SH010"], report=quiet)
    assert result["imported"] == ["SH010"], (result["shots"], sana_wm.log()[-3000:])
    assert server_info.get(sana_wm.url)["family"] == "sana-wm"
    assert guide_pngs(scene, "SH010", 1) == ["guide_0000.png"]
    job = Client(sana_wm.url).status(ss.job_id)
    applied = job["applied"]
    assert "camera_poses" in applied["layers"] and "camera_lora" not in applied
    assert not applied.get("control") and not applied.get("audio")
    assert not [layer for layer in applied["layers"] if layer.startswith("control")]
    assert [c["frame_index"] for c in applied["conditions"]] == [0]
    poses = applied["camera_poses"]
    # The depth the add-on measured (scene units are metres here) chose the scale on the server.
    assert (
        poses["static"] is False and f"median depth {depth:.3g} m of the first frame" in poses["scale_source"]
    )
    assert poses["frames"] == job["request"]["num_frames"] == 49

    (strip,) = vse.takes(scene, "SH010")
    assert json.loads(strip.ltx.applied)["camera_poses"] == poses
    said = f"exact poses, scale {poses['scale']:.3g} ({poses['scale_source']})"
    assert f"camera path: {said}" in ss.message
    assert f"Camera path: {said}" in shot_panel_labels(scene, "SH010")
    # The motion meter read the SANA-WM take like any other: its record is on the strip.
    motion = Client(sana_wm.url).status(strip.ltx.job_id)["motion"]
    assert isinstance(motion, dict) and "measurable" in motion, motion
    assert json.loads(strip.ltx.motion) == motion == vse.take_motion(strip)
    assert panels.motion_text(scene, "SH010")[0].startswith("Take 1 ")


def test_the_shots_pose_scale_reaches_the_model_and_marks_the_shot_changed(sana_wm, tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(sana_wm.url)
    plan = generate.refresh_plan(scene)
    ss = props.shot_settings(scene, "SH030")
    before = props.input_hash(scene, plan.shot("SH030"), ss)
    ss.pose_scale = 0.31
    assert props.input_hash(scene, plan.shot("SH030"), ss) != before

    assert generate.run_sync(scene, ["SH030"], report=quiet)["imported"] == ["SH030"]
    poses = Client(sana_wm.url).status(ss.job_id)["applied"]["camera_poses"]
    assert (poses["scale"], poses["scale_source"]) == (0.31, "set on the shot")
    assert "Camera path: exact poses, scale 0.31 (set on the shot)" in shot_panel_labels(scene, "SH030")


def test_what_sana_wm_lacks_is_greyed_with_the_reason_and_pose_scale_is_not(sana_wm, tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(sana_wm.url)
    assert connection.capability(bpy.context, "camera_poses") == (True, server_info.NOT_CHECKED)
    assert generate.learn_server(generate.client_config())
    assert connection.capability(bpy.context, "camera_poses") == (True, "")
    reasons = []
    for name in ("audio", "camera_lora", "control_depth", "control_tracks", "keyframes"):
        ok, reason = connection.capability(bpy.context, name)
        assert not ok and "(sana-wm)" in reason and sana_wm.url in reason, (name, reason)
        reasons.append(reason)
    generate.refresh_plan(scene)
    labels = shot_panel_labels(scene, "SH010")
    assert reasons[0] in labels and reasons[1] in labels  # audio and camera LoRA switches say why
    assert not any("exact camera poses" in text for text in labels)
    # A control kind the family lacks is refused with a sentence before anything is rendered.
    props.shot_settings(scene, "SH010").control_kind = "depth"
    with pytest.raises(ValueError, match="SH010"):
        generate.run_sync(scene, ["SH010"], report=quiet)


def test_an_orthographic_camera_is_refused_before_anything_is_rendered(sana_wm, tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    bpy.data.objects["CamDolly"].data.type = "ORTHO"
    generate.set_server(sana_wm.url)
    with pytest.raises(ValueError, match="SH010 cannot be sent: .*orthographic.*Perspective"):
        generate.run_sync(scene, ["SH010"], report=quiet)
    assert guide_pngs(scene, "SH010", 1) == []


def test_a_server_without_exact_poses_gets_no_poses_and_greys_pose_scale(server, tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(server.url)
    cfg = generate.client_config()
    assert generate.learn_server(cfg)
    ok, reason = connection.capability(bpy.context, "camera_poses")
    assert not ok and reason.endswith("(ltx-video), which has no exact camera poses.")
    plan = generate.refresh_plan(scene)
    ss = props.shot_settings(scene, "SH010")
    ss.pose_scale = 2.0
    st = props.scene_settings(scene)
    st.guide_every_n = 16  # this family takes later keyframes: they are still rendered and sent
    _run, requests, _specs, _pending = request.prepare(
        scene, plan.shot("SH010"), ss, cfg, None, control="none"
    )
    assert [r.get("poses") for r in requests] == [None]
    assert [c["frame_index"] for c in requests[0]["conditions"]] == [0, 16, 32]
    assert reason in shot_panel_labels(scene, "SH010")


def test_a_draft_on_sana_wm_keeps_the_planned_size_and_its_refiner_finalizes_it(sana_wm, tmp_path, fresh):
    """SANA-WM's recipe has divisor 1 (its draft is at the final size): Generate Draft keeps the planned
    size, which the half-size rule of LTX-2 would have rounded to the 64-pixel grid; Finalize runs its
    LTX-2 refiner on the kept draft, and the final lands above the draft over the same frames."""
    scene = demo_blend(tmp_path / "edit.blend")
    props.scene_settings(scene).pixel_budget = 160 * 96  # planned 160x96; the half-size rule: 128x64
    generate.set_server(sana_wm.url)
    assert generate.learn_server(generate.client_config())
    assert server_info.get(sana_wm.url)["recipe"]["draft"]["divisor"] == 1
    g = generate.refresh_plan(scene).shot("SH010").generation
    assert (g.width % 64, g.height % 64) != (0, 0), (g.width, g.height)  # else the test proves nothing

    result = generate.run_sync(scene, ["SH010"], report=quiet, draft=True)
    assert result["imported"] == ["SH010"], (result["shots"], sana_wm.log()[-3000:])
    (strip,) = vse.takes(scene, "SH010")
    assert strip.ltx.stage == "draft"
    job = Client(sana_wm.url).status(strip.ltx.job_id)
    assert (job["request"]["width"], job["request"]["height"]) == (g.width, g.height)
    assert job["applied"]["draft"] == {"width": 160, "height": 96, "final_width": 160, "final_height": 96}

    result = finalize.run_sync(scene, ["SH010"], report=quiet)
    assert result["imported"] == ["SH010"], (result, sana_wm.log()[-3000:])
    takes = {s.ltx.take: s for s in vse.takes(scene, "SH010")}
    final = takes[2]
    assert (final.ltx.stage, final.ltx.draft_job_id) == ("final", strip.ltx.job_id)
    assert final.channel > strip.channel and (final.mute, strip.mute) == (False, True)
    assert compat.strip_span(final) == compat.strip_span(strip)
    fjob = Client(sana_wm.url).status(final.ltx.job_id)
    assert [s["stage"] for s in fjob["applied"]["stages"]] == ["refiner"]
    assert (fjob["request"]["width"], fjob["request"]["height"]) == (g.width, g.height)
    assert fjob["request"]["num_frames"] == job["request"]["num_frames"]


def _pump(scene, names, timeout=300) -> None:
    deadline = time.monotonic() + timeout
    while generate.pending(scene, names):
        tick.drain()  # what the timer does
        assert time.monotonic() < deadline, [props.shot_settings(scene, n).message for n in names]
        time.sleep(0.05)


def test_the_click_measures_the_first_frames_depth_in_the_background(sana_wm, tmp_path, fresh):
    """The click ray-casts nothing and changes no frame: the first frame's depth is measured in the
    background (with the guide render, or alone where the shot renders no guide) and reaches the server."""
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(sana_wm.url)
    assert generate.learn_server(generate.client_config())
    scene.frame_set(1)  # SH020 and SH030 start later: measuring there in the click changed the frame
    ss30 = props.shot_settings(scene, "SH030")  # a look frame renders no guide: its depth is measured alone
    ss30.look_mode, ss30.look_image = "FRAME", noise_png(tmp_path / "look.png", seed=3)
    depths = {
        name: scene_depth.first_frame_depth(scene, bpy.data.objects[shot.camera], shot.frame_start)
        for name, shot in ((s.name, s) for s in generate.refresh_plan(scene).shots)
    }
    with blender_events("frame_change_pre", "render_pre") as count:
        out = generate.start_async(bpy.context, ["SH020", "SH030"])
        assert out["submitted"] == ["SH020", "SH030"]
        assert count == {"frame_change_pre": 0, "render_pre": 0}  # no ray cast moved the frame; no render
        for entry in session.staged:  # the requests wait for the depth
            assert all("scene_depth" not in r["poses"] for r in entry.requests)
        assert props.shot_settings(scene, "SH030").message == (
            "Measuring the first frame's depth in the background."
        )
        _pump(scene, ["SH020", "SH030"])
        assert count["render_pre"] == 0
    assert scene.frame_current == 1
    for name in ("SH020", "SH030"):
        ss = props.shot_settings(scene, name)
        assert ss.job_status == "imported", ss.message
        poses = Client(sana_wm.url).status(ss.job_id)["applied"]["camera_poses"]
        assert f"median depth {depths[name]:.3g} m of the first frame" in poses["scale_source"], poses


def test_a_click_on_a_sana_wm_not_asked_yet_sends_only_the_guides_it_takes(sana_wm, tmp_path, fresh):
    """Guide Every N > 0 and a server this session never asked: the click asks it in the background while
    the guides render, and the take goes with its frame-0 picture alone (the later ones would get a 422),
    saying so on the shot."""
    scene = demo_blend(tmp_path / "edit.blend")
    props.scene_settings(scene).guide_every_n = 8
    generate.set_server(sana_wm.url)
    assert server_info.get(sana_wm.url) is None
    out = generate.start_async(bpy.context, ["SH010"])
    assert out["submitted"] == ["SH010"]
    assert server_info.get(sana_wm.url) is None  # the click asked nothing itself
    _pump(scene, ["SH010"])
    ss = props.shot_settings(scene, "SH010")
    assert ss.job_status == "imported", ss.message
    assert len(guide_pngs(scene, "SH010", 1)) > 1  # the later guides were rendered (nobody knew yet)
    job = Client(sana_wm.url).status(ss.job_id)
    assert [c["frame_index"] for c in job["applied"]["conditions"]] == [0]
    assert "which has no keyframes: only the first frame was sent" in ss.message, ss.message


def test_a_generate_draft_click_on_a_server_not_asked_yet_asks_for_its_recipe_first(sana_wm, tmp_path, fresh):
    """The click asks the server through the courier and returns; the drafts go from the tick once the
    recipe is in, at SANA-WM's size (the planned one), not the half-size rule's."""
    scene = demo_blend(tmp_path / "edit.blend")
    props.scene_settings(scene).pixel_budget = 160 * 96  # planned 160x96; the half-size rule: 128x64
    generate.set_server(sana_wm.url)
    assert server_info.get(sana_wm.url) is None
    out = generate.start_async(bpy.context, ["SH010"], draft=True)
    ss = props.shot_settings(scene, "SH010")
    assert out["submitted"] == [] and ss.message == out["message"]
    assert out["message"] == f"Asking {sana_wm.url} for its draft recipe; the draft goes once it answers."
    deadline = time.monotonic() + 60
    while not generate.pending(scene, ["SH010"]):  # the tick submits once the answer is in
        tick.drain()
        assert time.monotonic() < deadline, ss.message
        time.sleep(0.05)
    _pump(scene, ["SH010"])
    assert ss.job_status == "imported", ss.message
    (strip,) = vse.takes(scene, "SH010")
    job = Client(sana_wm.url).status(strip.ltx.job_id)
    assert (job["request"]["width"], job["request"]["height"]) == (160, 96)
    assert job["applied"]["draft"]["final_width"] == 160


def test_a_server_not_asked_yet_gets_the_poses_inputs(tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    scene.unit_settings.scale_length = 0.5
    generate.set_server("http://127.0.0.1:9")  # never asked: it may take them (others ignore them)
    cfg = generate.client_config()
    plan = generate.refresh_plan(scene)
    ss = props.shot_settings(scene, "SH020")
    _run, requests, _specs, _pending = request.prepare(
        scene, plan.shot("SH020"), ss, cfg, None, control="none"
    )
    depth = scene_depth.first_frame_depth(scene, bpy.data.objects["CamOrbit"], 49)
    assert requests[0]["poses"] == {"metres_per_unit": 0.5, "scene_depth": pytest.approx(depth)}


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="the demo starts the server from this interpreter, which has no torch here",
)
def test_the_demo_runs_on_the_tiny_sana_wm(tmp_path):
    out = tmp_path / "demo"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "blender_ltx", "demo", "--model", "tiny-sana-wm", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Starting the tiny-sana-wm server" in proc.stdout
    with registered_scene():
        bpy.ops.wm.open_mainfile(filepath=str(out / "demo.blend"))
        scene = bpy.context.scene
        for ss in (s for s in scene.ltx.shots if s.in_plan):
            strip = vse.active_take(scene, ss.name)
            assert strip is not None and strip.ltx.take == 1, ss.name
            assert compat.strip_span(strip) == (ss.frame_start, ss.frame_end + 1)
            applied = json.loads(strip.ltx.applied)
            # The demo made the shot's look first (the tiny servers start with the tiny look model).
            assert applied["look"]["mode"] == "frame" and applied["look"]["pictures_to_model"] == 1
            poses = applied["camera_poses"]
            assert poses["static"] is False and poses["frames"] >= ss.frame_end - ss.frame_start + 1
            roles = [s.ltx.role for s in vse._shot_strips(scene.sequence_editor, ss.name)]
            assert vse.ROLE_SOUND not in roles  # the family makes no audio
    assert (out / "preview.mp4").stat().st_size > 0
