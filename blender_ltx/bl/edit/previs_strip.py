"""The shot's previs in the edit: its control render's beauty frames as an image strip, named
``SHOT previs``, muted by default, on the lowest free channel over the shot when first made (so it sits
below the takes imported after it) and on the same channel when a later take re-renders it. Nothing
else in the edit moves. ``toggle`` shows or hides it (a panel button)."""

from __future__ import annotations

import os

from ..addon import compat
from . import vse

ROLE_PREVIS = "previs"


def previs_strips(scene, shot_name: str) -> list:
    sed = scene.sequence_editor
    if sed is None:
        return []
    return [
        s
        for s in compat.strips_all(sed)
        if getattr(s, "ltx", None) is not None and s.ltx.shot == shot_name and s.ltx.role == ROLE_PREVIS
    ]


def put_previs(scene, shot_name: str, parts: list[tuple[int, int, list[str]]]):
    """Replace the shot's previs strips with ``parts``: (first scene frame, frame count, PNG paths) per
    generation segment. Keeps the channel and mute state of the strips it replaces."""
    old = previs_strips(scene, shot_name)
    mute = old[0].mute if old else True
    sed = scene.sequence_editor or scene.sequence_editor_create()
    channel = old[0].channel if old else None
    for s in old:
        compat.strips(sed).remove(s)
    lo, hi = parts[0][0], parts[-1][0] + parts[-1][1]
    if channel is None:
        channel = vse.find_channels(sed, lo, hi, 1, 1)
    made = []
    for i, (start, count, pngs) in enumerate(parts):
        name = f"{shot_name} previs" + (f" {i + 1}" if len(parts) > 1 else "")
        strip = compat.strips(sed).new_image(
            name=name, filepath=pngs[0], channel=channel, frame_start=start, fit_method="FIT"
        )
        for png in pngs[1:]:
            strip.elements.append(os.path.basename(png))
        compat.set_strip_length(strip, min(count, len(pngs)))
        strip.mute = mute
        strip.ltx.role, strip.ltx.shot = ROLE_PREVIS, shot_name
        made.append(strip)
    return made


def toggle(scene, shot_name: str) -> bool | None:
    """Show or hide the shot's previs strips; returns whether they are shown now (None: there are none)."""
    strips = previs_strips(scene, shot_name)
    if not strips:
        return None
    shown = strips[0].mute
    for s in strips:
        s.mute = not shown
    return shown
