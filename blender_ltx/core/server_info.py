"""What the add-on knows about each server it talked to: the health answer, kept per URL (no bpy, no I/O).

The courier asks (Test Connection, and the first submit to a server); its answer lands here on Blender's
main thread (``bl/link/courier_link.py``). It is live state: never saved in the .blend, a new session
asks again.
``capability`` answers "can the server at this URL do X?" with a reason, for greying out switches.
"""

from __future__ import annotations

from typing import Any

#: Capability names the server's health lists (``GET /v1/health`` ``capabilities``).
CAPABILITIES = {
    "motion_prompt": "motion prompts",
    "keyframes": "keyframes",
    "audio": "generated audio",
    "camera_lora": "camera LoRAs",
    "long_shots": "long shots as one clip",
    "control_depth": "depth control videos",
    "control_canny": "edge control videos",
    "control_tracks": "track control videos",
    "camera_poses": "exact camera poses",
    "prompt_enhancement": "prompt enhancer (LTX-2.5 started with --prompt-enhancement)",
}

NOT_CHECKED = "not checked yet: Test Connection asks the server"

_infos: dict[str, dict[str, Any]] = {}


def _key(url: str) -> str:
    return (url or "").strip().rstrip("/")


def remember(url: str, health: dict[str, Any]) -> None:
    """Keep ``health`` (the server's ``GET /v1/health`` answer) as what the server at ``url`` can do."""
    if isinstance(health, dict) and health:
        _infos[_key(url)] = dict(health)


def forget(url: str | None = None) -> None:
    """Forget one server (or all: ``url`` None)."""
    if url is None:
        _infos.clear()
    else:
        _infos.pop(_key(url), None)


def get(url: str) -> dict[str, Any] | None:
    """The last health answer of the server at ``url``, or None when it was never asked."""
    return _infos.get(_key(url))


def capability_names(info: dict[str, Any]) -> list[str]:
    """The capability names of a health answer (a list today; a {name: bool} dict from older servers)."""
    caps = info.get("capabilities") or []
    if isinstance(caps, dict):
        return [str(k) for k, v in caps.items() if v]
    return [str(c) for c in caps]


def capability(url: str, name: str) -> tuple[bool, str]:
    """(available, reason) for capability ``name`` of the server at ``url``. A server not asked yet
    counts as able (the server itself refuses what it cannot do, with a sentence)."""
    info = get(url)
    if info is None:
        return True, NOT_CHECKED
    if name in capability_names(info):
        return True, ""
    what = CAPABILITIES.get(name, name)
    family = info.get("family") or "?"
    model = info.get("model", "a model")
    return False, f"The server at {_key(url)} runs {model} ({family}), which has no {what}."


def loras(url: str, role: str | None = None) -> list[dict[str, Any]]:
    """The server's loaded LoRAs that can be used (of ``role`` "camera" or "ic" when given)."""
    info = get(url) or {}
    out = []
    for lora in info.get("loras") or []:
        if not isinstance(lora, dict) or not lora.get("usable", True):
            continue
        if role is None or lora.get("role") == role:
            out.append(lora)
    return out


def max_job_frames(url: str) -> int | None:
    """The longest job the server at ``url`` turns into ONE clip (it chains above ``segment_frames``),
    or None when it was not asked or cannot chain (the add-on then splits long shots itself)."""
    info = get(url)
    if info is None or "long_shots" not in capability_names(info):
        return None
    try:
        return int(info.get("max_frames") or 0) or None
    except (TypeError, ValueError):
        return None


def describe(health: dict[str, Any]) -> str:
    """Family, capabilities, longest job and loaded LoRAs in a few words (Test Connection's sentence)."""
    parts = []
    if health.get("family"):
        parts.append(f"family {health['family']}")
    caps = capability_names(health)
    if caps:
        parts.append("capabilities: " + ", ".join(caps))
    if health.get("max_frames"):
        one = health.get("segment_frames", "?")
        parts.append(f"jobs up to {health['max_frames']} frames (one generation {one})")
    names = [str(lo.get("adapter")) for lo in health.get("loras") or [] if isinstance(lo, dict)]
    parts.append("LoRAs: " + (", ".join(names) if names else "none"))
    return "; ".join(parts)
