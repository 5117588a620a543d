"""Enhance Prompt, a shot's opt-in switch for LTX-2.5's prompt enhancer, against the tiny LTX-2.5 on a real
server started with ``--prompt-enhancement``: a shot with the switch on asks for the enhancer and its take
records what the enhancer wrote, with the shot's camera sentence kept word for word; a shot without it asks
for nothing; the Shot panel says what the enhancer did and what the duration head advises; headless,
``generate --enhance-prompt`` turns it on for the run's shots and saves it."""

from __future__ import annotations

import json

import pytest

pytestmark = [
    pytest.mark.blender,
    pytest.mark.server,
    pytest.mark.slow,
    pytest.mark.usefixtures("registered"),
]
bpy = pytest.importorskip("bpy")

from blender_ltx.bl.addon import props  # noqa: E402
from blender_ltx.bl.edit import vse  # noqa: E402
from blender_ltx.bl.flow import generate, session  # noqa: E402
from blender_ltx.bl.ui import panels  # noqa: E402
from blender_ltx.core.client import Client  # noqa: E402
from addon_env import cli, demo_blend  # noqa: E402

#: Large enough that the half-size draft has two latent rows: 192x128 finals.
BUDGET = 256 * 128


def _scene(path):
    scene = demo_blend(path)
    props.scene_settings(scene).pixel_budget = BUDGET
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return scene


def _camera_sentence(applied: dict) -> str:
    used = applied["prompt_used"]
    assert "The camera" in used, used
    return used[used.index("The camera") :]


def test_a_shot_asks_for_the_enhancer_only_when_its_switch_is_on(ltx25, tmp_path, fresh):
    scene = _scene(tmp_path / "edit.blend")
    generate.set_server(ltx25.url)
    props.shot_settings(scene, "SH010").enhance_prompt = True
    result = generate.run_sync(scene, ["SH010", "SH020"], report=lambda _line: None, draft=True)
    assert sorted(result["imported"]) == ["SH010", "SH020"], result["shots"]
    client = Client(ltx25.url)
    (on,) = vse.takes(scene, "SH010")
    (off,) = vse.takes(scene, "SH020")
    job = client.status(on.ltx.job_id)
    record = job["applied"]["prompt_enhancement"]  # the enhancer ran: the shot asked for it
    # the tiny enhancer writes random tokens: the camera sentence is put back word for word
    assert _camera_sentence(job["applied"]) in record["prompt"] and record["motion_sentence_appended"] is True
    assert json.loads(on.ltx.applied)["prompt_enhancement"] == record  # the take keeps the record
    plain = client.status(off.ltx.job_id)
    assert "prompt_enhancement" not in plain["applied"]
    # The Shot panel says what the enhancer did and what the duration head (loaded here) advises.
    shot_s = plain["applied"]["duration"]["shot_s"]
    assert panels.active_take_prompt(scene, "SH010").startswith("prompt enhanced, camera sentence put back; ")
    assert panels.active_take_prompt(scene, "SH020").startswith("the prompt reads as ")
    assert panels.active_take_prompt(scene, "SH020").endswith(f", the shot is {shot_s:.1f} s")


def test_headless_generate_enhance_prompt_turns_it_on_and_saves_it(ltx25, tmp_path, fresh):
    blend, out_blend = tmp_path / "shot.blend", tmp_path / "out.blend"
    _scene(blend)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    args = ("--shots", "SH010", "--server", ltx25.url, "--draft", "--enhance-prompt", "--wait")
    out = cli("generate", str(blend), *args, "--output", str(out_blend))
    assert out.returncode == 0, out.stderr + out.stdout
    bpy.ops.wm.open_mainfile(filepath=str(out_blend), load_ui=False)
    session.reset()  # this process only inspects the file: no re-attaching here
    scene = bpy.context.scene
    assert props.shot_settings(scene, "SH010").enhance_prompt is True
    assert props.shot_settings(scene, "SH020").enhance_prompt is False  # not in this run
    (take,) = vse.takes(scene, "SH010")
    applied = json.loads(take.ltx.applied)
    assert _camera_sentence(applied) in applied["prompt_enhancement"]["prompt"]
