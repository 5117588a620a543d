"""The add-on's two ways into Blender, for the Blender tests: registered from the package (scripts,
``python -m blender_ltx``) and enabled as an add-on (preferences exist). Both leave things as found."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import addon_utils
import bpy

import blender_ltx
from blender_ltx.bl.cli import demo

#: Generation size of the Blender round-trip tests: tiny, so a take takes about a second.
TEST_PIXEL_BUDGET = 128 * 96


#: The bpy 4.2 wheel is built without Audaspace: there the add-on imports takes without a sound strip
#: (a warning says why), and tests of sound strips check that instead.
HAS_AUDIO = bool(getattr(bpy.app.build_options, "audaspace", True))


@contextlib.contextmanager
def registered_scene() -> Iterator:
    """An empty factory scene with the add-on registered (unless a module fixture already did)."""
    mine = not hasattr(bpy.types.Scene, "ltx")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if mine:
        blender_ltx.register()
    try:
        yield bpy.context.scene
    finally:
        if mine:
            blender_ltx.unregister()


@contextlib.contextmanager
def registered_addon() -> Iterator[None]:
    """The add-on registered for a test module, unless something registered it already (then it is
    left as it was)."""
    mine = not hasattr(bpy.types.Scene, "ltx")
    if mine:
        blender_ltx.register()
    try:
        yield
    finally:
        if mine:
            blender_ltx.unregister()


@contextlib.contextmanager
def no_jobs_in_flight() -> Iterator[None]:
    """No job of an earlier test followed, nothing staged, no server override and nothing known of any
    server: the session's one reset (``flow/session.py``), before and after."""
    from blender_ltx.bl.flow import session

    session.reset(servers=True)
    try:
        yield
    finally:
        session.reset(servers=True)


@contextlib.contextmanager
def enabled_as_addon() -> Iterator:
    """The add-on enabled through addon_utils (so ``get_prefs`` returns real AddonPreferences)."""
    was = hasattr(bpy.types.Scene, "ltx")
    if was:
        blender_ltx.unregister()
    try:
        addon_utils.enable("blender_ltx", default_set=True)
        yield
    finally:
        addon_utils.disable("blender_ltx", default_set=True)
        if was:
            blender_ltx.register()


@contextlib.contextmanager
def blender_events(*names: str) -> Iterator[dict[str, int]]:
    """Counts what Blender does in this process while the block runs, by handler name (``render_pre``:
    renders started, ``frame_change_pre``: frame changes): {name: count}."""
    count = dict.fromkeys(names, 0)
    hooks = []
    for name in names:

        def on_event(*_args, _name=name) -> None:
            count[_name] += 1

        getattr(bpy.app.handlers, name).append(on_event)
        hooks.append((name, on_event))
    try:
        yield count
    finally:
        for name, on_event in hooks:
            getattr(bpy.app.handlers, name).remove(on_event)


def demo_blend(path) -> object:
    """Save the demo previs (tiny generation size, one step) as ``path``; returns its scene, still open."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    demo.build_scene(bpy.context.scene, pixel_budget=TEST_PIXEL_BUDGET, steps=1)
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return bpy.context.scene


REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m blender_ltx ARGS`` in a subprocess of this venv, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "blender_ltx", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def saved_demo(path) -> object:
    """The demo previs saved for a subprocess to work on (this process keeps an empty scene)."""
    demo_blend(path)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return path


def reopen(path) -> object:
    """Open a file a subprocess wrote, to inspect it here (no re-attaching to its jobs); returns its scene."""
    from blender_ltx.bl.flow import session

    bpy.ops.wm.open_mainfile(filepath=str(path), load_ui=False)
    session.reset()
    return bpy.context.scene


def user_render_state(scene) -> tuple:
    """The render settings a user set, which generation must leave as they were."""
    r = scene.render
    return (
        r.engine, r.resolution_x, r.resolution_y, r.resolution_percentage, r.filepath, r.use_sequencer,
        r.image_settings.file_format, scene.camera.name, scene.frame_current,
        scene.frame_start, scene.frame_end,
    )  # fmt: skip


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
