"""The look per shot in the add-on, over real bpy and a real tiny server (tiny LTX-Video + tiny look):
the request a take sends for each look, Auto never sending previs pixels where the server offers
control or the shot has a look, the take's input hash following the chosen look, *Continue from the
previous shot* conditioning the next shot's look job on the previous look, the operators, and
``generate --look frame`` starting the clip from the chosen look's very bytes."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.request

import pytest

pytestmark = [
    pytest.mark.blender,
    pytest.mark.server,
    pytest.mark.slow,
    pytest.mark.usefixtures("registered"),
]
bpy = pytest.importorskip("bpy")

from blender_ltx.bl.addon import props  # noqa: E402
from blender_ltx.bl.edit import look_strips  # noqa: E402
from blender_ltx.bl.flow import looks, request  # noqa: E402
from blender_ltx.core.client import Client  # noqa: E402
from blender_ltx.core.courier_wire import ClientConfig  # noqa: E402
from addon_env import cli, reopen, saved_demo  # noqa: E402
from support.pngs import noise_png  # noqa: E402


def _png(path, seed: int) -> str:
    return noise_png(path, seed, 64)


def _status(server, job_id: str) -> dict:
    with urllib.request.urlopen(f"{server.url}/v1/jobs/{job_id}") as resp:
        return json.loads(resp.read())


def _requests(scene, name: str, url: str, caps: list[str]) -> list[dict]:
    from blender_ltx.bl.plan.scene import plan_scene

    shot = plan_scene(scene, pixel_budget=scene.ltx.pixel_budget).shot(name)
    ss = props.shot_settings(scene, name)
    info = {"capabilities": caps}
    _run, reqs, _specs, _pending = request.prepare(
        scene, shot, ss, ClientConfig(url), None, control="none", info=info
    )
    return reqs


@pytest.fixture
def looked(server, tmp_path):
    """The demo with two references, SH020 continuing from SH010, looks made for both shots."""
    blend = saved_demo(tmp_path / "shot.blend")
    scene = reopen(blend)
    for name, kind, seed in (("Ana", "character", 1), ("the street", "set", 2)):
        ref = scene.ltx.references.add()
        ref.name, ref.kind, ref.image = name, kind, _png(tmp_path / f"{seed}.png", seed)
    props.shot_settings(scene, "SH020").continue_previous = True
    props.shot_settings(scene, "SH020").hidden_references = "Ana"
    bpy.ops.wm.save_mainfile()
    result = looks.make_looks(scene, Client(server.url), count=2, shot_names=["SH010", "SH020"], report=print)
    assert result["failed"] == [] and sorted(result["shots"]) == ["SH010", "SH020"]
    bpy.ops.wm.save_mainfile()
    return blend, scene


def test_continue_from_the_previous_shot_conditions_on_its_look(server, looked):
    _blend, scene = looked
    first = look_strips.chosen_look(scene, "SH010")
    second = look_strips.chosen_look(scene, "SH020")
    applied = _status(server, second["ltx_look_job"])["applied"]
    refs = {r["name"]: r for r in applied["references"]}
    # SH020 hides Ana: the street and the previous shot's chosen look, by the bytes of its file.
    assert set(refs) == {"the street", "shot SH010"}
    assert refs["shot SH010"]["sha256"] == first["ltx_look_asset"]
    assert refs["shot SH010"]["kind"] == "set"
    first_refs = {r["name"] for r in _status(server, first["ltx_look_job"])["applied"]["references"]}
    assert first_refs == {"Ana", "the street"}


def test_each_look_sends_its_picture_and_auto_never_sends_previs_where_it_need_not(server, looked):
    _blend, scene = looked
    ss = props.shot_settings(scene, "SH010")
    chosen = look_strips.chosen_look(scene, "SH010")

    ss.look_mode = "PREVIS"
    previs = _requests(scene, "SH010", server.url, [])[0]
    assert "look" not in previs and previs["conditions"][0]["frame_index"] == 0

    ss.look_mode = "PROMPT"
    prompt = _requests(scene, "SH010", server.url, [])[0]
    assert prompt["look"] == "prompt" and prompt["conditions"] == []

    ss.look_mode = "FRAME"
    frame = _requests(scene, "SH010", server.url, [])[0]
    assert frame["look"] == "frame" and [c["frame_index"] for c in frame["conditions"]] == [0]
    sent = base64.b64decode(frame["conditions"][0]["image"])
    assert hashlib.sha256(sent).hexdigest() == chosen["ltx_look_asset"]

    # Auto: the shot's look where it has one, whatever the server offers.
    ss.look_mode = "SCENE"
    assert scene.ltx.look_mode == "AUTO"
    assert _requests(scene, "SH010", server.url, [])[0]["look"] == "frame"
    # SH030 has no look: words and control on a server with control, previs only where nothing else.
    other = props.shot_settings(scene, "SH030")
    assert looks.look_mode(scene, other, ["control_depth"], "auto") == "PROMPT"
    assert looks.look_mode(scene, other, ["control_depth"], "none") == "PREVIS"
    assert looks.look_mode(scene, other, [], "auto") == "PREVIS"
    assert "untextured" in looks.look_sentence(scene, other, [], "auto")
    assert "look frame" in looks.look_sentence(scene, ss, [], "auto")


def test_the_take_hash_follows_the_chosen_look_and_use_look_operator(server, looked):
    from blender_ltx.bl.plan.scene import plan_scene

    _blend, scene = looked
    shot = plan_scene(scene, pixel_budget=scene.ltx.pixel_budget).shot("SH010")
    ss = props.shot_settings(scene, "SH010")
    before = props.input_hash(scene, shot, ss)
    other = next(
        s for s in look_strips.look_strips(scene, "SH010") if s != look_strips.chosen_look(scene, "SH010")
    )
    scene.sequence_editor.active_strip = other
    assert bpy.ops.ltx.use_look() == {"FINISHED"}
    assert look_strips.chosen_look(scene, "SH010").name == other.name
    assert look_strips.look_image(scene, "SH010") is not None  # the panel's picture
    assert props.input_hash(scene, shot, ss) != before


def test_generate_looks_operator_and_generate_look_frame(server, looked):
    blend, scene = looked
    from blender_ltx.bl.link import connection

    from blender_ltx.bl.plan.scene import plan_scene

    props.sync_shots(scene, plan_scene(scene, pixel_budget=scene.ltx.pixel_budget))
    connection.set_server(server.url)
    try:
        names = [s.name for s in props.plan_shots(scene)]
        scene.ltx.active_shot_index = names.index("SH030")
        assert bpy.ops.ltx.generate_looks(count=1) == {"FINISHED"}
    finally:
        connection.set_server(None)
    assert len(look_strips.look_strips(scene, "SH030")) == 1
    bpy.ops.wm.save_mainfile()

    asset = look_strips.chosen_look(scene, "SH010")["ltx_look_asset"]
    out = blend.with_name("taken.blend")
    run = cli("generate", str(blend), "--shots", "SH010", "--look", "frame", "--server", server.url,
              "--wait", "--output", str(out))  # fmt: skip
    assert run.returncode == 0, run.stderr + run.stdout
    scene = reopen(out)
    ss = props.shot_settings(scene, "SH010")
    assert ss.look_mode == "FRAME"
    applied = _status(server, ss.job_id)["applied"]
    assert applied["look"]["mode"] == "frame" and applied["look"]["frame"] == asset
    assert applied["look"]["pictures_to_model"] == 1
