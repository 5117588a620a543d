"""Blender version differences, in one place (Blender 4.2 LTS to 5.x).

- 4.4 renamed ``SequenceEditor.sequences`` to ``strips`` (5.0 removed the old names).
- 4.4 put object and object-data animation in one slotted Action: ``action.fcurves`` only shows the
  first slot on 4.4/4.5 and is gone in 5.0; curves are read through the slot's channelbag.
"""

from __future__ import annotations

import bpy

VERSION = bpy.app.version


def strips(sed):
    """Top-level strips of a SequenceEditor (``strips`` on 4.4+, ``sequences`` before)."""
    return sed.strips if hasattr(sed, "strips") else sed.sequences


def strips_all(sed):
    """All strips, meta contents included."""
    return sed.strips_all if hasattr(sed, "strips_all") else sed.sequences_all


def anim_fcurves(id_data):
    """The F-Curves animating ``id_data`` (an Object or camera data), whatever the Action layout."""
    ad = getattr(id_data, "animation_data", None)
    if ad is None or ad.action is None:
        return []
    action = ad.action
    slot = getattr(ad, "action_slot", None)
    if slot is not None:
        try:
            from bpy_extras import anim_utils

            bag = anim_utils.action_get_channelbag_for_slot(action, slot)
        except (ImportError, AttributeError):
            bag = None
        if bag is not None:
            return list(bag.fcurves)
        if not hasattr(action, "fcurves"):
            return []
    return list(getattr(action, "fcurves", []))


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


# EEVEE's engine id: "BLENDER_EEVEE_NEXT" on 4.2 to 4.5, "BLENDER_EEVEE" before and again from 5.0.
EEVEE_ENGINE = "BLENDER_EEVEE_NEXT" if (4, 2, 0) <= VERSION < (5, 0, 0) else "BLENDER_EEVEE"


def layout_progress(layout, factor: float, text: str) -> None:
    """A progress bar (UILayout.progress, 4.0+), or a percentage label where it is missing."""
    if "progress" in bpy.types.UILayout.bl_rna.functions:
        layout.progress(factor=factor, type="BAR", text=text)
    else:
        layout.label(text=f"{text} {factor * 100:.0f}%")


# --- VSE strips (bl/edit/vse.py) ---------------------------------------------------------------------


def strip_type():
    """The RNA base type of all strips, for attaching a PointerProperty (``Strip`` 4.4+, ``Sequence``)."""
    return getattr(bpy.types, "Strip", None) or bpy.types.Sequence


def new_effect(sed, name: str, effect_type: str, channel: int, frame_start: int, length: int, input1):
    """Add a one-input effect strip over ``length`` frames (5.0 takes ``length``, older ``frame_end``;
    4.4 renamed ``seq1`` to ``input1``)."""
    params = strips(sed).bl_rna.functions["new_effect"].parameters
    kw = {"input1" if "input1" in params else "seq1": input1}
    if "length" in params:
        kw["length"] = length
    else:
        kw["frame_end"] = frame_start + length
    return strips(sed).new_effect(name=name, type=effect_type, channel=channel, frame_start=frame_start, **kw)


def channel_locked(sed, channel: int) -> bool:
    """Whether the user locked this VSE channel (per-channel settings exist from 3.3)."""
    chans = getattr(sed, "channels", None)
    if chans is None or not 0 <= channel < len(chans):
        return False
    return bool(chans[channel].lock)


def image_format_attrs(image_settings) -> tuple[str, ...]:
    """ImageFormatSettings attributes that choose the file type, in the order they must be set:
    5.0 added ``media_type`` (IMAGE/VIDEO/...), and ``file_format`` only accepts formats of that type."""
    return ("media_type", "file_format") if hasattr(image_settings, "media_type") else ("file_format",)


def set_png_format(image_settings) -> None:
    if hasattr(image_settings, "media_type"):
        image_settings.media_type = "IMAGE"
    image_settings.file_format = "PNG"


def set_multilayer_exr_format(image_settings) -> None:
    """Multilayer OpenEXR (all passes in one file); 5.0 lists it under its own media type."""
    if hasattr(image_settings, "media_type"):
        image_settings.media_type = "MULTI_LAYER_IMAGE"
    image_settings.file_format = "OPEN_EXR_MULTILAYER"


def set_movie_format(image_settings) -> None:
    """FFmpeg video output (5.0 split movies from images with ``media_type``)."""
    if hasattr(image_settings, "media_type"):
        image_settings.media_type = "VIDEO"
    image_settings.file_format = "FFMPEG"


# 5.1 renamed the strip timing properties (the frame_final_* names go in 6.0); both name the same values.
def strip_span(strip) -> tuple[int, int]:
    """Scene frames the strip shows: (first, one past the last)."""
    if hasattr(strip, "left_handle"):
        return strip.left_handle, strip.right_handle
    return strip.frame_final_start, strip.frame_final_end


def set_strip_length(strip, frames: int) -> None:
    """Trim (or extend, holding the last frame) so the strip shows ``frames`` frames from its start."""
    if hasattr(strip, "duration"):
        strip.duration = frames
    else:
        strip.frame_final_duration = frames


def content_length(strip) -> int:
    """Frames of the strip's source (a movie's frame count)."""
    return strip.content_duration if hasattr(strip, "content_duration") else strip.frame_duration
