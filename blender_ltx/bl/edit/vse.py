"""Generated clips into the Video Sequence Editor: one movie strip per take, stacked per shot.

Layout of a shot's takes (the "take stack"):

- Every take is a movie strip named ``SHOT take N`` covering exactly the shot's frames
  ``[frame_start, frame_end]``. Strips are never moved once placed.
- A shot longer than the model's maximum is generated in segments (``shot.generation.segments``), one
  clip each. Its take is then several consecutive strips on one channel, ``SHOT take N``,
  ``SHOT take N.2``..., each trimmed to its segment's frames, so together they cover the shot exactly.
  All functions here treat a take's segments as one unit: ``takes`` lists one strip per take (its
  first segment), mute and promote change every segment, and a take counts only once all of its
  segments are in (an incomplete take stays muted and is not listed).
- A new take goes on the lowest channel *above* the shot's existing takes whose frames are free over the
  shot's range (nothing else overlaps the shot there, locked channels skipped). So the takes of a shot
  read bottom-up oldest to newest, and whatever the user put in the VSE is never moved, trimmed or
  covered by a placement: we only ever use free space.
- A take whose clip carries audio (LTX-2: the job's ``applied.audio``) also has a sound strip per clip,
  ``SHOT take N audio``, at the same start and trimmed to the same frames, on the first free channel
  above the take's other strips. It belongs to the take (``strip.ltx.role == "sound"``): muted,
  promoted and removed together with the movie strip.
- The active take is the only unmuted one; importing a take makes it active and mutes the others,
  ``promote_take`` makes any take active again (only ``mute`` changes).

Frame rate: Blender maps movie frames 1:1 to scene frames. When the clip's rate equals the scene's
the strip is just trimmed. When it differs, the clip keeps its real-time speed: a Speed effect
(multiply by clip fps / scene fps) sits on the channel right above the movie strip over the same range,
and mute/unmute always changes both. Where the clip is shorter than the shot, its last frame holds.

Metadata (job id, seed, prompt, applied conditioning, segment...) lives on the strip as ``strip.ltx``
(:class:`LTXStripMeta`), so a strip stays linked to its job across save and reload.

Files: ``//ltx/BLEND/SHOT/take_N.mp4`` (one folder per .blend, see core/takes.py; base folder:
``scene.ltx.clip_dir``).

Main-thread cost: creating the movie strip opens the clip once (Blender reads its length and size);
callers that know the clip's rate pass it as ``fps`` so ``strip.fps`` (which opens the file again) is
never read, and the shot's strips are collected in one pass over the VSE.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import bpy
from bpy.props import IntProperty, PointerProperty, StringProperty

from ...core import takes as takes_rule
from ..addon import compat
from ..addon.blend_paths import abspath

log = logging.getLogger(__name__)

MAX_CHANNEL = 128
ROLE_TAKE = "take"
ROLE_SPEED = "speed"
ROLE_SOUND = "sound"
#: Relative difference under which the clip's and the scene's rates count as equal (29.97 vs 30 differ).
FPS_TOLERANCE = 1e-4


class LTXStripMeta(bpy.types.PropertyGroup):
    """What a take strip came from. Saved with the .blend."""

    role: StringProperty(
        name="Role", description="'take' (the clip), 'speed' (its rate adapter) or 'sound' (its audio)"
    )
    shot: StringProperty(name="Shot")
    take: IntProperty(name="Take", min=0)
    segment: IntProperty(name="Segment", min=0, description="Which generation segment of the take (0: first)")
    segments: IntProperty(
        name="Segments", min=0, description="How many segments the take has (0 or 1: one clip)"
    )
    job_id: StringProperty(name="Job ID")
    seed: IntProperty(name="Seed")
    prompt: StringProperty(name="Prompt")
    applied: StringProperty(name="Applied", description="What the server applied (JSON)")
    server: StringProperty(name="Server")
    created: StringProperty(name="Created", description="Import time (ISO 8601, UTC)")
    motion: StringProperty(
        name="Motion",
        description="The clip's camera motion measured by the server's meter and its agreement with the "
        "plan (JSON; empty until measured; see core/take_choice.py)",
    )
    stage: StringProperty(
        name="Stage",
        description="'draft' (the model's first stage at half size, to finalize), 'final' (a draft "
        "finalized) or empty (one pass)",
    )
    draft_job_id: StringProperty(name="Draft Job", description="A final: the job of the draft it finalized")
    draft_take: IntProperty(name="Draft Take", min=0, description="A final: the take of its draft (0: none)")


# --- paths (the naming rules are in core/takes.py) ------------------------------------------------


def clip_dir(scene) -> str:
    """The clip folder setting (``scene.ltx.clip_dir`` when the add-on's properties exist)."""
    settings = getattr(scene, "ltx", None)
    return getattr(settings, "clip_dir", "") if settings is not None else ""


def shot_dir(scene, shot_name: str) -> str:
    """The folder of a shot's takes, as written in the strip: ``//ltx/BLEND/SHOT``."""
    return takes_rule.shot_dir(clip_dir(scene), bpy.data.filepath, shot_name)


def clip_path(scene, shot_name: str, take: int, segment: int = 0, segments: int = 1) -> str:
    """Where take ``take`` (segment ``segment`` of ``segments``) of a shot is stored, as written in the
    strip: ``//ltx/BLEND/SHOT/take_N.mp4`` (see core/takes.py)."""
    return takes_rule.clip_path(clip_dir(scene), bpy.data.filepath, shot_name, take, segment, segments)


def strip_filepath(path: str) -> str:
    """The path a strip stores: blend-relative when the file is in the saved .blend's folder tree (so
    the project folder can move), else absolute (an unsaved .blend has no folder to be relative to)."""
    full = abspath(path)
    if bpy.data.filepath:
        blend_dir = os.path.dirname(os.path.abspath(bpy.data.filepath))
        if os.path.commonpath([blend_dir, full]) == blend_dir:
            return bpy.path.relpath(full)
    return full


def clip_abspath(scene, shot_name: str, take: int, segment: int = 0, segments: int = 1) -> str:
    """The absolute file for :func:`clip_path` (folders are not created)."""
    return abspath(clip_path(scene, shot_name, take, segment, segments))


def segment_ranges(shot) -> list[tuple[int, int]]:
    """Scene frames ``[start, end)`` of each generation segment of ``shot`` (one range when it is
    generated in one piece)."""
    segs = shot.generation.segments
    if len(segs) <= 1:
        return [(shot.frame_start, shot.frame_start + shot.length)]
    return [(seg.frame_start, seg.frame_end + 1) for seg in segs]


# --- finding takes ----------------------------------------------------------------------------------


def _shot_strips(sed, shot_name: str) -> list:
    """Every strip the add-on made for the shot (segments of takes, their speed effects and sound
    strips), in one pass over the VSE."""
    if sed is None:
        return []
    out = []
    for s in compat.strips_all(sed):
        meta = getattr(s, "ltx", None)
        if meta is not None and meta.shot == shot_name and meta.role in (ROLE_TAKE, ROLE_SPEED, ROLE_SOUND):
            out.append(s)
    return out


def _take_units(own: list) -> dict[int, list]:
    """Take number -> its segment strips in segment order (speed effects left out)."""
    units: dict[int, list] = {}
    for s in own:
        if s.ltx.role == ROLE_TAKE:
            units.setdefault(s.ltx.take, []).append(s)
    for strips in units.values():
        strips.sort(key=lambda s: s.ltx.segment)
    return units


def _complete(strips: list) -> bool:
    """All segments of a take are in (strips made before segments existed say 0 segments: one)."""
    return len({s.ltx.segment for s in strips}) >= max(1, strips[0].ltx.segments)


def take_strips(scene, shot_name: str, take: int | None = None) -> list:
    """The movie strips of a shot's takes, every segment, complete or not, ordered by (take, segment);
    only take ``take``'s when given."""
    units = _take_units(_shot_strips(scene.sequence_editor, shot_name))
    return [s for t in sorted(units) if take is None or t == take for s in units[t]]


def takes(scene, shot_name: str) -> list:
    """One strip per complete take of a shot (its first segment), ordered by take number, in one pass
    over the VSE."""
    units = _take_units(_shot_strips(scene.sequence_editor, shot_name))
    return [units[t][0] for t in sorted(units) if _complete(units[t])]


def active_take(scene, shot_name: str):
    """The unmuted take of a shot (its first segment's strip), or None."""
    return next((s for s in reversed(takes(scene, shot_name)) if not s.mute), None)


def next_take(scene, shot_name: str) -> int:
    """1 + the highest take of the shot found on strips or on disk, so no clip is overwritten."""
    folder = abspath(shot_dir(scene, shot_name))
    files = os.listdir(folder) if os.path.isdir(folder) else []
    return takes_rule.next_take((s.ltx.take for s in take_strips(scene, shot_name)), files)


# --- placing ----------------------------------------------------------------------------------------


def _taken(sed, start: int, end: int) -> set[int]:
    """Channels where a strip overlaps scene frames [start, end): one pass over the VSE, however many
    channels are then tried."""
    spans = ((s.channel, compat.strip_span(s)) for s in compat.strips(sed))
    return {channel for channel, (first, past) in spans if first < end and start < past}


def _channels_free(
    sed, channel: int, height: int, start: int, end: int, taken: set[int] | None = None
) -> bool:
    """Channels ``channel`` .. ``channel + height - 1`` are unlocked and empty over [start, end)."""
    taken = _taken(sed, start, end) if taken is None else taken
    chans = range(channel, channel + height)
    return not any(ch in taken or compat.channel_locked(sed, ch) for ch in chans)


def find_channels(sed, start: int, end: int, height: int, lowest: int = 1) -> int:
    """The lowest channel >= ``lowest`` where ``height`` stacked channels are free over [start, end)."""
    taken = _taken(sed, start, end)
    for ch in range(max(1, lowest), MAX_CHANNEL - height + 2):
        if _channels_free(sed, ch, height, start, end, taken):
            return ch
    raise RuntimeError(
        f"No free VSE channel above {lowest} over frames {start}-{end - 1}; free a channel there."
    )


def _needs_speed(clip_fps: float, scene_fps: float) -> bool:
    return clip_fps > 0 and abs(clip_fps / scene_fps - 1.0) > FPS_TOLERANCE


def _mute_all_but(own: list, take: int) -> None:
    """Only take ``take`` plays: every segment of every other take, and their speed effects, muted."""
    for s in own:
        mute = s.ltx.take != take
        if s.mute != mute:
            s.mute = mute


def _fill_meta(meta, role: str, shot_name: str, take: int, segment: int, segments: int, info: dict) -> None:
    meta.role = role
    meta.shot = shot_name
    meta.take = int(take)
    meta.segment = int(segment)
    meta.segments = int(segments)
    meta.job_id = str(info.get("job_id") or "")
    meta.seed = int(info.get("seed") or 0)
    meta.prompt = str(info.get("prompt") or "")
    applied = info.get("applied")
    meta.applied = applied if isinstance(applied, str) else json.dumps(applied or {}, sort_keys=True)
    meta.server = str(info.get("server") or "")
    meta.created = str(info.get("created") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    # Draft, then final: the server's record says which (applied.draft / applied.finalize), the run
    # which take the final was made from.
    record = applied if isinstance(applied, dict) else {}
    finalize = record.get("finalize") or {}
    meta.stage = "draft" if record.get("draft") else ("final" if finalize else "")
    meta.draft_job_id = str(finalize.get("draft") or "")
    meta.draft_take = int(info.get("draft_take") or 0)


def import_take(
    scene,
    shot,
    filepath: str,
    take: int,
    meta: dict[str, Any] | None = None,
    *,
    segment: int = 0,
    fps: float | None = None,
    audio: bool = False,
):
    """Import a clip as take ``take`` of ``shot`` (a :class:`~blender_ltx.core.shots.Shot`) and, once
    all of the take's segments are in, make it the active take. Returns the movie strip.

    ``segment`` says which generation segment of the shot the clip is (0 for a shot generated in one
    piece); the strip covers exactly that segment's frames, on the channel of the take's other
    segments. ``fps`` is the clip's frame rate when the caller knows it (the job's request): it spares
    reading ``strip.fps``, which opens the file a second time on the main thread. Importing a
    (take, segment) that is already there returns its strip unchanged, so a re-attached job is never
    imported twice. With ``audio`` (the job's ``applied.audio``: the mp4 has an AAC stream) a sound strip
    of the clip goes with the movie strip: same start, trimmed to the same frames, on the first free
    channel above it, muted and promoted with it (see :func:`_add_sound`)."""
    ranges, full = _checked_clip(shot, filepath, segment)
    sed = scene.sequence_editor or scene.sequence_editor_create()
    own = _shot_strips(sed, shot.name)
    siblings = _take_units(own).get(take, [])
    for existing in siblings:
        if existing.ltx.segment == segment:
            return existing

    start, end = ranges[segment]
    shot_span = (ranges[0][0], ranges[-1][1])
    what = f"{shot.name} take {take}"
    scene_fps = compat.scene_fps(scene)
    height = 2 if fps is not None and _needs_speed(fps, scene_fps) else 1
    if siblings:
        channel = siblings[0].channel
        if not _channels_free(sed, channel, height, start, end):
            raise RuntimeError(
                f"Channel {channel} is taken over frames {start}-{end - 1}, where segment {segment + 1} "
                f"of {what} goes; free it there."
            )
    else:  # the take's first strip goes where the whole shot is free, so its other segments fit beside it
        channel = find_channels(sed, *shot_span, height, max((s.channel for s in own), default=0) + 1)
    strip = compat.strips(sed).new_movie(
        name=takes_rule.strip_name(shot.name, take, segment),
        filepath=strip_filepath(full),
        channel=channel,
        frame_start=start,
        fit_method="FIT",
    )
    speed = sound = None

    def fill(s, role: str) -> None:
        _fill_meta(s.ltx, role, shot.name, take, segment, len(ranges), meta or {})

    try:
        # Trim (or, for a short clip, hold the last frame) so the strip covers the segment exactly.
        compat.set_strip_length(strip, end - start)
        clip_fps = float(strip.fps) if fps is None else float(fps)
        if _needs_speed(clip_fps, scene_fps):
            speed = _add_speed(sed, strip, clip_fps / scene_fps, shot_span, height, not siblings, what)
            fill(speed, ROLE_SPEED)
        fill(strip, ROLE_TAKE)
        if audio:
            sound = _add_sound(sed, strip, full, start, end, own + [s for s in (speed,) if s is not None])
            if sound is not None:
                fill(sound, ROLE_SOUND)
    except Exception:
        for s in (sound, speed, strip):
            if s is not None:
                compat.strips(sed).remove(s)
        raise
    own += [s for s in (strip, speed, sound) if s is not None]
    if _complete(siblings + [strip]):
        _mute_all_but(own, take)
    else:  # an incomplete take never plays: the shot keeps showing its active take meanwhile
        for s in (strip, speed, sound):
            if s is not None:
                s.mute = True
    return strip


def _checked_clip(shot, filepath: str, segment: int) -> tuple[list[tuple[int, int]], str]:
    """(the shot's segment ranges, the clip's absolute path), or the sentence of what is wrong."""
    ranges = segment_ranges(shot)
    if not 0 <= segment < len(ranges):
        raise ValueError(
            f"Shot {shot.name!r} has {len(ranges)} segment(s), so there is no segment {segment}."
        )
    if shot.length < 1:
        raise ValueError(f"Shot {shot.name!r} has no frames ({shot.frame_start}-{shot.frame_end}).")
    full = abspath(filepath)
    if not os.path.isfile(full):
        raise FileNotFoundError(f"The clip {filepath!r} does not exist; download the take again.")
    return ranges, full


def _add_speed(sed, strip, factor: float, shot_span: tuple[int, int], height: int, movable: bool, what: str):
    """A Speed effect on the channel above ``strip`` over its frames, so the clip plays at its own rate:
    scene frame k shows clip frame k * ``factor`` (clip fps / scene fps). Where that channel is taken, a
    take's first strip (``movable``) moves up to two free channels over ``shot_span``; a later segment
    must stay beside its take's others, so it raises the sentence instead."""
    start, end = compat.strip_span(strip)
    if height == 1 and not _channels_free(sed, strip.channel + 1, 1, start, end):
        if not movable:
            raise RuntimeError(
                f"Channel {strip.channel + 1} is taken over frames {start}-{end - 1}, where the speed "
                f"effect of {what} goes; free it there."
            )
        strip.channel = find_channels(sed, *shot_span, 2, strip.channel + 1)
    speed = compat.new_effect(
        sed, strip.name + " speed", "SPEED", strip.channel + 1, start, end - start, strip
    )
    speed.speed_control = "MULTIPLY"
    speed.speed_factor = factor
    return speed


def _add_sound(sed, movie, full: str, start: int, end: int, own: list):
    """The clip's audio as a sound strip from ``start``, trimmed to ``end``, on the lowest free channel
    above the take's strips (Blender plays it at the scene's audio settings, in real time, so it stays
    in sync with a movie strip under a Speed effect too). None, with a warning, when Blender cannot
    read the clip's audio: the picture still makes a take."""
    top = max([s.channel for s in own if s.ltx.take == movie.ltx.take] + [movie.channel])
    channel = find_channels(sed, start, end, 1, top + 1)
    try:
        sound = compat.strips(sed).new_sound(
            name=movie.name + " audio", filepath=movie.filepath, channel=channel, frame_start=start
        )
    except RuntimeError as exc:
        log.warning("The audio of %s could not be read, so the take has no sound strip: %s", full, exc)
        return None
    if compat.content_length(sound) > end - start:
        compat.set_strip_length(sound, end - start)
    return sound


def draft_takes(scene, shot_name: str) -> list:
    """The shot's complete draft takes (first strip of each), oldest first."""
    return [s for s in takes(scene, shot_name) if s.ltx.stage == "draft"]


def promote_take(scene, shot_name: str, take: int):
    """Make ``take`` the shot's active (only unmuted) take, every segment of it; only ``mute`` of the
    shot's strips changes. Returns the take's (first segment's) strip."""
    own = _shot_strips(scene.sequence_editor, shot_name)
    units = _take_units(own)
    if take not in units:
        have = [t for t in sorted(units) if _complete(units[t])]
        raise KeyError(f"Shot {shot_name!r} has no take {take}; its takes are {have}.")
    if not _complete(units[take]):
        n = max(1, units[take][0].ltx.segments)
        raise KeyError(
            f"Take {take} of shot {shot_name!r} has {len(units[take])} of its {n} segments; "
            "wait for the rest or generate the shot again."
        )
    _mute_all_but(own, take)
    return units[take][0]


def set_motion(scene, shot_name: str, job_id: str, motion: dict[str, Any]) -> list:
    """Store a job's measured motion on the strips of its clip (its take's segment and speed effect).
    Returns the movie strips it landed on (none: the take was deleted or not imported)."""
    text = json.dumps(motion, sort_keys=True)
    own = [s for s in _shot_strips(scene.sequence_editor, shot_name) if s.ltx.job_id == job_id]
    for s in own:
        s.ltx.motion = text
    return [s for s in own if s.ltx.role == ROLE_TAKE]


def take_motion(strip) -> dict[str, Any] | None:
    """The motion stored on a take's strip (None: not measured yet)."""
    return parse_motion(getattr(getattr(strip, "ltx", None), "motion", ""))


def parse_motion(text: str) -> dict[str, Any] | None:
    """A strip's ``ltx.motion`` text as the motion it stores (None: empty or unreadable)."""
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def remove_incomplete_take(scene, shot_name: str, take: int) -> int:
    """Remove the strips of take ``take`` if it is not complete (its other segments failed); a complete
    take is never touched. Returns how many strips were removed."""
    own = _shot_strips(scene.sequence_editor, shot_name)
    strips = _take_units(own).get(take, [])
    if not strips or _complete(strips):
        return 0
    doomed = [s for s in own if s.ltx.take == take]
    doomed.sort(key=lambda s: s.ltx.role != ROLE_SPEED)  # effects before their inputs (sounds: any time)
    for s in doomed:
        compat.strips(scene.sequence_editor).remove(s)
    return len(doomed)


classes = (LTXStripMeta,)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register() -> None:
    _register_classes()
    compat.strip_type().ltx = PointerProperty(type=LTXStripMeta)


def unregister() -> None:
    del compat.strip_type().ltx
    _unregister_classes()
