"""Everything that touches bpy. ``register()`` registers each module in dependency order.

Order matters: props (scene data) before anything that reads ``scene.ltx``; prefs before the
operators that read them; vse (strip metadata) before the operators that import takes; ui last of
the classes; cli, worker and server_proc hook into Blender (command line, timers, quit handler).
"""

from __future__ import annotations

import importlib
import importlib.util

#: Registered in this order, unregistered in reverse. A module without ``register`` is skipped.
MODULES = ("props", "prefs", "vse", "ops", "ui", "cli", "worker", "server_proc")

_registered: list = []


def _modules() -> list:
    mods = []
    for name in MODULES:
        full = f"{__package__}.{name}"
        # A module not written yet is skipped; one that exists but fails to import is an error.
        if importlib.util.find_spec(full) is None:
            continue
        mods.append(importlib.import_module(full))
    return mods


def register() -> None:
    if _registered:  # registering twice would fail half-way in bpy; make it a no-op instead
        return
    try:
        for mod in _modules():
            if hasattr(mod, "register"):
                mod.register()
                _registered.append(mod)
    except Exception:
        unregister()
        raise


def unregister() -> None:
    while _registered:
        mod = _registered.pop()
        if hasattr(mod, "unregister"):
            mod.unregister()
