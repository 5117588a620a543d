"""The documented request/response shapes (pydantic) and the request check that runs before queueing.

Every rule answers with one ``ProtocolError(field, sentence)``; app.py turns it into a 422. The rules
themselves are core/protocol.py's, shared with the extension, plus the server's own limits.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from blender_ltx.core import protocol
from blender_ltx.core.protocol import ProtocolError

from .settings import Settings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SEED = 2**63 - 1


class ConditionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    frame_index: StrictInt = Field(description="frame of the clip (0-based) the image should appear at")
    image: StrictStr = Field(description="PNG file, base64")
    strength: float = Field(1.0, ge=0.0, le=1.0)


class TrajectoryIn(BaseModel):
    """As in the shot plan (blender_ltx.core.shots.Trajectory); newer plan fields are tolerated."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    frames: list[StrictInt]
    matrix_world: list[list[float]]
    lens_mm: list[float]
    sensor_width_mm: float = 36.0
    sensor_height_mm: float = 24.0
    sensor_fit: str = "AUTO"
    shift_x: float = 0.0
    shift_y: float = 0.0
    aspect: float = 16 / 9


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    prompt: StrictStr = Field(max_length=10_000)
    negative_prompt: StrictStr = Field("", max_length=10_000)
    seed: StrictInt | None = Field(None, ge=0, le=MAX_SEED, description="null: the server picks one")
    num_frames: StrictInt = Field(description="8k+1")
    width: StrictInt = Field(description="multiple of 32")
    height: StrictInt = Field(description="multiple of 32")
    frame_rate: float = Field(gt=0.0, le=240.0)
    num_inference_steps: StrictInt | None = Field(
        None, ge=1, description="null: the model profile's default (GET /v1/health 'defaults')"
    )
    guidance_scale: float | None = Field(
        None, ge=0.0, le=50.0, description="null: the model profile's default; 1.0 or less turns guidance off"
    )
    conditions: list[ConditionIn] = Field(default_factory=list)
    trajectory: TrajectoryIn | None = None
    motion_prompt: StrictBool = True
    shot: StrictStr | None = Field(None, max_length=200)
    tags: dict[str, StrictStr] = Field(default_factory=dict)


class Timings(BaseModel):
    queued_s: float | None = None
    generate_s: float | None = None
    encode_s: float | None = None
    total_s: float | None = None


class AppliedCondition(BaseModel):
    requested_frame_index: int
    frame_index: int
    strength: float


class Sampling(BaseModel):
    profile: str = Field(description="the model profile that gave the defaults")
    from_profile: list[str] = Field(description="request fields left out (or null) and filled from it")
    pipeline_kwargs: dict[str, Any] = Field(description="extra pipeline arguments: schedule, decode settings")


class Applied(BaseModel):
    prompt_used: str
    motion_script: str
    negative_prompt: str
    conditions: list[AppliedCondition]
    layers: list[str]
    sampling: Sampling | None = Field(None, description="null for jobs queued before profiles existed")


class JobStatus(BaseModel):
    id: str
    status: str = Field(description="queued | running | succeeded | failed | cancelled")
    progress: float
    error: str | None
    shot: str | None
    tags: dict[str, str]
    created_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    queue_position: int | None = Field(None, description="0 = next to run; null unless queued")
    timings: Timings
    request: dict[str, Any]
    applied: Applied
    video_url: str | None = Field(None, description="set once the job has succeeded")
    motion: dict[str, Any] | None = Field(
        None,
        description="the clip's camera motion measured by the meter (server/meter): null until the job "
        'has succeeded, {"pending": true} while it is measured, then {measurable, reason, kinds, segments, '
        "agreement, summary, mismatch}",
    )


class JobList(BaseModel):
    jobs: list[JobStatus]


@dataclass
class CheckedRequest:
    """A request that passed every rule: the plain dict (images removed) and the PNG bytes."""

    data: dict[str, Any]
    images: list[bytes]


def _reject_constant(_name: str) -> float:
    # Python's json accepts NaN/Infinity tokens; keep them as floats so check_finite names the field.
    return float("nan")


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError("body", f"is not valid JSON ({exc})") from None
    except RecursionError:
        raise ProtocolError("body", "is nested too deeply to be a job request") from None
    if not isinstance(data, dict):
        raise ProtocolError("body", f"must be a JSON object, got {type(data).__name__}")
    try:
        for key, value in data.items():
            protocol.check_finite(value, key)
    except RecursionError:
        raise ProtocolError("body", "is nested too deeply to be a job request") from None
    return data


def _field(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _from_validation_error(exc: ValidationError) -> ProtocolError:
    err = exc.errors()[0]
    field = _field(tuple(err["loc"]))
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(protocol.REQUEST_FIELDS)
        return ProtocolError(field, f"is not a known field (the request fields are: {allowed})")
    if err["type"] == "missing":
        return ProtocolError(field, "is required")
    return ProtocolError(field, f"{err['msg']} (got {err.get('input')!r:.80})")


def decode_png(text: str, field: str, settings: Settings) -> bytes:
    """The PNG bytes of a base64 image, after checking it is small enough and really decodes."""
    from PIL import Image

    if len(text) * 3 // 4 > settings.max_image_bytes:
        raise ProtocolError(field, f"is larger than the {settings.max_image_bytes} byte image limit")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(field, "is not valid base64 (standard alphabet, padded)") from None
    if not raw.startswith(PNG_SIGNATURE):
        raise ProtocolError(field, "is not a PNG image (send the keyframe as PNG, base64)")
    try:
        with Image.open(io.BytesIO(raw)) as img:
            w, h = img.size
            if w * h > settings.max_image_pixels:
                raise ProtocolError(
                    field, f"is {w}x{h}, above the image limit of {settings.max_image_pixels} pixels"
                )
            img.load()
    except ProtocolError:
        raise
    except Exception as exc:  # PIL raises many types for broken files; all mean the same to a user
        raise ProtocolError(field, f"does not decode as a PNG ({exc})") from None
    return raw


def check_request(body: bytes, settings: Settings) -> CheckedRequest:
    """Every rule, in the order a user would fix them; raises ProtocolError."""
    data = parse_json(body)
    try:
        req = JobRequest.model_validate(data)
    except ValidationError as exc:
        raise _from_validation_error(exc) from None
    protocol.check_num_frames(req.num_frames, settings.max_frames)
    protocol.check_size(req.width, req.height, settings.pixel_budget)
    if req.num_inference_steps is not None and req.num_inference_steps > settings.max_steps:
        raise ProtocolError(
            "num_inference_steps", f"is {req.num_inference_steps}, above the limit of {settings.max_steps}"
        )
    if req.trajectory is not None:
        traj = req.trajectory.model_dump()
        protocol.check_trajectory(traj)
        if len(traj["frames"]) > req.num_frames:
            raise ProtocolError(
                "trajectory.frames",
                f"has {len(traj['frames'])} samples but the clip has only {req.num_frames} frames",
            )
    if len(req.conditions) > settings.max_conditions:
        raise ProtocolError(
            "conditions", f"has {len(req.conditions)} images, above the limit of {settings.max_conditions}"
        )
    images = []
    for i, cond in enumerate(req.conditions):
        protocol.check_condition_index(cond.frame_index, req.num_frames, f"conditions[{i}].frame_index")
        images.append(decode_png(cond.image, f"conditions[{i}].image", settings))
    out = req.model_dump()
    for cond in out["conditions"]:
        cond.pop("image")
    return CheckedRequest(data=out, images=images)
