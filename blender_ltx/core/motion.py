"""Camera motion analysis: a trajectory in, film-language segments and a shot script out.

Vocabulary (``shots.MOTION_KINDS``), all in the camera's own frame:

- ``dolly_in`` / ``dolly_out``: moving along the view direction, toward / away from what is seen (an
  orthographic camera never dollies: moving it along its view axis leaves the picture as it is);
- ``truck_left`` / ``truck_right``: moving sideways, toward the camera's left / right (horizontal);
- ``pedestal_up`` / ``pedestal_down``: moving vertically (world Z; an orthographic camera: along the
  image's vertical, which is world Z when it is level);
- ``pan_left`` / ``pan_right``: the view turns left / right about world up;
- ``tilt_up`` / ``tilt_down``: the view turns up / down;
- ``roll_left`` / ``roll_right``: rotation about the view axis; roll_left = the camera's top tips toward
  its left (counter-clockwise as the viewer behind the camera sees it; the horizon in the image turns
  clockwise);
- ``zoom_in`` / ``zoom_out``: focal length up / down (orthographic: ``ortho_scale`` down / up);
- ``orbit_left`` / ``orbit_right``: moving toward the camera's left / right while turning to keep the
  same point in view. Reported instead of truck + pan when the pivot (the point the view turns about)
  stays put and lies in front of the camera at a plausible subject distance;
- ``static``: none of the above above its threshold (handheld jitter stays static).

A segment can carry several kinds (``dolly_in`` + ``pan_left``).

Speeds are scale-aware (see ``SPEED_*`` below). Translation is measured as a fraction of the distance
to what the camera looks at per second; that distance is, in order: the point the view rays converge on
(an orbit's centre, a tracked subject), the caller's ``subject_distance``, else the camera's median
distance to the world origin (scenes are built around it; at least half its path length), so the
same move at ten times the scene scale reads the same. An orthographic camera's distance to anything
does not show in its picture, so its scale is its view size instead (``ORTHO_DISTANCE_PER_SCALE``).
Rotation is in degrees per second; zoom in relative focal change per second (natural log, so 35 mm ->
50 mm over 2 s is ln(50/35)/2 = 0.18/s; for an orthographic camera the same of 1 / ortho_scale).

Segmentation: rates are taken over a window of about ``WINDOW_S`` (net motion, so frame-to-frame
jitter cancels), each sample gets a kind set, samples just below the threshold next to a move join it
(hysteresis, so eased starts and stops do not become static segments), runs shorter than
``MIN_SEGMENT_S`` merge into the most similar neighbour, boundaries between two runs are then refined
on a short window, and a run whose net motion is below ``NET_*`` is static.
"""

from __future__ import annotations

import math

import numpy as np

from .shots import CAMERA_TYPES, MOTION_KINDS, MotionSegment, Trajectory
from .trajectory import (
    camera_axes,
    heading,
    level_right,
    look_at_point,
    matrices,
    path_length,
    positions,
    rotations,
    yaw_pitch_roll,
)

# --- thresholds (see the module docstring) ---------------------------------------------------------
#: Window for rates (net motion across it), and the shortest segment kept.
WINDOW_S = 0.4
MIN_SEGMENT_S = 0.4
#: A component counts as moving above these rates.
ACTIVE_TRANSLATION = 0.02  # fraction of the subject distance per second
ACTIVE_ROTATION_DEG = 2.0  # degrees per second (pan, tilt, roll, orbit)
ACTIVE_ZOOM = 0.03  # relative focal change per second
#: Samples next to a move join it while above this fraction of the thresholds (eased starts / stops).
HYSTERESIS = 0.25
#: Within translation (dolly/truck/pedestal) and within pan/tilt, a component must be this fraction of
#: the strongest to be named (a dolly on a slightly sloped track is not also a pedestal).
DOMINANCE = 0.5
#: A segment's net motion must reach these, else it is static (jitter and sway go back and forth).
NET_TRANSLATION = 0.03  # fraction of the subject distance
NET_ROTATION_DEG = 2.0
NET_ZOOM = 0.05
#: Speed classes: below the first is slow, below the second medium, else fast.
SPEED_TRANSLATION = (0.08, 0.25)  # fraction of subject distance per second
SPEED_ROTATION_DEG = (10.0, 30.0)  # degrees per second
SPEED_ZOOM = (0.10, 0.30)  # relative focal change per second
#: Orbit: the pivot must lie in front at this range of the reference distance, and stay put
#: (median wander of the pivot under this fraction of its distance).
ORBIT_DISTANCE_RANGE = (0.2, 5.0)
ORBIT_PIVOT_WANDER = 0.3
#: Scene-scale fallback when nothing else gives a distance (Blender units).
FALLBACK_DISTANCE = 10.0
#: An orthographic view ``ortho_scale`` wide reads like a normal lens (50 mm on a 36 mm sensor) seeing
#: that width, which it does from ortho_scale * 50 / 36 away: that is its subject distance.
ORTHO_DISTANCE_PER_SCALE = 50.0 / 36.0

# Components of the cumulative motion, in this order.
_DOLLY, _TRUCK, _PED, _PAN, _TILT, _ROLL, _ZOOM = range(7)
_AXES = (
    (_DOLLY, "dolly_in", "dolly_out"),
    (_TRUCK, "truck_right", "truck_left"),
    (_PED, "pedestal_up", "pedestal_down"),
    (_PAN, "pan_left", "pan_right"),
    (_TILT, "tilt_up", "tilt_down"),
    (_ROLL, "roll_left", "roll_right"),
    (_ZOOM, "zoom_in", "zoom_out"),
)
_KIND_AXIS = {k: (axis, 1.0) for axis, k, _ in _AXES} | {k: (axis, -1.0) for axis, _, k in _AXES}
_TRANSLATION = (_DOLLY, _TRUCK, _PED)
_TURN = (_PAN, _TILT)
_ORDER = {k: i for i, k in enumerate(MOTION_KINDS)}


def _ortho_scales(traj: Trajectory, n: int) -> np.ndarray | None:
    """The per-sample view sizes of an orthographic trajectory, None for a perspective one."""
    if traj.camera_type not in CAMERA_TYPES:
        raise ValueError(
            f"trajectory.camera_type must be one of {', '.join(CAMERA_TYPES)}, got {traj.camera_type!r}"
        )
    if traj.camera_type != "ORTHO":
        return None
    scales = np.asarray(traj.ortho_scale, dtype=float)
    if len(scales) != n:
        raise ValueError(f"trajectory.ortho_scale has {len(scales)} values for {n} frames")
    if np.any(~np.isfinite(scales)) or np.any(scales <= 0):
        raise ValueError("trajectory.ortho_scale must be positive view sizes in scene units")
    return scales


class _Motion:
    """Cumulative motion per sample (N, 7) in the units the thresholds use, plus what orbits need."""

    def __init__(self, traj: Trajectory, fps: float, subject_distance: float | None):
        n = len(traj)
        frames = np.asarray(traj.frames, dtype=float)
        if np.any(np.diff(frames) <= 0):
            raise ValueError("trajectory.frames must be strictly increasing scene frame numbers")
        if len(traj.matrix_world) != n:
            raise ValueError(f"trajectory has {len(traj.matrix_world)} matrices for {n} frames")
        lens = np.asarray(traj.lens_mm if len(traj.lens_mm) else [50.0] * n, dtype=float)
        if len(lens) != n:
            raise ValueError(f"trajectory has {len(lens)} lens_mm values for {n} frames")
        if np.any(~np.isfinite(lens)) or np.any(lens <= 0):
            raise ValueError("trajectory.lens_mm must be positive focal lengths in mm")
        mats = matrices(traj)
        if not np.all(np.isfinite(mats)):
            raise ValueError("trajectory.matrix_world must hold finite numbers")
        self.ortho = _ortho_scales(traj, n)
        self.frames = [int(f) for f in traj.frames]
        self.t = (frames - frames[0]) / fps
        self.pos = positions(mats)
        rots = rotations(mats)
        _, up, fwd = camera_axes(rots)
        self.head = heading(fwd, up)
        self.right = level_right(self.head)
        if self.ortho is not None:
            self.distance = float(np.median(self.ortho)) * ORTHO_DISTANCE_PER_SCALE
        else:
            self.distance = self._reference_distance(fwd, subject_distance)

        steps = np.diff(self.pos, axis=0)
        side = 0.5 * (self.right[:-1] + self.right[1:])
        if self.ortho is None:
            # Translation split like a dolly grip would: along the floor toward where the camera faces
            # (dolly), along the floor to its side (truck), and vertically (pedestal). This basis is
            # orthonormal at any tilt, so a tilted-down camera pushed along the floor is a pure dolly and
            # a move along a gently pitched view stays a dolly (its vertical part falls under DOMINANCE).
            head = 0.5 * (self.head[:-1] + self.head[1:])
            along, vertical = np.einsum("ij,ij->i", steps, head), steps[:, 2]
        else:
            # Only the move within the image plane shows: sideways (truck) and along the image's
            # vertical (pedestal); the part along the view axis changes nothing, so there is no dolly.
            image_up = np.cross(self.right, fwd)
            image_up = 0.5 * (image_up[:-1] + image_up[1:])
            along, vertical = np.zeros(n - 1), np.einsum("ij,ij->i", steps, image_up)
        coef = np.stack([along, np.einsum("ij,ij->i", steps, side), vertical], axis=1)
        ypr = np.degrees(yaw_pitch_roll(rots))
        inc = np.zeros((n - 1, 7))
        inc[:, :3] = coef / self.distance
        inc[:, _PAN] = np.diff(ypr[:, 0])
        inc[:, _TILT] = np.diff(ypr[:, 1])
        inc[:, _ROLL] = np.diff(ypr[:, 2])
        # Magnification goes with the focal length, or for an orthographic camera with 1 / its view size.
        inc[:, _ZOOM] = np.diff(np.log(lens)) if self.ortho is None else -np.diff(np.log(self.ortho))
        self.cum = np.vstack([np.zeros((1, 7)), np.cumsum(inc, axis=0)])
        self.active = np.array([ACTIVE_TRANSLATION] * 3 + [ACTIVE_ROTATION_DEG] * 3 + [ACTIVE_ZOOM])

    def _reference_distance(self, fwd: np.ndarray, subject_distance: float | None) -> float:
        point = look_at_point(self.pos, fwd)
        if point is not None:
            return float(np.median(np.linalg.norm(point[None, :] - self.pos, axis=1)))
        if subject_distance is not None:
            if not math.isfinite(subject_distance) or subject_distance <= 0:
                raise ValueError(f"subject_distance must be a positive distance, got {subject_distance!r}")
            return float(subject_distance)
        # A camera that flies past the origin must not read as racing: its own path length
        # sets a floor on the scale.
        d = max(float(np.median(np.linalg.norm(self.pos, axis=1))), 0.5 * path_length(self.pos))
        return d if d > 1e-6 else FALLBACK_DISTANCE

    @property
    def pivot_range(self) -> tuple[float, float]:
        """Where an orbit's pivot may lie in front of the camera (scene units). An orthographic camera
        stands anywhere along its view axis, so only the near limit applies to it."""
        lo, hi = ORBIT_DISTANCE_RANGE
        return lo * self.distance, (math.inf if self.ortho is not None else hi * self.distance)

    def rates(self, half: int) -> np.ndarray:
        """(N, 7) rates over a centred window of +-half samples (net motion / time)."""
        n = len(self.t)
        i = np.arange(n)
        lo, hi = np.maximum(i - half, 0), np.minimum(i + half, n - 1)
        dt = self.t[hi] - self.t[lo]
        return (self.cum[hi] - self.cum[lo]) / np.where(dt > 0, dt, 1.0)[:, None]

    def orbit_pivot(self, r: np.ndarray) -> np.ndarray:
        """Per sample, the horizontal distance in front of the camera about which truck + pan turn
        (truck speed / pan speed; negative when they turn the wrong way for an orbit)."""
        pan_rad = np.radians(r[:, _PAN])
        truck = r[:, _TRUCK] * self.distance
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(np.abs(pan_rad) > 1e-12, truck / pan_rad, np.inf)


def _kinds_at(
    r: np.ndarray, active: np.ndarray, pivot: np.ndarray, pivot_range: tuple[float, float], weak: bool = False
):
    """Kind set per sample from rates (N, 7)."""
    scale = HYSTERESIS if weak else 1.0
    act = np.abs(r) / (active * scale)
    lo, hi = pivot_range
    out = []
    for i in range(len(r)):
        on = act[i] >= 1.0
        kinds: set[str] = set()
        axes = set(np.flatnonzero(on).tolist())
        if _TRUCK in axes and _PAN in axes and lo <= pivot[i] <= hi:
            kinds.add("orbit_right" if r[i, _TRUCK] > 0 else "orbit_left")
            axes -= {_TRUCK, _PAN}
        orbiting = bool(kinds)
        for group in (_TRANSLATION, _TURN):
            live = [a for a in group if a in axes]
            # An orbit's sideways move still sets the scale, so the small dolly component of a
            # straight pass tracking a subject is not named as well.
            ref = live + ([_TRUCK] if orbiting and group is _TRANSLATION else [])
            if live:
                top = max(abs(r[i, a]) / active[a] for a in ref)
                for a in live:
                    if abs(r[i, a]) / active[a] < DOMINANCE * top:
                        axes.discard(a)
        for axis, pos_kind, neg_kind in _AXES:
            if axis in axes:
                kinds.add(pos_kind if r[i, axis] > 0 else neg_kind)
        out.append(frozenset(kinds))
    return out


def _runs(labels: list[frozenset]) -> list[list]:
    runs: list[list] = []
    for i, lab in enumerate(labels):
        if runs and runs[-1][0] == lab:
            runs[-1][2] = i
        else:
            runs.append([lab, i, i])
    return runs


def _coalesce(runs: list[list]) -> list[list]:
    out: list[list] = []
    for run in runs:
        if out and out[-1][0] == run[0]:
            out[-1][2] = run[2]
        else:
            out.append(list(run))
    return out


def _grow_into_static(runs: list[list], weak: list[frozenset]) -> list[list]:
    """Let moves absorb neighbouring static samples that still move a little in the same way."""
    labels = [run[0] for run in runs for _ in range(run[1], run[2] + 1)]
    n = len(labels)
    # One sweep each way carries a move as far as its weak motion goes, in linear time.
    for order, step in ((range(1, n), -1), (range(n - 2, -1, -1), 1)):
        for i in order:
            j = i + step
            if not labels[i] and labels[j] and labels[j] & weak[i]:
                labels[i] = labels[j]
    return _runs(labels)


def _similarity(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _merge_short(runs: list[list], min_len: int) -> list[list]:
    runs = _coalesce(runs)
    while len(runs) > 1:
        lengths = [r[2] - r[1] + 1 for r in runs]
        i = min(range(len(runs)), key=lambda k: (lengths[k], k))
        if lengths[i] >= min_len:
            break
        nbs = [j for j in (i - 1, i + 1) if 0 <= j < len(runs)]
        j = max(nbs, key=lambda k: (_similarity(runs[i][0], runs[k][0]), lengths[k], -k))
        lo, hi = min(i, j), max(i, j)
        runs[lo : hi + 1] = [[runs[j][0], runs[lo][1], runs[hi][2]]]
        runs = _coalesce(runs)
    return runs


def _kind_activity(kind: str, r: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Directional activity of one kind per sample, in units of its threshold (0 when opposite)."""
    if kind.startswith("orbit"):
        sign = 1.0 if kind == "orbit_right" else -1.0
        truck = np.maximum(0.0, sign * r[:, _TRUCK]) / active[_TRUCK]
        pan = np.maximum(0.0, sign * r[:, _PAN]) / active[_PAN]
        return np.minimum(truck, pan)
    axis, sign = _KIND_AXIS[kind]
    return np.maximum(0.0, sign * r[:, axis]) / active[axis]


def _refine_boundaries(runs: list[list], r_short: np.ndarray, active: np.ndarray, reach: int) -> list[list]:
    """Move each boundary within +-reach samples to where the short-window motion best switches from
    the left run's kinds to the right run's."""
    for b in range(len(runs) - 1):
        left, right = runs[b], runs[b + 1]
        kinds = sorted(left[0] | right[0])
        if not kinds:
            continue
        lo = max(left[1] + 1, left[2] + 1 - reach)
        hi = min(right[2], right[1] + reach)
        if hi <= lo:
            continue
        idx = np.arange(lo - 1, hi + 1)
        mism_l = np.zeros(len(idx))
        mism_r = np.zeros(len(idx))
        for k in kinds:
            act = _kind_activity(k, r_short[idx], active)
            owner = left if k in left[0] else right
            typical = float(np.median(_kind_activity(k, r_short[owner[1] : owner[2] + 1], active)))
            x = np.clip(act / max(1.0, 0.5 * typical), 0.0, 1.0)
            mism_l += (1.0 - x) if k in left[0] else x
            mism_r += (1.0 - x) if k in right[0] else x
        # Split s: samples idx < s belong left, >= s right; cost = left mismatch before + right after.
        best, best_cost = right[1], math.inf
        for s in range(lo, hi + 1):
            cut = s - (lo - 1)
            cost = mism_l[:cut].sum() + mism_r[cut:].sum()
            if cost < best_cost - 1e-9:
                best, best_cost = s, cost
        left[2], right[1] = best - 1, best
    return runs


def _orbit_holds(m: _Motion, r: np.ndarray, s: int, e: int) -> bool:
    """Whether the pivot of an orbit segment stays put (else it is a truck with a pan)."""
    piv = m.orbit_pivot(r[s : e + 1])
    ok = np.isfinite(piv) & (piv > 0)
    if ok.sum() < 2:
        return False
    points = m.pos[s : e + 1][ok] + piv[ok, None] * m.head[s : e + 1][ok]
    centre = np.median(points, axis=0)
    wander = float(np.median(np.linalg.norm(points - centre, axis=1)))
    return wander <= ORBIT_PIVOT_WANDER * float(np.median(piv[ok]))


def _net(m: _Motion, kind: str, s: int, e: int) -> float:
    """Net motion of a kind across samples s..e, in its direction and threshold units."""
    if kind.startswith("orbit"):
        # Orbiting right (moving to the camera's right) turns the view left to keep the pivot.
        kind = "pan_left" if kind == "orbit_right" else "pan_right"
    axis, sign = _KIND_AXIS[kind]
    return sign * float(m.cum[e, axis] - m.cum[s, axis])


def _net_min(kind: str) -> float:
    axis, _ = _KIND_AXIS["pan_left" if kind.startswith("orbit") else kind]
    if axis in _TRANSLATION:
        return NET_TRANSLATION
    if axis == _ZOOM:
        return NET_ZOOM
    return NET_ROTATION_DEG


def _speed_class(kind: str, rate: float) -> int:
    axis, _ = _KIND_AXIS["pan_left" if kind.startswith("orbit") else kind]
    bounds = (
        SPEED_TRANSLATION if axis in _TRANSLATION else SPEED_ZOOM if axis == _ZOOM else SPEED_ROTATION_DEG
    )
    return int(rate >= bounds[0]) + int(rate >= bounds[1])


def _finish(m: _Motion, r: np.ndarray, runs: list[list]) -> list[list]:
    """Check each run against its net motion (and orbits against a steady pivot)."""
    out = []
    for kinds, s, e in runs:
        final: set[str] = set()
        for k in kinds:
            if k.startswith("orbit") and not _orbit_holds(m, r, s, e):
                right = k == "orbit_right"
                for sub in ("truck_right", "pan_left") if right else ("truck_left", "pan_right"):
                    if _net(m, sub, s, e) >= _net_min(sub):
                        final.add(sub)
                continue
            if _net(m, k, s, e) >= _net_min(k):
                final.add(k)
        out.append([frozenset(final), s, e])
    return _coalesce(out)


def analyze_motion(
    traj: Trajectory, fps: float, *, subject_distance: float | None = None
) -> list[MotionSegment]:
    """Split a camera trajectory into motion segments (scene frames, inclusive, covering it all).

    ``subject_distance`` (scene units) sets the scale for translation speeds when the view rays do not
    converge on a point; without it the camera's distance to the world origin is used. Orthographic
    trajectories take their scale from their view size instead.
    """
    if not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number of frames per second, got {fps!r}")
    n = len(traj)
    if n == 0:
        return []
    if n == 1:
        f = int(traj.frames[0])
        return [MotionSegment(kinds=["static"], speed="slow", frame_start=f, frame_end=f)]
    m = _Motion(traj, fps, subject_distance)
    half = max(1, round(WINDOW_S * fps / 2))
    r = m.rates(half)
    pivot = m.orbit_pivot(r)
    strong = _kinds_at(r, m.active, pivot, m.pivot_range)
    weak = _kinds_at(r, m.active, pivot, m.pivot_range, weak=True)
    runs = _grow_into_static(_runs(strong), weak)
    min_len = max(1, round(MIN_SEGMENT_S * fps))
    runs = _merge_short(runs, min_len)
    runs = _refine_boundaries(runs, m.rates(max(1, half // 3)), m.active, 2 * half)
    runs = _merge_short(_finish(m, r, runs), min_len)

    segments = []
    for kinds, s, e in runs:
        duration = max(m.t[e] - m.t[s], 1.0 / fps)
        if kinds:
            names = sorted(kinds, key=_ORDER.__getitem__)
            speed = max(_speed_class(k, abs(_net(m, k, s, e)) / duration) for k in names)
        else:
            names, speed = ["static"], 0
        segments.append(
            MotionSegment(
                kinds=names,
                speed=("slow", "medium", "fast")[speed],
                frame_start=m.frames[s],
                frame_end=m.frames[e],
            )
        )
    return segments


# --- shot script --------------------------------------------------------------------------------------
_PHRASE_ORDER = ("orbit", "dolly", "truck", "pedestal", "pan", "tilt", "roll")
_GERUND = {"zoom_in": "zooming in", "zoom_out": "zooming out"}


def _duration_text(frames: int, fps: float) -> str:
    # Half-second steps read like speech and do not flicker with a frame of boundary jitter.
    d = frames / fps
    if d >= 10:
        return f"{round(d):d} s"
    if d >= 1:
        return f"{round(d * 2) / 2:g} s"
    return f"{max(0.1, round(d, 1)):g} s"


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _segment_text(seg: MotionSegment, fps: float) -> str:
    dur = _duration_text(seg.frame_end - seg.frame_start + 1, fps)
    kinds = [k for k in seg.kinds if k != "static"]
    if not kinds:
        return f"hold for {dur}"
    moves = sorted(
        (k for k in kinds if not k.startswith("zoom")), key=lambda k: _PHRASE_ORDER.index(k.split("_")[0])
    )
    zooms = [k for k in kinds if k.startswith("zoom")]
    if moves:
        phrase = _join([k.replace("_", " ") for k in moves])
        if zooms:
            phrase += " while " + _GERUND[zooms[0]]
    else:
        phrase = zooms[0].replace("_", " ")
    return f"{seg.speed} {phrase} over {dur}"


def shot_script(segments: list[MotionSegment], fps: float) -> str:
    """The motion as a DP would say it: "Slow dolly in over 2 s, then medium pan left over 1.5 s."."""
    if not segments:
        return ""
    if all(k == "static" for s in segments for k in s.kinds):
        return "Static shot."
    text = ", then ".join(_segment_text(s, fps) for s in segments)
    return text[0].upper() + text[1:] + "."


def motion_prompt(traj: Trajectory, fps: float) -> tuple[str, list[MotionSegment]]:
    """Script text for the prompt and the segments; ("", []) for fewer than two samples."""
    if len(traj) < 2:
        return "", []
    segments = analyze_motion(traj, fps)
    return shot_script(segments, fps), segments
