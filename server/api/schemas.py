"""The documented request/response shapes (pydantic) and the request check that runs before queueing.

Every rule answers with one ``ProtocolError(field, sentence)``; app.py turns it into a 422. The rules
themselves are core/protocol.py's, shared with the extension, plus the server's own limits.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import reprlib
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictStr,
    ValidationError,
    field_validator,
)
from pydantic.types import Strict

from blender_ltx.core import looks as looks_vocab
from blender_ltx.core import protocol
from blender_ltx.core.protocol import ProtocolError

from .settings import Settings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SEED = 2**63 - 1
#: Per-field limits, so no field can make a stored job (or every read of the job list) large.
MAX_TAGS = 32
MAX_TAG_KEY = 64
MAX_TAG_VALUE = 1_000
#: Trajectory samples; check_request also bounds them by the request's num_frames.
MAX_TRAJECTORY_SAMPLES = 4_097
#: A JSON integer longer than this is refused before Python converts it (the int-digit limit is 4,300).
MAX_INT_DIGITS = 40
FRAME_RATE_RANGE = (1.0, 240.0)
#: Commas in a body (about its count of JSON values), counted before parsing: millions of small
#: numbers cost seconds of CPU under the GIL (health waits) before any field rule could refuse them.
#: The largest valid request (trajectories of 4,097 samples, 32 tags) has under 100,000.
MAX_JSON_COMMAS = 250_000


def _integral(value: Any) -> Any:
    """JSON Schema's integer: 1136.0 is one (a whole number written with a fraction), 1136.5 is not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: A request integer: no strings, no booleans, a whole float taken as the integer it is.
JsonInt = Annotated[int, BeforeValidator(_integral), Strict()]
#: A request number: an int or a float, no strings, no booleans (true was a camera_lora_scale of 1.0).
JsonFloat = StrictFloat


class AssetRef(BaseModel):
    """An uploaded asset (PUT /v1/assets/{sha256}) in place of inline bytes."""

    model_config = ConfigDict(extra="forbid")
    asset: StrictStr = Field(description="SHA-256 of the uploaded file, 64 lowercase hex digits")


class ConditionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    frame_index: JsonInt = Field(description="frame of the clip (0-based) the image should appear at")
    image: StrictStr | AssetRef = Field(description='PNG, base64; or {"asset": sha256} of an uploaded one')
    strength: JsonFloat = Field(1.0, ge=0.0, le=1.0)


class TrajectoryIn(BaseModel):
    """As in the shot plan (blender_ltx.core.shots.Trajectory, field by field: a test holds them equal);
    fields a newer plan adds are tolerated and dropped, so nothing unbounded is stored."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    frames: list[JsonInt] = Field(max_length=MAX_TRAJECTORY_SAMPLES)
    matrix_world: list[list[JsonFloat]] = Field(
        max_length=MAX_TRAJECTORY_SAMPLES, description="row-major 4x4 per sample, 16 floats each"
    )
    lens_mm: list[JsonFloat] = Field(max_length=MAX_TRAJECTORY_SAMPLES)
    sensor_width_mm: JsonFloat = 36.0
    sensor_height_mm: JsonFloat = 24.0
    sensor_fit: Literal["AUTO", "HORIZONTAL", "VERTICAL"] = "AUTO"
    shift_x: JsonFloat = 0.0
    shift_y: JsonFloat = 0.0
    aspect: JsonFloat = 16 / 9
    camera_type: Literal[protocol.CAMERA_TYPES] = "PERSP"
    ortho_scale: list[JsonFloat] = Field(
        default_factory=list, description="view size per frame (scene units); orthographic cameras only"
    )


class PosesIn(BaseModel):
    """What the server needs to choose the translation scale of the exact camera (SANA-WM; see
    core.poses.pose_scale). Other families ignore it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    scene_depth: JsonFloat | None = Field(
        None, gt=0.0, description="median depth of the first frame, scene units; null: nothing was hit"
    )
    metres_per_unit: JsonFloat = Field(1.0, gt=0.0, description="the scene's unit scale (metres per unit)")
    scale: JsonFloat | None = Field(
        None, gt=0.0, le=1e6, description="the shot's Pose Scale: overrides the chosen scale"
    )


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    kind: Literal["video"] = Field("video", description='"video" (this shape) or "look" (LookJobRequest)')
    prompt: StrictStr = Field(max_length=10_000)
    negative_prompt: StrictStr = Field("", max_length=10_000)
    seed: JsonInt | None = Field(None, ge=0, le=MAX_SEED, description="null: the server picks one")
    # The 8k+1 and multiple-of-32 rules are core/protocol.py's (with their sentences); the schema
    # states them for schema-driven clients.
    num_frames: JsonInt = Field(
        description="8k+1: 1 (a still), 9, 17, 25, ... up to 'limits.max_frames' of GET /v1/health",
        json_schema_extra={"minimum": 1, "x-pattern": "8k+1"},
    )
    width: JsonInt = Field(description="multiple of 32", json_schema_extra={"minimum": 32, "multipleOf": 32})
    height: JsonInt = Field(description="multiple of 32", json_schema_extra={"minimum": 32, "multipleOf": 32})
    frame_rate: JsonFloat = Field(
        description="frames per second, 1 to 240",
        json_schema_extra={"minimum": FRAME_RATE_RANGE[0], "maximum": FRAME_RATE_RANGE[1]},
    )
    num_inference_steps: JsonInt | None = Field(
        None, ge=1, description="null: the model profile's default (GET /v1/health 'defaults')"
    )
    guidance_scale: JsonFloat | None = Field(
        None, ge=0.0, le=50.0, description="null: the model profile's default; 1.0 or less turns guidance off"
    )
    conditions: list[ConditionIn] = Field(default_factory=list)
    trajectory: TrajectoryIn | None = None
    motion_prompt: StrictBool = True
    shot: StrictStr | None = Field(None, max_length=200)
    tags: dict[
        Annotated[str, Field(max_length=MAX_TAG_KEY)], Annotated[StrictStr, Field(max_length=MAX_TAG_VALUE)]
    ] = Field(default_factory=dict, max_length=MAX_TAGS)
    audio: StrictBool = Field(True, description="LTX-2: put the generated audio into the mp4")
    camera_lora: StrictStr = Field(
        "auto",
        max_length=200,
        description="LTX-2: 'auto' (picked from the trajectory's dominant move), 'none', or a loaded name "
        "(GET /v1/health 'loras')",
    )
    camera_lora_scale: JsonFloat = Field(1.0, ge=0.0, le=2.0)
    poses: PosesIn | None = Field(
        None, description="SANA-WM: the scale inputs of the exact camera path (applied.camera_poses)"
    )
    control: dict[str, Any] | None = Field(
        None,
        description="IC-LoRA control video (LTX-2): see server/generation/control/request.py for the shape",
    )
    look: Literal[looks_vocab.SERVER_LOOK_MODES] = Field(
        "previs",
        description="where the picture comes from: 'previs' (conditions are previs renders), 'prompt' (no "
        "picture: no conditions), 'frame' (one look frame at frame 0 is the only picture); "
        "applied.look records what reached the model",
    )
    enhance_prompt: StrictBool = Field(
        False,
        description="LTX-2.5: rewrite the prompt with the model's prompt enhancer first (the server must "
        "run with --prompt-enhancement); the camera sentence is kept verbatim; "
        "applied.prompt_enhancement records it",
    )
    single_pass: StrictBool = Field(
        False,
        description="LTX-2.5: one pass at the final size instead of its recipe (first pass at the draft "
        "size, then the finalize stages); other families always make a non-draft take in one pass",
    )
    draft: StrictBool = Field(
        False,
        description="true: only the model's first stage at its reduced size (GET /v1/health 'recipe'); "
        'width and height are the final size; the latents are kept for POST /v1/jobs {"finalize": ID}',
    )

    @field_validator("frame_rate")
    @classmethod
    def _frame_rate_in_range(cls, value: float) -> float:
        low, high = FRAME_RATE_RANGE
        if not low <= value <= high:
            raise ValueError(f"must be from {low:g} to {high:g} frames per second")
        return value


class Problem(BaseModel):
    """Every error answer: one sentence; ``field`` names the request field for a 422."""

    detail: str
    field: str | None = None


class Timings(BaseModel):
    queued_s: float | None = None
    generate_s: float | None = None
    encode_s: float | None = None
    total_s: float | None = None
    peak_gpu_mb: float | None = Field(None, description="torch.cuda.max_memory_allocated; null off CUDA")


class AppliedCondition(BaseModel):
    requested_frame_index: int
    frame_index: int
    strength: float


class Sampling(BaseModel):
    profile: str = Field(description="the model profile that gave the defaults")
    from_profile: list[str] = Field(description="request fields left out (or null) and filled from it")
    pipeline_kwargs: dict[str, Any] = Field(description="extra pipeline arguments: schedule, decode settings")


class SegmentCondition(BaseModel):
    condition: int = Field(description="index into applied.conditions")
    frame_index: int = Field(description="the keyframe's frame within the segment")


class AppliedSegment(BaseModel):
    frame_start: int = Field(description="first clip frame the segment generates")
    frame_end: int = Field(description="last clip frame it generates (inclusive)")
    num_frames: int
    overlap: int = Field(description="leading frames conditioned on the previous segment and trimmed")
    prompt_used: str = Field(description="the prompt with this segment's own motion sentence")
    motion_script: str
    conditions: list[SegmentCondition]


class Applied(BaseModel):
    """Also, where they apply (absent otherwise): ``camera_lora`` {name, scale, reason}, ``audio``
    {sample_rate, channels, seconds}, ``references`` [{kind, frames, width, height, strength, lora,
    downscale}]."""

    model_config = ConfigDict(extra="allow")
    prompt_used: str
    motion_script: str
    negative_prompt: str
    conditions: list[AppliedCondition]
    layers: list[str]
    control: dict[str, Any] | None = Field(
        None, description="kind, frames, width, height, strength, lora of the control reference; null: none"
    )
    sampling: Sampling | None = Field(None, description="null for jobs queued before profiles existed")
    segments: list[AppliedSegment] | None = Field(
        None, description="the chain of a job above the server's segment_frames; null: one generation"
    )


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


def _reject_constant(name: str) -> float:
    # Python's json accepts NaN/Infinity tokens; keep them as the floats they say so that check_finite
    # names the field and the value ("got inf", not "got nan").
    return float(name)


class _LongInteger:
    """A JSON integer too long to convert; kept so the walk below can name its field."""

    def __init__(self, digits: int):
        self.digits = digits


def _parse_int(text: str) -> int | _LongInteger:
    return int(text) if len(text) <= MAX_INT_DIGITS else _LongInteger(len(text.lstrip("-")))


def _check_numbers(value: Any, field: str) -> None:
    if isinstance(value, _LongInteger):
        raise ProtocolError(field, f"is a number of {value.digits} digits; the longest allowed has 40")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_numbers(v, f"{field}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_numbers(v, f"{field}[{i}]")
    else:
        protocol.check_finite(value, field)


def parse_json(body: bytes) -> dict[str, Any]:
    commas = body.count(b",")
    if commas > MAX_JSON_COMMAS:
        raise ProtocolError(
            "body", f"has {commas} values, more than a job request can hold ({MAX_JSON_COMMAS})"
        )
    try:
        data = json.loads(body, parse_constant=_reject_constant, parse_int=_parse_int)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise ProtocolError("body", f"is not valid JSON ({exc})") from None
    except RecursionError:
        raise ProtocolError("body", "is nested too deeply to be a job request") from None
    if not isinstance(data, dict):
        raise ProtocolError("body", f"must be a JSON object, got {type(data).__name__}")
    try:
        for key, value in data.items():
            _check_numbers(value, key)
    except RecursionError:
        raise ProtocolError("body", "is nested too deeply to be a job request") from None
    return data


def _field(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


_REPR = reprlib.Repr()  # attributes, not arguments: Python 3.11
_REPR.maxlist = _REPR.maxdict = 4
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 60


def _short_repr(value: Any) -> str:
    """The offending value for a sentence, without formatting all of a huge one first."""
    return _REPR.repr(value)[:80]


def _from_validation_error(exc: ValidationError) -> ProtocolError:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    if "[key]" in loc:  # a dict key broke a rule: name the dict, not the (maybe huge) key
        loc = loc[: loc.index("[key]") - 1]
        return ProtocolError(_field(loc), f"has a key that breaks a rule: {err['msg']}")
    field = _field(loc)
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(protocol.REQUEST_FIELDS)
        return ProtocolError(field, f"is not a known field (the request fields are: {allowed})")
    if err["type"] == "missing":
        return ProtocolError(field, "is required")
    if err["type"] == "value_error":  # our own validators' sentences
        return ProtocolError(field, f"{err['ctx']['error']} (got {_short_repr(err.get('input'))})")
    return ProtocolError(field, f"{err['msg']} (got {_short_repr(err.get('input'))})")


def decode_png(text: str, field: str, settings: Settings) -> bytes:
    """The PNG bytes of a base64 image, after checking it is small enough and really decodes."""
    if len(text) * 3 // 4 > settings.max_image_bytes:
        raise ProtocolError(field, f"is larger than the {settings.max_image_bytes} byte image limit")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(field, "is not valid base64 (standard alphabet, padded)") from None
    return check_png(raw, field, settings)


def image_bytes(value: Any, field: str, settings: Settings, assets: Any) -> bytes:
    """The checked PNG bytes of an image given inline (base64) or as ``{"asset": sha256}``."""
    if isinstance(value, str):
        return decode_png(value, field, settings)
    if assets is None:
        raise ProtocolError(field, "refers to an asset but this server keeps none: send the image inline")
    raw = assets.read(value["asset"], f"{field}.asset")
    if len(raw) > settings.max_image_bytes:
        raise ProtocolError(field, f"is larger than the {settings.max_image_bytes} byte image limit")
    return check_png(raw, field, settings)


def check_png(raw: bytes, field: str, settings: Settings) -> bytes:
    """``raw`` after checking it is a PNG within the pixel limit that really decodes."""
    from PIL import Image

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


def _check_min_size(width: int, height: int, capabilities: Any) -> None:
    """The loaded model's smallest side (health ``features.min_size``: LTX-2's VAE cannot decode a
    32-pixel side), so such a job is refused here instead of failing in the VAE."""
    min_size = capabilities.get("min_size") if isinstance(capabilities, dict) else None
    if not isinstance(min_size, int):
        return
    for name, value in (("width", width), ("height", height)):
        if value < min_size:
            raise ProtocolError(
                name,
                f"is {value} but this server's model makes no side under {min_size}: use {min_size} or more",
            )


def check_request(
    body: bytes | dict[str, Any], settings: Settings, assets: Any = None, capabilities: Any = None
) -> CheckedRequest:
    """Every rule, in the order a user would fix them; raises ProtocolError. ``body``: the raw body or
    its parse_json result. ``assets`` (an asset_store.AssetStore) resolves ``{"asset": sha256}``
    references; ``capabilities`` are the backend's (which control kinds it offers)."""
    data = parse_json(body) if isinstance(body, bytes) else body
    try:
        req = JobRequest.model_validate(data)
    except ValidationError as exc:
        raise _from_validation_error(exc) from None
    protocol.check_num_frames(req.num_frames, settings.max_frames)
    protocol.check_size(req.width, req.height, settings.pixel_budget)
    _check_min_size(req.width, req.height, capabilities)
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
    if data.get("audio") is True and capabilities is not None and not capabilities.get("audio"):
        raise ProtocolError(
            "audio", "is true but this server's model makes no audio; leave it out or send false"
        )
    looks_vocab.check_look_conditions(req.look, [c.model_dump() for c in req.conditions])
    images = []
    for i, cond in enumerate(req.conditions):
        protocol.check_condition_index(cond.frame_index, req.num_frames, f"conditions[{i}].frame_index")
        image = cond.image if isinstance(cond.image, str) else cond.image.model_dump()
        images.append(image_bytes(image, f"conditions[{i}].image", settings, assets))
    out = req.model_dump()
    for cond in out["conditions"]:
        image = cond.pop("image")
        if isinstance(image, dict):  # an asset reference stays in the record: the sweep keeps the asset
            cond["image"] = image
    if req.control is not None:
        from ..generation.control.request import check_control

        out["control"], _ = check_control(req.control, out, capabilities, assets, settings.max_image_pixels)
    return CheckedRequest(data=out, images=images)
