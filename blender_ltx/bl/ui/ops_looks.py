"""The look operators: *Generate Looks* (candidate look frames of shots, on the muted Looks channel) and
*Use Look* (the selected look strip becomes its shot's look).

Generate Looks waits for the server in ``execute()`` (scripts and the headless ``looks`` command get
the strips when it returns); it does not yet run in the background through the courier as Generate does.
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, IntProperty

from ...core.looks import MAX_LOOK_COUNT
from ..addon import props
from .ops_common import ShotOperand, fail, poll_active_shot, poll_clip_dir


class LTX_OT_generate_looks(ShotOperand, bpy.types.Operator):
    """Make candidate look frames of the shot (or every shot) on the server from its previs layout, the
    prompt and the scene's references; they land as muted image strips on the Looks channel"""

    bl_idname = "ltx.generate_looks"
    bl_label = "Generate Looks"
    bl_options = {"REGISTER", "UNDO"}

    count: IntProperty(name="Count", default=4, min=1, max=MAX_LOOK_COUNT, description="Stills per shot")
    all_shots: BoolProperty(name="All Shots", description="Every shot of the plan, not only this one")

    @classmethod
    def poll(cls, context):
        return poll_active_shot(cls, context) and poll_clip_dir(cls, context)

    def execute(self, context):
        from ..flow import looks
        from ..link import connection

        scene = context.scene
        names = None
        if not self.all_shots:
            ss = self.target(context)
            if ss is None:
                return {"CANCELLED"}
            names = [ss.name]
        client = connection.client_config(context).client()
        try:
            result = looks.make_looks(
                scene, client, count=self.count, shot_names=names, report=lambda s: None, timeout=None
            )
        except (ValueError, OSError) as exc:
            return fail(self, exc)
        made = sum(len(v) for v in result["shots"].values())
        if result["failed"]:
            return fail(self, f"The look jobs of {', '.join(result['failed'])} failed; see the server log")
        self.report(
            {"INFO"},
            f"{made} look(s) for {len(result['shots'])} shot(s); {result['uploaded_bytes']} bytes uploaded",
        )
        return {"FINISHED"}


class LTX_OT_use_look(bpy.types.Operator):
    """Make the active look strip (on the Looks channel) its shot's look"""

    bl_idname = "ltx.use_look"
    bl_label = "Use Look"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        sed = context.scene.sequence_editor if context.scene else None
        strip = sed.active_strip if sed else None
        if strip is None or not strip.get("ltx_look_shot"):
            cls.poll_message_set("Select a look strip on the Looks channel")
            return False
        return True

    def execute(self, context):
        from ..edit import look_strips

        strip = context.scene.sequence_editor.active_strip
        try:
            look_strips.use_look(context.scene, strip)
        except ValueError as exc:
            return fail(self, exc)
        ss = props.shot_settings(context.scene, strip["ltx_look_shot"])
        self.report({"INFO"}, f"Shot {ss.name} now starts from look {strip.name}")
        return {"FINISHED"}


classes = (LTX_OT_generate_looks, LTX_OT_use_look)
