"""Draft, then final: Generate Draft (the model's first stage at half size, seconds on a GPU) and Finalize
(the draft refined into the final size by the server's recipe, a new take above its draft), for the
selected shot or every shot. The work is in ``flow/generate.py`` and ``flow/finalize.py``; like the other
generation operators, ``execute()`` waits (scripts) and ``invoke()`` (a click) returns at once."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty

from .ops_common import ShotOperand, fail, poll_clip_dir, poll_plan
from .ops_generate import FAILURES, summary


def _finish(op, result: dict, background: bool) -> set[str]:
    level, line = summary(result)
    if not background and result.get("failed") and not result.get("imported"):
        return fail(op, line)
    if background and (result.get("submitted") or result.get("attached")):
        line = f"In the background: {line}"
    op.report({level}, line)
    return {"FINISHED"}


class _ShotsOperator(ShotOperand):
    """What Generate Draft and Finalize share: the selected shot (or every shot with All), and
    ``execute()`` (waits) / ``invoke()`` (returns at once) around the subclass's ``_run``; each
    subclass declares its ``all`` property."""

    @classmethod
    def poll(cls, context):
        return poll_plan(cls, context) and poll_clip_dir(cls, context)

    def _names(self, context):
        if self.all:
            return None
        ss = self.target(context)
        return [ss.name] if ss is not None else []

    def _run(self, context, names: list[str] | None, background: bool) -> dict:
        raise NotImplementedError

    def _go(self, context, background: bool) -> set[str]:
        names = self._names(context)
        if names == []:
            return {"CANCELLED"}
        try:
            result = self._run(context, names, background)
        except FAILURES as exc:
            return fail(self, exc)
        return _finish(self, result, background=background)

    def execute(self, context):
        return self._go(context, background=False)

    def invoke(self, context, event):
        return self._go(context, background=True)


class LTX_OT_generate_draft(_ShotsOperator, bpy.types.Operator):
    """Generate a draft take of the selected shot (or every shot with All): the model's first stage at
    half size, fast; Finalize makes it the full-size take"""

    bl_idname = "ltx.generate_draft"
    bl_label = "Generate Draft"
    bl_options = {"REGISTER", "UNDO"}

    all: BoolProperty(name="All", description="Draft every shot whose inputs changed (all with Force)")
    force: BoolProperty(name="Force", description="With All: draft every shot, changed or not")

    def _run(self, context, names, background):
        from ..flow import generate

        force = self.force or not self.all
        if background:
            return generate.start_async(context, names, force=force, draft=True)
        return generate.run_sync(context.scene, names, force=force, draft=True)


class LTX_OT_finalize(_ShotsOperator, bpy.types.Operator):
    """Finalize the selected shot's active draft (or every shot's with All): the server refines the draft
    into the final size with its seed and conditions; the final lands as a new take above it"""

    bl_idname = "ltx.finalize"
    bl_label = "Finalize"
    bl_options = {"REGISTER", "UNDO"}

    all: BoolProperty(name="All", description="Finalize every shot whose active take is a draft")

    def _run(self, context, names, background):
        from ..flow import finalize

        if background:
            return finalize.start_async(context, names)
        return finalize.run_sync(context.scene, names)


classes = (LTX_OT_generate_draft, LTX_OT_finalize)
