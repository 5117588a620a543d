"""The scene's references (name, image, kind: what the look jobs condition on): *Add Reference* (a file
browser for the image), *Remove Reference*, and *Show Reference* (the shot panel's checkbox per
reference: does this shot show it; written to the shot's ``hidden_references``)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from ..addon import props
from .ops_common import ShotOperand, fail


class LTX_OT_add_reference(bpy.types.Operator):
    """Add a reference image (a character, prop or set the shots show) to the scene's references"""

    bl_idname = "ltx.add_reference"
    bl_label = "Add Reference"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(name="Image", subtype="FILE_PATH", description="The reference's PNG image")
    filter_glob: StringProperty(default="*.png", options={"HIDDEN"})
    name: StringProperty(name="Name", description="What the prompts call it (e.g. Ana, the red car)")
    kind: EnumProperty(name="Kind", items=props.REFERENCE_KINDS, default="character")

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        from ..flow import looks

        refs = context.scene.ltx.references
        name = self.name.strip()
        if not name:
            return fail(self, "The reference has no name: name it as the prompts call it")
        if any(r.name == name for r in refs):
            return fail(self, f"A reference named {name!r} exists already: choose another name")
        if not self.filepath:
            return fail(self, "No image chosen: pick the reference's PNG file")
        try:
            looks.check_reference_image(self.filepath, f"Reference {name!r}")
        except ValueError as exc:
            return fail(self, exc)
        ref = refs.add()
        ref.name, ref.kind = name, self.kind
        ref.image = bpy.path.abspath(self.filepath)  # the property takes no blend-relative "//" path
        self.report({"INFO"}, f"Reference {name!r} ({self.kind}) added; every shot shows it")
        return {"FINISHED"}


class LTX_OT_remove_reference(bpy.types.Operator):
    """Remove a reference from the scene (and from every shot's hidden list)"""

    bl_idname = "ltx.remove_reference"
    bl_label = "Remove Reference"
    bl_options = {"REGISTER", "UNDO"}

    name: StringProperty(name="Name", description="The reference to remove")

    def execute(self, context):
        from ..flow import looks

        try:
            looks.remove_reference(context.scene, self.name)
        except ValueError as exc:
            return fail(self, exc)
        self.report({"INFO"}, f"Reference {self.name!r} removed")
        return {"FINISHED"}


class LTX_OT_show_reference(ShotOperand, bpy.types.Operator):
    """Show this reference in the shot (its look jobs condition on it) or hide it from the shot"""

    bl_idname = "ltx.show_reference"
    bl_label = "Show Reference in Shot"
    bl_options = {"REGISTER", "UNDO"}

    name: StringProperty(name="Name", description="The reference")
    show: BoolProperty(name="Show", default=True, description="The shot shows it")

    def execute(self, context):
        from ..flow import looks

        ss = self.target(context)
        if ss is None:
            return {"CANCELLED"}
        try:
            looks.set_reference_shown(context.scene, ss, self.name, self.show)
        except ValueError as exc:
            return fail(self, exc)
        return {"FINISHED"}


classes = (LTX_OT_add_reference, LTX_OT_remove_reference, LTX_OT_show_reference)
