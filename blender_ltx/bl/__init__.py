"""Everything that touches bpy. ``register()`` registers each module in dependency order.

Order matters: props (scene data) before anything that reads ``scene.ltx``; prefs before the
operators that read them; vse (strip metadata) before the operators that import takes; ui last of
the classes; cli, courier_link, tick, generate and server_process hook into Blender (command line; the
courier's quit hook; the tick's timer; the tick's message handler, load and undo handlers; the local
server's quit hook).
"""

from __future__ import annotations

import importlib

#: Registered in this order, unregistered in reverse.
MODULES = (
    "addon.props",
    "addon.prefs",
    "edit.vse",
    "ui.ops",
    "ui.panels",
    "cli.commands",
    "link.courier_link",
    "link.tick",
    "flow.generate",
    "link.server_process",
)

_registered: list = []


def register() -> None:
    if _registered:  # registering twice would fail half-way in bpy; make it a no-op instead
        return
    try:
        for name in MODULES:
            mod = importlib.import_module(f"{__package__}.{name}")
            mod.register()
            _registered.append(mod)
    except Exception:
        unregister()  # leave Blender as it was: no half-registered add-on
        raise


def unregister() -> None:
    while _registered:
        _registered.pop().unregister()
