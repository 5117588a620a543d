"""Operators on the plan, the shot list and the takes. Generation and the server: ops_generate.py.

Each ``poll()`` says why it is disabled (``poll_message_set``), each outcome is reported, and the
operators that change scene data support undo.
"""

from __future__ import annotations

import os

import bpy
from bpy.props import IntProperty, StringProperty

from . import ops_draft, ops_generate, ops_looks, ops_references
from ..addon import props
from .ops_common import ShotOperand, fail, poll_active_shot, poll_clip_dir, poll_plan


def _has_camera(scene) -> bool:
    return scene.camera is not None or any(m.camera is not None for m in scene.timeline_markers)


class LTX_OT_refresh_plan(bpy.types.Operator):
    """Read the cameras, markers and frame range into the shot plan (per-shot settings are kept by name)"""

    bl_idname = "ltx.refresh_plan"
    bl_label = "Refresh Plan"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        scene = context.scene
        if scene is None:
            cls.poll_message_set("No scene")
            return False
        if not _has_camera(scene):
            cls.poll_message_set("The scene has no camera: set a scene camera or bind cameras to markers")
            return False
        return True

    def execute(self, context):
        from ..link import connection
        from ..plan.scene import plan_scene
        from ..flow.request import job_max_frames

        scene = context.scene
        st = scene.ltx
        try:
            # Long shots split as generation will split them: not at all where the server chains them.
            max_frames = job_max_frames(scene, connection.server_url(context))
            plan = plan_scene(scene, pixel_budget=st.pixel_budget, max_frames=max_frames)
        except ValueError as exc:  # the planner's one-sentence errors about the scene
            return fail(self, exc)
        added = props.sync_shots(scene, plan)
        for warning in plan.warnings:
            self.report({"WARNING"}, warning)
        if not plan.shots:
            self.report({"WARNING"}, "The plan has no shots: check the frame range and the markers")
            return {"FINISHED"}
        names = ", ".join(s.name for s in plan.shots)
        new = f" ({len(added)} new)" if added else ""
        self.report({"INFO"}, f"Planned {len(plan.shots)} shot(s){new}: {names}")
        return {"FINISHED"}


class LTX_OT_goto_shot(ShotOperand, bpy.types.Operator):
    """Jump to the shot's first frame and look through its camera"""

    bl_idname = "ltx.goto_shot"
    bl_label = "Go to Shot"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return poll_active_shot(cls, context)

    def execute(self, context):
        scene = context.scene
        ss = self.target(context)
        if ss is None:
            return {"CANCELLED"}
        scene.frame_set(ss.frame_start)
        cam = bpy.data.objects.get(ss.camera)
        # Markers bound to cameras switch the camera themselves; set it for scenes without them.
        if cam is not None and cam.type == "CAMERA":
            scene.camera = cam
        self.report({"INFO"}, f"Shot {ss.name}: frame {ss.frame_start}, camera {ss.camera}")
        return {"FINISHED"}


def _unused(ss) -> bool:
    """Out of the plan and waiting for no job (a take in flight comes back to these settings)."""
    return not ss.in_plan and ss.job_status not in (*props.ACTIVE_STATES, "succeeded")


class LTX_OT_remove_stale_shots(bpy.types.Operator):
    """Forget the settings (prompts, seeds) of shots that are no longer in the plan"""

    bl_idname = "ltx.remove_stale_shots"
    bl_label = "Remove Unused Shot Settings"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if not poll_plan(cls, context):
            return False
        if not any(_unused(ss) for ss in context.scene.ltx.shots):
            cls.poll_message_set("Every shot's settings are in use")
            return False
        return True

    def execute(self, context):
        st = context.scene.ltx
        active = props.active_shot(context.scene)
        stale = [ss.name for ss in st.shots if _unused(ss)]
        for name in stale:
            st.shots.remove(st.shots.find(name))
        st.active_shot_index = st.shots.find(active.name) if active is not None else 0
        st.active_shot_index = max(st.active_shot_index, 0)
        self.report({"INFO"}, f"Removed the settings of {len(stale)} unused shot(s): {', '.join(stale)}")
        return {"FINISHED"}


class LTX_OT_promote_take(ShotOperand, bpy.types.Operator):
    """Make this take the shot's active take in the edit (the other takes stay, muted)"""

    bl_idname = "ltx.promote_take"
    bl_label = "Promote Take"
    bl_options = {"REGISTER", "UNDO"}

    take: IntProperty(name="Take", min=1, default=1)

    @classmethod
    def poll(cls, context):
        if not poll_active_shot(cls, context):
            return False
        if props.active_shot(context.scene).takes < 1:
            cls.poll_message_set("This shot has no takes yet: generate it first")
            return False
        return True

    def execute(self, context):
        from ..edit import vse

        scene = context.scene
        ss = self.target(context)
        if ss is None:
            return {"CANCELLED"}
        try:
            vse.promote_take(scene, ss.name, self.take)
        except KeyError as exc:  # no such take: vse says which takes there are
            return fail(self, exc.args[0])
        ss.active_take = self.take
        self.report({"INFO"}, f"Shot {ss.name}: take {self.take} is active")
        return {"FINISHED"}


class LTX_OT_set_camera_lora(ShotOperand, bpy.types.Operator):
    """Use this camera LoRA for the shot ('auto': picked from its camera move, 'none': no LoRA)"""

    bl_idname = "ltx.set_camera_lora"
    bl_label = "Set Camera LoRA"
    bl_options = {"REGISTER", "UNDO"}

    lora: StringProperty(name="LoRA", default="auto")

    def execute(self, context):
        ss = self.target(context)
        if ss is None:
            return {"CANCELLED"}
        ss.camera_lora = self.lora or "auto"
        return {"FINISHED"}


class LTX_OT_toggle_previs(ShotOperand, bpy.types.Operator):
    """Show or hide the shot's previs render in the edit (the reference strip below its takes)"""

    bl_idname = "ltx.toggle_previs"
    bl_label = "Toggle Previs Strip"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        from ..edit.previs_strip import toggle

        ss = self.target(context)
        if ss is None:
            return {"CANCELLED"}
        shown = toggle(context.scene, ss.name)
        if shown is None:
            return fail(self, f"Shot {ss.name} has no previs strip yet: generate it with a control kind")
        self.report({"INFO"}, f"Shot {ss.name}: previs {'shown' if shown else 'hidden'}")
        return {"FINISHED"}


def clip_folder(scene, shot_name: str) -> str:
    """The absolute folder holding the takes of ``shot_name`` (``vse.shot_dir``)."""
    from ..edit import vse

    return vse.abspath(vse.shot_dir(scene, shot_name))


class LTX_OT_open_clip_folder(ShotOperand, bpy.types.Operator):
    """Open the folder holding this shot's takes in the file browser of the system"""

    bl_idname = "ltx.open_clip_folder"
    bl_label = "Open Clip Folder"

    @classmethod
    def poll(cls, context):
        return poll_active_shot(cls, context) and poll_clip_dir(cls, context)

    def execute(self, context):
        ss = self.target(context)
        if ss is None:
            return {"CANCELLED"}
        folder = clip_folder(context.scene, ss.name)
        if not os.path.isdir(folder):
            self.report({"WARNING"}, f"No takes of {ss.name} yet: {folder} does not exist")
            return {"CANCELLED"}
        if bpy.app.background:  # no desktop to open it in; the path is the useful part
            self.report({"INFO"}, f"Clip folder of {ss.name}: {folder}")
            return {"FINISHED"}
        bpy.ops.wm.path_open(filepath=folder)
        self.report({"INFO"}, f"Opened {folder}")
        return {"FINISHED"}


classes = (
    LTX_OT_refresh_plan,
    LTX_OT_goto_shot,
    LTX_OT_remove_stale_shots,
    LTX_OT_promote_take,
    LTX_OT_open_clip_folder,
    LTX_OT_set_camera_lora,
    LTX_OT_toggle_previs,
    *ops_generate.classes,
    *ops_looks.classes,
    *ops_references.classes,
    *ops_draft.classes,
)
register, unregister = bpy.utils.register_classes_factory(classes)
