"""Look frames in the edit: each candidate still an image strip on a muted Looks channel at its shot's
frames, tagged with the shot, the look job and the seed; the shot's chosen look is one of them.

The chosen look is the strip named in ``scene["ltx_chosen_looks"][shot]``; the first look made for a shot
becomes its look until *Use Look* picks another. The strips and the choice are saved with the .blend.
"""

from __future__ import annotations

import os
from typing import Any

import bpy

from ..addon import compat
from . import vse

LOOKS_CHANNEL_NAME = "Looks"
CHOSEN_KEY = "ltx_chosen_looks"


def looks_channel(scene, start: int, end: int) -> int:
    """The channel named Looks (muted), or the first free one above the edit, then named and muted."""
    sed = scene.sequence_editor or scene.sequence_editor_create()
    for i, ch in enumerate(sed.channels):
        if ch.name == LOOKS_CHANNEL_NAME and i > 0:
            return i
    channel = vse.find_channels(sed, start, end, 1, lowest=2)
    sed.channels[channel].name = LOOKS_CHANNEL_NAME
    sed.channels[channel].mute = True
    return channel


def look_strips(scene, shot_name: str | None = None) -> list:
    sed = scene.sequence_editor
    if sed is None:
        return []
    found = [s for s in compat.strips(sed) if s.get("ltx_look_shot")]
    return [s for s in found if shot_name is None or s["ltx_look_shot"] == shot_name]


def place_looks(scene, shot, stills: list[dict[str, Any]], job_id: str) -> list:
    """Image strips for ``stills`` ([{path, seed, asset}]) over the shot's frames, on the Looks channel
    (one above the other when it is taken there); the first becomes the shot's look if it has none."""
    start, length = shot.frame_start, shot.frame_end - shot.frame_start + 1
    sed = scene.sequence_editor or scene.sequence_editor_create()
    made = []
    lowest = looks_channel(scene, start, start + length)
    for i, still in enumerate(stills):
        channel = vse.find_channels(sed, start, start + length, 1, lowest=lowest)
        name = f"{shot.name}.look.{job_id[:6]}.{i}"
        strip = compat.strips(sed).new_image(
            name=name,
            filepath=bpy.path.relpath(still["path"]),
            channel=channel,
            frame_start=start,
            fit_method="FIT",  # shown (unmuted) as large as the takes beside it
        )
        compat.set_strip_length(strip, length)
        strip.mute = True
        strip["ltx_look_shot"] = shot.name
        strip["ltx_look_job"] = job_id
        strip["ltx_look_seed"] = int(still["seed"])
        strip["ltx_look_asset"] = still["asset"]
        made.append(strip)
    if made and chosen_look(scene, shot.name) is None:
        use_look(scene, made[0])
    return made


def chosen_look(scene, shot_name: str):
    """The shot's look strip, or None (none made yet, or its strip was deleted)."""
    name = dict(scene.get(CHOSEN_KEY, {})).get(shot_name)
    sed = scene.sequence_editor
    if not name or sed is None:
        return None
    return next((s for s in compat.strips(sed) if s.name == name), None)


def use_look(scene, strip) -> None:
    """*Use Look*: make this look strip its shot's look."""
    shot = strip.get("ltx_look_shot")
    if not shot:
        raise ValueError(f"Strip {strip.name!r} is not a look frame; pick a strip on the Looks channel.")
    chosen = dict(scene.get(CHOSEN_KEY, {}))
    chosen[shot] = strip.name
    scene[CHOSEN_KEY] = chosen
    # The shot panel shows it as a picture (a draw cannot load an image itself).
    path = look_file(strip)
    if os.path.isfile(path):
        strip["ltx_look_image"] = bpy.data.images.load(path, check_existing=True).name


def look_image(scene, shot_name: str):
    """The chosen look's loaded image (for the shot panel's picture), or None."""
    strip = chosen_look(scene, shot_name)
    return bpy.data.images.get(strip.get("ltx_look_image", "")) if strip is not None else None


def look_file(strip) -> str:
    """The chosen look's image file, absolute."""
    return os.path.normpath(bpy.path.abspath(os.path.join(strip.directory, strip.elements[0].filename)))
