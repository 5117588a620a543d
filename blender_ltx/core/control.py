"""Which previs control a take uses, and the request's ``control`` field built from it (no bpy, no I/O).

A shot (panel) or a run (``generate --control KIND``) asks for one of ``CHOICES``. ``auto`` takes the
first kind of ``AUTO_ORDER`` the connected server offers (health ``capabilities`` lists
``control_<kind>``); ``none`` sends prompt and keyframes only. The order, strongest first:

- depth: a dense, exact picture of the scene's geometry on every frame, so both the camera move and
  the layout are pinned (and grey boxes carry no texture the model could copy);
- tracks: sparse points of the scene's own geometry, which say the camera move just as exactly but
  leave the layout between the dots free;
- canny: edges of the Workbench beauty render; a grey-box previs has few edges, so it steers least and
  most often copies the boxes' outlines.

The server's ``control`` shape is documented in ``server/generation/control/request.py``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

#: The one list of control kinds: the add-on's menu, the CLI's --control, the server's accepted
#: ``control.kind`` and its --ic-lora kinds all come from here (tests/pure/test_control_vocabulary.py).
KINDS = ("depth", "canny", "tracks")
CHOICES = ("auto", "none") + KINDS
AUTO_ORDER = ("depth", "tracks", "canny")
#: choice -> (label, description) of the add-on's menu.
LABELS = {
    "auto": ("Auto", "The strongest control the server offers: depth, then tracks, then canny"),
    "none": ("None", "Prompt and keyframes only"),
    "depth": ("Depth", "A depth pass of the previs through the shot's camera (IC-LoRA)"),
    "canny": ("Edges", "Edges of the previs render (IC-LoRA; the server computes them)"),
    "tracks": ("Tracks", "Motion tracks of the scene's points through the shot's camera (IC-LoRA)"),
}
#: The IC-LoRAs' reference downscale when the server does not say (Lightricks' ``ref0.5`` files).
DEFAULT_DOWNSCALE = 2.0
CAPABILITY_PREFIX = "control_"


def has_capability(capabilities: Any, name: str) -> bool:
    """Capabilities as a list of names (LTX-2 health) or a dict of flags (the LTX-Video backend)."""
    if isinstance(capabilities, Mapping):
        return bool(capabilities.get(name))
    return name in (capabilities or ())


def offered(capabilities: Any) -> list[str]:
    """The control kinds a server offers, in ``KINDS`` order (capabilities as a list or a dict of flags)."""
    return [k for k in KINDS if has_capability(capabilities, CAPABILITY_PREFIX + k)]


def possible(has_tracks: bool, has_frames: bool = True) -> list[str]:
    """The kinds a shot has (or will have) data for: tracks need track points, depth and canny the
    rendered control frames. ``settle``'s ``possible`` for the click path and the courier alike."""
    return [k for k in KINDS if (has_tracks if k == "tracks" else has_frames)]


def choose(requested: str, capabilities: Any, possible: Sequence[str] = KINDS) -> str | None:
    """The kind to send (None: no control). ``possible``: the kinds the shot has data for (``auto``
    skips the others, e.g. tracks with no point in view). Raises ValueError (one sentence) for a kind
    the server lacks, so nothing is sent that it would refuse."""
    if requested not in CHOICES:
        raise ValueError(f"Control {requested!r} is not a control kind: use one of {', '.join(CHOICES)}.")
    if requested == "none":
        return None
    have = offered(capabilities)
    if requested == "auto":
        return next((k for k in AUTO_ORDER if k in have and k in possible), None)
    if requested not in have:
        what = f"offers only {', '.join(have)}" if have else "offers no control (an LTX-2 server does)"
        raise ValueError(
            f"Control {requested!r} is not available: this server {what}; pick another kind or 'auto'."
        )
    return requested


def settle(
    requested: str, info: Mapping[str, Any], possible: Sequence[str] = KINDS
) -> tuple[str | None, float]:
    """(kind or None, reference scale) against a server's health ``info``: ``choose`` on its
    ``capabilities``, then the chosen IC-LoRA's ``downscale`` from its ``loras`` (scale 1/downscale;
    1.0 without control). Raises ValueError (one sentence) for a kind the server lacks."""
    kind = choose(requested, info.get("capabilities"), possible)
    if kind is None:
        return None, 1.0
    return kind, 1.0 / downscale(info.get("loras"), kind)


def downscale(loras: Sequence[Mapping[str, Any]] | None, kind: str) -> float:
    """The reference downscale of the IC-LoRA serving ``kind`` (health ``loras``), DEFAULT_DOWNSCALE
    when the server does not list one."""
    for lora in loras or ():
        kinds = lora.get("kinds") or ([lora["kind"]] if lora.get("kind") else [])
        if kind in kinds or lora.get("control") == kind:
            value = lora.get("downscale")
            if isinstance(value, (int, float)) and value >= 1:
                return float(value)
    return DEFAULT_DOWNSCALE


def control_field(
    kind: str,
    *,
    strength: float = 1.0,
    frame_assets: Sequence[str] = (),
    tracks: list | None = None,
) -> dict[str, Any]:
    """The request's ``control``: PNG frames as uploaded assets (depth: the normalized depth, canny:
    the beauty render), or the tracks as numbers."""
    out: dict[str, Any] = {"kind": kind, "strength": float(strength)}
    if kind == "tracks":
        if not tracks:
            raise ValueError("Control 'tracks' found no points to track: add meshes in view or empties.")
        out["tracks"] = tracks
    else:
        if not frame_assets:
            raise ValueError(f"Control {kind!r} has no rendered frames to send.")
        out["video"] = {"frames": [{"asset": sha} for sha in frame_assets]}
    return out
