"""Scene data: the settings and per-shot state saved in the .blend (the team's scene data contract).

``scene.ltx`` holds scene-wide settings, the last refreshed plan (``plan_json``) and one
``LTXShotSettings`` per shot name. Settings are matched to plan shots by *name*, never by index, so
re-cutting (moving or re-ordering markers) keeps each shot's prompt, seed and takes. Settings of
shots that left the plan are kept (hidden in the list) so that a shot coming back finds its prompt.

Live, never-saved state (the courier's link, timers, runs in flight) does not belong here; job ids do,
so that reopening a .blend re-attaches to jobs still on the server. A shot's progress and status
sentence are stored here but describe this session only: a loaded file starts without them
(``runs.reset_live_state``).
"""

from __future__ import annotations

import random

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from ...core import take_inputs
from ...core import control as control_rules
from ...core.protocol import DEFAULT_MAX_FRAMES, DEFAULT_PIXEL_BUDGET
from ...core.takes import DEFAULT_CLIP_DIR
from . import compat

#: Seeds stay within a signed 32-bit IntProperty (and torch.Generator accepts them).
SEED_MAX = 2**31 - 1

#: job_status values (a str property, so the worker can add states without a file-format change).
JOB_STATES = ("", "queued", "running", "succeeded", "failed", "cancelled", "importing", "imported", "error")
ACTIVE_STATES = ("queued", "running", "importing")

GUIDE_ENGINES = (
    ("BLENDER_WORKBENCH", "Workbench", "Fast solid shading: the usual previs look"),
    (compat.EEVEE_ENGINE, "EEVEE", "Real-time renderer: lights and materials"),
    ("CYCLES", "Cycles", "Path tracer: slow, for final-looking guide frames"),
)
#: The menu of core/control.CHOICES (the one list of control kinds).
CONTROL_KINDS = tuple((k, *control_rules.LABELS[k]) for k in control_rules.CHOICES)
#: Where a take's picture comes from (core/looks.LOOK_MODES); AUTO: core.looks.default_look.
SCENE_LOOKS = (
    ("AUTO", "Auto", "A look frame where the shot has one, else words and control where the server offers "
     "control, else the previs render"),
    ("PREVIS", "Previs", "The previs render is the picture (right for a textured, lit previs)"),
    ("PROMPT", "Prompt", "No previs pixel reaches the model: camera and layout from control, the picture "
     "from the words"),
    ("FRAME", "Look Frame", "The shot's look (a generated look frame, or its Look Image) is its first frame "
     "and only picture"),
    ("PREVIOUS_TAKE", "Previous Take", "The last frame of the previous take of the same camera"),
)  # fmt: skip
SHOT_LOOKS = (("SCENE", "Scene", "The scene's look"),) + SCENE_LOOKS[1:]
REFERENCE_KINDS = (
    ("character", "Character", "A person or creature the shots show"),
    ("prop", "Prop", "An object the shots show"),
    ("set", "Set", "A place the shots are in"),
)
FIRST_FRAME_SOURCES = (
    ("RENDER", "Render", "Render the first frame through the shot's camera"),
    ("IMAGE", "Image", "Use an image file as the first frame"),
    ("PREVIOUS_TAKE", "Previous take", "Use the last frame of the previous take of the same camera"),
)


class LTXShotSettings(bpy.types.PropertyGroup):
    """One shot's generation settings and job state (``name`` links it to the plan's shot)."""

    # ``name`` is PropertyGroup's built-in string property: collection.get(name) finds it.
    prompt: StringProperty(name="Prompt", description="What this shot shows (the style prompt is prepended)")
    negative_prompt: StringProperty(name="Negative Prompt", description="What to keep out of this shot")
    seed: IntProperty(name="Seed", min=0, max=SEED_MAX, description="Noise seed of the last (or next) take")
    seed_lock: BoolProperty(
        name="Lock Seed", description="Reuse this seed for every take; unlocked, each take draws a new one"
    )
    # 0 = the server's default for its model (a distilled checkpoint wants 8 steps and guidance 1.0, others
    # about 30 and 5.0), so one .blend suits whichever model the server runs.
    steps: IntProperty(
        name="Steps",
        default=0,
        min=0,
        max=200,
        description="Denoising steps (0: the server model's default)",
    )
    guidance: FloatProperty(
        name="Guidance",
        default=0.0,
        min=0.0,
        max=30.0,
        precision=2,
        description="Classifier-free guidance scale; 1 turns guidance off (0: the server model's default)",
    )

    # LTX-2 (greyed out in the panel where the server lacks the capability: connection.capability).
    audio: BoolProperty(
        name="Audio",
        default=True,
        description="Generate this shot's audio with the video (LTX-2); the preference turns it off for all",
    )
    enhance_prompt: BoolProperty(
        name="Enhance Prompt",
        default=False,
        description="Have the server's prompt enhancer rewrite this shot's prompt (LTX-2.5 started with "
        "--prompt-enhancement); the camera sentence is kept word for word",
    )
    camera_lora: StringProperty(
        name="Camera LoRA",
        default="auto",
        description="'auto' (picked from the shot's camera move), 'none', or a LoRA the server has loaded",
    )
    camera_lora_scale: FloatProperty(
        name="LoRA Scale", default=1.0, min=0.0, max=2.0, precision=2, description="Camera LoRA strength"
    )

    # SANA-WM (greyed out in the panel where the server takes no exact camera poses).
    pose_scale: FloatProperty(
        name="Pose Scale",
        default=0.0,
        min=0.0,
        max=1000.0,
        soft_max=10.0,
        precision=3,
        description="Scene units to the model's metres for the exact camera path (0: automatic, from the "
        "median depth of the shot's first frame)",
    )

    job_id: StringProperty(name="Job", description="Server job id of the take in flight (or the last one)")
    job_status: StringProperty(name="Status", description="'' | " + " | ".join(JOB_STATES[1:]))
    progress: FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR", description="0 to 1")
    message: StringProperty(name="Message", description="Last status sentence")
    takes: IntProperty(name="Takes", min=0, description="Number of takes imported")
    active_take: IntProperty(name="Active Take", min=0, description="Take shown in the edit (0: none)")
    input_hash: StringProperty(name="Input Hash", description="Hash of the inputs of the last submitted take")
    control_kind: EnumProperty(
        name="Control", items=CONTROL_KINDS, default="auto", description="Previs control video of the shot"
    )

    look_mode: EnumProperty(name="Look", items=SHOT_LOOKS, default="SCENE", description="Where the picture "
                            "of this shot's takes comes from")  # fmt: skip
    look_image: StringProperty(
        name="Look Image",
        subtype="FILE_PATH",
        description="An image file as this shot's look frame (else its chosen look strip)",
    )
    hidden_references: StringProperty(
        name="Hidden References",
        description="Scene references this shot does not show, one name a line (empty: it shows all)",
    )
    continue_previous: BoolProperty(
        name="Continue from the Previous Shot",
        description="The previous shot's chosen look joins this shot's references (same set, new angle)",
    )

    # Display copy of the plan (written by sync_shots) so that draw() never parses plan_json.
    in_plan: BoolProperty(name="In Plan", description="The last refreshed plan has a shot of this name")
    camera: StringProperty(name="Camera")
    lost_camera: StringProperty(
        name="Lost Camera", description="The camera the shot was filmed through until it was deleted"
    )
    frame_start: IntProperty(name="Start")
    frame_end: IntProperty(name="End")
    script: StringProperty(name="Motion", description="Camera motion script of the shot")


class LTXReference(bpy.types.PropertyGroup):
    """One scene reference: what the prompt calls it (``name``), its image, and its kind."""

    image: StringProperty(name="Image", subtype="FILE_PATH", description="The reference's image file")
    kind: EnumProperty(name="Kind", items=REFERENCE_KINDS, default="character")


class LTXSceneSettings(bpy.types.PropertyGroup):
    style_prompt: StringProperty(
        name="Style Prompt", description="Prepended to every shot's prompt (look, medium, lighting)"
    )
    clip_dir: StringProperty(
        name="Clip Folder",
        default=DEFAULT_CLIP_DIR,
        subtype="DIR_PATH",
        description="Where takes are saved (// = next to the .blend), one folder per .blend inside",
    )
    guide_engine: EnumProperty(
        name="Guide Engine",
        items=GUIDE_ENGINES,
        default="BLENDER_WORKBENCH",
        description="Renders guide frames",
    )
    guide_every_n: IntProperty(
        name="Guide Every N",
        default=0,
        min=0,
        description="Also condition on a guide frame every N frames (0: first frame only)",
    )
    guide_at_motion_changes: BoolProperty(
        name="Guide at Motion Changes",
        default=False,
        description="Also condition on a guide frame where the camera motion changes (dolly, then pan)",
    )
    first_frame_source: EnumProperty(name="First Frame", items=FIRST_FRAME_SOURCES, default="RENDER")
    first_frame_image: StringProperty(name="First Frame Image", subtype="FILE_PATH")
    look_mode: EnumProperty(name="Look", items=SCENE_LOOKS, default="AUTO", description="Where the picture "
                            "of each shot's takes comes from (a shot may override it)")  # fmt: skip
    references: CollectionProperty(type=LTXReference)
    active_reference_index: IntProperty(name="Active Reference", default=0, min=0)
    track_collection: StringProperty(
        name="Track Points",
        description="Collection whose empties are tracked for tracks control (empty: mesh vertices)",
    )
    pixel_budget: IntProperty(
        name="Pixel Budget",
        default=DEFAULT_PIXEL_BUDGET,
        min=32 * 32,
        description="Width x height of the generated clips (768x512 = 393216)",
    )
    max_frames: IntProperty(
        name="Max Frames",
        default=DEFAULT_MAX_FRAMES,
        min=9,
        description="Longest clip in one generation (8k+1) for a server that does not chain long shots into "
        "one clip; longer shots split",
    )
    takes_per_shot: IntProperty(
        name="Takes per Shot",
        default=1,
        min=1,
        max=16,
        description="Generate this many takes (seeds seed, seed + 1...) and keep the one whose measured "
        "camera motion agrees best with the plan active, the others muted below it",
    )
    plan_json: StringProperty(name="Plan", description="The last refreshed shot plan (ShotPlan JSON)")
    shots: CollectionProperty(type=LTXShotSettings)
    active_shot_index: IntProperty(name="Active Shot", default=0, min=0)


# ---------------------------------------------------------------------------------------------- helpers


def scene_settings(scene) -> LTXSceneSettings:
    return scene.ltx


def shot_settings(scene, name: str, create: bool = True) -> LTXShotSettings | None:
    """The settings of shot ``name``; created (with defaults) when missing and ``create``."""
    shots = scene.ltx.shots
    ss = shots.get(name)
    if ss is None and create:
        ss = shots.add()
        ss.name = name
    return ss


def sync_shots(scene, plan) -> list[str]:
    """Match the settings to ``plan`` (a ShotPlan) by name: add new names, keep the rest.

    Also stores ``plan.to_json()`` and the display fields, and orders the collection as the plan
    (shots no longer in the plan go last, hidden). The active shot stays the same *name*.
    Returns the names that were added.
    """
    st = scene.ltx
    shots = st.shots
    active = shots[st.active_shot_index].name if 0 <= st.active_shot_index < len(shots) else None
    added = []
    for ss in shots:
        ss.in_plan = False
    for order, shot in enumerate(plan.shots):
        ss = shots.get(shot.name)
        if ss is None:
            ss = shot_settings(scene, shot.name)
            added.append(shot.name)
        ss.in_plan = True
        ss.camera = shot.camera
        ss.lost_camera = shot.lost_camera
        ss.frame_start = shot.frame_start
        ss.frame_end = shot.frame_end
        ss.script = shot.script
        index = _index_of(shots, shot.name)
        if index != order:
            shots.move(index, order)
    st.plan_json = plan.to_json()
    if active is not None and shots.get(active) is not None and shots[active].in_plan:
        st.active_shot_index = _index_of(shots, active)
    else:
        st.active_shot_index = 0
    return added


def _index_of(collection, name: str) -> int:
    return collection.find(name)


def plan_shots(scene) -> list[LTXShotSettings]:
    """The settings of the shots in the last refreshed plan, in plan order."""
    return [ss for ss in scene.ltx.shots if ss.in_plan]


def active_shot(scene) -> LTXShotSettings | None:
    """The selected shot in the list, if it is in the plan."""
    st = scene.ltx
    if 0 <= st.active_shot_index < len(st.shots):
        ss = st.shots[st.active_shot_index]
        return ss if ss.in_plan else None
    return None


def load_plan(scene):
    """The last refreshed plan as a ShotPlan, or None when the scene was never planned."""
    from ...core.shots import ShotPlan

    text = scene.ltx.plan_json
    return ShotPlan.from_json(text) if text else None


def full_prompt(scene, ss: LTXShotSettings) -> str:
    """The prompt the model sees (``core.take_inputs.full_prompt``)."""
    return take_inputs.full_prompt(scene.ltx.style_prompt, ss.prompt)


def settings_dict(ss: LTXShotSettings) -> dict:
    """The shot's own generation settings as plain values (what the request and the hash read); the
    LTX-2 switches and the Pose Scale only where moved off their defaults (``take_inputs``)."""
    out = {
        "prompt": ss.prompt,
        "negative_prompt": ss.negative_prompt,
        "seed": ss.seed,
        "steps": ss.steps,
        "guidance": ss.guidance,
    }
    out.update(take_inputs.ltx2_settings(ss.audio, ss.camera_lora, ss.camera_lora_scale, ss.enhance_prompt))
    if round(ss.pose_scale, 6) > 0:  # hashed only when set: a file from before it keeps its hashes
        out["pose_scale"] = round(ss.pose_scale, 6)
    return out


def resolve_seed(ss: LTXShotSettings, rng: random.Random | None = None) -> int:
    """The seed for the next take: the locked one, or a new random one stored back on the shot."""
    if not ss.seed_lock:
        ss.seed = (rng or random).randint(0, SEED_MAX)
    return ss.seed


def input_hash(scene, shot, ss: LTXShotSettings, control: str | None = None) -> str:
    """``core.take_inputs.input_hash`` of the shot's current settings and the scene's guide options
    (``control``: the run's control kind where it overrides the shot's)."""
    st = scene.ltx
    guide = {
        "engine": st.guide_engine,
        "every_n": st.guide_every_n,
        "at_motion_changes": st.guide_at_motion_changes,
        "first_frame_source": st.first_frame_source,
        "first_frame_image": st.first_frame_image if st.first_frame_source == "IMAGE" else "",
        "control": [control or ss.control_kind, st.track_collection],
    }
    look = look_inputs(scene, ss)
    if look:  # only where a look setting moved off its default: older takes keep their hash
        guide["look"] = look
    return take_inputs.input_hash(
        shot, settings_dict(ss), seed_locked=ss.seed_lock, style_prompt=st.style_prompt, guide=guide
    )


def look_inputs(scene, ss: LTXShotSettings) -> dict:
    """What of the shot's look a take depends on (the hash's ``look``): the look settings and the chosen
    look frame (its strip's asset hash) where any is set; {} for a shot that never had a look."""
    chosen = dict(scene.get("ltx_chosen_looks", {})).get(ss.name, "")
    sed = scene.sequence_editor
    strip = compat.strips(sed).get(chosen) if chosen and sed is not None else None
    frame = strip.get("ltx_look_asset", chosen) if strip is not None else ""
    out = {
        "scene": scene.ltx.look_mode if scene.ltx.look_mode != "AUTO" else "",
        "shot": ss.look_mode if ss.look_mode != "SCENE" else "",
        "image": ss.look_image,
        "frame": frame,
        "continue": ss.continue_previous,
    }
    return {k: v for k, v in out.items() if v}


def inputs_changed(scene, shot, ss: LTXShotSettings) -> bool:
    """True when ``shot`` has no take yet or its inputs differ from the last submitted take's."""
    return not ss.input_hash or ss.input_hash != input_hash(scene, shot, ss)


classes = (LTXShotSettings, LTXReference, LTXSceneSettings)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.ltx = PointerProperty(type=LTXSceneSettings)


def unregister() -> None:
    del bpy.types.Scene.ltx
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
