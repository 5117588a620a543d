"""Camera trajectory math on plain numpy arrays (no bpy, no mathutils).

Conventions (Blender's): a camera looks down its local -Z axis, local +Y is up in the image and local
+X is right; the world is Z up. Angles are radians unless a name says ``_deg``.

Orientation is described against world Z up, the way an operator describes a fluid head:
- ``yaw``: heading of the view, counter-clockwise seen from above (turning left increases it);
- ``pitch``: elevation of the view (looking up is positive);
- ``roll``: rotation about the view axis, positive when the camera's top tips toward its left,
  i.e. counter-clockwise as seen by the viewer behind the camera (the image horizon turns clockwise).
"""

from __future__ import annotations

import math

import numpy as np

from .shots import Trajectory

WORLD_UP = np.array([0.0, 0.0, 1.0])


def matrices(traj: Trajectory) -> np.ndarray:
    """World matrices as an (N, 4, 4) array (the plan stores each row-major as 16 floats)."""
    if len(traj.matrix_world) == 0:
        return np.zeros((0, 4, 4))
    return np.asarray(traj.matrix_world, dtype=float).reshape(-1, 4, 4)


def positions(mats: np.ndarray) -> np.ndarray:
    """Camera positions (N, 3)."""
    return mats[:, :3, 3].copy()


def rotations(mats: np.ndarray) -> np.ndarray:
    """Pure rotations (N, 3, 3): the nearest rotation to each 3x3 block, so scale (and shear from
    non-uniformly scaled parents) is removed."""
    a = mats[:, :3, :3]
    u, _, vt = np.linalg.svd(a)
    r = u @ vt
    # A mirrored camera (negative scale) still gets a proper rotation.
    flip = np.linalg.det(r) < 0
    if np.any(flip):
        u = u.copy()
        u[flip, :, 2] *= -1
        r = u @ vt
    return r


def camera_axes(rots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(right, up, forward) unit vectors, each (N, 3): local +X, +Y and -Z in world space."""
    return rots[:, :, 0].copy(), rots[:, :, 1].copy(), -rots[:, :, 2].copy()


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n < 1e-12, 1.0, n)


def heading(forward: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Horizontal unit direction (N, 3) the camera faces. Looking (almost) straight down or up, the
    forward vector has no horizontal part, so the image's up direction stands in for it (for a level
    camera tilted past vertical these agree in the limit)."""
    h = forward.copy()
    h[:, 2] = 0.0
    steep = np.linalg.norm(h, axis=1) < 1e-3
    if np.any(steep):
        alt = up[steep].copy() * -np.sign(forward[steep, 2:3] + 1e-300)
        alt[:, 2] = 0.0
        h[steep] = alt
    return _unit(h)


def level_right(head: np.ndarray) -> np.ndarray:
    """Horizontal unit vector to the camera's right, perpendicular to its heading (N, 3)."""
    return _unit(np.cross(head, WORLD_UP))


def yaw_pitch_roll(rots: np.ndarray) -> np.ndarray:
    """(N, 3) yaw, pitch, roll in radians relative to world Z up (see the module docstring for signs).
    Yaw and roll are unwrapped along the sequence so that rates can be taken by differences."""
    right, up, fwd = camera_axes(rots)
    head = heading(fwd, up)
    yaw = np.arctan2(head[:, 1], head[:, 0])
    pitch = np.arcsin(np.clip(fwd[:, 2], -1.0, 1.0))
    r_level = level_right(head)
    u_level = np.cross(r_level, fwd)
    roll = np.arctan2(-np.einsum("ij,ij->i", up, r_level), np.einsum("ij,ij->i", up, u_level))
    if len(yaw):
        yaw = np.unwrap(yaw)
        roll = np.unwrap(roll)
    return np.stack([yaw, pitch, roll], axis=1)


def look_at_matrix(position, target, up=(0.0, 0.0, 1.0), roll: float = 0.0) -> np.ndarray:
    """A 4x4 camera world matrix at ``position`` looking at ``target`` (what Track To with -Z and up
    Y produces), rolled by ``roll`` radians about the view axis (positive: top tips left)."""
    p = np.asarray(position, dtype=float)
    fwd = _unit(np.asarray(target, dtype=float) - p)
    upv = np.asarray(up, dtype=float)
    right = np.cross(fwd, upv)
    if np.linalg.norm(right) < 1e-9:  # looking along the up vector: any right will do
        right = np.cross(fwd, np.array([0.0, 1.0, 0.0]))
    right = _unit(right)
    cam_up = np.cross(right, fwd)
    c, s = math.cos(roll), math.sin(roll)
    right, cam_up = c * right + s * cam_up, -s * right + c * cam_up
    m = np.eye(4)
    m[:3, 0] = right
    m[:3, 1] = cam_up
    m[:3, 2] = -fwd
    m[:3, 3] = p
    return m


def field_of_view(lens_mm, sensor_width_mm: float, sensor_height_mm: float, sensor_fit: str, aspect: float):
    """(horizontal, vertical) field of view in radians, as Blender computes it for the render aspect.

    AUTO fits the sensor width to the larger image dimension; HORIZONTAL fits the width to the image
    width; VERTICAL fits the sensor height to the image height. Lens shift does not change the FOV.
    """
    lens = np.asarray(lens_mm, dtype=float)
    fit = sensor_fit.upper()
    if fit == "VERTICAL":
        vfov = 2.0 * np.arctan(sensor_height_mm / (2.0 * lens))
        hfov = 2.0 * np.arctan(np.tan(vfov / 2.0) * aspect)
    elif fit == "HORIZONTAL" or (fit == "AUTO" and aspect >= 1.0):
        hfov = 2.0 * np.arctan(sensor_width_mm / (2.0 * lens))
        vfov = 2.0 * np.arctan(np.tan(hfov / 2.0) / aspect)
    else:  # AUTO, portrait: the sensor width spans the image height
        vfov = 2.0 * np.arctan(sensor_width_mm / (2.0 * lens))
        hfov = 2.0 * np.arctan(np.tan(vfov / 2.0) * aspect)
    return hfov, vfov


def nearest_point_to_rays(origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares point closest to all rays, and how well the rays pin it down: the smallest
    eigenvalue of the mean of (I - d d^T), which is about sin^2 of the rays' angular spread (0 when
    all rays are parallel)."""
    d = _unit(np.asarray(directions, dtype=float))
    o = np.asarray(origins, dtype=float)
    proj = np.eye(3)[None, :, :] - d[:, :, None] * d[:, None, :]
    a = proj.sum(axis=0)
    b = np.einsum("nij,nj->i", proj, o)
    eig = np.linalg.eigvalsh(a / len(d))
    # The eigenvector along the common direction is ill-posed for near-parallel rays; lstsq picks the
    # minimum-norm answer, which the conditioning value tells the caller to distrust.
    point = np.linalg.lstsq(a, b, rcond=None)[0]
    return point, float(eig[0])


def look_at_point(pos: np.ndarray, forward: np.ndarray, min_spread_deg: float = 4.0) -> np.ndarray | None:
    """Estimate the point the camera keeps looking at: the point nearest to all view rays.

    None when the rays do not pin a point down (too parallel: a dolly or truck without turning), or
    when the point is not in front of the camera (a pan from a fixed position, whose rays meet at the
    camera itself, or rays that diverge).
    """
    if len(pos) < 2:
        return None
    point, spread = nearest_point_to_rays(pos, forward)
    # Two rays at angle a give spread sin^2(a/2)/2; require a few degrees of turning.
    if spread < 0.5 * math.sin(math.radians(min_spread_deg) / 2.0) ** 2:
        return None
    rel = point[None, :] - pos
    depth = np.einsum("ij,ij->i", rel, forward)
    if np.min(depth) <= 1e-9:
        return None
    # How far each ray passes from the point: an orbit's rays all go through it, while a pan with a
    # little handheld wobble has rays that miss by about as much as the point's (tiny) depth.
    miss = np.linalg.norm(rel - depth[:, None] * forward, axis=1)
    if float(np.sqrt(np.mean(miss**2))) > 0.1 * float(np.median(depth)):
        return None
    return point


def path_length(pos: np.ndarray) -> float:
    """Length of the camera path (sum of the steps)."""
    if len(pos) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(pos, axis=0), axis=1).sum())
