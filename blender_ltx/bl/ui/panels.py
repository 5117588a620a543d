"""N-panels: tab "LTX" in the 3D View and in the Sequencer (same drawing code in both).

draw() only reads properties already on the scene (``sync_shots`` copies what the list shows out of
the plan), so a redraw never parses the plan, touches the disk or the network. What the panels show
of the selected shot's takes (the rows, the active take's motion and camera LoRA) comes from one pass
over the VSE (``take_view``): the pass reads the shot's complete takes' names, mute flags and stored
texts, and the words made of them (JSON parsed, agreement scores) are cached on exactly those values,
so a redraw parses nothing unless a take changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import bpy

from ..addon import compat, props

STATUS_ICONS = {
    "": "BLANK1",
    "queued": "SORTTIME",
    "running": "RENDER_ANIMATION",
    "succeeded": "IMPORT",
    "importing": "IMPORT",
    "imported": "CHECKMARK",
    "failed": "ERROR",
    "error": "ERROR",
    "cancelled": "CANCEL",
}


def status_icon(job_status: str) -> str:
    return STATUS_ICONS.get(job_status, "QUESTION")


def frames_text(ss) -> str:
    return f"{ss.frame_start}-{ss.frame_end}"


def status_text(ss) -> str:
    """One line: state, progress and the last message ("running 40% - denoising step 4/8")."""
    if not ss.job_status:
        return f"{ss.takes} take(s)" if ss.takes else "Not generated yet"
    text = ss.job_status.capitalize()
    if ss.job_status == "running":
        text += f" {ss.progress * 100:.0f}%"
    if ss.message:
        text += f" - {ss.message}"
    return text


def lost_camera_line(ss) -> str:
    """The sentence for a shot whose camera was deleted (``core.cuts.lost_camera_text``)."""
    from ...core.cuts import lost_camera_text

    return lost_camera_text(ss.name, ss.frame_start, ss.lost_camera, ss.camera)


def shows_progress(ss) -> bool:
    return ss.job_status in props.ACTIVE_STATES


class LTX_UL_shots(bpy.types.UIList):
    """The planned shots: name, frames, camera, status. Settings of shots out of the plan are hidden."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):
        row = layout.row(align=True)
        row.label(text=item.name, icon="SEQUENCE")
        row.label(text=frames_text(item))
        row.label(text=item.camera, icon="CAMERA_DATA")
        row.label(text="", icon=status_icon(item.job_status))

    def filter_items(self, context, data, propname):
        return plan_filter(getattr(data, propname), self.bitflag_filter_item), []


def plan_filter(shots, flag: int) -> list[int]:
    """UIList filter flags: ``flag`` (shown) for the shots in the plan, 0 for settings kept for later."""
    return [flag if ss.in_plan else 0 for ss in shots]


# ------------------------------------------------------------------------------------------ drawing


def draw_main(layout, context) -> None:
    scene = context.scene
    st = scene.ltx
    layout.operator("ltx.refresh_plan", icon="FILE_REFRESH")
    if not st.plan_json:
        layout.label(text="Refresh the plan to list the shots", icon="INFO")
        return
    layout.template_list("LTX_UL_shots", "", st, "shots", st, "active_shot_index", rows=3)
    layout.prop(st, "style_prompt", text="Style")
    layout.prop(st, "takes_per_shot", text="Takes per Shot (keep the best)")
    row = layout.row(align=True)
    row.operator("ltx.generate_shot", icon="RENDER_ANIMATION")
    row.operator("ltx.generate_all", icon="SEQ_SEQUENCER").force = False
    row = layout.row(align=True)
    row.operator("ltx.generate_all", text="Force All", icon="FILE_REFRESH").force = True
    row.operator("ltx.cancel", text="Cancel All", icon="CANCEL").all = True
    row = layout.row(align=True)  # draft, then final
    row.operator("ltx.generate_draft", icon="IMAGE_REFERENCE")
    row.operator("ltx.finalize", icon="CHECKMARK")
    row = layout.row(align=True)
    row.operator("ltx.generate_draft", text="Draft All", icon="IMAGE_REFERENCE").all = True
    row.operator("ltx.finalize", text="Finalize All", icon="CHECKMARK").all = True


def draw_shot(layout, context) -> None:
    scene = context.scene
    ss = props.active_shot(scene)
    if ss is None:
        layout.label(text="Select a shot", icon="INFO")
        return
    col = layout.column()
    col.label(text=f"{ss.name}: frames {frames_text(ss)}, camera {ss.camera}", icon="SEQUENCE")
    if ss.lost_camera:
        col.label(text=lost_camera_line(ss), icon="ERROR")
    if ss.script:
        col.label(text=ss.script, icon="CON_CAMERASOLVER")
    if scene.ltx.style_prompt:
        col.label(text=f"Style: {scene.ltx.style_prompt}", icon="BRUSH_DATA")
    col.prop(ss, "prompt", text="")
    col.prop(ss, "negative_prompt", text="Negative")
    row = col.row(align=True)
    row.prop(ss, "seed")
    row.prop(ss, "seed_lock", text="", icon="LOCKED" if ss.seed_lock else "UNLOCKED")
    row = col.row(align=True)
    row.prop(ss, "steps")
    row.prop(ss, "guidance")
    if ss.steps == 0 or ss.guidance == 0.0:
        col.label(text="0 = the server model's default", icon="INFO")
    view = take_view(scene, ss.name)
    draw_ltx2_switches(col, context, ss, view)
    draw_pose_scale(col, context, ss, view)
    draw_control(col, context, ss)
    draw_look(layout, context, ss)

    box = layout.box()
    if shows_progress(ss):
        compat.layout_progress(box, ss.progress, status_text(ss))
    else:
        box.label(text=status_text(ss), icon=status_icon(ss.job_status))
    for i, line in enumerate(view.motion):
        box.label(text=line, icon="CON_CAMERASOLVER" if i == 0 else "ERROR")
    row = layout.row(align=True)
    row.operator("ltx.cancel", icon="CANCEL").all = False
    row.operator("ltx.open_clip_folder", icon="FILE_FOLDER")
    row.operator("ltx.goto_shot", text="", icon="VIEW_CAMERA")


def draw_ltx2_switches(layout, context, ss, view: TakeView | None = None) -> None:
    """Audio and camera LoRA of the shot, greyed out (with the reason) where the server lacks them."""
    from ..link import connection
    from ..addon.prefs import get_prefs

    sub = connection.draw_capability(layout, context, "audio")
    row = sub.row()
    row.prop(ss, "audio", text="Generated Audio", icon="SOUND")
    if not getattr(get_prefs(context), "generate_audio", True):
        row.enabled = False
        sub.label(text="Generated audio is off in the add-on preferences", icon="INFO")
    sub = connection.draw_capability(layout, context, "prompt_enhancement")
    sub.prop(ss, "enhance_prompt", icon="OUTLINER_OB_FONT")
    text = (view or take_view(context.scene, ss.name)).prompt
    if text:
        layout.label(text=text[:1].upper() + text[1:], icon="OUTLINER_OB_FONT")
    sub = connection.draw_capability(layout, context, "camera_lora")
    row = sub.row(align=True)
    row.prop(ss, "camera_lora")
    row.prop(ss, "camera_lora_scale", text="Scale")
    names = [lo.get("adapter") for lo in connection.server_loras(context, "camera")]
    if names:
        row = sub.row(align=True)
        for name in ["auto", "none", *names]:
            op = row.operator("ltx.set_camera_lora", text=name, depress=ss.camera_lora == name)
            op.shot, op.lora = ss.name, name
    text = (view or take_view(context.scene, ss.name)).camera_lora
    if text:
        layout.label(text=text.capitalize(), icon="CAMERA_DATA")


def draw_pose_scale(layout, context, ss, view: TakeView | None = None) -> None:
    """The shot's Pose Scale (SANA-WM's exact camera path), greyed out (with the reason) where the server
    takes no exact poses, and what reached the model for the active take."""
    from ..link import connection

    sub = connection.draw_capability(layout, context, "camera_poses")
    sub.prop(ss, "pose_scale", text="Pose Scale (0: automatic)")
    text = (view or take_view(context.scene, ss.name)).camera_poses
    if text:
        layout.label(text=text[:1].upper() + text[1:], icon="CAMERA_DATA")


def control_available(context, kind: str) -> tuple[bool, str]:
    """Whether the connected server offers control ``kind`` (what this session learned of it; a server
    not asked yet counts as able, and the courier refuses a kind it lacks with a sentence)."""
    from ..link import connection

    return connection.capability(context, "control_" + kind)


def draw_control(layout, context, ss) -> None:
    row = layout.row(align=True)
    row.prop(ss, "control_kind")
    if ss.control_kind not in ("auto", "none"):
        ok, reason = control_available(context, ss.control_kind)
        if not ok:
            layout.label(text=reason, icon="ERROR")
    if ss.control_kind in ("auto", "tracks"):
        layout.prop_search(context.scene.ltx, "track_collection", bpy.data, "collections")
    layout.operator("ltx.toggle_previs", icon="HIDE_OFF")


def draw_look(layout, context, ss) -> None:
    """The shot's look: its mode, the chosen look as a picture, and in words what the model will see."""
    from ...core import server_info
    from ..edit import look_strips
    from ..flow import look_jobs, looks
    from ..link import connection

    scene = context.scene
    box = layout.box()
    box.prop(ss, "look_mode")
    box.prop(ss, "look_image")
    img = look_strips.look_image(scene, ss.name) if scene.sequence_editor else None
    if img is not None:
        box.template_icon(icon_value=box.icon(img), scale=6.0)
        box.label(text=f"Look: {look_strips.chosen_look(scene, ss.name).name}", icon="IMAGE_DATA")
    info = server_info.get(connection.server_url(context))
    caps = server_info.capability_names(info) if info is not None else None
    box.label(text=looks.look_sentence(scene, ss, caps, ss.control_kind), icon="HIDE_OFF")
    box.prop(ss, "continue_previous")
    row = box.row(align=True)
    if look_jobs.pending(scene, [ss.name]):  # a look job in flight: its sentence is the shot's message
        row.operator("ltx.cancel_looks", icon="CANCEL").shot = ss.name
    else:
        row.operator("ltx.generate_looks", icon="IMAGE_RGB").shot = ss.name
    row.operator("ltx.use_look", icon="CHECKMARK")


def draw_references(layout, context) -> None:
    """The scene's references (name, image, kind) and which of them the active shot shows."""
    st = context.scene.ltx
    ss = props.active_shot(context.scene)
    hidden = {n.strip() for n in ss.hidden_references.splitlines()} if ss is not None else set()
    col = layout.column(align=True)
    for ref in st.references:
        row = col.row(align=True)
        row.prop(ref, "name", text="")
        row.prop(ref, "kind", text="")
        row.prop(ref, "image", text="")
        if ss is not None:  # a checkbox: does the active shot show it
            shown = ref.name not in hidden
            op = row.operator(
                "ltx.show_reference", text="", icon="CHECKBOX_HLT" if shown else "CHECKBOX_DEHLT"
            )
            op.shot, op.name, op.show = ss.name, ref.name, not shown
        row.operator("ltx.remove_reference", text="", icon="X").name = ref.name
    if not st.references:
        col.label(text="No references yet: the look jobs use only the layout and the words", icon="INFO")
    layout.operator("ltx.add_reference", icon="ADD")


def draw_settings(layout, context) -> None:
    st = context.scene.ltx
    col = layout.column()
    col.use_property_split = True
    col.use_property_decorate = False
    col.prop(st, "look_mode")
    col.prop(st, "guide_engine")
    col.prop(st, "guide_every_n")
    col.prop(st, "guide_at_motion_changes")
    col.prop(st, "first_frame_source")
    if st.first_frame_source == "IMAGE":
        col.prop(st, "first_frame_image")
    col.prop(st, "clip_dir")
    col.prop(st, "pixel_budget")
    col.prop(st, "max_frames")
    if any(not ss.in_plan for ss in st.shots):
        col.operator("ltx.remove_stale_shots", icon="TRASH")


@dataclass(frozen=True)
class TakeView:
    """What the panels show of one shot's takes (made by ``take_view``)."""

    rows: tuple[tuple[int, str, bool], ...] = ()  # (take, name with its agreement, muted), newest first
    motion: tuple[str, ...] = ()  # the active take's measured motion in words
    camera_lora: str = ""  # the active take's applied camera LoRA in a few words
    camera_poses: str = ""  # the active take's exact camera path (SANA-WM) in a few words
    prompt: str = ""  # what the active take's prompt enhancer and duration head said (LTX-2.5)


NO_TAKES = TakeView()
#: The views made, by the values they were made of (a handful of shots are looked at in a session).
_views: dict[tuple, TakeView] = {}
_MAX_VIEWS = 64


def take_view(scene, shot_name: str) -> TakeView:
    """The shot's ``TakeView``: one pass over the VSE reads its complete takes' first strips; the view
    is made (JSON parsed, scores computed) only when one of the values read differs from every view
    made before, so strips added, removed, renamed, muted or measured show at the next redraw."""
    from ..edit import vse

    if scene.sequence_editor is None:
        return NO_TAKES
    key = tuple(
        (s.ltx.take, s.name, s.mute, s.ltx.motion, s.ltx.applied) for s in vse.takes(scene, shot_name)
    )
    view = _views.get(key)
    if view is None:
        if len(_views) >= _MAX_VIEWS:
            _views.clear()
        view = _views[key] = _make_view(key)
    return view


def _make_view(takes: tuple) -> TakeView:
    from ...core import take_choice
    from ...core.takes import camera_lora_text, camera_poses_text, prompt_text
    from ..edit.vse import parse_motion

    rows = []
    for take, name, muted, motion, _applied in takes:
        score = take_choice.score(parse_motion(motion))
        rows.append((take, name if score is None else f"{name}  ({score:.2f})", muted))
    active = next((t for t in reversed(takes) if not t[2]), None)
    if active is None:
        return TakeView(rows=tuple(sorted(rows, reverse=True)))
    take, _name, _muted, motion, applied = active
    first, *rest = take_choice.motion_lines(parse_motion(motion))
    try:
        record = json.loads(applied or "{}")
    except ValueError:
        record = {}
    record = record if isinstance(record, dict) else {}
    return TakeView(
        tuple(sorted(rows, reverse=True)),
        (f"Take {take} {first}", *rest),
        camera_lora_text(record),
        camera_poses_text(record),
        prompt_text(record),
    )


def motion_text(scene, shot_name: str) -> list[str]:
    """The active take's measured camera motion in words: "Take 2 follows the plan 0.91: dolly in, pan
    left", then the mismatch ("planned dolly in, measured zoom in") when there is one; [] without a take.
    """
    return list(take_view(scene, shot_name).motion)


def take_rows(scene, shot_name: str) -> list[tuple[int, str, bool]]:
    """(take number, strip name with its agreement, muted) for each take of ``shot_name`` in the VSE,
    newest first."""
    return list(take_view(scene, shot_name).rows)


def active_take_camera_lora(scene, shot_name: str) -> str:
    """The active take's ``applied.camera_lora`` in a few words ("" when none)."""
    return take_view(scene, shot_name).camera_lora


def active_take_prompt(scene, shot_name: str) -> str:
    """What the active take's prompt enhancer and duration head said, in a few words ("" when neither)."""
    return take_view(scene, shot_name).prompt


def active_take_camera_poses(scene, shot_name: str) -> str:
    """The active take's ``applied.camera_poses`` in a few words ("" when none: another family)."""
    return take_view(scene, shot_name).camera_poses


def draw_takes(layout, context) -> None:
    scene = context.scene
    ss = props.active_shot(scene)
    if ss is None:
        layout.label(text="Select a shot", icon="INFO")
        return
    rows = take_view(scene, ss.name).rows
    if not rows:
        layout.label(text="No takes yet", icon="INFO")
        return
    col = layout.column(align=True)
    for take, name, muted in rows:
        row = col.row(align=True)
        active = take == ss.active_take or (not muted and not ss.active_take)
        row.label(text=name, icon="RADIOBUT_ON" if active else "RADIOBUT_OFF")
        op = row.operator("ltx.promote_take", text="Promote", icon="TRIA_UP")
        op.shot = ss.name
        op.take = take


# ------------------------------------------------------------------------------------------- panels

# One set of panels per editor: the same draw functions, a distinct class (and bl_idname) per space.
SPACES = {"VIEW_3D": "VIEW3D", "SEQUENCE_EDITOR": "SEQUENCER"}
SECTIONS = (
    # (suffix, label, draw function, parent suffix, default closed)
    ("main", "LTX", draw_main, None, False),
    ("shot", "Shot", draw_shot, "main", False),
    ("takes", "Takes", draw_takes, "main", False),
    ("settings", "Guides and Output", draw_settings, "main", True),
    ("references", "References", draw_references, "main", True),
)


def _panel_class(space: str, tag: str, suffix: str, label: str, draw_fn, parent: str | None, closed: bool):
    def draw(self, context):
        draw_fn(self.layout, context)

    attrs = {
        "bl_idname": f"LTX_PT_{tag.lower()}_{suffix}",
        "bl_label": label,
        "bl_space_type": space,
        "bl_region_type": "UI",
        "bl_category": "LTX",
        "draw": draw,
        "poll": classmethod(lambda cls, context: context.scene is not None and hasattr(context.scene, "ltx")),
    }
    if parent:
        attrs["bl_parent_id"] = f"LTX_PT_{tag.lower()}_{parent}"
    if closed:
        attrs["bl_options"] = {"DEFAULT_CLOSED"}
    return type(attrs["bl_idname"], (bpy.types.Panel,), attrs)


def panel_classes() -> list[type]:
    out = []
    for space, tag in SPACES.items():
        for suffix, label, draw_fn, parent, closed in SECTIONS:
            out.append(_panel_class(space, tag, suffix, label, draw_fn, parent, closed))
    return out


classes = (LTX_UL_shots, *panel_classes())
register, unregister = bpy.utils.register_classes_factory(classes)
