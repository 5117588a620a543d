"""Generate's click renders no guide frame in Blender's session (issue 15 #20): the guides render in a
background process from the file copy the click saves (``bl/flow/staged.py``, ``guides.PendingGuides``),
each shot says how far its guides are, and a shot goes to the server once they are in. Real server
(tiny LTX-Video), real background renders, the courier in its child process."""

from __future__ import annotations

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

from addon_env import blender_events, demo_blend  # noqa: E402

from blender_ltx.bl.addon import props  # noqa: E402
from blender_ltx.bl.edit import vse  # noqa: E402
from blender_ltx.bl.flow import generate  # noqa: E402
from blender_ltx.bl.flow.session import session  # noqa: E402
from blender_ltx.bl.link import tick  # noqa: E402
from blender_ltx.core.client import Client  # noqa: E402


def _pump(scene, names, seen: list[str], ss, timeout=300) -> None:
    deadline = time.monotonic() + timeout
    while generate.pending(scene, names):
        tick.drain()  # what the timer does
        seen.append(ss.message)
        assert time.monotonic() < deadline, ss.message
        time.sleep(0.05)


def test_the_click_renders_no_guide_and_the_take_lands_with_its_guides(server, tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(server.url)
    with blender_events("render_pre") as renders:
        out = generate.start_async(bpy.context, None)
        assert out["submitted"] == ["SH010", "SH020", "SH030"]
        assert renders["render_pre"] == 0  # the click rendered nothing in Blender's session
        assert len(session.staged) == 3 and all(g.render is None for e in session.staged for g in e.guides)
        planned = [p for e in session.staged for g in e.guides for _i, p in g.planned]
        assert planned and not any(os.path.exists(p) for p in planned)
        ss = props.shot_settings(scene, "SH030")
        assert ss.job_status == "queued" and ss.message == "Rendering the guide frames in the background."

        seen: list[str] = []
        _pump(scene, ["SH010", "SH020", "SH030"], seen, ss)
        assert renders["render_pre"] == 0  # nor did the timer: every guide rendered in the background
    for name in ("SH010", "SH020", "SH030"):
        ss = props.shot_settings(scene, name)
        assert ss.job_status == "imported", ss.message
        (take,) = vse.takes(scene, name)
        assert take.ltx.job_id == ss.job_id
    assert all(os.path.isfile(p) for p in planned)
    assert any(m.startswith("Rendering the guide frames: ") and m.endswith(" %.") for m in seen), seen
    job = Client(server.url).status(props.shot_settings(scene, "SH010").job_id)
    assert job["status"] == "succeeded"


def test_cancel_during_the_guide_render_stops_it_and_sends_nothing(server, tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(server.url)
    jobs_before = len(Client(server.url).list_jobs())
    generate.start_async(bpy.context, ["SH010"])
    ((guide,),) = [e.guides for e in session.staged]
    deadline = time.monotonic() + 60
    while guide.render is None:
        tick.drain()
        assert time.monotonic() < deadline
    proc = guide.render.proc
    assert proc.poll() is None  # rendering

    generate.cancel(scene, ["SH010"])

    assert proc.poll() is not None  # the background render was stopped
    ss = props.shot_settings(scene, "SH010")
    assert ss.job_status == "cancelled" and "nothing was sent" in ss.message
    assert len(session.staged) == 0 and generate.pending(scene) == []
    tick.drain()
    assert len(Client(server.url).list_jobs()) == jobs_before and vse.takes(scene, "SH010") == []


def test_a_failed_guide_render_fails_that_shot_alone(server, tmp_path, fresh):
    scene = demo_blend(tmp_path / "edit.blend")
    generate.set_server(server.url)
    generate.start_async(bpy.context, ["SH010", "SH020"])
    (sh020,) = [e for e in session.staged if e.key[1] == "SH020"]
    _index, first = sh020.guides[0].planned[0]
    os.makedirs(first)  # a folder where its first guide frame goes: Blender cannot write that frame

    ss10, ss20 = props.shot_settings(scene, "SH010"), props.shot_settings(scene, "SH020")
    _pump(scene, ["SH010", "SH020"], [], ss10)

    assert ss20.job_status == "error" and ss20.message.startswith("Shot SH020: The guide render failed:")
    assert vse.takes(scene, "SH020") == [] and ss20.job_id == ""
    assert ss10.job_status == "imported", ss10.message
    assert len(vse.takes(scene, "SH010")) == 1
