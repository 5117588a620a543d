"""The look job's request shape and its check (``POST /v1/jobs`` with ``"kind": "look"``): every rule
before anything is queued, each one ``ProtocolError(field, sentence)`` like the video job's."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from blender_ltx.core import looks as vocab
from blender_ltx.core.protocol import ProtocolError

from .schemas import MAX_SEED, MAX_TAG_KEY, MAX_TAG_VALUE, MAX_TAGS, AssetRef, CheckedRequest, image_bytes
from .schemas import _field, _short_repr
from .settings import Settings


class LayoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal[vocab.LAYOUT_KINDS] = Field(description="depth (a depth map) or beauty (the previs render)")
    image: StrictStr | AssetRef = Field(description='PNG, base64; or {"asset": sha256}')


class ReferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(max_length=200, description="what the prompt calls it ('Ana', 'the red car')")
    kind: Literal[vocab.REFERENCE_KINDS]
    image: StrictStr | AssetRef = Field(description='PNG, base64; or {"asset": sha256} (upload once)')


class LookJobRequest(BaseModel):
    """A look job: ``count`` candidate stills of a shot's first frame from its layout, references and
    prompt (GET /v1/health ``look``: the model, its size multiple and defaults)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    kind: Literal["look"]
    prompt: StrictStr = Field(max_length=10_000)
    seed: StrictInt | None = Field(None, ge=0, le=MAX_SEED, description="still i gets seed + i")
    count: StrictInt = Field(4, ge=1, le=vocab.MAX_LOOK_COUNT)
    width: StrictInt = Field(ge=16, description="a multiple of health look.size_multiple")
    height: StrictInt = Field(ge=16, description="a multiple of health look.size_multiple")
    num_inference_steps: StrictInt | None = Field(None, ge=1)
    guidance_scale: float | None = Field(None, ge=0.0, le=50.0)
    layout: LayoutIn | None = None
    references: list[ReferenceIn] = Field(default_factory=list, max_length=vocab.MAX_LOOK_REFERENCES)
    shot: StrictStr | None = Field(None, max_length=200)
    tags: dict[
        Annotated[str, Field(max_length=MAX_TAG_KEY)], Annotated[StrictStr, Field(max_length=MAX_TAG_VALUE)]
    ] = Field(default_factory=dict, max_length=MAX_TAGS)


def _validation_error(exc: ValidationError) -> ProtocolError:
    err = exc.errors()[0]
    field = _field(tuple(err["loc"]))
    if err["type"] == "extra_forbidden":
        return ProtocolError(
            field, f"is not a known field of a look job (they are: {', '.join(vocab.LOOK_REQUEST_FIELDS)})"
        )
    if err["type"] == "missing":
        return ProtocolError(field, "is required")
    return ProtocolError(field, f"{err['msg']} (got {_short_repr(err.get('input'))})")


def check_look_request(data: dict[str, Any], settings: Settings, assets: Any, look: Any) -> CheckedRequest:
    """Every rule of a look job; the images come back layout first, then the references."""
    if look is None:
        raise ProtocolError(
            "kind",
            "is 'look' but this server makes no looks (no look model): start it with --look-model DIR "
            "(FLUX.2 klein) or --look-model tiny-look",
        )
    try:
        req = LookJobRequest.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    m = look.size_multiple
    if req.width % m or req.height % m:
        raise ProtocolError(
            "width", f"and height have to be multiples of {m} but are {req.width} and {req.height}"
        )
    if req.width * req.height > settings.pixel_budget:
        raise ProtocolError(
            "width",
            f"x height is {req.width}x{req.height}, above the server's budget of "
            f"{settings.pixel_budget} pixels",
        )
    if req.num_inference_steps is not None and req.num_inference_steps > settings.max_steps:
        raise ProtocolError(
            "num_inference_steps", f"is {req.num_inference_steps}, above the limit of {settings.max_steps}"
        )
    out = req.model_dump()
    images = []
    pictures = ([("layout", out["layout"])] if out["layout"] else []) + [
        (f"references[{i}]", r) for i, r in enumerate(out["references"])
    ]
    for field, item in pictures:
        value = item.pop("image")
        images.append(image_bytes(value, f"{field}.image", settings, assets))
        if isinstance(value, dict):  # kept in the record: the asset sweep keeps what a job names
            item["image"] = value
    return CheckedRequest(data=out, images=images)
