"""What the server adds to a request before the model sees it, and the record of it (``applied``).

Two layers today: motion specifiers compiled from the camera trajectory (the same analysis the
extension shows, from blender_ltx.core.motion) become a descriptive camera sentence in the prompt, and
keyframe images become LTX conditions at their frame indices.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from blender_ltx.core import protocol

from ..backends.base import GenerateRequest, Keyframe
from .control.request import LAYER_PREFIX as CONTROL_LAYER_PREFIX
from .control.request import applied_control

log = logging.getLogger("server.generation.conditioning")

# LTX-Video was trained on long descriptive captions ("The camera slowly pans left as ..."), so the
# motion goes in as a sentence about the camera rather than as tags.
_VERBS = {
    "static": "holds still",
    "dolly_in": "dollies in",
    "dolly_out": "dollies out",
    "truck_left": "trucks left",
    "truck_right": "trucks right",
    "pedestal_up": "rises",
    "pedestal_down": "lowers",
    "pan_left": "pans left",
    "pan_right": "pans right",
    "tilt_up": "tilts up",
    "tilt_down": "tilts down",
    "roll_left": "rolls left",
    "roll_right": "rolls right",
    "zoom_in": "zooms in",
    "zoom_out": "zooms out",
    "orbit_left": "orbits left",
    "orbit_right": "orbits right",
}
_ADVERBS = {"slow": "slowly ", "medium": "", "fast": "quickly "}


@dataclass
class AppliedRecord:
    prompt_used: str
    motion_script: str
    negative_prompt: str
    conditions: list[dict[str, Any]]
    layers: list[str]
    sampling: dict[str, Any] | None = None
    control: dict[str, Any] | None = None  # control.request.applied_control
    #: LTX-2: {name, scale, reason} of the camera LoRA; absent from the record where none was considered.
    camera_lora: dict[str, Any] | None = None
    #: SANA-WM: the exact camera (camera_poses.record); absent for families that do not take poses.
    camera_poses: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("camera_lora", "camera_poses"):
            if out[key] is None:
                del out[key]
        return out


def camera_sentence(segments: list[Any], script: str) -> str:
    """'The camera slowly dollies in, then pans left.' from motion segments (falls back to the script)."""
    parts = []
    for seg in segments:
        kinds = [k for k in getattr(seg, "kinds", []) if k in _VERBS]
        if not kinds:
            continue
        adverb = "" if kinds == ["static"] else _ADVERBS.get(getattr(seg, "speed", ""), "")
        parts.append(adverb + " and ".join(_VERBS[k] for k in kinds))
    if not parts:
        return f"Camera motion: {script.strip()}" if script.strip() else ""
    return "The camera " + ", then ".join(parts) + "."


def motion_for(trajectory: dict[str, Any] | None, fps: float) -> tuple[str, str]:
    """(motion_script, camera sentence) for a trajectory; empty strings without one."""
    script, sentence, _ = motion_analysis(trajectory, fps)
    return script, sentence


def motion_analysis(trajectory: dict[str, Any] | None, fps: float) -> tuple[str, str, list[Any]]:
    """(motion_script, camera sentence, motion segments) for a trajectory; empty without one."""
    if not trajectory or len(trajectory.get("frames", [])) < 2:
        return "", "", []
    try:
        from blender_ltx.core.motion import motion_prompt
    except ImportError:  # the shared motion analysis is not installed alongside: no motion layer
        log.warning("blender_ltx.core.motion is not available; motion specifiers are not added")
        return "", "", []
    from blender_ltx.core.shots import Trajectory

    try:
        script, segments = motion_prompt(Trajectory.from_dict(trajectory), fps)
    except ValueError as exc:
        # The analysis owns some trajectory rules (increasing frames, positive lenses); its sentences
        # start with the field ("trajectory.frames must be ..."), so they become a 422 naming it.
        field, _, rule = str(exc).partition(" ")
        if not field.startswith("trajectory") or not rule:
            field, rule = "trajectory", str(exc)
        raise protocol.ProtocolError(field, rule) from None
    return script, camera_sentence(segments, script), segments


def map_conditions(
    conditions: list[dict[str, Any]], num_frames: int, snap=protocol.snap_condition_index
) -> list[dict[str, Any]]:
    """Requested vs used frame index for each keyframe (``snap``: the model's rule, condition_index)."""
    return [
        {
            "requested_frame_index": c["frame_index"],
            "frame_index": snap(c["frame_index"], num_frames),
            "strength": c.get("strength", 1.0),
        }
        for c in conditions
    ]


def apply(
    request: dict[str, Any], sampling: dict[str, Any] | None = None, backend: Any = None
) -> AppliedRecord:
    """The prompt and conditions the model gets for a validated request; ``sampling`` is the record of
    the profile's defaults (profiles.resolve), kept with the rest of what was applied; ``backend`` picks
    the camera LoRA from the shot's dominant move (Backend.choose_camera_lora)."""
    prompt = request.get("prompt", "").strip()
    script, sentence, segments = motion_analysis(request.get("trajectory"), request["frame_rate"])
    if not request.get("motion_prompt", True):
        script, sentence = "", ""
    poses = None
    if backend is not None:
        backend.check_request(request)
        if "camera_poses" in backend.capability_list():
            from . import camera_poses

            # The exact path reaches the model as numbers: no sentence about it in the prompt.
            poses, sentence = camera_poses.record(request, backend), ""
    camera_lora = None
    if backend is not None:
        from ..backends.loras import dominant_move

        camera_lora = backend.choose_camera_lora(
            request.get("camera_lora", "auto"), request.get("camera_lora_scale", 1.0), dominant_move(segments)
        )
    prompt_used = f"{prompt} {sentence}".strip() if sentence else prompt
    snap = backend.condition_index if backend is not None else protocol.snap_condition_index
    conditions = map_conditions(request.get("conditions", []), request["num_frames"], snap)
    layers = []
    if sentence:
        layers.append(protocol.LAYER_MOTION_PROMPT)
    if conditions:
        layers.append(protocol.LAYER_KEYFRAMES)
    if camera_lora and camera_lora.get("name"):
        layers.append("camera_lora")
    if poses is not None:
        layers.append("camera_poses")
    control = applied_control(request.get("control"), request)
    if control:
        layers.append(CONTROL_LAYER_PREFIX + control["kind"])
    return AppliedRecord(
        prompt_used=prompt_used,
        motion_script=script,
        negative_prompt=request.get("negative_prompt", ""),
        conditions=conditions,
        layers=layers,
        sampling=sampling,
        control=control,
        camera_lora=camera_lora,
        camera_poses=poses,
    )


def generate_request(request: dict[str, Any], applied: dict[str, Any], images: list[Any]) -> GenerateRequest:
    """What the backend is asked for: the applied prompt and condition indices, the request's grid.
    ``images`` are the decoded keyframes (PIL, RGB) in the request's order."""
    poses = None
    if applied.get("camera_poses"):
        from .camera_poses import clip_poses

        poses = clip_poses(request, applied["camera_poses"])
    prompt = request.get("prompt", "").strip()
    used = applied["prompt_used"]
    motion = used[len(prompt) :].strip() if protocol.LAYER_MOTION_PROMPT in applied.get("layers", []) else ""
    return GenerateRequest(
        camera_poses=poses,
        motion_sentence=motion if used.startswith(prompt) else "",
        enhance_prompt=bool(request.get("enhance_prompt", False)),
        single_pass=bool(request.get("single_pass", False)),
        prompt=applied["prompt_used"],
        negative_prompt=applied["negative_prompt"],
        seed=request["seed"],
        num_frames=request["num_frames"],
        width=request["width"],
        height=request["height"],
        frame_rate=request["frame_rate"],
        num_inference_steps=request["num_inference_steps"],
        guidance_scale=request["guidance_scale"],
        sampling=(applied.get("sampling") or {}).get("pipeline_kwargs"),
        audio=request.get("audio", True),
        camera_lora=(applied.get("camera_lora") or {}).get("name"),
        camera_lora_scale=(applied.get("camera_lora") or {}).get("scale", 1.0),
        keyframes=[
            Keyframe(img, c["frame_index"], c["strength"])
            for img, c in zip(images, applied["conditions"], strict=True)
        ],
    )
