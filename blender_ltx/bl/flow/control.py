"""A shot's previs control, prepared for the courier: rendered frames and tracks (``core/control.py``
has the rules, ``server/generation/control/request.py`` the request's shape).

What the request gets is decided where the server's capabilities are known: the courier resolves
``auto``, uploads the frames the server lacks (``HEAD``/``PUT /v1/assets``) and only then posts the job.
So the spec made here carries everything any kind could need: the depth and beauty frames (one
background render gives both) and, for ``tracks``/``auto``, the track numbers.
"""

from __future__ import annotations

import json
import os

from ...core import control as rules
from ...core.tracks import to_json_tracks
from ..render import control_frames
from ..addon import blend_paths, props
from ..edit import vse
from ..edit.previs_strip import put_previs


def previs_dir(scene, shot_name: str) -> str:
    """Where a shot's control frames go (the latest render; the VSE's previs strip shows them)."""
    return f"{vse.shot_dir(scene, shot_name)}/previs"


class NothingToTrack(ValueError):
    """``tracks`` control for a shot whose first frame sees nothing to track: that shot cannot be
    generated as asked, the others of the run still can (``submit`` fails it alone)."""


def spec_for(scene, part, spec: dict, out_dir: str, scale: float = control_frames.DEFAULT_SCALE) -> dict:
    """The courier's control spec for one (segment) shot from its checked ``base_spec``. Waits for the
    background render (``control_frames.render_control_frames``): scripts and ``execute()``. A click
    stages the render instead (``stage_spec``, ``staged.py``) and returns at once."""
    try:
        result = control_frames.render_control_frames(scene, part, blend_paths.abspath(out_dir), scale)
    except RuntimeError as exc:
        raise ValueError(f"Shot {part.name}: {exc}") from None
    return with_frames(spec, result)


def with_frames(spec: dict, result: dict) -> dict:
    """``spec`` completed with a finished render's depth and beauty frames."""
    return {**spec, "depth": result["depth"], "beauty": result["beauty"]}


def base_spec(scene, part, kind: str, *, defer_tracks: bool = False) -> dict | None:
    """What the spec holds apart from the rendered frames: kind, strength and, for ``tracks``/``auto``,
    the track numbers (computed from the scene now; ``defer_tracks``, a click: computed by the background
    render instead, ``stage_spec``: about 1 s a shot on a set of dense meshes). Raises ValueError (one
    sentence) for a bad kind or a missing Track Points collection, NothingToTrack for ``tracks`` with no
    point in view; None for ``none``."""
    if kind not in rules.CHOICES:
        raise ValueError(f"Control {kind!r} is not a control kind: use one of {', '.join(rules.CHOICES)}.")
    if kind == "none":
        return None
    spec: dict = {"kind": kind, "strength": 1.0}
    if kind in ("auto", "tracks"):
        from ..render.track_points import shot_tracks

        collection = props.scene_settings(scene).track_collection or None
        if collection is not None:
            import bpy

            if bpy.data.collections.get(collection) is None:
                raise ValueError(
                    f"Track Points names collection {collection!r}, which is not in this file: pick one "
                    "or clear the field to track mesh vertices."
                )
        if defer_tracks:
            return spec
        tracks = to_json_tracks(shot_tracks(scene, part, collection))
        if tracks and tracks[0]:
            spec["tracks"] = tracks
        elif kind == "tracks":  # auto then picks among the other kinds
            raise NothingToTrack(nothing_to_track(part.name))
    return spec


def nothing_to_track(shot_name: str) -> str:
    return (
        f"Shot {shot_name}: no surface or point to track is in view on its first frame; point its camera "
        "at the set, add empties to the Track Points collection, or pick another control."
    )


class PendingControl(control_frames.PendingRender):
    """A control spec whose frames are still to be rendered (the click path): the spec's other parts
    and the render's job are fixed when Generate is clicked (the scene as it was then, through a copy
    of the file saved then); ``staged.py`` chooses the kind once the server's capabilities are known
    (``choose``), starts the process when a slot is free and polls it."""

    def __init__(self, spec: dict, job: dict, part, scale: float) -> None:
        self.spec, self.job, self.part, self.scale = spec, job, part, scale
        self.chosen = False  # the kind checked against the server (or left to the courier)
        self.finished = False  # ``result`` is final: the spec with its frames, or None (no control)
        self.result: dict | None = None
        self.render: control_frames.ControlRender | None = None
        self.info: dict | None = None  # the server's health the kind was chosen against
        self.asked = spec["kind"]  # the kind the shot asked for (``auto`` may be settled to tracks)

    @property
    def tracks_pending(self) -> bool:
        """The background render computes the track numbers too (``stage_spec``)."""
        return "tracks" in self.job

    def choose(self, info: dict | None) -> None:
        """Settle the kind against the server's health ``info`` (None: unknown, the courier checks):
        ``auto`` becomes a kind or no control (then nothing renders), a kind the server lacks raises
        ValueError (one sentence), and the frames' size follows the chosen IC-LoRA's downscale."""
        self.chosen = True
        if info is None:
            return
        self.info = info
        # Tracks still to be computed count as there: a kind that turns out to have none is settled again.
        has_tracks = self.tracks_pending or "tracks" in self.spec
        try:
            kind, scale = rules.settle(self.spec["kind"], info, rules.possible(has_tracks))
        except ValueError as exc:
            raise ValueError(f"Shot {self.part.name}: {exc}") from None
        if kind is None:
            self.finished, self.result = True, None
            return
        self.spec = {**self.spec, "kind": kind}
        rewrite = kind != "tracks" and self.job.pop("tracks", None) is not None  # not needed after all
        if scale != self.scale:
            self.scale = scale
            self.job["width"], self.job["height"] = control_frames.reference_size(self.part, scale)
            rewrite = True
        if rewrite:
            control_frames.write_job(self.job)

    @property
    def shot_name(self) -> str:
        return self.part.name

    def poll(self) -> None:
        """As every render's; a failed render of a shot that asked for tracks and has none says that
        (the depth pass of a set with nothing in view fails too, with a sentence about depth)."""
        try:
            super().poll()
        except ValueError:
            if self.spec["kind"] == "tracks" and self.asked == "tracks" and not self._tracks_found():
                raise NothingToTrack(nothing_to_track(self.part.name)) from None
            raise

    def _tracks_found(self) -> bool:
        path = os.path.join(self.job["out_dir"], "tracks.json")
        try:
            with open(path) as f:
                tracks = json.load(f)
        except (OSError, ValueError):
            return True  # not computed: the render's own sentence stands
        return bool(tracks and tracks[0])

    def accept(self, done: dict) -> None:
        spec = self._with_tracks(done.get("tracks")) if self.tracks_pending else self.spec
        self.finished, self.result = True, with_frames(spec, done) if spec is not None else None

    def _with_tracks(self, tracks: list | None) -> dict | None:
        """The spec with the background render's track numbers; where it found none, ``tracks`` fails
        the shot (NothingToTrack), an ``auto`` settled to tracks is settled again without them (None:
        no control), and an ``auto`` the courier settles goes without them."""
        if tracks and tracks[0]:
            return {**self.spec, "tracks": tracks}
        if self.spec["kind"] != "tracks":
            return self.spec
        if self.asked != "auto" or self.info is None:
            raise NothingToTrack(nothing_to_track(self.part.name))
        kind, _scale = rules.settle("auto", self.info, rules.possible(False))
        return {**self.spec, "kind": kind} if kind is not None else None


def stage_spec(
    scene, part, spec: dict, out_dir: str, blend: str, scale: float = control_frames.DEFAULT_SCALE
) -> PendingControl:
    """``spec_for`` without the wait, for a ``base_spec`` already checked: rendered later from the copy
    ``blend`` (``control_frames.save_copy``, saved once per click)."""
    extra = {}
    if spec["kind"] in ("auto", "tracks") and "tracks" not in spec:  # ``base_spec(defer_tracks=True)``
        collection = props.scene_settings(scene).track_collection or None
        extra["tracks"] = {"shot": json.loads(json.dumps(part, default=vars)), "collection": collection}
    job = control_frames.prepare_job(scene, part, blend_paths.abspath(out_dir), blend, scale, extra)
    return PendingControl(spec, job, part, scale)


def render_previs(scene, shot) -> list:
    """Render ``shot``'s previs (the control render's beauty frames, half the generation size) and put
    it in the edit: for shots generated without control, whose takes had no control render (the demo
    on an LTX-Video server)."""
    result = control_frames.render_control_frames(
        scene, shot, blend_paths.abspath(previs_dir(scene, shot.name))
    )
    return put_previs(scene, shot.name, [(shot.frame_start, shot.length, result["beauty"])])
