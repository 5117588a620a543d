"""Jobs that must not be lost or left stuck: a shot that fails to prepare next to shots already sent,
settings of a shot whose job still runs, and a shot saved as queued before its job id came back."""

from __future__ import annotations

import pytest

bpy = pytest.importorskip("bpy")

from blender_ltx.bl.flow import generate  # noqa: E402
from blender_ltx.bl.addon import props  # noqa: E402
from blender_ltx.bl.link import courier_link, tick  # noqa: E402

from addon_env import demo_blend, no_jobs_in_flight, registered_scene  # noqa: E402
from support.server import free_port  # noqa: E402


@pytest.fixture
def scene():
    with registered_scene() as scene, no_jobs_in_flight():
        yield scene


def _no_timer() -> None:
    if bpy.app.timers.is_registered(tick.on_timer):
        bpy.app.timers.unregister(tick.on_timer)


def test_a_shot_that_cannot_be_written_stops_the_run_before_anything_is_sent(scene, tmp_path) -> None:
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(f"http://127.0.0.1:{free_port()}")  # nobody there: a job sent would fail later
    bpy.ops.ltx.refresh_plan()
    first, second = [ss.name for ss in props.plan_shots(scene)][:2]
    # A file where the second shot's folder goes: its guide frames and clip cannot be written.
    folder = tmp_path / "ltx" / "edit"
    folder.mkdir(parents=True)
    (folder / second).write_text("not a folder")
    _no_timer()
    with pytest.raises(ValueError, match=f"clip folder of shot {second} .* is a file"):
        generate.start_async(bpy.context, None)
    # Nothing went to the worker: no job of the first shot runs unrecorded on the server.
    assert generate.pending(scene) == [] and not courier_link.get().busy()
    assert props.shot_settings(scene, first).job_status == ""


def test_a_marker_bound_to_a_mesh_stops_the_run_before_anything_is_sent(scene, tmp_path) -> None:
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(f"http://127.0.0.1:{free_port()}")
    bpy.ops.mesh.primitive_cube_add()
    scene.timeline_markers[-1].camera = bpy.context.active_object  # the last shot, after good ones
    last = scene.timeline_markers[-1].name
    _no_timer()
    with pytest.raises(
        ValueError, match=f"Shot {last} is filmed through 'Cube', which is a mesh, not a camera"
    ):
        generate.start_async(bpy.context, None)
    assert generate.pending(scene) == [] and not courier_link.get().busy()
    _no_timer()


def test_removing_unused_settings_keeps_a_shot_whose_job_runs(scene) -> None:
    scene = demo_blend_free(scene)
    bpy.ops.ltx.refresh_plan()
    names = [ss.name for ss in props.plan_shots(scene)]
    running, idle = props.shot_settings(scene, names[1]), props.shot_settings(scene, names[2])
    running.job_id, running.job_status = "job-1", "running"
    idle.prompt = "gone"
    # Re-cut: both shots leave the plan.
    for m in list(scene.timeline_markers):
        if m.name in names[1:]:
            scene.timeline_markers.remove(m)
    bpy.ops.ltx.refresh_plan()
    assert bpy.ops.ltx.remove_stale_shots() == {"FINISHED"}
    # Its take still comes back to these settings (job id, status): they stay until it is in.
    assert props.shot_settings(scene, names[1], create=False) is not None
    assert props.shot_settings(scene, names[2], create=False) is None


def demo_blend_free(scene):
    """The demo previs without saving (three marker shots)."""
    from blender_ltx.bl.cli import demo

    demo.build_scene(scene, pixel_budget=128 * 96, steps=1)
    return scene


def test_a_shot_saved_as_queued_without_a_job_id_is_not_stuck(scene, tmp_path) -> None:
    # Saved while its submit was still in flight (or undone to that state): no job id to follow.
    scene = demo_blend(tmp_path / "edit.blend")
    bpy.ops.ltx.refresh_plan()
    ss = props.active_shot(scene)
    ss.job_status, ss.job_id = "queued", ""
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "edit.blend"))
    scene = bpy.context.scene
    ss = props.active_shot(scene)
    assert ss.job_status not in props.ACTIVE_STATES, ss.message
    assert "generate" in ss.message.lower()
    assert bpy.ops.ltx.generate_shot.poll()

    # The same state within a session (undo back over the submit): Cancel clears it.
    ss.job_status, ss.job_id = "queued", ""
    assert bpy.ops.ltx.cancel() == {"FINISHED"}
    assert ss.job_status not in props.ACTIVE_STATES
    assert bpy.ops.ltx.generate_shot.poll()
