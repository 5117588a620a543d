"""The scene's references in the add-on, over real bpy: *Add Reference* checks its image, name and
kind before adding, *Show Reference* (the shot panel's checkbox) writes the shot's hidden references
that the look jobs read, *Remove Reference* takes the name out of every shot; the panel draws."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.blender, pytest.mark.usefixtures("registered")]
bpy = pytest.importorskip("bpy")

from blender_ltx.bl.addon import props  # noqa: E402
from blender_ltx.bl.flow import looks  # noqa: E402
from addon_env import CheckingLayout, demo_blend  # noqa: E402
from support.pngs import noise_png  # noqa: E402


def _png(path, seed: int) -> str:
    return noise_png(path, seed, 16)


@pytest.fixture
def demo(tmp_path):
    from blender_ltx.bl.plan.scene import plan_scene

    scene = demo_blend(tmp_path / "refs.blend")
    props.sync_shots(scene, plan_scene(scene, pixel_budget=scene.ltx.pixel_budget))
    return scene


def test_add_show_and_remove_references(demo, tmp_path):
    scene = demo
    ana, street = _png(tmp_path / "ana.png", 1), _png(tmp_path / "street.png", 2)
    assert bpy.ops.ltx.add_reference(filepath=ana, name="Ana", kind="character") == {"FINISHED"}
    assert bpy.ops.ltx.add_reference(filepath=street, name="the street", kind="set") == {"FINISHED"}
    assert [(r.name, r.kind) for r in scene.ltx.references] == [("Ana", "character"), ("the street", "set")]
    assert scene.ltx.references[0].image == ana
    assert looks.scene_references(scene)[0]["png"] == open(ana, "rb").read()

    ss = props.shot_settings(scene, "SH020")
    assert looks.shot_reference_names(scene, ss) == ["Ana", "the street"]  # default: all
    assert bpy.ops.ltx.show_reference(shot="SH020", name="Ana", show=False) == {"FINISHED"}
    assert ss.hidden_references == "Ana"
    assert looks.shot_reference_names(scene, ss) == ["the street"]
    assert looks.shot_reference_names(scene, props.shot_settings(scene, "SH010")) == ["Ana", "the street"]
    assert bpy.ops.ltx.show_reference(shot="SH020", name="the street", show=False) == {"FINISHED"}
    assert bpy.ops.ltx.show_reference(shot="SH020", name="Ana", show=True) == {"FINISHED"}
    assert ss.hidden_references == "the street"

    assert bpy.ops.ltx.remove_reference(name="the street") == {"FINISHED"}
    assert [r.name for r in scene.ltx.references] == ["Ana"]
    assert ss.hidden_references == ""  # no shot hides a reference that is gone


def test_bad_references_are_one_sentence_and_add_nothing(demo, tmp_path):
    scene = demo
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    png = _png(tmp_path / "a.png", 3)
    for kwargs, sentence in (
        ({"filepath": str(tmp_path / "gone.png"), "name": "Ana"}, "fix its path"),
        ({"filepath": str(text), "name": "Ana"}, "save it as PNG"),
        ({"filepath": png, "name": "  "}, "has no name"),
        ({"filepath": "", "name": "Ana"}, "No image chosen"),
    ):
        with pytest.raises(RuntimeError, match=sentence):
            bpy.ops.ltx.add_reference(**kwargs)
    assert len(scene.ltx.references) == 0
    assert bpy.ops.ltx.add_reference(filepath=png, name="Ana") == {"FINISHED"}
    with pytest.raises(RuntimeError, match="exists already"):
        bpy.ops.ltx.add_reference(filepath=png, name="Ana")
    with pytest.raises(RuntimeError, match="no reference named 'Bo'"):
        bpy.ops.ltx.show_reference(shot="SH010", name="Bo", show=False)
    with pytest.raises(RuntimeError, match="no reference named 'Bo'"):
        bpy.ops.ltx.remove_reference(name="Bo")
    assert len(scene.ltx.references) == 1 and props.shot_settings(scene, "SH010").hidden_references == ""


def test_the_panel_has_a_checkbox_per_reference_for_the_active_shot(demo, tmp_path):
    from blender_ltx.bl.ui import panels

    scene = demo
    for name in ("Ana", "Bo"):
        assert bpy.ops.ltx.add_reference(filepath=_png(tmp_path / f"{name}.png", 4), name=name) == {
            "FINISHED"
        }
    names = [s.name for s in props.plan_shots(scene)]
    scene.ltx.active_shot_index = names.index("SH020")
    props.shot_settings(scene, "SH020").hidden_references = "Bo"
    calls: list = []
    panels.draw_references(CheckingLayout(calls), bpy.context)
    boxes = [c for c in calls if c[0] == "operator" and c[1][0] == "ltx.show_reference"]
    assert [c[2]["icon"] for c in boxes] == ["CHECKBOX_HLT", "CHECKBOX_DEHLT"]  # Ana shown, Bo hidden
    assert any(c[0] == "operator" and c[1][0] == "ltx.add_reference" for c in calls)
