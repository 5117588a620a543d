"""Generate Looks on a click, over real bpy, the real courier and a real tiny server (tiny LTX-Video +
tiny look model): the operator's invoke() returns with no still made yet (it never waits on the server)
and renders nothing in Blender's session (each shot's layout frame renders in a background process from
the click's file copy), and the tick, pumped as Blender's timer would, lands the look strips and the
shot's look."""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.request

import pytest
import requests

pytestmark = [
    pytest.mark.blender,
    pytest.mark.server,
    pytest.mark.slow,
    pytest.mark.usefixtures("registered", "fresh"),
]
bpy = pytest.importorskip("bpy")

from blender_ltx.bl.addon import props  # noqa: E402
from blender_ltx.bl.edit import look_strips  # noqa: E402
from blender_ltx.bl.flow import look_jobs  # noqa: E402
from blender_ltx.bl.link import connection, tick  # noqa: E402
from blender_ltx.bl.ui.ops_common import ShotOperand  # noqa: E402
from blender_ltx.bl.ui.ops_looks import LTX_OT_generate_looks  # noqa: E402
from blender_ltx.core.client import Client  # noqa: E402
from addon_env import blender_events, reopen, saved_demo  # noqa: E402
from support.server import job_request, wait_progress  # noqa: E402

#: A video job long enough to hold the runner while a look job waits behind it (cancelled at the end).
LONG = {"num_frames": 65, "width": 512, "height": 512, "num_inference_steps": 200}


class _Click:
    """The operator's own invoke() and helpers on a stand-in for its instance (headless Blender has no
    event to invoke with: ``bpy.ops`` would call execute())."""

    target = ShotOperand.target
    _names = LTX_OT_generate_looks._names

    def __init__(self, shot: str, count: int) -> None:
        self.shot, self.count, self.all_shots, self.reports = shot, count, False, []

    def report(self, level, line) -> None:
        self.reports.append((set(level), line))


def _demo(path):
    from blender_ltx.bl.plan.scene import plan_scene

    scene = reopen(saved_demo(path))
    props.sync_shots(scene, plan_scene(scene, pixel_budget=scene.ltx.pixel_budget))
    return scene


def _pump(scene, timeout: float = 240.0, seen: list[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while look_jobs.pending(scene) and time.monotonic() < deadline:
        tick.drain(0.05)
        if seen is not None:
            seen.append(props.shot_settings(scene, "SH010").message)
        time.sleep(0.05)


def _layout_png(scene, shot: str) -> str:
    from blender_ltx.bl.addon import blend_paths
    from blender_ltx.bl.edit import vse

    return os.path.join(blend_paths.abspath(f"{vse.shot_dir(scene, shot)}/looks"), "layout", "guide_0000.png")


def test_generate_looks_click_never_waits_and_the_tick_lands_the_strips(server, tmp_path):
    scene = _demo(tmp_path / "click.blend")
    connection.set_server(server.url)
    seen: list[str] = []
    try:
        click = _Click("SH010", 2)
        with blender_events("render_pre") as renders:
            started = time.monotonic()
            assert LTX_OT_generate_looks.invoke(click, bpy.context, None) == {"FINISHED"}, click.reports
            took = time.monotonic() - started
            # The click rendered nothing here: the layout frame is not there yet, it renders elsewhere.
            assert renders["render_pre"] == 0
            assert not os.path.exists(_layout_png(scene, "SH010"))
            ss = props.shot_settings(scene, "SH010")
            assert ss.message == "Looks: rendering the layout frame in the background."
            # The click returned before any still existed: nothing on the Looks channel, the job in flight.
            assert look_strips.look_strips(scene, "SH010") == []
            assert look_jobs.pending(scene) == ["SH010"]
            assert "background" in click.reports[-1][1]
            print(f"invoke took {took:.2f} s")

            _pump(scene, seen=seen)
            assert renders["render_pre"] == 0  # nor did the timer: the layout rendered in the background
    finally:
        connection.set_server(None)
    assert any(m.startswith("Looks: rendering the layout frame: ") for m in seen), seen
    assert look_jobs.pending(scene) == []
    ss = props.shot_settings(scene, "SH010")
    strips = look_strips.look_strips(scene, "SH010")
    assert len(strips) == 2, ss.message
    assert "Looks channel" in ss.message
    assert look_strips.chosen_look(scene, "SH010").name == strips[0].name  # the first is the shot's look
    assert all(s.mute for s in strips)
    # The stills are the server's bytes, and its job was a look job made from the layout frame.
    job_id = strips[0]["ltx_look_job"]
    with urllib.request.urlopen(f"{server.url}/v1/jobs/{job_id}") as resp:
        status = json.loads(resp.read())
    assert status["status"] == "succeeded"
    assert [s["asset"] for s in status["applied"]["stills"]] == [s["ltx_look_asset"] for s in strips]
    assert (status.get("request") or {}).get("kind", "look") == "look"
    # The look job was made from the layout frame the background render wrote (its bytes, by hash).
    with open(_layout_png(scene, "SH010"), "rb") as f:
        layout_sha = hashlib.sha256(f.read()).hexdigest()
    assert status["applied"]["layout"]["sha256"] == layout_sha


def test_a_bad_reference_fails_the_click_before_anything_is_sent(server, tmp_path):
    scene = _demo(tmp_path / "bad.blend")
    ref = scene.ltx.references.add()
    ref.name, ref.kind, ref.image = "Ana", "character", str(tmp_path / "missing.png")
    connection.set_server(server.url)
    try:
        click = _Click("SH010", 1)
        assert LTX_OT_generate_looks.invoke(click, bpy.context, None) == {"CANCELLED"}
    finally:
        connection.set_server(None)
    assert "fix its path" in click.reports[-1][1]
    assert look_jobs.pending(scene) == []


def test_cancel_looks_while_the_layout_renders_sends_nothing(tmp_path):
    scene = _demo(tmp_path / "cancel.blend")
    connection.set_server("http://127.0.0.1:9")  # nothing may reach a server: none listens there
    try:
        started = look_jobs.start(scene, connection.client_config(), count=1)
        assert started["started"] == ["SH010", "SH020", "SH030"]
        runs = dict(look_jobs.session.looks)
        copy = runs[(scene.session_uid, "SH010")].copy
        copy_dir = os.path.dirname(copy.path())
        assert os.path.isdir(copy_dir)
        look_jobs.poll()  # the tick starts the first renders (two at a time)
        first = runs[(scene.session_uid, "SH010")].layout
        assert first.render is not None and first.render.proc.poll() is None
        assert look_jobs.cancel(scene, "SH010")
        assert first.render.proc.poll() is not None  # its process was stopped
        assert props.shot_settings(scene, "SH010").message == (
            "Looks: cancelled while the layout frame rendered; nothing was sent."
        )
        assert look_jobs.pending(scene) == ["SH020", "SH030"]
        assert os.path.isdir(copy_dir)  # the other shots still render from the copy
        assert look_jobs.cancel(scene, "SH020") and look_jobs.cancel(scene, "SH030")
        assert look_jobs.pending(scene) == [] and not os.path.exists(copy_dir)
        assert not look_jobs.cancel(scene, "SH010")  # nothing left to cancel
    finally:
        connection.set_server(None)
        look_jobs.session.reset()


def _pump_until(scene, done, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, [ss.message for ss in scene.ltx.shots]
        tick.drain(0.05)
        time.sleep(0.05)


def _job(server, job_id: str) -> dict:
    with urllib.request.urlopen(f"{server.url}/v1/jobs/{job_id}") as resp:
        return json.loads(resp.read())


def test_a_look_job_re_attaches_when_the_file_is_opened_again(server, tmp_path):
    path = tmp_path / "reopen.blend"
    scene = _demo(path)
    connection.set_server(server.url)
    try:
        look_jobs.start(scene, connection.client_config(), count=2, shot_names=["SH010"])
        run = look_jobs.session.looks[(scene.session_uid, "SH010")]
        _pump_until(scene, lambda: run.job_id)  # the server has the job: its id is on the shot
        job_id = run.job_id
        ss = props.shot_settings(scene, "SH010")
        assert json.loads(ss[look_jobs.JOB_KEY])["job"] == job_id
        del ss[look_jobs.JOB_KEY]  # an undo to before the id came in
        for handler in bpy.app.handlers.undo_post:  # the add-on's own undo handler puts it back
            handler(scene)
        assert json.loads(ss[look_jobs.JOB_KEY])["job"] == job_id
        bpy.ops.wm.save_mainfile(filepath=str(path))
        # Another file, then this one again: the look job is followed again and its stills land.
        bpy.ops.wm.read_homefile(use_empty=True)
        assert look_jobs.session.looks == {}
        bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
        scene = bpy.context.scene
        assert look_jobs.pending(scene) == ["SH010"]
        ss = props.shot_settings(scene, "SH010")
        assert ss.message == f"Looks: re-attached to job {job_id} on {server.url}."
        _pump(scene)
    finally:
        connection.set_server(None)
    strips = look_strips.look_strips(scene, "SH010")
    assert len(strips) == 2, ss.message
    assert {s["ltx_look_job"] for s in strips} == {job_id}
    assert ss.get(look_jobs.JOB_KEY) is None  # done: nothing left to re-attach
    assert look_jobs.reattach_all() == []


def test_cancel_looks_cancels_the_job_on_the_server(server, tmp_path):
    scene = _demo(tmp_path / "cancel_server.blend")
    connection.set_server(server.url)
    # A long video job holds the server's runner, so SH010's look job waits in the queue (look and video
    # jobs share it) until it is cancelled there.
    busy = Client(server.url).submit(job_request(**LONG))
    try:
        cfg = connection.client_config()
        wait_progress(requests.Session(), server.url, busy["id"])
        look_jobs.start(scene, cfg, count=1, shot_names=["SH010"])
        run = look_jobs.session.looks[(scene.session_uid, "SH010")]
        _pump_until(scene, lambda: run.job_id)
        ss = props.shot_settings(scene, "SH010")
        assert ss.get(look_jobs.JOB_KEY)
        assert look_jobs.cancel(scene, "SH010")
        _pump_until(scene, lambda: look_jobs.pending(scene, ["SH010"]) == [])
        _pump(scene)
    finally:
        Client(server.url).cancel(busy["id"])
        connection.set_server(None)
    assert ss.message == "Looks: cancelled.", ss.message
    assert _job(server, run.job_id)["status"] == "cancelled"
    assert look_strips.look_strips(scene, "SH010") == []
    assert ss.get(look_jobs.JOB_KEY) is None
