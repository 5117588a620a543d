"""What the LTX operators share: the polls that explain why an operator is disabled, the ``shot``
operand, and turning a failure into one ERROR report."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from ..addon import props


def poll_plan(cls, context) -> bool:
    """The scene has a refreshed plan with at least one shot."""
    scene = context.scene
    if scene is None or not scene.ltx.plan_json:
        cls.poll_message_set("No shot plan yet: press Refresh Plan first")
        return False
    if not props.plan_shots(scene):
        cls.poll_message_set("The plan has no shots: check the frame range and the markers, then refresh")
        return False
    return True


def poll_active_shot(cls, context) -> bool:
    """A plan, and one of its shots selected in the list."""
    if not poll_plan(cls, context):
        return False
    if props.active_shot(context.scene) is None:
        cls.poll_message_set("Select a shot in the LTX shot list")
        return False
    return True


def poll_clip_dir(cls, context) -> bool:
    """Blend-relative clip folders need a saved .blend to be relative to."""
    if context.scene.ltx.clip_dir.startswith("//") and not bpy.data.filepath:
        cls.poll_message_set(
            "Save the .blend first: clips are saved next to it (or set an absolute clip folder)"
        )
        return False
    return True


class ShotOperand:
    """Mixin: an optional ``shot`` name; empty means the shot selected in the list."""

    shot: StringProperty(name="Shot", description="Shot name (empty: the active shot)")

    def target(self, context):
        """The planned shot's settings, or None after reporting that there is no such shot."""
        scene = context.scene
        if self.shot:
            ss = props.shot_settings(scene, self.shot, create=False)
            ss = ss if ss is not None and ss.in_plan else None
        else:
            ss = props.active_shot(scene)
        if ss is None:
            self.report({"ERROR"}, f"No planned shot named {self.shot!r}: refresh the plan")
        return ss


def fail(op, exc: BaseException | str) -> set[str]:
    """Report a failure as its one sentence and cancel (no undo step; scripts get the sentence)."""
    op.report({"ERROR"}, str(exc) or type(exc).__name__)
    return {"CANCELLED"}
