"""A shot's previs control, prepared for the courier: rendered frames and tracks (``core/control.py``
has the rules, ``server/control/request.py`` the request's shape).

What the request gets is decided where the server's capabilities are known: the courier resolves
``auto``, uploads the frames the server lacks (``HEAD``/``PUT /v1/assets``) and only then posts the job.
So the spec made here carries everything any kind could need: the depth and beauty frames (one
background render gives both) and, for ``tracks``/``auto``, the track numbers.
"""

from __future__ import annotations

from ..core import control as rules
from ..core.tracks import to_json_tracks
from . import control_render, props, vse


def previs_dir(scene, shot_name: str) -> str:
    """Where a shot's control frames go (the latest render; the VSE's previs strip shows them)."""
    return f"{vse.shot_dir(scene, shot_name)}/previs"


def spec_for(
    scene, part, kind: str, out_dir: str, scale: float = control_render.DEFAULT_SCALE
) -> dict | None:
    """The courier's control spec for one (segment) shot, None for ``none``. Waits for the background
    render (``control_render.render_control_frames``); Blender's UI stays drawn by its own process."""
    if kind not in rules.CHOICES:
        raise ValueError(f"Control {kind!r} is not a control kind: use one of {', '.join(rules.CHOICES)}.")
    if kind == "none":
        return None
    try:
        result = control_render.render_control_frames(scene, part, vse.abspath(out_dir), scale)
    except RuntimeError as exc:
        raise ValueError(f"Shot {part.name}: {exc}") from None
    spec = {"kind": kind, "strength": 1.0, "depth": result["depth"], "beauty": result["beauty"]}
    if kind in ("auto", "tracks"):
        from .track_points import shot_tracks

        collection = props.scene_settings(scene).track_collection or None
        if collection is not None:
            import bpy

            if bpy.data.collections.get(collection) is None:
                raise ValueError(
                    f"Track Points names collection {collection!r}, which is not in this file: pick one "
                    "or clear the field to track mesh vertices."
                )
        tracks = to_json_tracks(shot_tracks(scene, part, collection))
        if tracks and tracks[0]:
            spec["tracks"] = tracks
        elif kind == "tracks":  # auto then picks among the other kinds
            raise ValueError(
                f"Shot {part.name}: no point to track is in view on its first frame; add meshes in front "
                "of the camera or empties to the Track Points collection."
            )
    return spec
