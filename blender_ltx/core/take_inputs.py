"""What goes into a take: the prompt the model sees and the hash of every input that shapes it.

``input_hash`` is what "generate only what changed" compares: the last submitted take's hash is saved
on the shot, and a shot is generated again only when the hash of its current inputs differs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, is_dataclass
from typing import Any, Mapping

from .shots import Shot

#: Per-shot LTX-2 settings that are hashed only when set off their defaults (audio on, camera LoRA
#: "auto" at scale 1): a file made before they existed keeps its hashes.
LTX2_SWITCHES = ("audio", "camera_lora", "camera_lora_scale")
#: The shot's Pose Scale (SANA-WM's exact camera), hashed likewise only when set (0: automatic).
POSE_SWITCHES = ("pose_scale",)


def full_prompt(style_prompt: str, shot_prompt: str) -> str:
    """The prompt the model sees: the scene's style prompt, then the shot's own prompt."""
    parts = [style_prompt.strip(), shot_prompt.strip()]
    return " ".join(p for p in parts if p)


def input_hash(
    shot: Shot,
    settings: Mapping[str, Any],
    *,
    seed_locked: bool,
    style_prompt: str,
    guide: Mapping[str, Any],
) -> str:
    """A short hash of everything that shapes a take.

    ``settings`` are the shot's prompt, negative_prompt, seed, steps and guidance; ``guide`` the guide
    options (engine, every_n, at_motion_changes, first_frame_source, first_frame_image). An unlocked seed
    is left out: a fresh random seed alone is not a reason to regenerate. The shot's name is left out
    too (a renamed marker over the same cut is the same take); its frames, trajectory and generation
    grid count.
    """
    inputs = {
        "prompt": settings["prompt"],
        "style_prompt": style_prompt,
        "negative_prompt": settings["negative_prompt"],
        "seed": settings["seed"] if seed_locked else None,
        # 0 is hashed as 0 ("the server's default"), not as the number a server would pick: switching
        # the server's model does not by itself mark every shot changed.
        "steps": settings["steps"],
        "guidance": round(settings["guidance"], 6),
        "frames": [shot.frame_start, shot.frame_end],
        "trajectory": _as_dict(shot.trajectory),
        "generation": _as_dict(shot.generation),
        "guide": dict(guide),
        # LTX-2 switches, only where a shot moved them off their defaults: older takes keep their hash.
        **{k: settings[k] for k in LTX2_SWITCHES + POSE_SWITCHES if k in settings},
    }
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _as_dict(obj) -> dict:
    return asdict(obj) if is_dataclass(obj) else dict(obj)


def ltx2_settings(
    audio: bool, camera_lora: str, camera_lora_scale: float, enhance_prompt: bool = False
) -> dict[str, Any]:
    """A shot's LTX-2 switches as settings entries, only those set off their defaults (audio on, camera
    LoRA "auto" at scale 1, no prompt enhancer), so that the hash of a shot that never touched them stays
    what it was."""
    out: dict[str, Any] = {}
    if not audio:
        out["audio"] = False
    if enhance_prompt:
        out["enhance_prompt"] = True
    if camera_lora.strip() not in ("", "auto"):
        out["camera_lora"] = camera_lora.strip()
    if round(camera_lora_scale, 6) != 1.0:
        out["camera_lora_scale"] = round(camera_lora_scale, 6)
    return out
