"""The round trip on real bpy with the real server (tiny model) on loopback: demo scene -> takes in the VSE.

Kept lean: the demo scene at a tiny generation size (128x96 budget) and one denoising step.
"""

from __future__ import annotations

import os
import time

import pytest

pytestmark = [pytest.mark.blender, pytest.mark.server, pytest.mark.slow]
bpy = pytest.importorskip("bpy")

from blender_ltx.bl.flow import generate  # noqa: E402
from blender_ltx.bl.addon import props  # noqa: E402
from blender_ltx.bl.edit import vse  # noqa: E402
from blender_ltx.bl.link import tick  # noqa: E402
from addon_env import TEST_PIXEL_BUDGET, demo_blend, registered_addon  # noqa: E402
from support.server import free_port, run_server, start_server  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def registered():
    with registered_addon():
        yield


def user_render_state(scene) -> tuple:
    r = scene.render
    return (
        r.engine, r.resolution_x, r.resolution_y, r.resolution_percentage, r.filepath, r.use_sequencer,
        r.image_settings.file_format, scene.camera.name, scene.frame_current,
        scene.frame_start, scene.frame_end,
    )  # fmt: skip


def test_generate_all_then_takes_stack(server, tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    scene.frame_current = 30
    scene.render.filepath = "//render/out_"
    before = user_render_state(scene)
    generate.set_server(server.url)
    lines: list[str] = []

    result = generate.run_sync(scene, None, report=lines.append)

    assert result["imported"] == ["SH010", "SH020", "SH030"], result
    assert user_render_state(scene) == before
    assert any("Generating" in ln for ln in lines) and any("imported" in ln for ln in lines)
    plan = props.load_plan(scene)
    for shot in plan.shots:
        ss = props.shot_settings(scene, shot.name, create=False)
        strips = vse.takes(scene, shot.name)
        assert len(strips) == 1
        strip = strips[0]
        assert (strip.frame_final_start, strip.frame_final_duration) == (shot.frame_start, shot.length)
        assert not strip.mute and strip.name == f"{shot.name} take 1"
        assert strip.ltx.job_id == ss.job_id and strip.ltx.seed == ss.seed and strip.ltx.take == 1
        assert "Cinematic" in strip.ltx.prompt and ss.prompt.split(";")[0][:20] in strip.ltx.prompt
        assert strip.ltx.applied and strip.ltx.server == server.url
        assert strip.filepath == f"//ltx/edit/{shot.name}/take_1.mp4"
        assert os.path.isfile(tmp_path / "ltx" / "edit" / shot.name / "take_1.mp4")
        assert (ss.job_status, ss.takes, ss.active_take, ss.progress) == ("imported", 1, 1, 1.0)

    # Nothing changed: generate-all has nothing to do; forced, every shot gets a second take on top.
    again = generate.run_sync(scene, None, report=lines.append)
    assert again["submitted"] == [] and again["unchanged"] == ["SH010", "SH020", "SH030"]
    props.shot_settings(scene, "SH020").prompt = "A different prompt."
    changed = generate.run_sync(scene, None, report=lines.append)
    assert changed["submitted"] == ["SH020"] and changed["imported"] == ["SH020"]
    forced = generate.run_sync(scene, ["SH010"], force=True, report=lines.append)
    assert forced["imported"] == ["SH010"]
    take1, take2 = vse.takes(scene, "SH010")
    assert take1.mute and not take2.mute and take2.channel > take1.channel
    assert take2.ltx.job_id != take1.ltx.job_id and take2.ltx.take == 2
    assert user_render_state(scene) == before


@pytest.fixture(scope="module")
def short_server(tmp_path_factory, tiny_model_dir):
    """A server whose longest job is 25 frames: beyond that the add-on still splits a shot itself."""
    args = ["--max-frames", "25"]
    with run_server(tmp_path_factory.mktemp("srv25"), model=str(tiny_model_dir), extra_args=args) as srv:
        yield srv


def test_split_shot_is_one_take_of_consecutive_segments(short_server, tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    # SH010 (48 frames) is generated in two segments of 24: above the server's longest job.
    generate.set_server(short_server.url)
    quiet = lambda _l: None  # noqa: E731

    assert generate.run_sync(scene, ["SH010"], report=quiet)["imported"] == ["SH010"]
    segs = props.load_plan(scene).shot("SH010").generation.segments
    assert [(s.frame_start, s.frame_end) for s in segs] == [(1, 24), (25, 48)]
    ss = props.shot_settings(scene, "SH010")
    jobs = ss.job_id.split(",")
    t1 = vse.take_strips(scene, "SH010", 1)
    ch = t1[0].channel
    assert [
        (s.name, s.channel, s.frame_final_start, s.frame_final_end, s.ltx.job_id, s.mute) for s in t1
    ] == [
        ("SH010 take 1", ch, 1, 25, jobs[0], False),
        ("SH010 take 1.2", ch, 25, 49, jobs[1], False),
    ]
    assert [(s.ltx.segment, s.ltx.segments) for s in t1] == [(0, 2), (1, 2)]
    assert [s.filepath for s in t1] == [f"//ltx/edit/SH010/take_1_seg{k}.mp4" for k in (1, 2)]
    assert vse.takes(scene, "SH010") == t1[:1] and (ss.job_status, ss.takes, ss.active_take) == (
        "imported",
        1,
        1,
    )
    # Segment 2 starts from the guide render at its own first frame (scene frame 25).
    guides = tmp_path / "ltx" / "edit" / "SH010" / "guides" / "take_1"
    assert os.path.isfile(guides / "part2" / "guide_0000.png")

    # Re-attached to its finished jobs (a file saved while they ran): nothing is imported twice.
    ss.job_status = "running"
    assert generate.run_sync(scene, ["SH010"], report=quiet)["attached"] == ["SH010"]
    assert vse.take_strips(scene, "SH010") == t1 and ss.job_status == "imported"

    # A second take stacks above as one unit; promoting switches every segment.
    assert generate.run_sync(scene, ["SH010"], report=quiet)["imported"] == ["SH010"]
    t1, t2 = vse.take_strips(scene, "SH010", 1), vse.take_strips(scene, "SH010", 2)
    assert [s.mute for s in t1 + t2] == [True, True, False, False] and t2[0].channel > ch
    assert [(s.frame_final_start, s.frame_final_end) for s in t2] == [(1, 25), (25, 49)]
    vse.promote_take(scene, "SH010", 1)
    assert [s.mute for s in t1 + t2] == [False, False, True, True]
    clips = sorted(f for f in os.listdir(tmp_path / "ltx" / "edit" / "SH010") if f.endswith(".mp4"))
    assert clips == ["take_1_seg1.mp4", "take_1_seg2.mp4", "take_2_seg1.mp4", "take_2_seg2.mp4"]


def test_server_absent_leaves_a_sentence_and_nothing_else(tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    url = f"http://127.0.0.1:{free_port()}"
    generate.set_server(url)
    result = generate.run_sync(scene, ["SH010"], report=lambda _l: None)
    ss = props.shot_settings(scene, "SH010")
    assert result["failed"] == ["SH010"] and ss.job_status == "error"
    assert ss.message.startswith(f"No LTX server at {url}:") and "python -m server" in ss.message
    assert vse.takes(scene, "SH010") == [] and ss.job_id == "" and ss.input_hash == ""
    assert "SH010" in generate.run_sync(scene, None, report=lambda _l: None)["failed"]  # still "changed"


def test_a_shot_whose_camera_was_deleted_goes_and_the_report_says_so(server, tmp_path, fresh):
    """Issue 15 #19: the take is made through the camera now in effect, and the run's report says which
    camera was lost and what to change."""
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(server.url)
    generate.refresh_plan(scene)
    cam = scene.timeline_markers["SH020"].camera
    name, now = cam.name, scene.timeline_markers["SH010"].camera.name
    bpy.data.objects.remove(cam)
    result = generate.run_sync(scene, ["SH020"], report=lambda _l: None)
    assert result["imported"] == ["SH020"], result
    said = f"Shot SH020 was filmed through camera '{name}', which is no longer in the file, so it now renders"
    assert said in result["message"] and "bind the marker at frame " in result["message"]
    ss = props.shot_settings(scene, "SH020")
    assert (ss.lost_camera, ss.camera) == (name, now)


def test_server_killed_mid_job_and_restarted(tmp_path, tiny_model_dir, fresh):
    data = tmp_path / "srv"
    srv = start_server(data, model=str(tiny_model_dir))
    port = srv.url.rsplit(":", 1)[1]
    try:
        scene = demo_blend(tmp_path / "edit.blend")
        props.shot_settings(scene, "SH010").steps = 6  # long enough to be caught running
        generate.set_server(srv.url)
        generate.submit(scene, ["SH010"], report=None)
        ss = props.shot_settings(scene, "SH010")
        assert not generate.wait(scene, ["SH010"], timeout=60, submitted_only=True)
        job_id = ss.job_id
        while ss.job_status != "running":
            generate.wait(scene, ["SH010"], timeout=0.1)
        srv.kill9()
        generate.wait(scene, ["SH010"], timeout=4)
        assert "No LTX server" in ss.message and "retrying" in ss.message, ss.message
        assert ss.job_id == job_id and ss.job_status == "running"  # kept, not failed
        srv = start_server(data, model=str(tiny_model_dir), extra_args=("--port", port))
        assert not generate.wait(scene, ["SH010"], timeout=240)
        assert ss.job_status == "imported", ss.message
        strips = vse.takes(scene, "SH010")
        assert len(strips) == 1 and strips[0].ltx.job_id == job_id
    finally:
        srv.stop()


def test_saved_and_reopened_mid_job_reattaches_and_imports_once(server, tmp_path, fresh):
    path = tmp_path / "edit.blend"
    scene = demo_blend(path)
    props.shot_settings(scene, "SH020").steps = 3
    generate.set_server(server.url)
    generate.run_sync(scene, ["SH020"], wait_for_clips=False, report=lambda _l: None)
    job_id = props.shot_settings(scene, "SH020").job_id
    assert job_id and props.shot_settings(scene, "SH020").job_status in ("queued", "running")
    bpy.ops.wm.save_mainfile()

    bpy.ops.wm.open_mainfile(filepath=str(path))  # load_pre forgets, load_post re-attaches
    scene = bpy.context.scene
    assert generate.pending(scene) == ["SH020"]
    assert not generate.wait(scene, timeout=240)
    ss = props.shot_settings(scene, "SH020", create=False)
    assert ss.job_status == "imported" and [s.ltx.job_id for s in vse.takes(scene, "SH020")] == [job_id]
    bpy.ops.wm.save_mainfile()

    # A file that still says "running" for a job that is already on a strip: re-attached, not re-imported.
    ss.job_status = "running"
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.open_mainfile(filepath=str(path))
    scene = bpy.context.scene
    assert not generate.wait(scene, timeout=120)
    assert [s.ltx.job_id for s in vse.takes(scene, "SH020")] == [job_id]
    assert props.shot_settings(scene, "SH020").job_status == "imported"
    assert sorted(os.listdir(tmp_path / "ltx" / "edit" / "SH020")) == ["guides", "take_1.mp4"]


def test_async_path_through_drain_and_cancel(server, tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(server.url)
    # Long (the server's step limit): SH030 waits behind SH010 on the one-job-at-a-time server, so the
    # cancel, sent as soon as SH030 has a job id, lands while it is queued or early in its run.
    props.shot_settings(scene, "SH030").steps = 200
    out = generate.start_async(bpy.context, ["SH010", "SH030"])
    assert out["submitted"] == ["SH010", "SH030"]
    assert bpy.app.timers.is_registered(tick.on_timer)  # the running-Blender path is armed
    ss1, ss3 = props.shot_settings(scene, "SH010"), props.shot_settings(scene, "SH030")

    def pump_until(done) -> None:
        deadline = time.monotonic() + 120
        while not done():
            tick.drain()  # what the timer does, at its default budget
            generate.wait(scene, [], timeout=0)  # sleep-free: no shots named, returns at once
            if ss1.job_status in ("failed", "error"):
                pytest.fail(ss1.message)
            assert time.monotonic() < deadline, (ss1.job_status, ss3.job_status)

    pump_until(lambda: bool(ss3.job_id))
    generate.cancel(scene, ["SH030"])
    pump_until(lambda: ss1.job_status == "imported")
    assert not generate.wait(scene, ["SH030"], timeout=120)
    assert ss3.job_status == "cancelled" and vse.takes(scene, "SH030") == []
    assert len(vse.takes(scene, "SH010")) == 1


def test_guides_where_the_motion_changes_become_keyframe_conditions(server, tmp_path, fresh):
    import json

    import scenes

    scene = scenes.reset()
    scenes.set_range(scene, 1, 48)
    cam = scenes.add_camera(scene)
    scenes.add_move(cam, "dolly_in", 1, 24)
    scenes.add_move(cam, "pan_right", 25, 48)
    scene.ltx.pixel_budget = TEST_PIXEL_BUDGET
    scene.ltx.guide_at_motion_changes = True
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "moves.blend"))
    generate.set_server(server.url)

    result = generate.run_sync(scene, None, report=lambda _l: None)

    (shot,) = props.load_plan(scene).shots
    assert [seg.kinds for seg in shot.motion] == [["dolly_in"], ["pan_right"]]
    assert result["imported"] == [shot.name], result
    (strip,) = vse.takes(scene, shot.name)
    applied = json.loads(strip.ltx.applied)
    used = [c["frame_index"] for c in applied["conditions"]]
    boundary = shot.motion[1].frame_start - shot.frame_start
    # The i2v image at 0, and the guide render where the dolly hands over to the pan.
    assert used == [0, boundary] and 18 <= boundary <= 30
    assert "keyframes" in applied["layers"]
    guides = sorted((tmp_path / "ltx" / "moves" / shot.name / "guides" / "take_1").glob("guide_*.png"))
    assert len(guides) == 2


def test_renaming_the_scene_while_a_job_runs_still_imports_the_take(server, tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(server.url)
    assert generate.start_async(bpy.context, ["SH010"])["submitted"] == ["SH010"]
    scene.name = "Renamed mid-job"
    assert generate.pending(scene) == ["SH010"]
    assert not generate.wait(scene, ["SH010"], timeout=120)
    ss = props.shot_settings(scene, "SH010")
    assert ss.job_status == "imported", ss.message
    (strip,) = vse.takes(scene, "SH010")
    assert strip.ltx.job_id == ss.job_id
