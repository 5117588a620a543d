"""The shot's exact camera for families that take it (SANA-WM): the request's trajectory becomes per-frame
OpenCV poses and intrinsics with ``core.poses``, relative to the shot's first frame, translation scaled.

``record`` runs when the job is queued (its sentences are 422s, and ``applied.camera_poses`` says what
will reach the model); ``clip_poses`` rebuilds the arrays from the request and that record when the job
runs (arrays are not stored with the job).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from blender_ltx.core import poses as core_poses
from blender_ltx.core.protocol import ProtocolError
from blender_ltx.core.shots import Trajectory

from ..backends.base import CameraPoses

LAYER = "camera_poses"


def _trajectory(request: dict[str, Any]) -> Trajectory | None:
    traj = request.get("trajectory")
    if not traj or not traj.get("frames"):
        return None
    return Trajectory.from_dict(traj)


def record(request: dict[str, Any], backend: Any) -> dict[str, Any]:
    """``applied.camera_poses``: scale and how it was chosen, frames and rate, the backend's plan (model
    frames, crop). Raises ProtocolError for a camera the model cannot take or a bad scale input."""
    inputs = request.get("poses") or {}
    plan = backend.camera_pose_plan(request) or {}
    traj = _trajectory(request)
    out: dict[str, Any] = {"frames": request["num_frames"], "fps": request["frame_rate"]}
    if traj is None:
        return {
            **out,
            "static": True,
            "scale": None,
            "scale_source": "no trajectory in the request: a static camera (identity poses, a 50 mm lens)",
            **plan,
        }
    try:
        scale, source = core_poses.pose_scale(
            inputs.get("scene_depth"),
            override=inputs.get("scale"),
            metres_per_unit=inputs.get("metres_per_unit") or 1.0,
        )
        core_poses.camera_poses(traj, request["width"], request["height"], scale)  # refuses orthographic
    except ValueError as exc:
        field = "trajectory.camera_type" if traj.camera_type.upper() == "ORTHO" else "poses"
        raise ProtocolError(field, str(exc)) from None
    return {
        **out,
        "static": False,
        "scale": round(scale, 6),
        "scale_source": source,
        "samples": len(traj),
        "relative_to": "the shot's first frame (each chained segment: its own first frame)",
        **plan,
    }


def clip_poses(request: dict[str, Any], applied_poses: dict[str, Any]) -> CameraPoses | None:
    """One pose and intrinsics per clip frame (None for a static camera: the backend assumes one). Clip
    frame i is scene frame ``frames[0] + i``; frames past the trajectory's last sample hold its pose."""
    traj = _trajectory(request)
    if traj is None or applied_poses.get("static"):
        return None
    c2w, intr = core_poses.camera_poses(traj, request["width"], request["height"], applied_poses["scale"])
    c2w = core_poses.relative_poses(c2w)
    scene = np.asarray(traj.frames)
    wanted = scene[0] + np.arange(request["num_frames"])
    idx = np.clip(np.searchsorted(scene, wanted, side="right") - 1, 0, len(scene) - 1)
    return CameraPoses(c2w[idx], intr[idx])
