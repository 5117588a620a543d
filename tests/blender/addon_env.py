"""The add-on's two ways into Blender, for the Blender tests: registered from the package (scripts,
``python -m blender_ltx``) and enabled as an add-on (preferences exist). Both leave things as found."""

from __future__ import annotations

import contextlib
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


def demo_blend(path) -> object:
    """Save the demo previs (tiny generation size, one step) as ``path``; returns its scene, still open."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    demo.build_scene(bpy.context.scene, pixel_budget=TEST_PIXEL_BUDGET, steps=1)
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return bpy.context.scene
