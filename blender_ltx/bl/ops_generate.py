"""Operators that talk to the generation server; the work itself lives in generate.py / server_proc.py.

``execute()`` runs synchronously (scripts, ``blender -b``); ``invoke()`` (a click) starts the
background worker and returns at once, so Blender never waits on the network from a button.
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, StringProperty

from ..core.protocol import ServerError
from . import props
from .prefs import get_prefs

#: What the pipeline raises with a sentence for the user (bad settings, I/O, the server, a render).
FAILURES = (ValueError, OSError, RuntimeError, ServerError)


def _poll_plan(cls, context) -> bool:
    scene = context.scene
    if scene is None or not scene.ltx.plan_json:
        cls.poll_message_set("No shot plan yet: press Refresh Plan first")
        return False
    if not props.plan_shots(scene):
        cls.poll_message_set("The plan has no shots: check the frame range and the markers, then refresh")
        return False
    if scene.ltx.clip_dir.startswith("//") and not bpy.data.filepath:
        cls.poll_message_set(
            "Save the .blend first: clips are saved next to it (or set an absolute clip folder)"
        )
        return False
    return True


def summary(result: dict) -> tuple[str, str]:
    """(report level, one line) for a ``generate.run_sync`` / ``start_async`` result dict."""
    if not isinstance(result, dict):
        return "INFO", str(result)
    if result.get("message"):
        line = str(result["message"])
    elif result.get("unchanged") and not (result.get("submitted") or result.get("attached")):
        line = "Nothing to generate: every shot is up to date (use Force)"
    else:
        parts = [
            f"{k}: {', '.join(map(str, v))}" for k, v in result.items() if isinstance(v, (list, tuple)) and v
        ]
        line = "; ".join(parts) or "Nothing to do"
    failed = any(result.get(k) for k in ("failed", "errors", "error"))
    return ("WARNING" if failed else "INFO"), line


class _GenerateBase:
    bl_options = {"REGISTER", "UNDO"}

    def _names(self, context) -> list[str] | None:
        raise NotImplementedError

    def _force(self) -> bool:
        raise NotImplementedError

    def execute(self, context):
        from . import generate

        names = self._names(context)
        try:
            result = generate.run_sync(context.scene, names, force=self._force())
        except FAILURES as exc:  # one sentence from the pipeline; a traceback adds nothing for the user
            self.report({"ERROR"}, str(exc) or type(exc).__name__)
            return {"CANCELLED"}
        level, line = summary(result)
        if result.get("failed") and not result.get("imported"):
            # Nothing came back: no undo step, and scripts see the failure in the return value.
            self.report({"ERROR"}, line)
            return {"CANCELLED"}
        self.report({level}, line)
        return {"FINISHED"}

    def invoke(self, context, event):
        from . import generate

        names = self._names(context)
        try:
            result = generate.start_async(context, names, force=self._force())
        except FAILURES as exc:
            self.report({"ERROR"}, str(exc) or type(exc).__name__)
            return {"CANCELLED"}
        level, line = summary(result)
        if result.get("submitted") or result.get("attached"):
            line = f"Generating in the background: {line}"
        self.report({level}, line)
        return {"FINISHED"}


class LTX_OT_generate_shot(_GenerateBase, bpy.types.Operator):
    """Generate a new take of the selected shot"""

    bl_idname = "ltx.generate_shot"
    bl_label = "Generate Shot"

    shot: StringProperty(name="Shot", description="Shot name (empty: the active shot)")

    @classmethod
    def poll(cls, context):
        if not _poll_plan(cls, context):
            return False
        ss = props.active_shot(context.scene)
        if ss is None:
            cls.poll_message_set("Select a shot in the LTX shot list")
            return False
        if ss.job_status in props.ACTIVE_STATES:
            cls.poll_message_set(f"Shot {ss.name} is already {ss.job_status}: cancel it first")
            return False
        return True

    def _names(self, context):
        return [self.shot or props.active_shot(context.scene).name]

    def _force(self):
        return True  # asked for explicitly: a new take even when nothing changed


class LTX_OT_generate_all(_GenerateBase, bpy.types.Operator):
    """Generate every shot whose inputs changed since its last take (all of them with Force)"""

    bl_idname = "ltx.generate_all"
    bl_label = "Generate All"

    force: BoolProperty(name="Force", description="Generate every shot, changed or not")

    @classmethod
    def poll(cls, context):
        return _poll_plan(cls, context)

    def _names(self, context):
        return None

    def _force(self):
        return self.force


def _active_jobs(scene) -> list[str]:
    return [ss.name for ss in props.plan_shots(scene) if ss.job_status in props.ACTIVE_STATES]


class LTX_OT_cancel(bpy.types.Operator):
    """Cancel the shot's job on the server (or every running job with All)"""

    bl_idname = "ltx.cancel"
    bl_label = "Cancel"
    bl_options = {"REGISTER", "UNDO"}

    shot: StringProperty(name="Shot", description="Shot name (empty: the active shot)")
    all: BoolProperty(name="All", description="Cancel every queued or running shot")

    @classmethod
    def poll(cls, context):
        if context.scene is None or not _active_jobs(context.scene):
            cls.poll_message_set("No shot is queued or generating")
            return False
        return True

    def execute(self, context):
        from . import generate

        scene = context.scene
        if self.all:
            names = _active_jobs(scene)
        else:
            ss = (
                props.shot_settings(scene, self.shot, create=False) if self.shot else props.active_shot(scene)
            )
            if ss is None or ss.job_status not in props.ACTIVE_STATES:
                name = self.shot or (ss.name if ss else "the selected shot")
                self.report({"WARNING"}, f"{name} is not queued or generating: nothing to cancel")
                return {"CANCELLED"}
            names = [ss.name]
        try:
            generate.cancel(scene, names)
        except FAILURES as exc:
            self.report({"ERROR"}, str(exc) or type(exc).__name__)
            return {"CANCELLED"}
        self.report({"INFO"}, f"Cancelled {', '.join(names)}")
        return {"FINISHED"}


class LTX_OT_test_connection(bpy.types.Operator):
    """Ask the server for its model, device and capabilities"""

    bl_idname = "ltx.test_connection"
    bl_label = "Test Connection"

    @classmethod
    def poll(cls, context):
        if not get_prefs(context).server_url.strip():
            cls.poll_message_set("Set the server URL in the add-on preferences")
            return False
        return True

    def execute(self, context):
        from . import generate

        ok, sentence = generate.test_connection(context)
        self.report({"INFO" if ok else "ERROR"}, sentence)
        return {"FINISHED"} if ok else {"CANCELLED"}


class LTX_OT_start_server(bpy.types.Operator):
    """Start the local generation server from its own Python environment"""

    bl_idname = "ltx.start_server"
    bl_label = "Start Server"

    @classmethod
    def poll(cls, context):
        from . import server_proc

        # No check of Server Python here: start() explains what to set (it may use this Python's env).
        if server_proc.is_running():
            cls.poll_message_set("The local server is already running")
            return False
        return True

    def execute(self, context):
        from . import server_proc

        try:
            url = server_proc.start(get_prefs(context))
        except FAILURES as exc:
            self.report({"ERROR"}, str(exc) or type(exc).__name__)
            return {"CANCELLED"}
        # The model loads in the background; Test Connection says when it is ready.
        self.report(
            {"INFO"}, f"Local server starting on {url}: Test Connection says when the model is loaded"
        )
        return {"FINISHED"}


class LTX_OT_stop_server(bpy.types.Operator):
    """Stop the local generation server this Blender started"""

    bl_idname = "ltx.stop_server"
    bl_label = "Stop Server"

    @classmethod
    def poll(cls, context):
        from . import server_proc

        if not server_proc.is_running():
            cls.poll_message_set("No local server started by this Blender is running")
            return False
        return True

    def execute(self, context):
        from . import server_proc

        server_proc.stop()
        self.report({"INFO"}, "Local server stopped")
        return {"FINISHED"}


classes = (
    LTX_OT_generate_shot,
    LTX_OT_generate_all,
    LTX_OT_cancel,
    LTX_OT_test_connection,
    LTX_OT_start_server,
    LTX_OT_stop_server,
)
