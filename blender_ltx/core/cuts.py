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
- Deleting a camera unbinds the markers bound to it (Blender clears the pointer), so their shots fall
  back to an earlier marker's camera without a word. ``lost_cameras`` compares a new plan with the last
  one and names such shots, until their marker is bound again or the camera comes back (undo).

Everything here works on plain values (any object with a ``name`` stands for a camera), so the rules are
readable and tested in one place without Blender; ``bl/plan/scene.py`` feeds it the scene's markers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping


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
    bound: bool = False  # the shot's own marker binds its camera


@dataclass
class LastPlanned:
    """What the last plan said of a shot: its camera, the camera its own marker was bound to ("" when
    unbound; kept once that camera is deleted), and the camera it had lost then ("" when none)."""

    camera: str
    marker_camera: str = ""
    lost_camera: str = ""


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
    pieces: list[tuple[MarkerInfo | None, int, int]] = []  # (marker or None, start, end)
    if not starts or starts[0] > frame_start:
        first_end = starts[0] - 1 if starts else frame_end
        pieces.append((None, frame_start, first_end))
    for i, f in enumerate(starts):
        end = starts[i + 1] - 1 if i + 1 < len(starts) else frame_end
        pieces.append((owners[f], f, end))

    named: list[tuple[str, Any, int, int, bool]] = []
    for marker, start, end in pieces:
        start, end = max(start, frame_start), min(end, frame_end)
        if end < start:
            continue  # wholly outside the range
        cam = camera_at(start, markers, scene_camera)
        base = marker.name if marker is not None else (cam.name if cam is not None else "Shot")
        bound = marker is not None and marker.camera is not None
        named.append((base or "Shot", cam, start, end, bound))

    # The first shot with a name keeps it, whatever comes later; only repeats get a suffix, one that no
    # other shot is literally named (so shot settings matched by name stay with their shot).
    literal = {n for n, *_ in named}
    taken: set[str] = set()
    out: list[Cut] = []
    for base, cam, start, end, bound in named:
        name = base if base not in taken else unique_name(base, taken | literal)
        taken.add(name)
        out.append(Cut(name, cam, start, end, bound))
    return out, warnings


def lost_cameras(
    shot_cuts: list[Cut], last: Mapping[str, LastPlanned], exists: Callable[[str], bool]
) -> dict[str, str]:
    """Shot name -> the camera it was filmed through until that camera was deleted, for the shots of
    ``shot_cuts`` that now render through another one. ``last`` is what the previous plan said of each
    shot (by name); ``exists`` says whether an object of that name is in the file.

    A shot whose own marker was bound to a camera that is gone lost it, and so did the shots that
    followed that camera (through unbound markers). It stays said until the marker is bound again (to
    whichever camera: the user chose) or the camera is back under its name (an undo). A camera that
    is only renamed keeps its markers bound, so it is never taken for a deleted one."""
    out: dict[str, str] = {}
    for c in shot_cuts:
        prev = last.get(c.name)
        if not c.bound and prev is not None and prev.marker_camera and not exists(prev.marker_camera):
            out[c.name] = prev.marker_camera
    gone = set(out.values())
    for c in shot_cuts:
        prev = last.get(c.name)
        if c.name in out or c.bound or prev is None:
            continue
        lost = next((n for n in (prev.lost_camera, prev.camera) if n in gone), "")
        if lost:
            out[c.name] = lost
    return {c.name: out[c.name] for c in shot_cuts if c.name in out and out[c.name] != _name(c.camera)}


def marker_camera(cut: Cut, last: LastPlanned | None, lost: str) -> str:
    """What the new plan keeps as the camera ``cut``'s own marker is bound to (``LastPlanned``)."""
    if cut.bound:
        return _name(cut.camera)
    if last is not None and last.marker_camera and lost == last.marker_camera:
        return lost  # unbound by the deletion, not by the user: remembered until bound again
    return ""


def _name(camera: Any | None) -> str:
    return str(getattr(camera, "name", "") or "")


def lost_camera_text(shot: str, frame: int, lost: str, now: str) -> str:
    """The sentence for a shot whose camera was deleted (the shot panel, the plan's warnings, the run
    report)."""
    return (
        f"Shot {shot} was filmed through camera {lost!r}, which is no longer in the file, so it now renders "
        f"through {now!r}: bind the marker at frame {frame} to the camera it should use ({now!r} to keep "
        "this one)."
    )
