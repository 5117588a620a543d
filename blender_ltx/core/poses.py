"""Exact camera poses and intrinsics from a shot's trajectory, for camera-conditioned models (SANA-WM).

Pure numpy (no bpy). The camera model is the one ``core.tracks.project_points`` uses (Blender's: lens
over the sensor size of the fitted image dimension, shift in units of that dimension); the output is in
the OpenCV convention that camera-conditioned pipelines (diffusers' ``sana_wm.cam_utils``) take:

- ``c2w`` (F, 4, 4) camera-to-world in the scene's world axes, camera axes +X right, +Y down, +Z forward
  (a Blender camera's local +X, -Y, -Z), rotation rigid (the object's scale and shear removed with
  ``core.trajectory.rotations``), translation in scene units times ``scale``;
- ``intrinsics`` (F, 4) ``[fx, fy, cx, cy]`` in pixels of a ``width`` x ``height`` frame. Pixel centres
  sit at integer coordinates (OpenCV's convention, and what the pipeline's raymap samples: a pixel
  grid ``arange(W)``): a point that Blender's ``world_to_camera_view`` puts at (u, v) is at pixel
  x = u * W - 0.5, y = (1 - v) * H - 0.5. The frame is the render frame resized to width x height
  (pixel aspect included in ``Trajectory.aspect``), so fx and fy differ when the two ratios differ.

Every world point in front of the camera lies on the ray ``R @ [(x - cx) / fx, (y - cy) / fy, 1]``
from ``t`` through its pixel (tests/blender/test_poses_exact.py checks it against Blender itself). Two
cameras Blender renders that no rigid pose can be: one under a rotated, non-uniformly scaled parent with
no constraint (sheared: Blender projects through the sheared matrix) and one with a negative scale
(mirrored); the pose takes the nearest proper rotation.

The pipeline rescales intrinsics for its resize and crop as ``cx * s`` (exact for pixel corners, off by
``(s - 1) / 2`` px for centres): ask for poses at the size the model sees, so its own rescale is 1.

Scale (``pose_scale``): SANA-WM was trained on metric-scale poses annotated from real video (its model
card: "metric-scale 6-DoF camera poses"; its action keys move 0.05 units a frame at 16 fps, 0.8 m/s, a
slow walk). So the model's unit is the metre, and a scene built to real size needs no scaling at all:
scene units times the scene's unit scale are metres. What the model cannot follow is a scene whose size
is not a real place's (a city block modelled a metre wide, a room a kilometre deep): there the
picture's apparent depth and the path's length disagree with anything it saw. The rule: measure the
first frame's median depth; inside ``METRIC_DEPTH_RANGE_M`` (the depths metric annotation of real video
covers), take scene metres as they are; outside it, scale the path so that depth lands on the nearer
end of the range. Either way parallax (translation over depth) stays what the previs shows for scenes
of plausible size. A shot's own *Pose Scale* wins.
"""

from __future__ import annotations

import math

import numpy as np

from .shots import Trajectory
from .tracks import _fits_width
from .trajectory import matrices, rotations

#: Blender camera axes (local +X right, +Y up, looking down -Z) to OpenCV's (+X right, +Y down, +Z forward).
BLENDER_TO_OPENCV = np.diag([1.0, -1.0, -1.0])

#: Median first-frame depths, in metres, that real metric-annotated video holds: a close-up at half a
#: metre to a wide exterior a hundred metres deep. Scene depths inside are taken as they are.
METRIC_DEPTH_RANGE_M = (0.5, 100.0)


def _check_size(width: int, height: int) -> None:
    if int(width) != width or int(height) != height or width < 1 or height < 1:
        raise ValueError(f"width and height must be whole numbers of pixels above 0, not {width} x {height}.")


def _check_scale(scale: float, what: str = "scale") -> None:
    try:
        value = float(scale)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(scale, bool) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{what} must be a number above 0, not {scale!r}.")


def intrinsics(traj: Trajectory, width: int, height: int) -> np.ndarray:
    """(F, 4) ``[fx, fy, cx, cy]`` per trajectory sample, in pixels of a ``width`` x ``height`` frame."""
    _check_size(width, height)
    lens = np.asarray(traj.lens_mm, dtype=float)
    sensor = traj.sensor_height_mm if traj.sensor_fit.upper() == "VERTICAL" else traj.sensor_width_mm
    focal = lens / sensor  # in units of the fitted image dimension
    # The fitted dimension spans 1; the other spans 1/aspect (width fitted) or aspect (height fitted).
    ax, ay = (1.0, traj.aspect) if _fits_width(traj) else (1.0 / traj.aspect, 1.0)
    out = np.empty((len(lens), 4))
    out[:, 0] = focal * ax * width
    out[:, 1] = focal * ay * height
    out[:, 2] = (0.5 - traj.shift_x * ax) * width - 0.5
    out[:, 3] = (0.5 + traj.shift_y * ay) * height - 0.5
    return out


def camera_poses(
    trajectory: Trajectory, width: int, height: int, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """``(c2w (F, 4, 4), intrinsics (F, 4))`` of every trajectory sample (see the module docstring)."""
    if trajectory.camera_type.upper() == "ORTHO":
        raise ValueError(
            "The shot's camera is orthographic but the pose model is perspective: set the camera's Type "
            "to Perspective in its properties."
        )
    _check_scale(scale)
    intr = intrinsics(trajectory, width, height)
    mats = matrices(trajectory)
    c2w = np.zeros((len(mats), 4, 4))
    if len(mats):
        c2w[:, :3, :3] = rotations(mats) @ BLENDER_TO_OPENCV
        c2w[:, :3, 3] = mats[:, :3, 3] * scale
        c2w[:, 3, 3] = 1.0
    return c2w, intr


def rigid_inverse(c2w: np.ndarray) -> np.ndarray:
    """Inverse of rigid 4x4 poses (..., 4, 4): transpose the rotation, rotate the translation back."""
    rt = np.swapaxes(c2w[..., :3, :3], -1, -2)
    out = np.zeros_like(c2w, dtype=float)
    out[..., :3, :3] = rt
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", rt, c2w[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out


def relative_poses(c2w: np.ndarray) -> np.ndarray:
    """Each pose relative to the first, ``inv(c2w[0]) @ c2w[i]`` (the first becomes the identity), as
    SANA-WM does itself; a chained segment passes its own poses to start from its own first frame."""
    c2w = np.asarray(c2w, dtype=float)
    if len(c2w) == 0:
        return c2w.copy()
    return rigid_inverse(c2w[0]) @ c2w


# --- Frame rate: resampling the path at other times ----------------------------------------------


def _quaternions(rots: np.ndarray) -> np.ndarray:
    """(N, 4) unit quaternions (w, x, y, z) of rotation matrices (N, 3, 3), from the largest of the four
    candidate components so that no division is by a small number."""
    r = rots
    tr = r[:, 0, 0] + r[:, 1, 1] + r[:, 2, 2]
    four_sq = np.stack([1 + tr, 1 + 2 * r[:, 0, 0] - tr, 1 + 2 * r[:, 1, 1] - tr, 1 + 2 * r[:, 2, 2] - tr], 1)
    k = np.argmax(four_sq, axis=1)
    big = 0.5 * np.sqrt(np.maximum(four_sq[np.arange(len(r)), k], 0.0))  # >= 0.5: the four sum to 4
    d = 4.0 * big
    wx, wy, wz = r[:, 2, 1] - r[:, 1, 2], r[:, 0, 2] - r[:, 2, 0], r[:, 1, 0] - r[:, 0, 1]
    xy, xz, yz = r[:, 0, 1] + r[:, 1, 0], r[:, 0, 2] + r[:, 2, 0], r[:, 1, 2] + r[:, 2, 1]
    cands = np.stack(
        [
            np.stack([big, wx / d, wy / d, wz / d], 1),
            np.stack([wx / d, big, xy / d, xz / d], 1),
            np.stack([wy / d, xy / d, big, yz / d], 1),
            np.stack([wz / d, xz / d, yz / d, big], 1),
        ],
        1,
    )
    return cands[np.arange(len(r)), k]


def _rotation_matrices(q: np.ndarray) -> np.ndarray:
    w, x, y, z = (q / np.linalg.norm(q, axis=1, keepdims=True)).T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        1,
    )


def _slerp(q0: np.ndarray, q1: np.ndarray, w: np.ndarray) -> np.ndarray:
    dot = np.einsum("ij,ij->i", q0, q1)
    q1 = np.where(dot[:, None] < 0, -q1, q1)  # the shorter way round
    dot = np.abs(dot)
    angle = np.arccos(np.clip(dot, -1.0, 1.0))
    sin = np.sin(angle)
    near = sin < 1e-9  # (almost) the same rotation: linear is exact enough and avoids 0/0
    safe = np.where(near, 1.0, sin)
    a = np.where(near, 1 - w, np.sin((1 - w) * angle) / safe)
    b = np.where(near, w, np.sin(w * angle) / safe)
    return a[:, None] * q0 + b[:, None] * q1


def resample(c2w: np.ndarray, intr: np.ndarray, times) -> tuple[np.ndarray, np.ndarray]:
    """Poses and intrinsics at fractional sample ``times`` (0 is the first sample, F - 1 the last):
    translation and intrinsics linear between the two neighbours, rotation by slerp. Integer times give
    the samples themselves."""
    c2w = np.asarray(c2w, dtype=float)
    intr = np.asarray(intr, dtype=float)
    t = np.asarray(times, dtype=float).reshape(-1)
    count = len(c2w)
    if count == 0 or len(intr) != count:
        raise ValueError(
            f"resample needs as many poses as intrinsics, at least one; got {count} and {len(intr)}."
        )
    if len(t) and (not np.all(np.isfinite(t)) or t.min() < 0 or t.max() > count - 1):
        raise ValueError(
            f"resample times must lie in [0, {count - 1}], the samples there are; got {t.min()} to {t.max()}."
        )
    i0 = np.minimum(np.floor(t).astype(int), max(count - 2, 0))
    i1 = np.minimum(i0 + 1, count - 1)
    w = t - i0
    out = np.zeros((len(t), 4, 4))
    quats = _quaternions(c2w[:, :3, :3])
    out[:, :3, :3] = _rotation_matrices(_slerp(quats[i0], quats[i1], w))
    out[:, :3, 3] = (1 - w)[:, None] * c2w[i0, :3, 3] + w[:, None] * c2w[i1, :3, 3]
    out[:, 3, 3] = 1.0
    return out, (1 - w)[:, None] * intr[i0] + w[:, None] * intr[i1]


def retime(count: int, scene_fps: float, model_fps: float) -> np.ndarray:
    """Fractional sample times of a clip at ``model_fps`` that spans exactly the ``count`` scene frames
    (first to last): as many frames as that duration holds at the model's rate, evenly spread, ending on
    the last scene frame. Retimed back to ``count`` frames, the clip covers the shot exactly."""
    if count < 1:
        raise ValueError(f"retime needs at least one scene frame, not {count}.")
    _check_scale(scene_fps, "scene_fps")
    _check_scale(model_fps, "model_fps")
    frames = int(round((count - 1) * model_fps / scene_fps)) + 1
    return np.linspace(0.0, count - 1.0, frames)


# --- Scale ---------------------------------------------------------------------------------------


def pose_scale(
    depth: float | None, *, override: float | None = None, metres_per_unit: float = 1.0
) -> tuple[float, str]:
    """``(scale, how it was chosen)``: the factor on the translation in scene units (see the module
    docstring). ``depth`` is the first frame's median depth in scene units (None when nothing is hit),
    ``metres_per_unit`` the scene's unit scale, ``override`` a shot's own Pose Scale (wins)."""
    if override is not None:
        _check_scale(override, "Pose Scale")
        return float(override), "set on the shot"
    _check_scale(metres_per_unit, "metres_per_unit")
    if depth is None or not math.isfinite(depth) or depth <= 0:
        return float(metres_per_unit), "nothing in the first frame to measure: scene units taken as metres"
    metres = depth * metres_per_unit
    near, far = METRIC_DEPTH_RANGE_M
    if near <= metres <= far:
        return float(metres_per_unit), f"median depth {metres:.3g} m of the first frame, taken as it is"
    target = near if metres < near else far
    side = "below" if metres < near else "beyond"
    return (
        float(metres_per_unit * target / metres),
        f"median depth {metres:.3g} m of the first frame, {side} real footage's {near:g}-{far:g} m: "
        f"scaled to {target:g} m",
    )
