"""The add-on's Blender-facing layer on real bpy: registration, preferences, the scene data contract
(saved in the .blend, matched to shots by name), seeds, input hashes, and the panels' row logic."""

from __future__ import annotations

import pytest

bpy = pytest.importorskip("bpy")

import blender_ltx  # noqa: E402
from blender_ltx.bl.addon import prefs, props  # noqa: E402
from blender_ltx.bl.ui import panels  # noqa: E402
from blender_ltx.core.shots import GenerationGrid, Shot, ShotPlan, Trajectory  # noqa: E402

from addon_env import enabled_as_addon, registered_scene  # noqa: E402

OPS = (
    "refresh_plan",
    "generate_shot",
    "generate_all",
    "cancel",
    "open_clip_folder",
    "promote_take",
    "test_connection",
    "start_server",
    "stop_server",
)


@pytest.fixture
def registered():
    """The add-on registered on an empty factory scene (left as found afterwards)."""
    with registered_scene() as scene:
        yield scene


def make_shot(name: str, start: int, end: int, camera: str = "Cam", x: float = 0.0) -> Shot:
    frames = list(range(start, end + 1))
    mat = [1.0, 0, 0, x, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    return Shot(
        name=name,
        camera=camera,
        frame_start=start,
        frame_end=end,
        generation=GenerationGrid(num_frames=17, width=128, height=96, frame_rate=24.0),
        trajectory=Trajectory(frames=frames, matrix_world=[mat] * len(frames), lens_mm=[50.0] * len(frames)),
        script=f"{name} script",
    )


def make_plan(*shots: Shot) -> ShotPlan:
    return ShotPlan(scene="Scene", fps=24.0, shots=list(shots))


# ------------------------------------------------------------------------------------ registration


PKG = blender_ltx.__name__


def _state() -> dict:
    return {
        "scene_prop": hasattr(bpy.types.Scene, "ltx"),
        "ops": sorted(n for n in dir(bpy.ops.ltx) if not n.startswith("_")),
        "panels": sorted(n for n in dir(bpy.types) if n.startswith("LTX_PT_")),
        "prefs": prefs.LTXAddonPreferences.is_registered,
        # The add-on's own handlers per list: one set (generate's), never one per module.
        "handlers": {
            name: [f.__name__ for f in getattr(bpy.app.handlers, name) if f.__module__.startswith(PKG)]
            for name in ("load_pre", "load_post", "undo_post", "redo_post")
        },
    }


def test_register_unregister_twice() -> None:
    was = hasattr(bpy.types.Scene, "ltx")
    if was:
        blender_ltx.unregister()
    try:
        for _ in range(2):
            blender_ltx.register()
            blender_ltx.register()  # a second call is harmless, not a half-registered error
            on = _state()
            assert on["scene_prop"] and on["prefs"]
            assert set(OPS) <= set(on["ops"])
            assert len(on["panels"]) >= 2
            assert on["handlers"] == {
                "load_pre": ["_on_load_pre"],
                "load_post": ["_on_load_post"],
                "undo_post": ["_on_undo_redo"],
                "redo_post": ["_on_undo_redo"],
            }
            blender_ltx.unregister()
            off = _state()
            assert not off["scene_prop"] and not off["prefs"] and off["panels"] == []
            assert not any(off["handlers"].values())
            assert not hasattr(bpy.types, "LTX_OT_refresh_plan")
    finally:
        if was:
            blender_ltx.register()


def test_panels_in_3d_view_and_sequencer(registered) -> None:
    spaces = {}
    for name in dir(bpy.types):
        if name.startswith("LTX_PT_"):
            cls = getattr(bpy.types, name)
            spaces.setdefault(cls.bl_space_type, []).append(cls)
    assert set(spaces) == {"VIEW_3D", "SEQUENCE_EDITOR"}
    for classes in spaces.values():
        top = [c for c in classes if not getattr(c, "bl_parent_id", "")]
        assert len(top) == 1 and top[0].bl_category == "LTX" and top[0].bl_region_type == "UI"
        # Takes sub-panel under the tab in both editors.
        assert any(c.bl_label == "Takes" for c in classes)


def test_prefs_defaults_without_enabling(registered) -> None:
    assert prefs.ADDON_ID == "blender_ltx"
    p = prefs.get_prefs()
    assert p.server_url == "http://127.0.0.1:8765" and p.server_model == "tiny" and p.server_device == "auto"
    assert p.timeout_s > 0 and p.start_local_server is False and p.token == ""


def test_prefs_when_enabled_as_addon() -> None:
    with enabled_as_addon():
        p = prefs.get_prefs()
        assert isinstance(p, bpy.types.AddonPreferences)
        assert p.server_url == prefs.DEFAULTS["server_url"]
        p.server_url = "http://127.0.0.1:9999"
        assert prefs.get_prefs().server_url == "http://127.0.0.1:9999"
        assert set(prefs.DEFAULTS) <= set(p.bl_rna.properties.keys())
    assert not isinstance(prefs.get_prefs(), bpy.types.AddonPreferences)


# ------------------------------------------------------------------------------------ scene data


def test_settings_saved_in_blend(registered, tmp_path) -> None:
    scene = registered
    st = props.scene_settings(scene)
    st.style_prompt = "grainy 16mm film"
    st.guide_every_n = 8
    st.first_frame_source = "IMAGE"
    props.sync_shots(scene, make_plan(make_shot("A", 1, 20), make_shot("B", 21, 40)))
    a = props.shot_settings(scene, "A")
    a.prompt, a.seed, a.seed_lock, a.steps, a.guidance = "a lighthouse", 1234, True, 12, 4.5
    a.job_id, a.job_status, a.input_hash = "job-1", "running", "abc"
    st.active_shot_index = 1
    path = tmp_path / "saved.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert bpy.context.scene.ltx.style_prompt == ""
    bpy.ops.wm.open_mainfile(filepath=str(path))

    scene = bpy.context.scene
    st = scene.ltx
    assert (st.style_prompt, st.guide_every_n, st.first_frame_source) == ("grainy 16mm film", 8, "IMAGE")
    assert [ss.name for ss in st.shots] == ["A", "B"] and st.active_shot_index == 1
    a = props.shot_settings(scene, "A", create=False)
    assert (a.prompt, a.seed, a.seed_lock, a.steps) == ("a lighthouse", 1234, True, 12)
    assert a.guidance == pytest.approx(4.5)
    assert (a.job_id, a.job_status, a.input_hash) == ("job-1", "running", "abc")
    assert props.load_plan(scene).shots[1].name == "B"


def test_sync_keeps_settings_by_name_across_a_recut(registered) -> None:
    scene = registered
    props.sync_shots(scene, make_plan(make_shot("A", 1, 20), make_shot("B", 21, 40)))
    props.shot_settings(scene, "A").prompt = "prompt A"
    props.shot_settings(scene, "B").prompt = "prompt B"
    scene.ltx.active_shot_index = scene.ltx.shots.find("B")

    # Re-cut: B moves first and changes length, A is gone, C is new.
    added = props.sync_shots(scene, make_plan(make_shot("B", 1, 30), make_shot("C", 31, 50)))
    assert added == ["C"]
    planned = props.plan_shots(scene)
    assert [(s.name, s.frame_start, s.frame_end) for s in planned] == [("B", 1, 30), ("C", 31, 50)]
    assert planned[0].prompt == "prompt B" and planned[1].prompt == ""
    assert props.active_shot(scene).name == "B"  # the selection follows the name, not the index
    stale = props.shot_settings(scene, "A", create=False)
    assert stale is not None and not stale.in_plan and stale.prompt == "prompt A"

    # A comes back: its prompt is still there.
    props.sync_shots(scene, make_plan(make_shot("A", 1, 20), make_shot("B", 21, 40)))
    assert props.shot_settings(scene, "A", create=False).prompt == "prompt A"
    assert [s.name for s in props.plan_shots(scene)] == ["A", "B"]


def test_resolve_seed_locked_and_unlocked(registered) -> None:
    import random

    ss = props.shot_settings(registered, "A")
    ss.seed, ss.seed_lock = 42, True
    assert [props.resolve_seed(ss) for _ in range(3)] == [42, 42, 42]
    ss.seed_lock = False
    rng = random.Random(7)
    seeds = [props.resolve_seed(ss, rng) for _ in range(4)]
    assert len(set(seeds)) == 4 and all(0 <= s <= props.SEED_MAX for s in seeds)
    assert ss.seed == seeds[-1]  # stored back, so the take's seed is on the shot


def test_input_hash_tracks_inputs(registered) -> None:
    scene = registered
    shot = make_shot("A", 1, 20)
    ss = props.shot_settings(scene, "A")
    base = props.input_hash(scene, shot, ss)
    assert base == props.input_hash(scene, shot, ss)
    assert props.inputs_changed(scene, shot, ss)  # no take yet
    ss.input_hash = base
    assert not props.inputs_changed(scene, shot, ss)

    ss.seed = 99  # an unlocked seed is not an input
    assert props.input_hash(scene, shot, ss) == base

    changes = [
        lambda: setattr(ss, "prompt", "new"),
        lambda: setattr(scene.ltx, "style_prompt", "noir"),
        lambda: setattr(ss, "negative_prompt", "blur"),
        lambda: setattr(ss, "seed_lock", True),
        lambda: setattr(ss, "seed", 100),
        lambda: setattr(ss, "steps", 20),
        lambda: setattr(ss, "guidance", 5.0),
        lambda: setattr(scene.ltx, "guide_every_n", 4),
        lambda: setattr(scene.ltx, "guide_at_motion_changes", True),
        lambda: setattr(scene.ltx, "guide_engine", "CYCLES"),
        lambda: setattr(scene.ltx, "first_frame_source", "PREVIOUS_TAKE"),
    ]
    seen = {base}
    for change in changes:
        change()
        h = props.input_hash(scene, shot, ss)
        assert h not in seen
        seen.add(h)
    assert props.input_hash(scene, make_shot("A", 1, 20, x=0.5), ss) not in seen  # the camera moved
    shot_big = make_shot("A", 1, 20)
    shot_big.generation.width = 256
    assert props.input_hash(scene, shot_big, ss) not in seen


def test_full_prompt_prepends_style(registered) -> None:
    scene = registered
    ss = props.shot_settings(scene, "A")
    ss.prompt = "a lighthouse at dusk "
    assert props.full_prompt(scene, ss) == "a lighthouse at dusk"
    scene.ltx.style_prompt = "35mm film."
    assert props.full_prompt(scene, ss) == "35mm film. a lighthouse at dusk"


def test_guide_engine_is_a_real_render_engine(registered) -> None:
    # The EEVEE item must be the id this Blender accepts for scene.render.engine.
    scene = registered
    for ident in ("BLENDER_WORKBENCH", props.GUIDE_ENGINES[1][0]):
        scene.ltx.guide_engine = ident
        scene.render.engine = scene.ltx.guide_engine
        assert scene.render.engine == ident


# ---------------------------------------------------------------------------------- panel row logic


def test_status_rows(registered) -> None:
    ss = props.shot_settings(registered, "A")
    assert panels.status_text(ss) == "Not generated yet" and not panels.shows_progress(ss)
    ss.job_status, ss.progress, ss.message = "running", 0.4, "step 4/8"
    assert panels.status_text(ss) == "Running 40% - step 4/8" and panels.shows_progress(ss)
    assert panels.status_icon("running") != panels.status_icon("failed")
    for state in props.JOB_STATES:
        assert (
            panels.status_icon(state)
            in bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items.keys()
        )
    ss.job_status, ss.takes = "", 2
    assert panels.status_text(ss) == "2 take(s)"
    ss.frame_start, ss.frame_end = 5, 40
    assert panels.frames_text(ss) == "5-40"


def test_shot_list_hides_shots_out_of_the_plan(registered) -> None:
    scene = registered
    props.sync_shots(scene, make_plan(make_shot("A", 1, 20), make_shot("B", 21, 40)))
    props.sync_shots(scene, make_plan(make_shot("B", 1, 40)))
    flags = panels.plan_filter(scene.ltx.shots, 1)
    shown = [ss.name for ss, f in zip(scene.ltx.shots, flags, strict=True) if f]
    assert shown == ["B"]


def test_take_rows_from_the_vse(registered, tmp_path) -> None:
    from blender_ltx.bl.edit import vse

    scene = registered
    assert panels.take_rows(scene, "A") == []
    scene.sequence_editor_create()
    # Real take strips need a clip on disk; a color strip with the same metadata stands for one here.
    for take in (1, 2):
        strip = vse_new_color(scene, f"A take {take}", channel=take)
        strip.ltx.role, strip.ltx.shot, strip.ltx.take = vse.ROLE_TAKE, "A", take
        strip.mute = take == 1
    assert panels.take_rows(scene, "A") == [(2, "A take 2", False), (1, "A take 1", True)]


def _panel_labels(draw, context) -> list[str]:
    calls: list = []
    draw(CheckingLayout(calls), context)
    return [c[2]["text"] for c in calls if c[0] == "label" and "text" in c[2]]


def test_panel_text_follows_the_takes_as_they_change(registered) -> None:
    """Issue 15 #10: a redraw reads the takes once and parses nothing when nothing changed, and every
    change to the takes (a new take, a promote, a measurement, a rename, a deletion) shows at once."""
    import json

    from blender_ltx.bl.addon import compat
    from blender_ltx.bl.edit import vse

    scene = registered
    props.sync_shots(scene, ShotPlan(scene.name, 24.0, [make_shot("A", 1, 10)]))
    scene.sequence_editor_create()
    scene.ltx.active_shot_index = 0

    def add_take(take: int, score: float):
        strip = vse_new_color(scene, f"A take {take}", channel=take)
        strip.ltx.role, strip.ltx.shot, strip.ltx.take, strip.ltx.job_id = (
            vse.ROLE_TAKE,
            "A",
            take,
            f"j{take}",
        )
        strip.ltx.motion = json.dumps(
            {"measurable": True, "kinds": ["dolly_in"], "agreement": {"score": score}}
        )
        strip.ltx.applied = json.dumps({"camera_lora": {"name": f"Lora{take}", "scale": 1.0}})
        return strip

    def shown():
        shot = [t for t in _panel_labels(panels.draw_shot, bpy.context) if t.startswith(("Camera", "Take"))]
        return shot, _panel_labels(panels.draw_takes, bpy.context)

    add_take(1, 0.91)
    assert shown() == (
        ["Camera lora lora1 1.0", "Take 1 follows the plan 0.91: dolly in"],
        ["A take 1  (0.91)"],
    )
    assert panels.take_view(scene, "A") is panels.take_view(scene, "A")  # nothing changed: the same words

    two = add_take(2, 0.42)  # imported: the new take is active, the older one muted
    compat.strips_all(scene.sequence_editor)["A take 1"].mute = True
    assert shown() == (
        ["Camera lora lora2 1.0", "Take 2 off the plan 0.42: dolly in"],
        ["A take 2  (0.42)", "A take 1  (0.91)"],
    )
    vse.promote_take(scene, "A", 1)
    assert shown()[0] == ["Camera lora lora1 1.0", "Take 1 follows the plan 0.91: dolly in"]
    vse.set_motion(
        scene, "A", two.ltx.job_id, {"measurable": True, "kinds": ["pan_left"], "agreement": {"score": 0.77}}
    )
    assert shown()[1] == ["A take 2  (0.77)", "A take 1  (0.91)"]
    two.name = "A take 2 (kept)"
    assert shown()[1] == ["A take 2 (kept)  (0.77)", "A take 1  (0.91)"]
    compat.strips(scene.sequence_editor).remove(compat.strips_all(scene.sequence_editor)["A take 1"])
    assert shown() == ([], ["A take 2 (kept)  (0.77)"])  # the active take is gone, take 2 still muted
    two.mute = False
    assert shown()[0] == ["Camera lora lora2 1.0", "Take 2 follows the plan 0.77: pan left"]


def vse_new_color(scene, name: str, channel: int):
    from blender_ltx.bl.addon import compat

    return compat.new_effect(scene.sequence_editor, name, "COLOR", channel, 1, 10, None)


# ------------------------------------------------------------------------------------ draw code
#
# Headless Blender has no UILayout to draw into (layouts exist only while a region draws), so the
# draw functions run against a layout that checks every call against Blender's own RNA: the UILayout
# function exists and takes those keywords, icons are real icon ids, ``prop`` names a real property of
# the data, ``operator`` a registered operator, and operator properties set on the button exist.


class CheckingLayout:
    UI = bpy.types.UILayout.bl_rna

    def __init__(self, calls: list):
        object.__setattr__(self, "calls", calls)

    def __setattr__(self, name, value):
        assert name in self.UI.properties, f"UILayout has no property {name!r}"

    def __getattr__(self, name):
        fn = self.UI.functions.get(name)
        assert fn is not None, f"UILayout has no function {name!r}"
        params = fn.parameters

        def call(*args, **kwargs):
            assert set(kwargs) <= set(params.keys()), f"{name}() takes no {set(kwargs) - set(params.keys())}"
            if "icon" in kwargs:
                assert kwargs["icon"] in params["icon"].enum_items.keys(), f"no icon {kwargs['icon']!r}"
            self.calls.append((name, args, kwargs))
            if name == "prop":
                data, prop = args[:2]
                assert prop in data.bl_rna.properties, f"{type(data).__name__} has no property {prop!r}"
            if name == "template_list":
                assert hasattr(bpy.types, args[0]), f"no UIList {args[0]!r}"
                for data, prop in (args[2:4], args[4:6]):
                    assert prop in data.bl_rna.properties
            if name == "operator":
                category, op = args[0].split(".")
                rna = getattr(getattr(bpy.ops, category), op).get_rna_type()
                return OperatorProps(rna)
            if name in ("row", "column", "box", "split", "column_flow", "grid_flow"):
                return CheckingLayout(self.calls)
            return None

        return call


class OperatorProps:
    def __init__(self, rna):
        object.__setattr__(self, "rna", rna)

    def __setattr__(self, name, value):
        assert name in self.rna.properties, f"{self.rna.identifier} has no property {name!r}"


def test_draw_functions_against_blender_rna(registered) -> None:
    scene = registered
    calls: list = []
    panels.draw_main(CheckingLayout(calls), bpy.context)  # no plan yet
    assert calls[0][1] == ("ltx.refresh_plan",)
    props.sync_shots(scene, make_plan(make_shot("A", 1, 20), make_shot("B", 21, 40)))
    scene.ltx.style_prompt = "noir"
    scene.ltx.first_frame_source = "IMAGE"
    ss = props.shot_settings(scene, "A")
    for status in ("", "running", "imported"):
        ss.job_status = status
        calls.clear()
        for draw in (panels.draw_main, panels.draw_shot, panels.draw_settings, panels.draw_takes):
            draw(CheckingLayout(calls), bpy.context)
        names = [c[0] for c in calls]
        assert "template_list" in names
        assert ("progress" in names) == (status == "running")
        ops = {c[1][0] for c in calls if c[0] == "operator"}
        assert {"ltx.generate_shot", "ltx.generate_all", "ltx.cancel", "ltx.open_clip_folder"} <= ops
        drawn = {c[1][1] for c in calls if c[0] == "prop"}
        assert {
            "prompt",
            "negative_prompt",
            "seed",
            "seed_lock",
            "steps",
            "guidance",
            "first_frame_image",
        } <= drawn


def test_prefs_draw_against_blender_rna() -> None:
    with enabled_as_addon():
        calls: list = []
        prefs.draw_prefs(prefs.get_prefs(), CheckingLayout(calls))
    drawn = {c[1][1] for c in calls if c[0] == "prop"}
    assert set(prefs.DEFAULTS) <= drawn
    ops = {c[1][0] for c in calls if c[0] == "operator"}
    assert {"ltx.test_connection", "ltx.start_server", "ltx.stop_server"} <= ops


def test_shot_panel_greys_ltx2_switches_from_the_server_info(registered) -> None:
    from blender_ltx.bl.link import connection
    from blender_ltx.core import server_info

    scene = registered
    props.sync_shots(scene, make_plan(make_shot("A", 1, 20)))
    url = connection.server_url(bpy.context)
    ltx2 = {"family": "ltx2", "capabilities": ["audio", "camera_lora", "long_shots"], "max_frames": 97}
    ltx2["loras"] = [{"adapter": "Dolly-In", "role": "camera", "usable": True}]
    try:
        for health, greyed in ((ltx2, False), ({"family": "ltx-video", "capabilities": ["keyframes"]}, True)):
            server_info.remember(url, health)
            calls: list = []
            panels.draw_shot(CheckingLayout(calls), bpy.context)
            drawn = {c[1][1] for c in calls if c[0] == "prop"}
            assert {"audio", "camera_lora", "camera_lora_scale"} <= drawn
            reasons = [c[2].get("text", "") for c in calls if c[0] == "label"]
            assert any("has no generated audio" in r for r in reasons) == greyed
            assert any("has no camera LoRAs" in r for r in reasons) == greyed
            buttons = [
                c[2].get("text") for c in calls if c[0] == "operator" and c[1][0] == "ltx.set_camera_lora"
            ]
            assert buttons == ([] if greyed else ["auto", "none", "Dolly-In"])
    finally:
        server_info.forget(url)
