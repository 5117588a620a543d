"""A shot's previs control, prepared for the courier: rendered frames and tracks (``core/control.py``
has the rules, ``server/generation/control/request.py`` the request's shape).

What the request gets is decided where the server's capabilities are known: the courier resolves
``auto``, uploads the frames the server lacks (``HEAD``/``PUT /v1/assets``) and only then posts the job.
So the spec made here carries everything any kind could need: the depth and beauty frames (one
background render gives both) and, for ``tracks``/``auto``, the track numbers.
"""

from __future__ import annotations

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


def base_spec(scene, part, kind: str) -> dict | None:
    """What the spec holds apart from the rendered frames: kind, strength and, for ``tracks``/``auto``,
    the track numbers (computed from the scene now). Raises ValueError (one sentence) for a bad kind
    or a missing Track Points collection, NothingToTrack for ``tracks`` with no point in view; None
    for ``none``."""
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
        tracks = to_json_tracks(shot_tracks(scene, part, collection))
        if tracks and tracks[0]:
            spec["tracks"] = tracks
        elif kind == "tracks":  # auto then picks among the other kinds
            raise NothingToTrack(
                f"Shot {part.name}: no surface or point to track is in view on its first frame; point its "
                "camera at the set, add empties to the Track Points collection, or pick another control."
            )
    return spec


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

    def choose(self, info: dict | None) -> None:
        """Settle the kind against the server's health ``info`` (None: unknown, the courier checks):
        ``auto`` becomes a kind or no control (then nothing renders), a kind the server lacks raises
        ValueError (one sentence), and the frames' size follows the chosen IC-LoRA's downscale."""
        self.chosen = True
        if info is None:
            return
        try:
            kind, scale = rules.settle(self.spec["kind"], info, rules.possible("tracks" in self.spec))
        except ValueError as exc:
            raise ValueError(f"Shot {self.part.name}: {exc}") from None
        if kind is None:
            self.finished, self.result = True, None
            return
        self.spec = {**self.spec, "kind": kind}
        if scale != self.scale:
            self.scale = scale
            self.job["width"], self.job["height"] = control_frames.reference_size(self.part, scale)
            control_frames.write_job(self.job)

    @property
    def shot_name(self) -> str:
        return self.part.name

    def accept(self, done: dict) -> None:
        self.finished, self.result = True, with_frames(self.spec, done)


def stage_spec(
    scene, part, spec: dict, out_dir: str, blend: str, scale: float = control_frames.DEFAULT_SCALE
) -> PendingControl:
    """``spec_for`` without the wait, for a ``base_spec`` already checked: rendered later from the copy
    ``blend`` (``control_frames.save_copy``, saved once per click)."""
    job = control_frames.prepare_job(scene, part, blend_paths.abspath(out_dir), blend, scale)
    return PendingControl(spec, job, part, scale)


def render_previs(scene, shot) -> list:
    """Render ``shot``'s previs (the control render's beauty frames, half the generation size) and put
    it in the edit: for shots generated without control, whose takes had no control render (the demo
    on an LTX-Video server)."""
    result = control_frames.render_control_frames(
        scene, shot, blend_paths.abspath(previs_dir(scene, shot.name))
    )
    return put_previs(scene, shot.name, [(shot.frame_start, shot.length, result["beauty"])])
