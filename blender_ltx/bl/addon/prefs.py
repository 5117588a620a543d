"""Add-on preferences: where the generation server is, and how to start a local one.

The server runs in its own Python environment (torch and diffusers are never installed into
Blender's Python); ``server_python`` is that environment's interpreter.
"""

from __future__ import annotations

from types import SimpleNamespace

import bpy
from bpy.props import BoolProperty, FloatProperty, StringProperty

from ...core.client import DEFAULT_TIMEOUT_S
from ...core.protocol import DEFAULT_URL

#: The add-on's module name: "blender_ltx" as a plain module, "bl_ext.user_default.blender_ltx" as an
#: installed extension. AddonPreferences.bl_idname must be exactly that.
ADDON_ID = __package__.rsplit(".", 2)[0]

DEFAULTS = {
    "server_url": DEFAULT_URL,
    "token": "",
    "timeout_s": DEFAULT_TIMEOUT_S,
    "start_local_server": False,
    "server_python": "",
    "server_model": "tiny",
    "server_device": "auto",
    "server_data_dir": "",
    "generate_audio": True,
}


class LTXAddonPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    server_url: StringProperty(
        name="Server URL", default=DEFAULTS["server_url"], description="Base URL of the LTX generation server"
    )
    token: StringProperty(
        name="Token", default="", subtype="PASSWORD", description="Bearer token, if the server requires one"
    )
    timeout_s: FloatProperty(
        name="Timeout",
        default=DEFAULTS["timeout_s"],
        min=0.5,
        max=600.0,
        unit="TIME_ABSOLUTE",
        description="Seconds to wait for one server request before calling the server unreachable",
    )
    start_local_server: BoolProperty(
        name="Start Local Server",
        default=False,
        description="Start the server from its own Python environment when generating, stop it on quit",
    )
    server_python: StringProperty(
        name="Server Python",
        subtype="FILE_PATH",
        description="Python interpreter of the separate server environment (with torch and diffusers)",
    )
    server_model: StringProperty(
        name="Model",
        default=DEFAULTS["server_model"],
        description="Model id or folder of the weights ('tiny': built-in random weights for testing)",
    )
    server_device: StringProperty(
        name="Device", default=DEFAULTS["server_device"], description="auto, cpu or cuda"
    )
    generate_audio: BoolProperty(
        name="Generated Audio",
        default=True,
        description="Ask for the model's audio (LTX-2) and import it as sound strips; off: silent takes",
    )
    server_data_dir: StringProperty(
        name="Data Folder",
        subtype="DIR_PATH",
        description="Where the server keeps jobs and clips (empty: a folder in Blender's user config)",
    )

    def draw(self, context):
        draw_prefs(self, self.layout)


def draw_prefs(prefs, layout) -> None:
    col = layout.column()
    col.use_property_split = True
    col.prop(prefs, "server_url")
    col.prop(prefs, "token")
    col.prop(prefs, "timeout_s")
    col.prop(prefs, "generate_audio")
    col.operator("ltx.test_connection", icon="URL")

    box = layout.box()
    box.use_property_split = True
    box.prop(prefs, "start_local_server")
    sub = box.column()
    sub.active = prefs.start_local_server
    sub.prop(prefs, "server_python")
    sub.prop(prefs, "server_model")
    sub.prop(prefs, "server_device")
    sub.prop(prefs, "server_data_dir")
    row = sub.row(align=True)
    row.operator("ltx.start_server", icon="PLAY")
    row.operator("ltx.stop_server", icon="SNAP_FACE")


def get_prefs(context=None):
    """The add-on preferences when the add-on is enabled, else the same attributes at their defaults.

    The fallback lets scripts, tests and ``python -m blender_ltx`` (bpy as a module, where the add-on
    is registered without being enabled in the preferences) read the same names.
    """
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID) if context.preferences else None
    if addon is not None and addon.preferences is not None:
        return addon.preferences
    return SimpleNamespace(**DEFAULTS)


classes = (LTXAddonPreferences,)
register, unregister = bpy.utils.register_classes_factory(classes)
