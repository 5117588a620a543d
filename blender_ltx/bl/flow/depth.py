"""The first frame's depth of a shot for a server that takes the exact camera path (SANA-WM), measured in
the background on a click: the ray casts (``plan/scene_depth.py``) ran in the click, about 44 ms a shot
and up to 1.4 s when the frame had to change. ``request.prepare`` leaves the request's ``poses`` without
``scene_depth`` and asks for it here: the shot's first guide render measures it too (``fields``),
or, where the shot renders no guide (a look frame, words only), a job of its own (``PendingDepth``).
``staged.py`` puts the answer into the requests (``with_depth``) before they go. Scripts measure it in
``request.poses_fields`` and wait, as they do for guides.
"""

from __future__ import annotations

import os
from pathlib import Path

from ...core import job_request
from ...core.protocol import ProtocolError
from ..render import control_frames
from ..render.control_frames import PendingRender

#: The child script that measures (it joins the render and plan floors, so it lives on this one).
SCRIPT = Path(__file__).resolve().with_name("depth_child.py")


class PendingDepth(PendingRender):
    """A shot's first-frame depth measured alone in the background (the shot renders no guide)."""

    depth_at: tuple[str, int]
    depth: float | None = None

    def __init__(self, shot_name: str, job: dict) -> None:
        self.shot_name, self.job = shot_name, job
        self.depth_at = (job["depth_at"][0], int(job["depth_at"][1]))
        self.render = None
        self.finished = False

    def accept(self, done: dict) -> None:
        self.depth = done.get("depth")
        self.finished = True


def fields(shot) -> dict:
    """What a guide job adds (``guides.guide_job(extra=...)``) to measure ``shot``'s first-frame depth too:
    where, and the child script that measures."""
    return {"depth_at": [shot.camera, shot.frame_start], "script": str(SCRIPT)}


def depth_job(scene, shot, out_dir: str, blend: str) -> PendingDepth:
    """The background job that measures ``shot``'s first-frame depth alone, from the click's copy."""
    os.makedirs(out_dir, exist_ok=True)
    for stale in ("result.json", "error.txt", "progress"):
        Path(out_dir, stale).unlink(missing_ok=True)
    job = {"task": "depth", "blend": blend, "scene": scene.name, "out_dir": out_dir, **fields(shot)}
    control_frames.write_job(job)
    return PendingDepth(shot.name, job)


def measured(renders: list) -> tuple[bool, float | None]:
    """(whether one of ``renders`` measures the depth, the depth it measured)."""
    for r in renders:
        if getattr(r, "depth_at", None) is not None:
            return True, r.depth
    return False, None


def with_depth(request: dict, depth: float | None, shot_name: str) -> dict:
    """``request`` with the measured depth in its ``poses`` (``job_request.poses_field``: left out when
    nothing was hit). ValueError (one sentence) for inputs the protocol refuses."""
    poses = request.get("poses")
    if poses is None:
        return request
    try:
        field = job_request.poses_field(depth, poses["metres_per_unit"], poses.get("scale", 0.0))
    except ProtocolError as exc:
        raise ValueError(f"Shot {shot_name} cannot be sent: {exc}.") from None
    return {**request, **field}
