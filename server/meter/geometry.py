"""Relative camera motion between two frames from point tracks (OpenCV), and the clip's estimated
trajectory built from it.

Per pair of frames a baseline apart, two models are fitted to the tracked points:

- rotation + zoom: a homography (RANSAC) reduced to ``diag(s, s, 1) R`` in normalised coordinates,
  the exact form of a camera that only turns and zooms about its own centre;
- rotation + translation: the essential matrix with the known intrinsics, then ``recoverPose`` for the
  rotation and the direction of translation; the tracked points triangulated against it give their
  depth in units of the step, so the step can be expressed as a fraction of the median scene depth.

The first explains the points unless the camera moved and the scene has depth (parallax): then its
residual rises well above the second's (``PARALLAX_*``) and the second is used, with the lens taken as
fixed. A dolly
toward a flat wall is therefore a zoom, and a truck along it a pan: without parallax the pictures
cannot tell them apart (README, "The motion meter").

Conventions: OpenCV's camera (x right, y down, z forward; ``X2 = R X1 + t``) inside this module;
the trajectory it returns uses Blender's (x right, y up, looking down -z), as core/trajectory.py does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from blender_ltx.core.shots import Trajectory
from blender_ltx.core.trajectory import field_of_view, look_at_matrix

#: Points a pair needs (fewer: the pair is not measured).
MIN_POINTS = 20
#: The camera is taken to have moved (parallax) where the rotation + zoom model leaves a median residual
#: above this many pixels (at tracking size; the noise floor: pure turns leave about 0.06) ...
PARALLAX_PX = 0.2
#: ... and above this fraction of the median flow (a zoom's residual, LK's bias on scaled texture, grows
#: with the zoom: 2-3 % of the flow) ...
PARALLAX_FRACTION = 0.02
#: ... and this many times the essential matrix's (Sampson) residual: the test that separates them best
#: (measured: zoom 2.7-3, dolly 6-9, pedestal 12-18, truck 50+), and unlike a fixed pixel threshold it
#: holds for a slow dolly at shot size.
PARALLAX_RATIO = 5.0
#: Next to a pair that moves, this fraction of the threshold is enough.
PARALLAX_HYSTERESIS = 0.5
#: Frames between the two pictures of a pair, in seconds (at least two frames): long enough for a
#: slow dolly to show parallax, short enough that a change of move is not averaged away.
BASELINE_S = 0.3
#: The most a picture may zoom between two frames a baseline apart (either way) for the turn-and-zoom
#: model to count: beyond it the points fit no camera (a tiny LTX-2's noise sent Gauss-Newton to
#: exp(1000), an OverflowError), and the pair is left unmeasured.
MAX_PAIR_ZOOM = 8.0

_FLIP = np.diag([1.0, -1.0, -1.0])  # Blender camera axes <-> OpenCV camera axes


@dataclass
class PairMotion:
    rotation: np.ndarray  # (3, 3), OpenCV: X_b = R X_a + t
    step: np.ndarray  # (3,) translation in camera a, in units of the median scene depth (0: none seen)
    zoom: float  # focal length ratio b / a
    points: int
    residual_px: float  # rotation + zoom model, median


def intrinsics(
    lens_mm: float,
    sensor_width_mm: float,
    width: float,
    height: float,
    sensor_fit: str = "AUTO",
    sensor_height_mm: float | None = None,
):
    """Pixel camera matrix for a frame of width x height, as Blender's camera model gives it (square
    pixels, principal point in the middle)."""
    sensor_height_mm = sensor_height_mm or sensor_width_mm * height / width
    hfov, _ = field_of_view(lens_mm, sensor_width_mm, sensor_height_mm, sensor_fit, width / height)
    f = (width / 2.0) / math.tan(float(hfov) / 2.0)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def _kinv(k: np.ndarray) -> np.ndarray:
    # Written out: np.linalg.inv on a 3x3 goes through LAPACK, whose thread start-up costs more than
    # the rest of a pair's fit on a busy machine.
    f, cx, cy = k[0, 0], k[0, 2], k[1, 2]
    return np.array([[1.0 / f, 0.0, -cx / f], [0.0, 1.0 / f, -cy / f], [0.0, 0.0, 1.0]])


def _nearest_rotation(m: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, 2] *= -1
        r = u @ vt
    return r


def _rotation_zoom(p1: np.ndarray, p2: np.ndarray, k: np.ndarray):
    """(R, zoom, median residual px, median flow px) of the turn-and-zoom model, or None."""
    import cv2

    # RHO (PROSAC with a fast inner loop) finds the same inliers as RANSAC at a seventh of the time;
    # the model fitted below on them is what is used.
    h, mask = cv2.findHomography(p1, p2, cv2.RHO, 1.0, maxIters=200, confidence=0.99)
    if h is None:
        return None
    kinv = _kinv(k)
    hn = kinv @ h @ k
    hn = hn / (np.linalg.norm(hn[2]) * np.sign(hn[2, 2] or 1.0))
    zoom = 0.5 * (np.linalg.norm(hn[0]) + np.linalg.norm(hn[1]))
    if not (np.isfinite(hn).all() and 1.0 / MAX_PAIR_ZOOM <= zoom <= MAX_PAIR_ZOOM):
        return None
    rot = _nearest_rotation(np.diag([1.0 / zoom, 1.0 / zoom, 1.0]) @ hn)
    # The reduction above is exact only for a noise-free homography; a few Gauss-Newton steps on the
    # four parameters (a rotation, the log zoom) fit the model itself to the homography's inliers.
    x1 = p1 @ kinv[:2, :2].T + kinv[:2, 2]  # normalised image coordinates (z = 1)
    inl = mask.ravel() > 0
    refined = _refine(rot, math.log(zoom), x1[inl], p2[inl], k)
    if refined is None:
        return None
    rot, log_zoom = refined
    pred = _project(rot, log_zoom, x1, k)
    flow = float(np.median(np.linalg.norm(p2 - p1, axis=1)))
    return rot, math.exp(log_zoom), float(np.median(np.linalg.norm(pred - p2, axis=1))), flow


def _bearings(rot: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """``rot`` applied to the rays (x, y, 1) of normalised points (N, 2)."""
    return x1 @ rot[:, :2].T + rot[:, 2]


def _project(rot: np.ndarray, log_zoom: float, x1: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Pixels of the points after the camera turned by ``rot`` and zoomed by exp(``log_zoom``)."""
    b = _bearings(rot, x1)
    return (k[0, 0] * math.exp(log_zoom)) * b[:, :2] / b[:, 2:3] + k[:2, 2]


def _refine(rot, log_zoom, x1, p2, k, steps: int = 5):
    """Gauss-Newton on (rotation, log zoom) with the analytic Jacobian: the rotation is updated on the
    left by a small turn d (b -> b + d x b), the zoom by its log. None where the zoom leaves
    ``MAX_PAIR_ZOOM`` (the points fit no turn and zoom)."""
    import cv2

    if len(x1) < 4:
        return rot, log_zoom
    f = k[0, 0]
    for _ in range(steps):
        b = _bearings(rot, x1)
        fs = f * math.exp(log_zoom)
        iz = 1.0 / b[:, 2]
        u, v = b[:, 0] * iz, b[:, 1] * iz
        bx, by, bz = b[:, 0], b[:, 1], b[:, 2]
        res = np.concatenate([fs * u + k[0, 2] - p2[:, 0], fs * v + k[1, 2] - p2[:, 1]])
        jac = np.empty((2 * len(b), 4))
        n = len(b)
        jac[:n, 0], jac[:n, 1], jac[:n, 2] = -u * by, bz + u * bx, -by  # d(u)/d(turn), times fs / bz
        jac[n:, 0], jac[n:, 1], jac[n:, 2] = -bz - v * by, v * bx, bx
        jac[:n, :3] *= (fs * iz)[:, None]
        jac[n:, :3] *= (fs * iz)[:, None]
        jac[:n, 3], jac[n:, 3] = fs * u, fs * v
        try:
            delta = np.linalg.solve(jac.T @ jac, -(jac.T @ res))
        except np.linalg.LinAlgError:  # degenerate points (all on a line, or one spot): keep the start
            break
        if not np.isfinite(delta).all():
            break
        rot = cv2.Rodrigues(delta[:3])[0] @ rot
        log_zoom += float(delta[3])
        if abs(log_zoom) > math.log(MAX_PAIR_ZOOM):
            return None
        if np.abs(delta).max() < 1e-9:
            break
    return rot, log_zoom


def _rotation_translation(p1: np.ndarray, p2: np.ndarray, k: np.ndarray):
    """(R, unit t, median depth of the points in units of |t|, median Sampson error px), or None."""
    import cv2

    # USAC_ACCURATE refines on the inliers: plain RANSAC let a pedestal leak into a tilt (the two trade
    # off against each other in a narrow view).
    e, mask = cv2.findEssentialMat(p1, p2, k, cv2.USAC_ACCURATE, 0.999, 0.5)
    if e is None or e.shape[0] < 3:
        return None
    _, rot, t, mask, pts = cv2.recoverPose(e[:3], p1, p2, k, distanceThresh=1e4, mask=mask)
    good = mask.ravel() > 0
    if good.sum() < MIN_POINTS // 2:
        return None
    depth = pts[2, good] / pts[3, good]
    depth = depth[np.isfinite(depth) & (depth > 0)]
    if len(depth) < MIN_POINTS // 2:
        return None
    f = _kinv(k).T @ e[:3] @ _kinv(k)
    fx1, ftx2 = p1 @ f[:, :2].T + f[:, 2], p2 @ f[:2] + f[2]
    num = (np.einsum("ij,ij->i", p2, fx1[:, :2]) + fx1[:, 2]) ** 2
    den = fx1[:, 0] ** 2 + fx1[:, 1] ** 2 + ftx2[:, 0] ** 2 + ftx2[:, 1] ** 2
    sampson = float(np.median(np.sqrt(num / np.maximum(den, 1e-12))))
    return rot, t.ravel() / np.linalg.norm(t), float(np.median(depth)), sampson


def _fit_pair(p1: np.ndarray, p2: np.ndarray, k: np.ndarray):
    """(turn-and-zoom fit, turn-and-move fit or None) for one pair, or None when it cannot be measured.
    The second is only fitted where the first leaves a residual that could be parallax."""
    if len(p1) < MIN_POINTS:
        return None
    p1 = np.ascontiguousarray(p1, dtype=np.float64)
    p2 = np.ascontiguousarray(p2, dtype=np.float64)
    rz = _rotation_zoom(p1, p2, k)
    if rz is None:
        return None
    rt = _rotation_translation(p1, p2, k) if rz[2] > PARALLAX_HYSTERESIS * PARALLAX_PX else None
    return rz, rt, len(p1)


def _moves(fit, factor: float = 1.0) -> bool:
    # The essential matrix fits any turn or zoom too (with made-up depths), so translation is taken
    # only where it explains the points clearly better than turning and zooming does.
    (_, _, residual, flow), rt, _ = fit
    threshold = factor * max(PARALLAX_PX, PARALLAX_FRACTION * flow)
    return rt is not None and residual > threshold and residual > PARALLAX_RATIO * rt[3]


def _pair_motion(fit, moving: bool) -> PairMotion:
    (rot, zoom, residual, _), rt, points = fit
    if moving:
        rot_t, t, depth, _ = rt
        return PairMotion(rot_t, t / depth, 1.0, points, residual)
    return PairMotion(rot, np.zeros(3), zoom, points, residual)


def _fraction(pair: PairMotion, g: int) -> tuple[np.ndarray, np.ndarray, float]:
    """One frame's share of a pair g frames apart (even motion across the baseline)."""
    import cv2

    rvec, _ = cv2.Rodrigues(pair.rotation)
    rot, _ = cv2.Rodrigues(rvec / g)
    return rot, pair.step / g, pair.zoom ** (1.0 / g)


def baseline_frames(fps: float) -> int:
    return max(2, round(BASELINE_S * fps))


def measure_pairs(tracks: np.ndarray, k: np.ndarray, g: int) -> list[tuple[int, int, PairMotion | None]]:
    """Pairs (a, a + g) every g // 2 frames (the last one ending on the last frame)."""
    n = tracks.shape[1]
    g = min(g, n - 1)
    starts = list(range(0, n - g, max(1, g // 2)))
    if not starts or starts[-1] != n - 1 - g:
        starts.append(n - 1 - g)
    fits = []
    for a in starts:
        both = np.isfinite(tracks[:, a, 0]) & np.isfinite(tracks[:, a + g, 0])
        fits.append(_fit_pair(tracks[both, a], tracks[both, a + g], k))
    # Hysteresis, as core/motion.py does for rates: a pair next to a moving one moves too while its
    # parallax stays above a fraction of the threshold (a dolly out's parallax fades as the set recedes).
    moving = [f is not None and _moves(f) for f in fits]
    changed = True
    while changed:
        changed = False
        for i, f in enumerate(fits):
            near = (i > 0 and moving[i - 1]) or (i + 1 < len(fits) and moving[i + 1])
            if f is not None and not moving[i] and near and _moves(f, PARALLAX_HYSTERESIS):
                moving[i] = changed = True
    return [
        (a, a + g, None if f is None else _pair_motion(f, m))
        for a, f, m in zip(starts, fits, moving, strict=True)
    ]


def estimated_trajectory(
    pairs: list[tuple[int, int, PairMotion | None]],
    n: int,
    lens_mm: float,
    sensor_width_mm: float,
    aspect: float,
    start: np.ndarray | None = None,
) -> Trajectory:
    """Per frame 0..n-1, the camera chained from the pairs: each frame step takes its share of the
    measured pair whose centre is nearest. Rotations are as measured; positions are in units of the
    median scene depth; the lens follows the measured zoom. ``start`` (4x4, Blender) places the first
    frame (default: level, looking along +Y), which fixes what "up" is for pans and tilts."""
    measured = [(a, b, p) for a, b, p in pairs if p is not None]
    world = np.array(start if start is not None else look_at_matrix((0, 0, 0), (0, 1, 0)), dtype=float)
    world[:3, 3] = 0.0
    mats, lens = [world.copy()], [lens_mm]
    flip = np.eye(4)
    flip[:3, :3] = _FLIP
    for i in range(n - 1):
        a, b, pair = min(measured, key=lambda m: abs(0.5 * (m[0] + m[1]) - (i + 0.5)))
        rot, step, zoom = _fraction(pair, b - a)
        back = np.eye(4)  # camera i+1 -> camera i, OpenCV axes
        back[:3, :3] = rot.T
        back[:3, 3] = -rot.T @ step
        world = world @ flip @ back @ flip
        mats.append(world.copy())
        lens.append(lens[-1] * zoom)
    return Trajectory(
        frames=list(range(n)),
        matrix_world=[m.reshape(-1).tolist() for m in mats],
        lens_mm=lens,
        sensor_width_mm=sensor_width_mm,
        sensor_height_mm=sensor_width_mm / aspect,
        sensor_fit="AUTO",
        aspect=aspect,
    )
