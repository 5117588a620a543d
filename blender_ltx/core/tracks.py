"""Motion tracks from the scene's own geometry: world points through the shot's camera to pixels.

Pure numpy (no bpy). The camera model is Blender's (see core/trajectory.py): the sensor spans the
"fitted" image dimension (AUTO: the larger one), lens shift is a fraction of that dimension, and the
generated frame is the render frame resized to the generation grid, so pixel positions scale with
``width``/``height`` whatever rounding the grid did. Pixels: x right, y down, origin top-left (the
top-left corner of the top-left pixel), so a point on the frame's edge lands on 0 or ``width``.
"""

from __future__ import annotations

import numpy as np

from .shots import Trajectory
from .trajectory import matrices, positions, rotations

#: How many tracks the Motion-Track reference carries by default: "a few dozen".
DEFAULT_TRACK_COUNT = 32


def _fits_width(traj: Trajectory) -> bool:
    fit = traj.sensor_fit.upper()
    return fit == "HORIZONTAL" or (fit == "AUTO" and traj.aspect >= 1.0)


def camera_space(traj: Trajectory, points) -> np.ndarray:
    """Points (N, 3) in each sample's camera frame: (frames, N, 3), x right, y up, z back (Blender's)."""
    mats = matrices(traj)
    rots = rotations(mats)
    rel = np.asarray(points, dtype=float)[None, :, :] - positions(mats)[:, None, :]
    # The rotation's columns are the camera axes in world space, so its transpose takes world to camera.
    return np.einsum("fji,fnj->fni", rots, rel)


def _plane_coords(traj: Trajectory, cam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(u, v, in_front): positions on the image plane in units of the fitted dimension, centred and
    before shift; in_front False where the projection is undefined (an ortho camera is a new branch
    here: u, v = x / ortho_scale, y / ortho_scale, all in front)."""
    depth = -cam[..., 2]
    in_front = depth > 1e-9
    lens = np.asarray(traj.lens_mm, dtype=float)[:, None]
    sensor = traj.sensor_height_mm if traj.sensor_fit.upper() == "VERTICAL" else traj.sensor_width_mm
    safe = np.where(in_front, depth, 1.0)
    return cam[..., 0] * lens / (sensor * safe), cam[..., 1] * lens / (sensor * safe), in_front


def project_points(traj: Trajectory, points, width: int, height: int) -> np.ndarray:
    """Pixel positions (frames, N, 2) of world ``points`` (N, 3) on every trajectory sample, in a
    ``width`` x ``height`` frame; NaN where a point is behind the camera (or on its plane)."""
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    if len(traj) == 0:
        return np.zeros((0, len(pts), 2))
    u, v, in_front = _plane_coords(traj, camera_space(traj, pts))
    u = u - traj.shift_x
    v = v - traj.shift_y
    if _fits_width(traj):
        fx, fy = u + 0.5, v * traj.aspect + 0.5
    else:
        fx, fy = u / traj.aspect + 0.5, v + 0.5
    out = np.stack([fx * width, (1.0 - fy) * height], axis=-1)
    out[~in_front] = np.nan
    return out


def in_frame(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boolean (..., ) mask of pixel positions inside the frame (NaN is outside)."""
    x, y = pixels[..., 0], pixels[..., 1]
    with np.errstate(invalid="ignore"):
        return (x >= 0) & (x <= width) & (y >= 0) & (y <= height)


def end_tracks(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Tracks (frames, N, 2) where each point's track ends the first time it leaves the frame or goes
    behind the camera: NaN from then on, even if it comes back (a new appearance would be a new point
    to the model, not the same one)."""
    out = np.array(pixels, dtype=float, copy=True)
    if out.size == 0:
        return out
    alive = np.logical_and.accumulate(in_frame(out, width, height), axis=0)
    out[~alive] = np.nan
    return out


def farthest_point_sample(pixels: np.ndarray, count: int) -> np.ndarray:
    """Indices of up to ``count`` of the 2D ``pixels`` (N, 2), spread out: start from the point nearest
    the centroid, then repeatedly take the point farthest from all taken so far. Deterministic."""
    pts = np.asarray(pixels, dtype=float)
    if len(pts) == 0 or count <= 0:
        return np.zeros(0, dtype=int)
    first = int(np.argmin(np.linalg.norm(pts - pts.mean(axis=0), axis=1)))
    chosen = [first]
    dist = np.linalg.norm(pts - pts[first], axis=1)
    while len(chosen) < min(count, len(pts)):
        nxt = int(np.argmax(dist))
        if dist[nxt] <= 0.0:  # only duplicates of taken points are left
            break
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(pts - pts[nxt], axis=1))
    return np.array(chosen, dtype=int)


def choose_track_points(
    traj: Trajectory, candidates, width: int, height: int, count: int = DEFAULT_TRACK_COUNT
) -> np.ndarray:
    """World points (M, 3), M <= count, to track: the ``candidates`` (N, 3) that the first frame sees
    (in front of the camera and inside the frame), spread over that frame by farthest-point sampling.
    Occlusion is the caller's business (pass visible vertices, or empties)."""
    pts = np.asarray(candidates, dtype=float).reshape(-1, 3)
    if len(traj) == 0 or len(pts) == 0:
        return np.zeros((0, 3))
    px = project_points(traj.slice(traj.frames[0], traj.frames[0]), pts, width, height)[0]
    seen = np.flatnonzero(in_frame(px, width, height))
    return pts[seen[farthest_point_sample(px[seen], count)]]


def tracks_for(
    traj: Trajectory, candidates, width: int, height: int, count: int = DEFAULT_TRACK_COUNT
) -> np.ndarray:
    """The Motion-Track request's numbers: (frames, M, 2) pixel tracks of the chosen points, ended."""
    chosen = choose_track_points(traj, candidates, width, height, count)
    return end_tracks(project_points(traj, chosen, width, height), width, height)


def to_json_tracks(tracks: np.ndarray, decimals: int = 2) -> list[list[list[float] | None]]:
    """Tracks as JSON-ready lists (frames x N x [x, y]), ``None`` where a track has ended."""
    out = []
    for frame in np.round(np.asarray(tracks, dtype=float), decimals):
        out.append([None if np.isnan(p).any() else [float(p[0]), float(p[1])] for p in frame])
    return out
