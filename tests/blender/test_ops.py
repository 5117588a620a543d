"""Operators on real bpy: why they are disabled (poll messages), undo flags, the plan and shot list,
takes and folders; generation, cancel, connection and server operators against the real server."""

from __future__ import annotations

import os

import pytest

# An empty factory scene (conftest) with the add-on registered; no job of an earlier test followed.
pytestmark = pytest.mark.usefixtures("registered", "fresh")
bpy = pytest.importorskip("bpy")

from blender_ltx.bl.addon import compat, props  # noqa: E402
from blender_ltx.bl.flow import generate, session  # noqa: E402
from blender_ltx.bl.ui import ops  # noqa: E402
from blender_ltx.bl.link import server_process  # noqa: E402
from blender_ltx.bl.edit import vse  # noqa: E402

from addon_env import demo_blend, enabled_as_addon, registered_scene  # noqa: E402
from support.server import free_port  # noqa: E402


def poll_message(op) -> str:
    """The sentence Blender shows for a disabled operator (it is in the error of calling it)."""
    assert not op.poll()
    with pytest.raises(RuntimeError) as err:
        op()
    return str(err.value)


def error_of(op, *args, **kwargs) -> str:
    """An operator that reports an ERROR raises it for a script caller: the report's sentence."""
    with pytest.raises(RuntimeError) as err:
        op(*args, **kwargs)
    return str(err.value)


def add_camera(scene, name: str):
    cam = bpy.data.objects.new(name, bpy.data.cameras.new(name))
    scene.collection.objects.link(cam)
    return cam


def cut_scene(scene):
    """Two cameras, three marker cuts over frames 1-60."""
    scene.frame_start, scene.frame_end = 1, 60
    a, b = add_camera(scene, "CamA"), add_camera(scene, "CamB")
    b.location.x = 3.0
    scene.camera = a
    for name, frame, cam in (("SH010", 1, a), ("SH020", 21, b), ("SH030", 41, a)):
        scene.timeline_markers.new(name, frame=frame).camera = cam
    return scene


def fake_take(scene, shot: str, take: int, mute: bool):
    """A strip carrying take metadata (a color strip: promoting only looks at the metadata)."""
    sed = scene.sequence_editor or scene.sequence_editor_create()
    strip = compat.new_effect(sed, f"{shot} take {take}", "COLOR", 10 + take, 1, 20, None)
    strip.ltx.role, strip.ltx.shot, strip.ltx.take = vse.ROLE_TAKE, shot, take
    strip.mute = mute
    return strip


# ------------------------------------------------------------------------------------ poll and undo


def test_poll_messages_say_what_to_do(scene) -> None:
    assert "no camera" in poll_message(bpy.ops.ltx.refresh_plan)
    for op in (bpy.ops.ltx.generate_shot, bpy.ops.ltx.generate_all, bpy.ops.ltx.promote_take):
        assert "Refresh Plan" in poll_message(op)
    assert "queued or generating" in poll_message(bpy.ops.ltx.cancel)
    assert "No local server" in poll_message(bpy.ops.ltx.stop_server)

    cut_scene(scene)
    assert bpy.ops.ltx.refresh_plan.poll()
    assert bpy.ops.ltx.refresh_plan() == {"FINISHED"}
    # Planned but never saved: clips have nowhere to go next to the .blend.
    assert "Save the .blend" in poll_message(bpy.ops.ltx.generate_all)
    scene.ltx.clip_dir = str(bpy.app.tempdir or "/tmp") + "/ltx-test-clips"
    assert bpy.ops.ltx.generate_all.poll() and bpy.ops.ltx.generate_shot.poll()
    assert "no takes yet" in poll_message(bpy.ops.ltx.promote_take)

    ss = props.active_shot(scene)
    ss.job_status = "running"
    assert f"{ss.name} is already running" in poll_message(bpy.ops.ltx.generate_shot)
    assert bpy.ops.ltx.cancel.poll()

    scene.ltx.active_shot_index = len(scene.ltx.shots)  # nothing selected
    assert "Select a shot" in poll_message(bpy.ops.ltx.generate_shot)


def test_undo_only_where_data_changes() -> None:
    changes = (
        "refresh_plan",
        "goto_shot",
        "remove_stale_shots",
        "promote_take",
        "toggle_previs",
        "generate_shot",
        "generate_all",
    )
    changes += ("cancel", "set_camera_lora", "generate_draft", "finalize", "generate_looks", "use_look")
    changes += ("cancel_looks", "add_reference", "remove_reference", "show_reference")
    read_only = ("open_clip_folder", "test_connection", "start_server", "stop_server")
    classes = {c.bl_idname.split(".")[1]: c for c in ops.classes}
    assert set(changes + read_only) == set(classes)
    for name in changes:
        assert {"REGISTER", "UNDO"} <= set(classes[name].bl_options), name
    for name in read_only:
        assert "UNDO" not in getattr(classes[name], "bl_options", set()), name


# ------------------------------------------------------------------------------------ plan and shots


def test_refresh_plan_fills_the_plan_and_keeps_prompts_across_a_recut(scene) -> None:
    cut_scene(scene)
    assert bpy.ops.ltx.refresh_plan() == {"FINISHED"}
    plan = props.load_plan(scene)
    assert [(s.name, s.frame_start, s.frame_end, s.camera) for s in plan.shots] == [
        ("SH010", 1, 20, "CamA"),
        ("SH020", 21, 40, "CamB"),
        ("SH030", 41, 60, "CamA"),
    ]
    shots = props.plan_shots(scene)
    assert [(s.name, s.frame_start, s.frame_end, s.camera) for s in shots] == [
        (s.name, s.frame_start, s.frame_end, s.camera) for s in plan.shots
    ]
    for ss in shots:
        ss.prompt = f"prompt of {ss.name}"
    props.shot_settings(scene, "SH020").seed_lock = True
    scene.ltx.active_shot_index = scene.ltx.shots.find("SH030")

    # Re-cut: move SH020 later, rename SH030, refresh.
    markers = {m.name: m for m in scene.timeline_markers}
    markers["SH020"].frame = 31
    markers["SH030"].name = "SH040"
    markers["SH030"].frame = 50
    assert bpy.ops.ltx.refresh_plan() == {"FINISHED"}
    planned = {s.name: s for s in props.plan_shots(scene)}
    assert list(planned) == ["SH010", "SH020", "SH040"]
    assert (planned["SH020"].frame_start, planned["SH020"].frame_end) == (31, 49)
    assert planned["SH010"].prompt == "prompt of SH010" and planned["SH020"].prompt == "prompt of SH020"
    assert planned["SH020"].seed_lock and planned["SH040"].prompt == ""
    old = props.shot_settings(scene, "SH030", create=False)
    assert old.prompt == "prompt of SH030" and not old.in_plan  # kept for when the name comes back

    # Forgetting unused settings is explicit, and undoable like the rest.
    assert bpy.ops.ltx.remove_stale_shots() == {"FINISHED"}
    assert props.shot_settings(scene, "SH030", create=False) is None
    assert "in use" in poll_message(bpy.ops.ltx.remove_stale_shots)


def test_goto_shot_sets_frame_and_camera(scene) -> None:
    cut_scene(scene)
    bpy.ops.ltx.refresh_plan()
    scene.ltx.active_shot_index = scene.ltx.shots.find("SH020")
    assert bpy.ops.ltx.goto_shot() == {"FINISHED"}
    assert scene.frame_current == 21 and scene.camera.name == "CamB"
    assert bpy.ops.ltx.goto_shot(shot="SH030") == {"FINISHED"}
    assert scene.frame_current == 41 and scene.camera.name == "CamA"
    assert "No planned shot named 'nope'" in error_of(bpy.ops.ltx.goto_shot, shot="nope")


def test_promote_take(scene) -> None:
    cut_scene(scene)
    bpy.ops.ltx.refresh_plan()
    ss = props.active_shot(scene)
    t1, t2 = fake_take(scene, ss.name, 1, mute=True), fake_take(scene, ss.name, 2, mute=False)
    ss.takes, ss.active_take = 2, 2
    assert bpy.ops.ltx.promote_take(take=1) == {"FINISHED"}
    assert (t1.mute, t2.mute, ss.active_take) == (False, True, 1)
    assert "no take 7" in error_of(bpy.ops.ltx.promote_take, take=7)  # nothing changes
    assert (t1.mute, t2.mute, ss.active_take) == (False, True, 1)


def test_open_clip_folder(scene, tmp_path) -> None:
    cut_scene(scene)
    bpy.ops.ltx.refresh_plan()
    assert "Save the .blend" in poll_message(bpy.ops.ltx.open_clip_folder)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "cut.blend"))
    scene = bpy.context.scene
    assert bpy.ops.ltx.open_clip_folder() == {"CANCELLED"}  # no takes yet: said, nothing opened
    folder = ops.clip_folder(scene, "SH010")
    assert folder == str(tmp_path / "ltx" / "cut" / "SH010")  # one folder per .blend
    os.makedirs(folder)
    assert bpy.ops.ltx.open_clip_folder() == {"FINISHED"}


# ------------------------------------------------------------------------------ against the server


@pytest.mark.server
def test_connection_and_generate_without_a_server(scene, tmp_path) -> None:
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(f"http://127.0.0.1:{free_port()}")
    assert "No LTX server" in error_of(bpy.ops.ltx.test_connection)
    bpy.ops.ltx.refresh_plan()
    assert "failed" in error_of(bpy.ops.ltx.generate_shot)
    ss = props.active_shot(scene)
    assert ss.job_status == "error" and "No LTX server" in ss.message
    assert vse.takes(scene, ss.name) == []


@pytest.mark.slow  # waits out the hung server's timeout
def test_test_connection_for_scripts_answers_a_hung_server_with_a_sentence(scene) -> None:
    import socket

    # Accepts the connection (the kernel does) and never answers: what a wedged server looks like.
    # execute() (scripts) asks synchronously, with the courier's probe and its 5 s cap; a click asks
    # through the courier (tests/blender/test_courier.py).
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(1)
        generate.set_server(f"http://127.0.0.1:{hung.getsockname()[1]}")
        try:
            ok, sentence = generate.test_connection(bpy.context)
        finally:
            generate.set_server(None)
    assert not ok and "127.0.0.1" in sentence and "did not answer" in sentence


@pytest.mark.server
@pytest.mark.slow
def test_generate_ops_against_the_server(scene, tmp_path, tiny_model_dir) -> None:
    from support.server import run_server

    with run_server(tmp_path / "srv", model=str(tiny_model_dir)) as srv:
        scene = demo_blend(tmp_path / "edit.blend")
        generate.set_server(srv.url)
        assert bpy.ops.ltx.test_connection() == {"FINISHED"}
        bpy.ops.ltx.refresh_plan()
        ss = props.active_shot(scene)

        # execute(): synchronous, the take is in the VSE when it returns.
        assert bpy.ops.ltx.generate_shot() == {"FINISHED"}
        assert (ss.job_status, ss.takes, ss.active_take) == ("imported", 1, 1)

        # A second take, though nothing changed: asking for one shot always makes a new take.
        # (invoke(), the background path, is not reachable headless: Blender has no event to invoke
        # with and calls execute(); generate.start_async is covered by tests/blender/test_roundtrip.)
        assert bpy.ops.ltx.generate_shot("INVOKE_DEFAULT") == {"FINISHED"}
        assert (ss.job_status, ss.takes, ss.active_take) == ("imported", 2, 2), ss.message
        # Generate All skips shots whose inputs did not change since their last take.
        plan = props.load_plan(scene)
        for other in props.plan_shots(scene):
            other.input_hash = props.input_hash(scene, plan.shot(other.name), other)
        assert bpy.ops.ltx.generate_all() == {"FINISHED"}
        assert ss.takes == 2 and all(not vse.takes(scene, s.name) for s in plan.shots[1:])
        take1, take2 = vse.takes(scene, ss.name)
        assert take1.mute and not take2.mute

        assert bpy.ops.ltx.promote_take(take=1) == {"FINISHED"}
        assert not take1.mute and take2.mute and ss.active_take == 1
        assert len(os.listdir(tmp_path / "ltx" / "edit" / ss.name)) >= 2


def test_start_and_stop_server_ops(tmp_path) -> None:
    from blender_ltx.bl.addon.prefs import get_prefs

    with enabled_as_addon():
        p = get_prefs()
        p.server_url = f"http://127.0.0.1:{free_port()}"
        p.server_data_dir = str(tmp_path / "srv")
        p.server_python = os.environ.get("LTX_SERVER_PYTHON", "")  # bpy 5.1+ venv: no torch here
        try:
            assert bpy.ops.ltx.start_server() == {"FINISHED"}
            assert server_process.is_running() and server_process.url() == p.server_url
            assert "already running" in poll_message(bpy.ops.ltx.start_server)
            assert bpy.ops.ltx.stop_server() == {"FINISHED"}
            assert not server_process.is_running()
            p.server_url = "http://192.0.2.1:8765"  # not this computer: refused with a sentence
            assert "not on this computer" in error_of(bpy.ops.ltx.start_server)
            assert not server_process.is_running()
        finally:
            server_process.stop()


def test_a_local_server_that_dies_at_start_fails_the_shot_at_once_with_its_reason(tmp_path) -> None:
    import time

    from blender_ltx.bl.addon.prefs import get_prefs

    with registered_scene():
        demo_blend(tmp_path / "edit.blend")
    with enabled_as_addon():
        bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "edit.blend"))
        scene = bpy.context.scene
        p = get_prefs()
        p.server_url = f"http://127.0.0.1:{free_port()}"
        p.server_data_dir = str(tmp_path / "srv")
        p.server_python = os.environ.get("LTX_SERVER_PYTHON", "")
        p.server_model = str(tmp_path / "no-such-weights")  # the server exits: nothing to load
        p.start_local_server = True
        try:
            t0 = time.monotonic()
            result = generate.run_sync(scene, ["SH010"], report=lambda _l: None)
            took = time.monotonic() - t0
            ss = props.shot_settings(scene, "SH010")
            assert result["failed"] == ["SH010"] and ss.job_status == "error"
            # The server's own reason, not "no server answers" after the 300 s a model may take to load.
            assert "exited at start" in ss.message and "no-such-weights" in ss.message, ss.message
            assert took < 120
        finally:
            server_process.stop()
            session.reset()


def test_toggle_previs_shows_and_hides_the_shots_previs_strip(scene, tmp_path):
    import numpy as np

    from blender_ltx.bl.edit import previs_strip

    cut_scene(scene)
    bpy.ops.ltx.refresh_plan()
    png = tmp_path / "beauty_0000.png"
    img = bpy.data.images.new("p", 4, 4)
    img.pixels.foreach_set(np.ones(64, dtype=np.float32))
    img.filepath_raw, img.file_format = str(png), "PNG"
    img.save()
    ss = props.active_shot(scene)
    assert "no previs strip yet" in error_of(bpy.ops.ltx.toggle_previs)
    (strip,) = previs_strip.put_previs(scene, ss.name, [(ss.frame_start, 1, [str(png)])])
    assert strip.mute and strip.name == f"{ss.name} previs"
    assert bpy.ops.ltx.toggle_previs() == {"FINISHED"} and not strip.mute
    assert bpy.ops.ltx.toggle_previs() == {"FINISHED"} and strip.mute
