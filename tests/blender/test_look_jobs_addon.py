"""Generate Looks on a click, over real bpy, the real courier and a real tiny server (tiny LTX-Video +
tiny look model): the operator's invoke() returns with no still made yet (it never waits on the server),
and the tick, pumped as Blender's timer would, lands the look strips and the shot's look."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

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
from addon_env import reopen, saved_demo  # noqa: E402


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


def _pump(scene, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while look_jobs.pending(scene) and time.monotonic() < deadline:
        tick.drain(0.05)
        time.sleep(0.05)


def test_generate_looks_click_never_waits_and_the_tick_lands_the_strips(server, tmp_path):
    scene = _demo(tmp_path / "click.blend")
    connection.set_server(server.url)
    try:
        click = _Click("SH010", 2)
        started = time.monotonic()
        assert LTX_OT_generate_looks.invoke(click, bpy.context, None) == {"FINISHED"}, click.reports
        took = time.monotonic() - started
        # The click returned before any still existed: nothing on the Looks channel, the job in flight.
        assert look_strips.look_strips(scene, "SH010") == []
        assert look_jobs.pending(scene) == ["SH010"]
        assert "background" in click.reports[-1][1]
        print(f"invoke took {took:.2f} s")

        _pump(scene)
    finally:
        connection.set_server(None)
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
