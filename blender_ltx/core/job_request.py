"""Shot + settings + guide frames -> the job request(s) the server gets (no bpy).

A shot longer than the model's maximum has several generation segments; each one is sent as its own
job, built exactly like a shot of its own (``segment_shots``), so the rest of the pipeline (guide
rendering, requests, import) never special-cases segments. The segments' clips are imported one after
the other, so together they cover the shot's frames contiguously.
"""

from __future__ import annotations

import base64
import math
from dataclasses import asdict, replace
from typing import Any, Mapping, Sequence

from . import protocol
from .shots import GenerationGrid, Shot

#: The first frame is the image of image-to-video: the clip starts exactly on it.
FIRST_FRAME_STRENGTH = 1.0
#: Later guide frames (gray-box renders along the move) steer the camera without copying the previs look.
KEYFRAME_STRENGTH = 0.5


def keyframe_indices(shot: Shot, every_n: int = 0, at_motion_changes: bool = False) -> list[int]:
    """Clip frame indices to render guides at: 0 always, every ``every_n`` frames when > 0, and where
    one motion segment of ``shot.motion`` hands over to the next when ``at_motion_changes``."""
    if every_n < 0:
        raise ValueError(f"every_n must be 0 (first frame only) or a positive step, got {every_n}.")
    indices = {0}
    if every_n > 0:
        indices.update(range(every_n, shot.length, every_n))
    if at_motion_changes:
        for seg in shot.motion[1:]:
            idx = seg.frame_start - shot.frame_start
            if 0 < idx < shot.length:
                indices.add(idx)
    return sorted(indices)


def segment_shots(shot: Shot) -> list[Shot]:
    """One Shot per generation segment (just ``[shot]`` when it is generated in one piece)."""
    segments = shot.generation.segments
    if len(segments) <= 1:
        return [shot]
    out = []
    for seg in segments:
        grid = GenerationGrid(
            num_frames=seg.num_frames,
            width=shot.generation.width,
            height=shot.generation.height,
            frame_rate=shot.generation.frame_rate,
            segments=[seg],
        )
        lo, hi = seg.frame_start, seg.frame_end
        overlaps = [m for m in shot.motion if lo <= m.frame_end and m.frame_start <= hi]
        out.append(
            replace(
                shot,
                frame_start=seg.frame_start,
                frame_end=seg.frame_end,
                generation=grid,
                trajectory=shot.trajectory.slice(seg.frame_start, seg.frame_end),
                motion=overlaps,
            )
        )
    return out


def encode_png(path: str) -> str:
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(b"\x89PNG"):
        raise protocol.ProtocolError("conditions.image", f"{path} is not a PNG file")
    return base64.b64encode(data).decode("ascii")


def conditions(
    guides: Sequence[tuple[int, str]], num_frames: int, encode: bool = True
) -> list[dict[str, Any]]:
    """``[(frame_index, png_path), ...]`` -> the request's ``conditions`` (first frame at full strength).
    ``encode=False`` leaves each image's path in place of the PNG (``embed_images`` reads them later)."""
    out = []
    for i, (index, path) in enumerate(sorted(guides)):
        protocol.check_condition_index(index, num_frames, f"conditions[{i}].frame_index")
        strength = FIRST_FRAME_STRENGTH if index == 0 else KEYFRAME_STRENGTH
        image = encode_png(path) if encode else path
        out.append({"frame_index": int(index), "image": image, "strength": strength})
    return out


def embed_images(request: dict[str, Any]) -> dict[str, Any]:
    """A request built with ``encode=False`` with its guide images read in (once they are rendered)."""
    conds = [{**c, "image": encode_png(c["image"])} for c in request["conditions"]]
    return {**request, "conditions": conds}


def build_request(
    shot: Shot,
    settings: Mapping[str, Any],
    guides: Sequence[tuple[int, str]],
    *,
    prompt: str | None = None,
    seed: int | None = None,
    tags: Mapping[str, str] | None = None,
    max_frames: int = protocol.DEFAULT_MAX_FRAMES,
    pixel_budget: int = protocol.DEFAULT_PIXEL_BUDGET,
    encode: bool = True,
    look: str = "previs",
) -> dict[str, Any]:
    """The ``POST /v1/jobs`` body for one (segment) shot, validated with the protocol's own rules.
    ``encode=False``: everything checked, the guide images still to be read (``embed_images``).
    ``look`` (``core.looks``): ``previs`` (the server's default, not sent: older servers know no look)
    needs a first-frame guide; ``frame`` sends its one picture at index 0; ``prompt`` sends no picture.

    ``settings`` holds the shot's ``prompt``, ``negative_prompt``, ``seed``, ``steps`` and ``guidance``
    (the names of ``LTXShotSettings``); ``prompt`` (the full prompt, style prompt included, from
    ``props.full_prompt``) overrides ``settings["prompt"]`` and ``seed`` overrides ``settings["seed"]``.
    """
    grid = shot.generation
    protocol.check_num_frames(grid.num_frames, max_frames)
    protocol.check_size(grid.width, grid.height, pixel_budget)
    if look == "prompt" and guides:
        raise protocol.ProtocolError("conditions", f"shot {shot.name} has look prompt: it sends no picture")
    if look != "prompt" and not any(index == 0 for index, _ in guides):
        raise protocol.ProtocolError("conditions", f"shot {shot.name} has no first-frame guide (index 0)")
    traj = asdict(shot.trajectory) if len(shot.trajectory) else None
    protocol.check_trajectory(traj)
    request = {
        "prompt": settings.get("prompt", "") if prompt is None else prompt,
        "negative_prompt": settings.get("negative_prompt", "") or "",
        "seed": int(settings.get("seed", 0) if seed is None else seed),
        "num_frames": grid.num_frames,
        "width": grid.width,
        "height": grid.height,
        "frame_rate": float(grid.frame_rate),
        # 0 (the shot settings' default) sends null: the server uses its model's profile (GET /v1/health).
        "num_inference_steps": int(settings.get("steps", 0)) or None,
        "guidance_scale": float(settings.get("guidance", 0.0)) or None,
        "conditions": conditions(guides, grid.num_frames, encode),
        "trajectory": traj,
        "shot": shot.name,
        "tags": {str(k): str(v) for k, v in (tags or {}).items()},
    }
    if look != "previs":
        request["look"] = look
    protocol.check_finite(request["guidance_scale"], "guidance_scale")
    return request


def ltx2_fields(
    *,
    audio: bool,
    camera_lora: str = "auto",
    camera_lora_scale: float = 1.0,
    camera_lora_ok: bool = True,
    enhance_prompt: bool = False,
    enhance_ok: bool = True,
) -> dict[str, Any]:
    """The request's LTX-2 switches, only where they differ from the server's defaults (so a request
    to an LTX-Video server stays as it was): ``"audio": false`` when generated audio is off (the
    preference or the shot's switch), the shot's camera LoRA choice and scale when the server can
    apply camera LoRAs (``camera_lora_ok``: its capability, or not asked yet), and
    ``"enhance_prompt": true`` when the shot asks for the prompt enhancer and the server may have one
    (``enhance_ok``; a server without one says so with a sentence)."""
    out: dict[str, Any] = {}
    if not audio:
        out["audio"] = False
    if enhance_prompt and enhance_ok:
        out["enhance_prompt"] = True
    choice = (camera_lora or "auto").strip() or "auto"
    if camera_lora_ok:
        if choice != "auto":
            out["camera_lora"] = choice
        if float(camera_lora_scale) != 1.0:
            out["camera_lora_scale"] = float(camera_lora_scale)
    return out


def poses_field(scene_depth: float | None, metres_per_unit: float, pose_scale: float = 0.0) -> dict[str, Any]:
    """The request's ``poses`` (SANA-WM's inputs for the translation scale, ``core.poses.pose_scale``):
    the first frame's median depth in scene units (None: nothing was hit; left out), the scene's metres
    per unit, and the shot's Pose Scale where set (0: automatic, left out)."""
    if not (math.isfinite(metres_per_unit) and metres_per_unit > 0):
        raise protocol.ProtocolError("poses.metres_per_unit", f"must be above 0, got {metres_per_unit!r}")
    if not (math.isfinite(pose_scale) and pose_scale >= 0):
        raise protocol.ProtocolError(
            "poses.scale", f"Pose Scale must be 0 (automatic) or above, got {pose_scale!r}"
        )
    out: dict[str, Any] = {"metres_per_unit": float(metres_per_unit)}
    if scene_depth is not None and math.isfinite(scene_depth) and scene_depth > 0:
        out["scene_depth"] = float(scene_depth)
    if pose_scale > 0:
        out["scale"] = float(pose_scale)
    return {"poses": out}
