"""The look operators: *Generate Looks* (candidate look frames of shots, on the muted Looks channel) and
*Use Look* (the selected look strip becomes its shot's look).

Generate Looks on a click (``invoke()``) renders each shot's layout frame and hands its look job to the
courier, returning at once; the tick lands the look strips (``flow/look_jobs.py``). ``execute()``
(scripts, ``blender -b``, the headless ``looks`` command) waits for the server and has the strips when
it returns. *Cancel Looks* cancels a shot's look job in flight.
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

    def _names(self, context) -> list[str] | None:
        """The shots: None for all, [] when the named shot is missing."""
        if self.all_shots:
            return None
        ss = self.target(context)
        return [] if ss is None else [ss.name]

    def invoke(self, context, event):
        """The click: the look jobs go to the courier; Blender never waits on the server here."""
        from ..flow import look_jobs
        from ..link import connection

        names = self._names(context)
        if names == []:
            return {"CANCELLED"}
        try:
            result = look_jobs.start(
                context.scene, connection.client_config(context), count=self.count, shot_names=names
            )
        except (ValueError, OSError) as exc:
            return fail(self, exc)
        busy = f"; {', '.join(result['busy'])} still making looks" if result["busy"] else ""
        self.report({"INFO"}, f"Making looks of {len(result['started'])} shot(s) in the background{busy}")
        return {"FINISHED"}

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


class LTX_OT_cancel_looks(ShotOperand, bpy.types.Operator):
    """Cancel the shot's look job in flight"""

    bl_idname = "ltx.cancel_looks"
    bl_label = "Cancel Looks"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        from ..flow import look_jobs

        ss = self.target(context)
        if ss is None:
            return {"CANCELLED"}
        if not look_jobs.cancel(context.scene, ss.name):
            return fail(self, f"Shot {ss.name} makes no looks now; nothing to cancel")
        self.report({"INFO"}, f"Cancelling the looks of {ss.name}")
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


classes = (LTX_OT_generate_looks, LTX_OT_cancel_looks, LTX_OT_use_look)
