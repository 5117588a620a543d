"""Takes on disk and in the edit: folder and file names, strip names, the next take number.

Files: ``BASE/BLEND/SHOT/take_N.mp4`` for a take in one piece, ``BASE/BLEND/SHOT/take_N_segK.mp4``
(K = 1, 2...) for segment K of a take generated in several. BASE is the clip folder setting (``//ltx``:
next to the .blend), BLEND the .blend's file name without ``.blend``: two files in one folder with the
same shot names keep their clips (and take numbers) apart. Takes made before that rule live in
``BASE/SHOT/``; their strips keep pointing there, so they stay readable.
"""

from __future__ import annotations

import re
from hashlib import sha1
from typing import Iterable

DEFAULT_CLIP_DIR = "//ltx"
#: The folder of an unsaved .blend's clips under the clip folder.
UNSAVED_STEM = "untitled"

_TAKE_FILE = re.compile(r"^take_(\d+)(?:_seg\d+)?\.mp4$")


def safe_name(name: str) -> str:
    """A folder name: only letters, digits, '.', '-', '_' and no leading dot, so no shot (or file) name
    can point outside the clip folder. Altered names get a short hash so two names never share one."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".") or "shot"
    if clean != name:
        clean = f"{clean[:60]}-{sha1(name.encode()).hexdigest()[:6]}"
    return clean


def blend_stem(blend_path: str) -> str:
    """The .blend's own folder name under the clip folder: its file name without ``.blend``."""
    base = re.split(r"[\\/]", blend_path)[-1] if blend_path else ""
    stem = base[: -len(".blend")] if base.lower().endswith(".blend") else base
    return safe_name(stem or UNSAVED_STEM)


def shot_dir(base: str, blend_path: str, shot_name: str) -> str:
    """``BASE/BLEND/SHOT``: the folder of a shot's takes (and of their guide frames)."""
    base = (base or DEFAULT_CLIP_DIR).rstrip("/\\") or DEFAULT_CLIP_DIR
    return f"{base}/{blend_stem(blend_path)}/{safe_name(shot_name)}"


def clip_name(take: int, segment: int = 0, segments: int = 1) -> str:
    """``take_N.mp4``, or ``take_N_segK.mp4`` for segment ``segment`` (0-based, K = segment + 1) of a
    take generated in ``segments`` > 1 pieces."""
    return f"take_{int(take)}" + (f"_seg{int(segment) + 1}" if segments > 1 else "") + ".mp4"


def clip_path(
    base: str, blend_path: str, shot_name: str, take: int, segment: int = 0, segments: int = 1
) -> str:
    return f"{shot_dir(base, blend_path, shot_name)}/{clip_name(take, segment, segments)}"


def strip_name(shot_name: str, take: int, segment: int = 0) -> str:
    """``SHOT take N`` for a take (or its first segment), ``SHOT take N.K`` for its segment K >= 2."""
    return f"{shot_name} take {int(take)}" + (f".{int(segment) + 1}" if segment else "")


def next_take(on_strips: Iterable[int], file_names: Iterable[str]) -> int:
    """1 + the highest take number on the shot's strips or among its clip files, so no clip is
    overwritten (a take whose strip was deleted still holds its number)."""
    highest = max(on_strips, default=0)
    for name in file_names:
        m = _TAKE_FILE.match(name)
        if m:
            highest = max(highest, int(m.group(1)))
    return highest + 1


def camera_lora_text(applied: dict) -> str:
    """What the server's ``applied.camera_lora`` record says, in a few words ("camera LoRA Dolly-In 1.0:
    the shot's dominant move is dolly_in"; "no camera LoRA: ..."); "" when the job has no such record."""
    record = applied.get("camera_lora") if isinstance(applied, dict) else None
    if not isinstance(record, dict):
        return ""
    reason = str(record.get("reason") or "")
    if not record.get("name"):
        return "no camera LoRA" + (f": {reason}" if reason else "")
    scale = float(record.get("scale") or 0.0)
    return f"camera LoRA {record['name']} {scale:.1f}" + (f": {reason}" if reason else "")


def camera_poses_text(applied: dict) -> str:
    """What the server's ``applied.camera_poses`` record says reached the model ("camera path: exact poses,
    scale 0.31 (median depth 7.4 m of the first frame, taken as it is)"); "" when the job has none (a
    family that takes no exact poses)."""
    record = applied.get("camera_poses") if isinstance(applied, dict) else None
    if not isinstance(record, dict):
        return ""
    source = str(record.get("scale_source") or "")
    if record.get("static") or record.get("scale") is None:
        return "camera path: " + (source or "a static camera")
    scale = float(record["scale"])
    return f"camera path: exact poses, scale {scale:.3g}" + (f" ({source})" if source else "")


def prompt_text(applied: dict) -> str:
    """What LTX-2.5's prompt tools said of the job, in a few words: the enhancer's part ("prompt enhanced,
    camera sentence put back") and the duration head's advice ("the prompt reads as 4.2 s of action, the
    shot is 0.7 s"); "" when neither ran."""
    if not isinstance(applied, dict):
        return ""
    parts = []
    enhanced = applied.get("prompt_enhancement")
    if isinstance(enhanced, dict):
        put_back = enhanced.get("motion_sentence_appended")
        parts.append("prompt enhanced" + (", camera sentence put back" if put_back else ""))
    advice = applied.get("duration")
    if isinstance(advice, dict) and isinstance(advice.get("predicted_s"), (int, float)):
        shot = advice.get("shot_s")
        tail = f", the shot is {float(shot):.1f} s" if isinstance(shot, (int, float)) else ""
        parts.append(f"the prompt reads as {float(advice['predicted_s']):.1f} s of action{tail}")
    return "; ".join(parts)
