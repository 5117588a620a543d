"""Operators that talk to the generation server; the work itself lives in generate.py (and
the step modules it names) and server_process.py.

``execute()`` runs synchronously (scripts, ``blender -b``); ``invoke()`` (a click) hands the work to
the network courier (a child process, see courier_link.py) and returns at once, so Blender never waits on the
network from a button.
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty

from ...core import status
from ...core.protocol import ServerError
from ..addon import props
from .ops_common import ShotOperand, fail, poll_active_shot, poll_clip_dir, poll_plan
from ..addon.prefs import get_prefs

#: What the pipeline raises with a sentence for the user (bad settings, I/O, the server, a render).
FAILURES = (ValueError, OSError, RuntimeError, ServerError)


def summary(result: dict) -> tuple[str, str]:
    """(report level, one line) for a ``generate.run_sync`` / ``start_async`` result dict."""
    warn = status.failed(result) or result.get("warnings")
    return ("WARNING" if warn else "INFO"), result["message"]


class _GenerateBase:
    bl_options = {"REGISTER", "UNDO"}

    def _names(self, context) -> list[str] | None:
        """The shots to generate: None for every changed shot, [] when the named shot is missing."""
        raise NotImplementedError

    def _force(self) -> bool:
        raise NotImplementedError

    def execute(self, context):
        from ..flow import generate

        names = self._names(context)
        if names == []:
            return {"CANCELLED"}
        try:
            result = generate.run_sync(context.scene, names, force=self._force())
        except FAILURES as exc:  # one sentence from the pipeline; a traceback adds nothing for the user
            return fail(self, exc)
        level, line = summary(result)
        if result.get("failed") and not result.get("imported"):
            # Nothing came back: no undo step, and scripts see the failure in the return value.
            return fail(self, line)
        self.report({level}, line)
        return {"FINISHED"}

    def invoke(self, context, event):
        from ..flow import generate

        names = self._names(context)
        if names == []:
            return {"CANCELLED"}
        try:
            result = generate.start_async(context, names, force=self._force())
        except FAILURES as exc:
            return fail(self, exc)
        level, line = summary(result)
        if result.get("submitted") or result.get("attached"):
            line = f"Generating in the background: {line}"
        self.report({level}, line)
        return {"FINISHED"}


class LTX_OT_generate_shot(ShotOperand, _GenerateBase, bpy.types.Operator):
    """Generate a new take of the selected shot"""

    bl_idname = "ltx.generate_shot"
    bl_label = "Generate Shot"

    @classmethod
    def poll(cls, context):
        if not (poll_active_shot(cls, context) and poll_clip_dir(cls, context)):
            return False
        ss = props.active_shot(context.scene)
        if ss.job_status in props.ACTIVE_STATES:
            cls.poll_message_set(f"Shot {ss.name} is already {ss.job_status}: cancel it first")
            return False
        return True

    def _names(self, context):
        ss = self.target(context)
        return [ss.name] if ss is not None else []  # [] = no such shot (reported), None = all

    def _force(self):
        return True  # asked for explicitly: a new take even when nothing changed


class LTX_OT_generate_all(_GenerateBase, bpy.types.Operator):
    """Generate every shot whose inputs changed since its last take (all of them with Force)"""

    bl_idname = "ltx.generate_all"
    bl_label = "Generate All"

    force: BoolProperty(name="Force", description="Generate every shot, changed or not")

    @classmethod
    def poll(cls, context):
        return poll_plan(cls, context) and poll_clip_dir(cls, context)

    def _names(self, context):
        return None

    def _force(self):
        return self.force


def _active_jobs(scene) -> list[str]:
    return [ss.name for ss in props.plan_shots(scene) if ss.job_status in props.ACTIVE_STATES]


class LTX_OT_cancel(ShotOperand, bpy.types.Operator):
    """Cancel the shot's job on the server (or every running job with All)"""

    bl_idname = "ltx.cancel"
    bl_label = "Cancel"
    bl_options = {"REGISTER", "UNDO"}

    all: BoolProperty(name="All", description="Cancel every queued or running shot")

    @classmethod
    def poll(cls, context):
        if context.scene is None or not _active_jobs(context.scene):
            cls.poll_message_set("No shot is queued or generating")
            return False
        return True

    def execute(self, context):
        from ..flow import generate

        scene = context.scene
        if self.all:
            names = _active_jobs(scene)
        else:
            ss = self.target(context)
            if ss is None:
                return {"CANCELLED"}
            if ss.job_status not in props.ACTIVE_STATES:
                self.report({"WARNING"}, f"{ss.name} is not queued or generating: nothing to cancel")
                return {"CANCELLED"}
            names = [ss.name]
        try:
            generate.cancel(scene, names)
        except FAILURES as exc:
            return fail(self, exc)
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
        from ..flow import generate

        return self._finish(*generate.test_connection(context))

    def invoke(self, context, event):
        # A click: the courier asks (a hung server costs it up to 5 s, not Blender); a modal timer
        # collects the answer.
        from ..flow import generate
        from ..link import courier_link

        self._probe_id = courier_link.get().probe(generate.client_config(context))
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        self.report({"INFO"}, "Asking the server...")
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        from ..link import courier_link

        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        answer = courier_link.get().probe_answer(self._probe_id)
        if answer is None:
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        return self._finish(*answer)

    def _finish(self, ok: bool, sentence: str) -> set[str]:
        self.report({"INFO" if ok else "ERROR"}, sentence)
        return {"FINISHED"} if ok else {"CANCELLED"}


class LTX_OT_start_server(bpy.types.Operator):
    """Start the local generation server from its own Python environment"""

    bl_idname = "ltx.start_server"
    bl_label = "Start Server"

    @classmethod
    def poll(cls, context):
        from ..link import server_process

        # No check of Server Python here: start() explains what to set (it may use this Python's env).
        if server_process.is_running():
            cls.poll_message_set("The local server is already running")
            return False
        return True

    def execute(self, context):
        from ..link import server_process

        try:
            url = server_process.start(get_prefs(context))
        except FAILURES as exc:
            return fail(self, exc)
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
        from ..link import server_process

        if not server_process.is_running():
            cls.poll_message_set("No local server started by this Blender is running")
            return False
        return True

    def execute(self, context):
        from ..link import server_process

        server_process.stop()  # asks it to stop and returns: the tick sees it go
        self.report({"INFO"}, "Local server stopping")
        return {"FINISHED"}


classes = (
    LTX_OT_generate_shot,
    LTX_OT_generate_all,
    LTX_OT_cancel,
    LTX_OT_test_connection,
    LTX_OT_start_server,
    LTX_OT_stop_server,
)
