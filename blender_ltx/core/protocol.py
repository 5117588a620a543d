"""Wire protocol between the extension and the generation server (no bpy, stdlib only).

One place for the shapes and the rules both sides check: the client validates before it sends, the
server validates again before it queues (and answers 422 with the same sentences).

Job request (``POST /v1/jobs``, JSON)::

    prompt, negative_prompt, seed, num_frames, width, height, frame_rate,
    num_inference_steps, guidance_scale   (null or absent: the server model's defaults, see /v1/health),
    conditions: [{frame_index, image (PNG, base64), strength}],
    trajectory: {frames, matrix_world, lens_mm, sensor_width_mm, ..., camera_type, ortho_scale}
                (as in the shot plan; optional)
    motion_prompt: bool (default true: add motion specifiers compiled from the trajectory)
    poses: {scene_depth, metres_per_unit, scale} (optional; SANA-WM's pose scale inputs)
    shot: str (optional), tags: {str: str} (optional)

Job status (``GET /v1/jobs/{id}``)::

    id, status (queued|running|succeeded|failed|cancelled), progress 0..1, error (sentence or null),
    shot, tags, created_at, started_at, finished_at (unix seconds), attempts,
    timings {queued_s, generate_s, encode_s, total_s},
    request {num_frames, width, height, frame_rate, seed, num_inference_steps, guidance_scale},
    applied {prompt_used, motion_script, negative_prompt,
             conditions: [{requested_frame_index, frame_index, strength}], layers: [..],
             sampling: {profile, from_profile: [fields filled from it], pipeline_kwargs}}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .shots import CAMERA_TYPES

API_PREFIX = "/v1"
DEFAULT_PORT = 8765
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATUSES = ("succeeded", "failed", "cancelled")

#: LTX-Video: 8x temporal and 32x spatial compression.
TEMPORAL_COMPRESSION = 8
SPATIAL_MULTIPLE = 32
#: One generation's maximum (health ``segment_frames``); the add-on still splits a shot at it for a
#: server that does not report ``max_frames`` above it (one that cannot chain).
DEFAULT_SEGMENT_FRAMES = 257
DEFAULT_MAX_FRAMES = DEFAULT_SEGMENT_FRAMES
#: The longest job a server accepts by default (health ``max_frames``): longer than one generation,
#: the server chains segments into one clip.
DEFAULT_MAX_JOB_FRAMES = 1025
DEFAULT_PIXEL_BUDGET = 768 * 512
MAX_IMAGE_BYTES = 16 * 1024 * 1024

#: Conditioning layers, reported back in ``applied.layers``.
LAYER_MOTION_PROMPT = "motion_prompt"
LAYER_KEYFRAMES = "keyframes"

REQUEST_FIELDS = (
    "prompt",
    "negative_prompt",
    "seed",
    "num_frames",
    "width",
    "height",
    "frame_rate",
    "num_inference_steps",
    "guidance_scale",
    "conditions",
    "trajectory",
    "motion_prompt",
    "shot",
    "tags",
    "control",
    "audio",
    "camera_lora",
    "camera_lora_scale",
    "poses",
    "look",
    "kind",
)


class ProtocolError(ValueError):
    """A request that breaks a rule. ``field`` names the offending field (dotted path)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def is_valid_num_frames(n: int) -> bool:
    return n >= 1 and (n - 1) % TEMPORAL_COMPRESSION == 0


def num_frames_for(length: int) -> int:
    """Smallest 8k+1 that covers ``length`` frames."""
    if length < 1:
        raise ValueError(f"a shot needs at least one frame, got {length}")
    k = math.ceil((length - 1) / TEMPORAL_COMPRESSION)
    return k * TEMPORAL_COMPRESSION + 1


def check_num_frames(n: Any, max_frames: int = DEFAULT_MAX_FRAMES, field: str = "num_frames") -> None:
    if not isinstance(n, int) or isinstance(n, bool):
        raise ProtocolError(field, f"must be an integer, got {n!r}")
    if not is_valid_num_frames(n):
        nearest = num_frames_for(max(n, 1))  # 0 and below have no covering length; 1 is nearest
        raise ProtocolError(
            field, f"must be 8k+1 (1, 9, 17, ..., 121, ...) but is {n}; nearest valid: {nearest}"
        )
    if n > max_frames:
        raise ProtocolError(field, f"is {n}, above this model's maximum of {max_frames} frames")


def check_size(width: Any, height: Any, pixel_budget: int = DEFAULT_PIXEL_BUDGET) -> None:
    for name, v in (("width", width), ("height", height)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise ProtocolError(name, f"must be an integer, got {v!r}")
        if v < SPATIAL_MULTIPLE or v % SPATIAL_MULTIPLE:
            raise ProtocolError(name, f"must be a positive multiple of {SPATIAL_MULTIPLE} but is {v}")
    if width * height > pixel_budget:
        raise ProtocolError(
            "width",
            f"{width}x{height} = {width * height} pixels is above the pixel budget of {pixel_budget}",
        )


def check_finite(value: Any, field: str) -> None:
    """Reject NaN and infinities anywhere in a nested structure of numbers."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ProtocolError(field, f"must be a finite number, got {value}")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_finite(v, f"{field}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_finite(v, f"{field}[{i}]")


def check_trajectory(traj: dict[str, Any] | None) -> None:
    if traj is None:
        return
    frames = traj.get("frames", [])
    n = len(frames)
    for key in ("matrix_world", "lens_mm"):
        if len(traj.get(key, [])) != n:
            raise ProtocolError(
                f"trajectory.{key}", f"has {len(traj.get(key, []))} entries but trajectory.frames has {n}"
            )
    for i, m in enumerate(traj.get("matrix_world", [])):
        if len(m) != 16:
            raise ProtocolError(f"trajectory.matrix_world[{i}]", f"must be 16 floats, got {len(m)}")
    camera_type = traj.get("camera_type", "PERSP")
    if camera_type not in CAMERA_TYPES:
        raise ProtocolError(
            "trajectory.camera_type", f"must be one of {', '.join(CAMERA_TYPES)}, got {camera_type!r}"
        )
    scales = traj.get("ortho_scale") or []
    if camera_type == "ORTHO" and len(scales) != n:
        raise ProtocolError(
            "trajectory.ortho_scale", f"has {len(scales)} entries but trajectory.frames has {n}"
        )
    check_finite(traj, "trajectory")


def check_condition_index(index: Any, num_frames: int, field: str) -> None:
    if not isinstance(index, int) or isinstance(index, bool):
        raise ProtocolError(field, f"must be an integer, got {index!r}")
    if not 0 <= index < num_frames:
        raise ProtocolError(field, f"is {index}, outside the clip's frames 0..{num_frames - 1}")


def snap_condition_index(index: int, num_frames: int) -> int:
    """The frame index LTX actually conditions. diffusers' LTXConditionPipeline keeps a keyframe at
    index 0 as the first latent frame and appends any other single image as extra tokens whose time
    position is exactly ``index`` (in pixel frames), so no snapping to the 8-frame latent grid is
    needed: the index is only clamped into the clip."""
    return max(0, min(int(index), num_frames - 1))


@dataclass
class ServerError(Exception):
    """A failure talking to the server, phrased for the user (one sentence, says what to do)."""

    message: str
    status: int | None = None

    def __str__(self) -> str:
        return self.message
