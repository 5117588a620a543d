"""The look of a take: where its picture comes from, and the look job's vocabulary (no bpy, no torch).

A take's ``look`` (request field of a video job) says what picture the video model starts from:

- ``previs``: the previs render is the picture (keyframes and guides are previs pixels);
- ``prompt``: no picture at all; the camera and layout come from control or the motion prompt;
- ``frame``: one still (a generated look frame or a chosen image) is the first frame and the only
  picture condition;
- ``previous_take``: the previous take's last frame, as today (the add-on sends it as ``previs`` would).

A look job (``POST /v1/jobs`` with ``"kind": "look"``) makes ``count`` candidate stills of a shot's first
frame from its previs layout (depth or beauty), the prompt and reference images.
"""

from __future__ import annotations

from typing import Any

from .protocol import ProtocolError

LOOK_MODES = ("previs", "prompt", "frame", "previous_take")
#: What the server's ``look`` field takes (``previous_take`` travels as ``previs``: its frame is a picture).
SERVER_LOOK_MODES = ("previs", "prompt", "frame")
LAYOUT_KINDS = ("depth", "beauty")
REFERENCE_KINDS = ("character", "prop", "set")
JOB_KIND_LOOK = "look"
JOB_KIND_VIDEO = "video"
MAX_LOOK_COUNT = 8
MAX_LOOK_REFERENCES = 8
#: Look job request fields (kind "look").
LOOK_REQUEST_FIELDS = (
    "kind",
    "prompt",
    "seed",
    "count",
    "width",
    "height",
    "num_inference_steps",
    "guidance_scale",
    "layout",
    "references",
    "shot",
    "tags",
)
#: Health capability names a server that makes looks lists.
CAPABILITY_LOOK_FRAMES = "look_frames"
CAPABILITY_REFERENCES = "references"


def check_look_conditions(look: str, conditions: list[Any]) -> None:
    """The picture rule of a video job's ``look``: ``prompt`` carries no picture, ``frame`` exactly one
    at frame 0 (guides are previs pixels, so they count as pictures)."""
    if look == "prompt" and conditions:
        raise ProtocolError(
            "look",
            f"is 'prompt', which sends no picture to the video model, but the request has "
            f"{len(conditions)} condition image(s): remove them (previs guides are pictures too) or use "
            "look 'previs'",
        )
    if look == "frame":
        indices = [c.get("frame_index") if isinstance(c, dict) else None for c in conditions]
        if indices != [0]:
            raise ProtocolError(
                "look",
                "is 'frame', whose look frame is the only picture: send exactly one condition, at "
                f"frame_index 0 (got frame indices {indices})",
            )


def default_look(capabilities: Any, has_frame: bool = False) -> str:
    """The look a shot gets when the scene says ``auto``: never untextured previs pixels as the picture
    where the server offers another way (a look frame, or control/camera LoRAs that carry the layout)."""
    caps = set(capabilities or ())
    if has_frame:
        return "frame"
    if caps & {"control_depth", "control_canny", "control_tracks", "camera_lora"}:
        return "prompt"
    return "previs"


def upload_once(client: Any, data: bytes) -> tuple[str, int]:
    """The asset's SHA-256 and the bytes sent for it: 0 when the server already has it."""
    import hashlib

    sha = hashlib.sha256(data).hexdigest()
    if client.has_asset(sha):
        return sha, 0
    client.put_asset(data, sha)
    return sha, len(data)


def look_request(
    client: Any,
    *,
    prompt: str,
    width: int,
    height: int,
    count: int,
    layout: tuple[str, bytes] | None = None,
    references: list[dict[str, Any]] = (),
    seed: int | None = None,
    num_inference_steps: int | None = None,
    shot: str | None = None,
) -> tuple[dict[str, Any], int]:
    """A look job's request, its layout (kind, PNG) and references ({name, kind, png}) uploaded as
    content-addressed assets first; returns the request and the bytes uploaded (0 on a re-run)."""
    sent = 0
    req: dict[str, Any] = {"kind": JOB_KIND_LOOK, "prompt": prompt, "width": width, "height": height}
    req["count"] = count
    if layout is not None:
        sha, n = upload_once(client, layout[1])
        req["layout"], sent = {"kind": layout[0], "image": {"asset": sha}}, sent + n
    req["references"] = []
    for ref in references:
        sha, n = upload_once(client, ref["png"])
        req["references"].append({"name": ref["name"], "kind": ref["kind"], "image": {"asset": sha}})
        sent += n
    for key, value in (("seed", seed), ("num_inference_steps", num_inference_steps), ("shot", shot)):
        if value is not None:
            req[key] = value
    return req, sent
