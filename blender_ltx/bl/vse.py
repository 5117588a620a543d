"""Generated clips into the Video Sequence Editor: one movie strip per take, stacked per shot.

Layout of a shot's takes (the "take stack"):

- Every take is a movie strip named ``SHOT take N`` covering exactly the shot's frames
  ``[frame_start, frame_end]``. Strips are never moved once placed.
- A new take goes on the lowest channel *above* the shot's existing takes whose frames are free over the
  shot's range (nothing else overlaps the shot there, locked channels skipped). So the takes of a shot
  read bottom-up oldest to newest, and whatever the user put in the VSE is never moved, trimmed or
  covered by a placement: we only ever use free space.
- The active take is the only unmuted one; importing a take makes it active and mutes the others,
  ``promote_take`` makes any take active again (only ``mute`` changes).

Frame rate: Blender maps movie frames 1:1 to scene frames. When the clip's rate equals the scene's
the strip is just trimmed. When it differs, the clip keeps its real-time speed: a Speed effect
(multiply by clip fps / scene fps) sits on the channel right above the movie strip over the same range,
and mute/unmute always changes both. Where the clip is shorter than the shot, its last frame holds.

Metadata (job id, seed, prompt, applied conditioning...) lives on the strip as ``strip.ltx``
(:class:`LTXStripMeta`), so a strip stays linked to its job across save and reload.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
from hashlib import sha1
from typing import Any

import bpy
from bpy.props import IntProperty, PointerProperty, StringProperty

from . import compat

log = logging.getLogger(__name__)

DEFAULT_CLIP_DIR = "//ltx"
MAX_CHANNEL = 128
ROLE_TAKE = "take"
ROLE_SPEED = "speed"
#: Relative difference under which the clip's and the scene's rates count as equal (29.97 vs 30 differ).
FPS_TOLERANCE = 1e-4
_TAKE_FILE = re.compile(r"^take_(\d+)\.mp4$")


class LTXStripMeta(bpy.types.PropertyGroup):
    """What a take strip came from. Saved with the .blend."""

    role: StringProperty(name="Role", description="'take' (the clip) or 'speed' (its rate adapter)")
    shot: StringProperty(name="Shot")
    take: IntProperty(name="Take", min=0)
    job_id: StringProperty(name="Job ID")
    seed: IntProperty(name="Seed")
    prompt: StringProperty(name="Prompt")
    applied: StringProperty(name="Applied", description="What the server applied (JSON)")
    server: StringProperty(name="Server")
    created: StringProperty(name="Created", description="Import time (ISO 8601, UTC)")


# --- paths ------------------------------------------------------------------------------------------


def safe_name(shot_name: str) -> str:
    """A folder name for a shot: only letters, digits, '.', '-', '_' and no leading dot, so no shot
    name can point outside the clip folder. Altered names get a short hash so two shots never share."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", shot_name).lstrip(".") or "shot"
    if clean != shot_name:
        clean = f"{clean[:60]}-{sha1(shot_name.encode()).hexdigest()[:6]}"
    return clean


def clip_dir(scene) -> str:
    """The clip folder setting (``scene.ltx.clip_dir`` when the add-on's properties exist)."""
    settings = getattr(scene, "ltx", None)
    base = getattr(settings, "clip_dir", "") if settings is not None else ""
    return (base or DEFAULT_CLIP_DIR).rstrip("/\\") or DEFAULT_CLIP_DIR


def clip_path(scene, shot_name: str, take: int) -> str:
    """Where take ``take`` of a shot is stored, as written in the strip: ``//ltx/SHOT/take_N.mp4``."""
    return f"{clip_dir(scene)}/{safe_name(shot_name)}/take_{int(take)}.mp4"


def unsaved_base() -> str:
    """Where blend-relative paths resolve while the .blend was never saved: a temp project folder."""
    return os.path.join(tempfile.gettempdir(), "blender-ltx-unsaved")


_warned_unsaved = False


def abspath(path: str) -> str:
    """An absolute path for reading/writing. ``//`` is the .blend's folder; for an unsaved .blend it is
    :func:`unsaved_base` (with a warning, once: save the .blend first to keep clips next to it)."""
    global _warned_unsaved
    if path.startswith("//") and not bpy.data.filepath:
        if not _warned_unsaved:
            _warned_unsaved = True
            log.warning(
                "The .blend is not saved; clips go to %s. Save the .blend to keep them next to it.",
                unsaved_base(),
            )
        return os.path.normpath(os.path.join(unsaved_base(), path[2:]))
    return os.path.normpath(bpy.path.abspath(path))


def strip_filepath(path: str) -> str:
    """The path a strip stores: blend-relative when the file is in the saved .blend's folder tree (so
    the project folder can move), else absolute (an unsaved .blend has no folder to be relative to)."""
    full = abspath(path)
    if bpy.data.filepath:
        blend_dir = os.path.dirname(os.path.abspath(bpy.data.filepath))
        if os.path.commonpath([blend_dir, full]) == blend_dir:
            return bpy.path.relpath(full)
    return full


def clip_abspath(scene, shot_name: str, take: int) -> str:
    """The absolute file for :func:`clip_path` (folders are not created)."""
    return abspath(clip_path(scene, shot_name, take))


# --- finding takes ----------------------------------------------------------------------------------


def _is_take(strip, shot_name: str) -> bool:
    meta = getattr(strip, "ltx", None)
    return meta is not None and meta.role == ROLE_TAKE and meta.shot == shot_name


def takes(scene, shot_name: str) -> list:
    """The take strips of a shot (meta strips included), ordered by take number."""
    sed = scene.sequence_editor
    if sed is None:
        return []
    return sorted((s for s in compat.strips_all(sed) if _is_take(s, shot_name)), key=lambda s: s.ltx.take)


def active_take(scene, shot_name: str):
    """The unmuted take strip of a shot, or None."""
    return next((s for s in reversed(takes(scene, shot_name)) if not s.mute), None)


def _companions(sed, strip) -> list:
    """Speed effects that play ``strip`` at its own rate."""
    return [
        s
        for s in compat.strips_all(sed)
        if getattr(s, "ltx", None) is not None
        and s.ltx.role == ROLE_SPEED
        and compat.effect_input(s) == strip
    ]


def next_take(scene, shot_name: str) -> int:
    """1 + the highest take of the shot found on strips or on disk, so no clip is overwritten."""
    highest = max((s.ltx.take for s in takes(scene, shot_name)), default=0)
    folder = os.path.dirname(clip_abspath(scene, shot_name, 1))
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            m = _TAKE_FILE.match(name)
            if m:
                highest = max(highest, int(m.group(1)))
    return highest + 1


# --- placing ----------------------------------------------------------------------------------------


def _channel_free(sed, channel: int, start: int, end: int) -> bool:
    """Nothing on ``channel`` overlaps scene frames [start, end) and the channel is not locked."""
    if compat.channel_locked(sed, channel):
        return False
    return not any(
        s.channel == channel and s.frame_final_start < end and start < s.frame_final_end
        for s in compat.strips(sed)
    )


def find_channels(sed, start: int, end: int, height: int, lowest: int = 1) -> int:
    """The lowest channel >= ``lowest`` where ``height`` stacked channels are free over [start, end)."""
    for ch in range(max(1, lowest), MAX_CHANNEL - height + 2):
        if all(_channel_free(sed, ch + i, start, end) for i in range(height)):
            return ch
    raise RuntimeError(
        f"No free VSE channel above {lowest} over frames {start}-{end - 1}; free a channel there."
    )


def _stack_top(sed, shot_name: str) -> int:
    """The highest channel the shot's takes (and their speed effects) use, 0 when none."""
    own = [s for s in compat.strips(sed) if getattr(s, "ltx", None) is not None and s.ltx.shot == shot_name]
    return max((s.channel for s in own), default=0)


def _set_mute(sed, strip, mute: bool) -> None:
    strip.mute = mute
    for c in _companions(sed, strip):
        c.mute = mute


def _fill_meta(meta, role: str, shot_name: str, take: int, info: dict[str, Any]) -> None:
    meta.role = role
    meta.shot = shot_name
    meta.take = int(take)
    meta.job_id = str(info.get("job_id") or "")
    meta.seed = int(info.get("seed") or 0)
    meta.prompt = str(info.get("prompt") or "")
    applied = info.get("applied")
    meta.applied = applied if isinstance(applied, str) else json.dumps(applied or {}, sort_keys=True)
    meta.server = str(info.get("server") or "")
    meta.created = str(info.get("created") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def import_take(scene, shot, filepath: str, take: int, meta: dict[str, Any] | None = None):
    """Import a clip as take ``take`` of ``shot`` (a :class:`~blender_ltx.core.shots.Shot`) and make it
    the active take. Returns the movie strip. Importing a take that is already there returns its strip
    unchanged, so a re-attached job is never imported twice."""
    if not os.path.isfile(abspath(filepath)):
        raise FileNotFoundError(f"The clip {filepath!r} does not exist; download the take again.")
    if shot.length < 1:
        raise ValueError(f"Shot {shot.name!r} has no frames ({shot.frame_start}-{shot.frame_end}).")
    for existing in takes(scene, shot.name):
        if existing.ltx.take == take:
            return existing

    sed = scene.sequence_editor or scene.sequence_editor_create()
    start, end = shot.frame_start, shot.frame_start + shot.length
    channel = find_channels(sed, start, end, 1, _stack_top(sed, shot.name) + 1)
    strip = compat.strips(sed).new_movie(
        name=f"{shot.name} take {take}",
        filepath=strip_filepath(filepath),
        channel=channel,
        frame_start=start,
        fit_method="FIT",
    )
    try:
        # Trim (or, for a short clip, hold the last frame) so the strip covers the shot exactly.
        strip.frame_final_duration = shot.length
        clip_fps, scene_fps = float(strip.fps), compat.scene_fps(scene)
        if clip_fps > 0 and abs(clip_fps / scene_fps - 1.0) > FPS_TOLERANCE:
            if not _channel_free(sed, channel + 1, start, end):
                strip.channel = find_channels(sed, start, end, 2, channel + 1)
            speed = compat.new_effect(
                sed, f"{shot.name} take {take} speed", "SPEED", strip.channel + 1, start, shot.length, strip
            )
            # Play at the clip's own rate: scene frame k shows clip frame k * clip_fps / scene_fps.
            speed.speed_control = "MULTIPLY"
            speed.speed_factor = clip_fps / scene_fps
            _fill_meta(speed.ltx, ROLE_SPEED, shot.name, take, meta or {})
        _fill_meta(strip.ltx, ROLE_TAKE, shot.name, take, meta or {})
    except Exception:
        for c in _companions(sed, strip):
            compat.strips(sed).remove(c)
        compat.strips(sed).remove(strip)
        raise
    promote_take(scene, shot.name, take)
    return strip


def promote_take(scene, shot_name: str, take: int):
    """Make ``take`` the shot's active (only unmuted) take; only ``mute`` of its takes changes."""
    all_takes = takes(scene, shot_name)
    chosen = next((s for s in all_takes if s.ltx.take == take), None)
    if chosen is None:
        have = [s.ltx.take for s in all_takes]
        raise KeyError(f"Shot {shot_name!r} has no take {take}; its takes are {have}.")
    sed = scene.sequence_editor
    for s in all_takes:
        _set_mute(sed, s, s.ltx.take != take)
    return chosen


classes = (LTXStripMeta,)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register() -> None:
    _register_classes()
    compat.strip_type().ltx = PointerProperty(type=LTXStripMeta)


def unregister() -> None:
    del compat.strip_type().ltx
    _unregister_classes()
