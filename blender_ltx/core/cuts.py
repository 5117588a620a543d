"""Timeline markers -> shot cuts (which frames, which camera, which name).

The rules, mirroring what Blender renders:

- A marker bound to a camera (``marker.camera``) is a camera cut: its shot runs until the next marker
  and uses that camera. A camera hidden from render is skipped by Blender's camera switching, so such a
  marker counts as unbound (with a warning).
- An unbound marker splits the time of the camera in effect at its frame.
- The camera in effect at a frame is the camera of the last bound marker at or before it; before the first
  bound marker Blender keeps the first bound marker's camera; with no bound markers it is
  ``scene.camera``.
- Frames before the first marker form a shot named after its camera; no markers at all: the whole range
  is one shot named after the scene camera.
- Shots are clipped to the frame range; shots wholly outside it are left out. Two markers on one frame
  leave the later one (in the timeline's list order) without frames: its shot is dropped with a warning.
- Names are made unique Blender-style: the first "A" keeps its name, later ones become "A.001", "A.002"
  (skipping names another marker already has).

Everything here works on plain values (any object with a ``name`` stands for a camera), so the rules are
readable and tested in one place without Blender; ``bl/plan/scene.py`` feeds it the scene's markers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class MarkerInfo:
    frame: int
    name: str
    camera: Any | None  # a camera object, or None for an unbound marker


@dataclass
class Cut:
    name: str
    camera: Any | None  # None only when the scene has no camera at all
    frame_start: int  # inclusive
    frame_end: int  # inclusive


def camera_at(frame: int, markers: list[MarkerInfo], scene_camera: Any | None) -> Any | None:
    """The camera Blender renders at ``frame`` (its marker camera switching, in list order on ties)."""
    best = None
    best_frame = None
    first = None
    first_frame = None
    for m in markers:
        if m.camera is None:
            continue
        if m.frame <= frame and (best_frame is None or m.frame > best_frame):
            best, best_frame = m.camera, m.frame
        if first_frame is None or m.frame < first_frame:
            first, first_frame = m.camera, m.frame
    if best is not None:
        return best
    if first is not None:
        return first
    return scene_camera


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name.001``, ``name.002``... whichever is free first (Blender's convention)."""
    name = name or "Shot"
    if name not in taken:
        return name
    i = 1
    while f"{name}.{i:03d}" in taken:
        i += 1
    return f"{name}.{i:03d}"


def cuts(
    markers: list[MarkerInfo], scene_camera: Any | None, frame_start: int, frame_end: int
) -> tuple[list[Cut], list[str]]:
    """The shots of ``[frame_start, frame_end]`` (inclusive) and the warnings for dropped ones."""
    warnings: list[str] = []
    # One boundary per frame; the first marker in list order owns a frame (sorted() is stable).
    owners: dict[int, MarkerInfo] = {}
    for m in sorted(markers, key=lambda m: m.frame):
        if m.frame in owners:
            if frame_start <= m.frame <= frame_end:
                warnings.append(
                    f"Marker {m.name!r} is on frame {m.frame}, like marker {owners[m.frame].name!r}, so its "
                    "shot has no frames and is dropped; move one of them."
                )
            continue
        owners[m.frame] = m

    starts = sorted(owners)
    pieces: list[tuple[str | None, int, int]] = []  # (marker name or None, start, end)
    if not starts or starts[0] > frame_start:
        first_end = starts[0] - 1 if starts else frame_end
        pieces.append((None, frame_start, first_end))
    for i, f in enumerate(starts):
        end = starts[i + 1] - 1 if i + 1 < len(starts) else frame_end
        pieces.append((owners[f].name, f, end))

    named: list[tuple[str, object, int, int]] = []
    for marker_name, start, end in pieces:
        start, end = max(start, frame_start), min(end, frame_end)
        if end < start:
            continue  # wholly outside the range
        cam = camera_at(start, markers, scene_camera)
        base = marker_name if marker_name is not None else (cam.name if cam is not None else "Shot")
        named.append((base or "Shot", cam, start, end))

    # The first shot with a name keeps it, whatever comes later; only repeats get a suffix, one that no
    # other shot is literally named (so shot settings matched by name stay with their shot).
    literal = {n for n, *_ in named}
    taken: set[str] = set()
    out: list[Cut] = []
    for base, cam, start, end in named:
        name = base if base not in taken else unique_name(base, taken | literal)
        taken.add(name)
        out.append(Cut(name, cam, start, end))
    return out, warnings
