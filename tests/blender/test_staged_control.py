"""Generate's click with a control kind: the control frames render in the background after the click
returns (``bl/flow/staged.py``), and the shot's jobs go out only once they are in. Real server on the tiny
LTX-2 (its tiny IC-LoRAs), real background Blender renders, the courier in its child process."""

from __future__ import annotations

import json
import os
import time

import pytest

pytestmark = [
    pytest.mark.blender,
    pytest.mark.server,
    pytest.mark.slow,
    pytest.mark.usefixtures("registered"),
]
bpy = pytest.importorskip("bpy")

import scenes  # noqa: E402
from addon_env import demo_blend, user_render_state  # noqa: E402

from blender_ltx.bl.flow import generate, staged  # noqa: E402
from blender_ltx.bl.flow.session import session  # noqa: E402
from blender_ltx.bl.edit import previs_strip, vse  # noqa: E402
from blender_ltx.bl.addon import props  # noqa: E402
from blender_ltx.bl.link import tick  # noqa: E402
from blender_ltx.core import server_info  # noqa: E402
from blender_ltx.core.client import Client  # noqa: E402


def _layers(strip) -> list[str]:
    return json.loads(strip.ltx.applied or "{}").get("layers", [])


def _pending_renders():
    return [p for entry in session.staged for p in entry.pending()]


def _click_depth(srv, tmp_path):
    """The demo file, SH010's control set to depth, Generate clicked: (scene, its one pending control
    render, the server's job count before the click)."""
    scene = demo_blend(tmp_path / "edit.blend")
    props.shot_settings(scene, "SH010").control_kind = "depth"
    generate.set_server(srv.url)
    jobs_before = len(Client(srv.url).list_jobs())
    generate.start_async(bpy.context, ["SH010"])
    (pending,) = _pending_renders()
    return scene, pending, jobs_before


def _until_rendering(pending) -> None:
    """Tick until the render has started (the server is asked first)."""
    deadline = time.monotonic() + 60
    while pending.render is None:
        tick.drain()
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_click_returns_before_the_render_and_sends_once_the_frames_are_in(ltx2, tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    scene.render.filepath = "//render/out_"
    before = user_render_state(scene)
    props.shot_settings(scene, "SH010").control_kind = "depth"
    generate.set_server(ltx2.url)
    jobs_before = len(Client(ltx2.url).list_jobs())

    out = generate.start_async(bpy.context, ["SH010"])

    # The click returned with the take staged: nothing rendered or sent yet, the shot shows as queued.
    assert out["submitted"] == ["SH010"]
    ss = props.shot_settings(scene, "SH010")
    assert len(session.staged) == 1 and ss.job_status == "queued" and ss.job_id == ""
    assert generate.pending(scene) == ["SH010"]
    assert staged.poll in tick.state.hooks and bpy.app.timers.is_registered(tick.on_timer)
    (pending,) = _pending_renders()
    assert pending.render is None  # started by the timer, not by the click
    copy = session.staged[0].copy.path()
    assert os.path.isfile(copy) and not os.path.samefile(copy, bpy.data.filepath)
    assert len(Client(ltx2.url).list_jobs()) == jobs_before
    assert user_render_state(scene) == before

    # A second click on Generate All while it renders does not stage the shot twice.
    again = generate.start_async(bpy.context, None, force=True)
    assert "SH010" in again["attached"] and len(session.staged) == 3  # SH020 and SH030 join it

    staged.cancel((scene.session_uid, "SH020"))
    staged.cancel((scene.session_uid, "SH030"))
    seen_progress = []
    deadline = time.monotonic() + 600
    while generate.pending(scene, ["SH010"]):
        tick.drain()  # what the timer does: the courier's answers and the staged renders
        seen_progress.append(ss.message)
        assert ss.job_status not in ("error", "failed"), ss.message
        assert time.monotonic() < deadline, ss.message
        time.sleep(0.1)
    assert ss.job_status == "imported", ss.message
    assert any("Rendering the previs control frames:" in m for m in seen_progress)
    (take,) = vse.takes(scene, "SH010")
    assert "control_depth" in _layers(take)
    (previs,) = previs_strip.previs_strips(scene, "SH010")
    assert previs.mute and previs.channel < take.channel
    assert len(session.staged) == 0 and not os.path.exists(copy)  # the copy went with its last run
    assert user_render_state(scene) == before


def test_auto_on_a_server_not_asked_yet_is_chosen_by_the_courier_after_the_render(ltx2, tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    assert props.shot_settings(scene, "SH010").control_kind == "auto"
    generate.set_server(ltx2.url)
    assert server_info.get(ltx2.url) is None

    generate.start_async(bpy.context, ["SH010"])

    assert len(session.staged) == 1  # rendered in the background although the kind is not known yet
    assert not generate.wait(scene, ["SH010"], timeout=600)
    ss = props.shot_settings(scene, "SH010")
    assert ss.job_status == "imported", ss.message
    (take,) = vse.takes(scene, "SH010")
    assert "control_depth" in _layers(take)  # the tiny LTX-2's strongest kind


def test_cancel_while_rendering_stops_the_render_and_sends_nothing(ltx2, tmp_path, fresh):
    scene, pending, jobs_before = _click_depth(ltx2, tmp_path)
    _until_rendering(pending)
    proc = pending.render.proc
    assert proc.poll() is None  # rendering

    generate.cancel(scene, ["SH010"])

    assert proc.poll() is not None  # the background Blender was stopped
    ss = props.shot_settings(scene, "SH010")
    assert ss.job_status == "cancelled" and "nothing was sent" in ss.message
    assert len(session.staged) == 0 and generate.pending(scene) == []
    tick.drain()
    assert len(Client(ltx2.url).list_jobs()) == jobs_before
    assert vse.takes(scene, "SH010") == []


def test_a_failed_render_marks_the_shot_with_its_sentence_and_sends_nothing(ltx2, tmp_path, fresh):
    # A camera looking at nothing: the depth pass hits nothing, which the background render reports.
    scene = scenes.reset()
    scenes.set_range(scene, 1, 17)
    scenes.add_camera(scene, "Empty")
    scene.ltx.pixel_budget = 128 * 96
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "empty.blend"))
    generate.set_server(ltx2.url)
    generate.refresh_plan(scene)
    (ss,) = scene.ltx.shots
    ss.control_kind = "depth"
    jobs_before = len(Client(ltx2.url).list_jobs())

    generate.start_async(bpy.context, [ss.name])
    assert not generate.wait(scene, [ss.name], timeout=300)

    assert ss.job_status == "error"
    assert ss.message.startswith(f"Shot {ss.name}: The control render failed:")
    assert "hits nothing" in ss.message
    assert len(session.staged) == 0
    assert len(Client(ltx2.url).list_jobs()) == jobs_before


def test_loading_another_file_stops_staged_renders(ltx2, tmp_path, fresh):
    _scene, pending, _jobs = _click_depth(ltx2, tmp_path)
    _until_rendering(pending)
    copy = session.staged[0].copy.path()

    bpy.ops.wm.read_factory_settings(use_empty=True)  # load_pre runs: the file's renders end

    assert pending.render.proc.poll() is not None
    assert len(session.staged) == 0 and not os.path.exists(copy)


def test_auto_on_a_server_without_control_renders_nothing_and_sends_at_once(server, tmp_path, fresh):
    """An LTX-Video server the session has not asked: the click stages the shot, the courier asks, and
    ``auto`` turns into no control without a render; the take is made as before."""
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(server.url)
    generate.start_async(bpy.context, ["SH010"])
    (pending,) = _pending_renders()

    assert not generate.wait(scene, ["SH010"], timeout=300)

    ss = props.shot_settings(scene, "SH010")
    assert ss.job_status == "imported", ss.message
    assert pending.render is None and pending.finished and pending.result is None  # nothing rendered
    (take,) = vse.takes(scene, "SH010")
    assert not [layer for layer in _layers(take) if layer.startswith("control")]
    assert previs_strip.previs_strips(scene, "SH010") == []
    assert server_info.get(server.url) is not None  # learned: the next click decides at once

    generate.start_async(bpy.context, ["SH010"])
    (entry,) = session.staged  # only its guide frames to render: no control render
    assert entry.pending() == [] and len(entry.guides) == 1
    assert not generate.wait(scene, ["SH010"], timeout=300)


def test_a_kind_the_server_lacks_fails_the_click_before_any_render(server, tmp_path, fresh):
    scene, pending, jobs_before = _click_depth(server, tmp_path)

    assert not generate.wait(scene, ["SH010"], timeout=120)

    ss = props.shot_settings(scene, "SH010")
    assert ss.job_status == "error"
    assert ss.message.startswith("Shot SH010: Control 'depth' is not available"), ss.message
    assert pending.render is None  # refused before rendering
    assert len(Client(server.url).list_jobs()) == jobs_before


def test_best_of_two_takes_share_one_staged_render(ltx2, tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    scene.ltx.takes_per_shot = 2
    props.shot_settings(scene, "SH010").control_kind = "depth"
    generate.set_server(ltx2.url)

    generate.start_async(bpy.context, ["SH010"])

    (entry,) = session.staged
    assert len(entry.requests) == 2 and len(entry.pending()) == 1  # two takes' jobs, one render
    assert not generate.wait(scene, ["SH010"], timeout=600)
    ss = props.shot_settings(scene, "SH010")
    assert ss.job_status == "imported", ss.message
    takes = vse.takes(scene, "SH010")
    assert len(takes) == 2 and all("control_depth" in _layers(t) for t in takes)
    assert len({t.ltx.job_id for t in takes}) == 2


def test_the_click_leaves_the_track_numbers_to_the_background_render(ltx2, tmp_path, fresh):
    """Tracks cast a ray per mesh vertex in view (about 1 s a shot on dense meshes): a click computes
    none; the background render does, the take goes with them, and a shot with nothing to track fails
    alone with its sentence, as the click said before."""
    from addon_env import TEST_PIXEL_BUDGET, blender_events

    scene = scenes.grey_box(scenes.reset(), sky_shot=True)
    props.scene_settings(scene).pixel_budget = TEST_PIXEL_BUDGET
    for name in ("GROUND", "SKY"):
        ss = props.shot_settings(scene, name)
        ss.steps, ss.control_kind = 1, "tracks"
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "grey.blend"))
    generate.set_server(ltx2.url)
    with blender_events("frame_change_pre") as count:
        out = generate.start_async(bpy.context, None)
        assert count["frame_change_pre"] == 0  # no track point was looked for in the click
    assert out["submitted"] == ["GROUND", "SKY"] and out["failed"] == []
    assert all("tracks" not in p.spec and p.tracks_pending for p in _pending_renders())

    assert not generate.wait(scene, ["GROUND", "SKY"], timeout=600)
    ground, sky = props.shot_settings(scene, "GROUND"), props.shot_settings(scene, "SKY")
    assert ground.job_status == "imported", ground.message
    (take,) = vse.takes(scene, "GROUND")
    assert "control_tracks" in _layers(take)
    assert sky.job_status == "error"
    assert sky.message.startswith("Shot SKY: no surface or point to track is in view on its first frame")
    assert vse.takes(scene, "SKY") == []
