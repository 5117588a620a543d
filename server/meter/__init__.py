"""The motion meter: the camera motion a clip shows, measured from its pictures, described with the
plan's own analysis (``blender_ltx.core.motion``) and held against the plan when one is given.

``measure_clip(path, lens_mm=..., sensor_width_mm=...)`` returns the JSON-ready result::

    {"measurable": true, "reason": null, "kinds": [...], "segments": [{kinds, speed, frame_start,
     frame_end}], "agreement": {...} | null, "summary": "...", "mismatch": "..." | null,
     "frames": N, "fps": F, "points_median": P, "seconds": T, "tracking_scale": S}

(``planned_kinds`` too when a plan is given; ``tracking_scale``: the frames were shrunk by it to track.)

Scale: the pictures give translation only up to scale. Each frame pair's step is divided by the median
depth of the points it tracks (triangulated against that pair's own pose), so positions are in units
of the distance to what is seen, and the analysis is run with ``subject_distance=1``: a dolly covering
a tenth of the distance to the set per second reads as 0.1/s, what the plan's analysis says for a
camera that covers a tenth of its distance to the subject.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict
from typing import Any

import numpy as np

from blender_ltx.core.motion import analyze_motion
from blender_ltx.core.motion_compare import agreement, kinds_text, mismatch_text, summary_text
from blender_ltx.core.shots import MotionSegment, Trajectory
from blender_ltx.core.trajectory import matrices

from .frames import read_gray
from .geometry import BASELINE_S, MIN_POINTS, baseline_frames, estimated_trajectory, intrinsics, measure_pairs
from .tracks import track

#: A clip needs this share of its frame pairs measured (enough tracked points) to be measurable.
MIN_MEASURED_PAIRS = 0.5


def _dominant_kinds(segments: list[MotionSegment]) -> list[str]:
    """Kinds over the clip, the one covering most frames first; ["static"] when nothing moves."""
    frames: dict[str, int] = {}
    for seg in segments:
        for k in seg.kinds:
            if k != "static":
                frames[k] = frames.get(k, 0) + seg.frame_end - seg.frame_start + 1
    return sorted(frames, key=lambda k: -frames[k]) or ["static"]


def not_measurable(reason: str, **extra: Any) -> dict[str, Any]:
    out = {
        "measurable": False,
        "reason": reason,
        "kinds": [],
        "segments": [],
        "agreement": None,
        "mismatch": None,
    }
    out["summary"] = summary_text(out)
    return out | extra


def measure_clip(
    path: str | os.PathLike,
    *,
    lens_mm: float,
    sensor_width_mm: float,
    fps: float | None = None,
    plan: Trajectory | None = None,
) -> dict[str, Any]:
    """Measure a clip's camera motion (see the module docstring); ``plan`` adds the agreement, and its
    own lens, sensor and fit are used instead of ``lens_mm`` and ``sensor_width_mm``."""
    return measure(path, lens_mm=lens_mm, sensor_width_mm=sensor_width_mm, fps=fps, plan=plan)[0]


def measure(
    path: str | os.PathLike,
    *,
    lens_mm: float,
    sensor_width_mm: float,
    fps: float | None = None,
    plan: Trajectory | None = None,
) -> tuple[dict[str, Any], Trajectory | None]:
    """``measure_clip``'s result and the estimated trajectory (None when not measurable)."""
    if not all(math.isfinite(v) and v > 0 for v in (lens_mm, sensor_width_mm)):
        raise ValueError(
            f"lens and sensor width must be positive millimetres, got {lens_mm!r} and {sensor_width_mm!r}"
        )
    fit, sensor_height = "AUTO", None
    if plan is not None and len(plan):
        lens_mm, sensor_width_mm = float(plan.lens_mm[0]), float(plan.sensor_width_mm)
        fit, sensor_height = plan.sensor_fit, float(plan.sensor_height_mm)
    t0 = time.perf_counter()
    frames, rate, (width, height), scale = read_gray(path)
    fps = fps or rate
    if not fps or fps <= 0:
        raise ValueError(f"{path} does not say its frame rate; pass --fps")
    n = len(frames)
    if n < 3:
        return not_measurable(f"the clip has {n} frames; the meter needs at least 3", frames=n, fps=fps), None
    tracks = track(frames)
    h, w = frames[0].shape
    k = intrinsics(lens_mm, sensor_width_mm, w, h, fit, sensor_height)
    pairs = measure_pairs(tracks, k, baseline_frames(fps))
    points = int(np.median(np.isfinite(tracks[:, :, 0]).sum(axis=0))) if len(tracks) else 0
    done = sum(p is not None for _, _, p in pairs)
    extra = {"frames": n, "fps": fps, "points_median": points}

    def unmeasurable(reason: str) -> tuple[dict[str, Any], None]:
        return not_measurable(reason, **extra, seconds=round(time.perf_counter() - t0, 3)), None

    if done < MIN_MEASURED_PAIRS * len(pairs) or done == 0:
        return unmeasurable(
            f"too little texture to follow: {done} of {len(pairs)} frame pairs {BASELINE_S:g} s apart "
            f"share the {MIN_POINTS} tracked points a measurement needs (a flat, or noisy, picture)"
        )
    start = matrices(plan)[0] if plan is not None and len(plan) else None
    measured = estimated_trajectory(pairs, n, lens_mm, sensor_width_mm, width / height, start)
    lens = np.asarray(measured.lens_mm)
    if not (np.isfinite(lens).all() and (lens > 0).all() and np.isfinite(measured.matrix_world).all()):
        return unmeasurable(
            "the pictures fit no camera motion (the tracked points move every which way: noise, or a "
            "picture that changes as a whole)"
        )
    segments = analyze_motion(measured, fps, subject_distance=1.0)
    out: dict[str, Any] = {
        "measurable": True,
        "reason": None,
        "kinds": _dominant_kinds(segments),
        "segments": [asdict(s) for s in segments],
        "agreement": None,
        "mismatch": None,
    }
    if plan is not None and len(plan) >= 2:
        planned = analyze_motion(plan, fps)
        out["agreement"] = agreement(plan, planned, measured, segments)
        out["planned_kinds"] = _dominant_kinds(planned)
        out["mismatch"] = mismatch_text(out["agreement"]["segments"])
    out["summary"] = summary_text(out)
    out.update(extra, seconds=round(time.perf_counter() - t0, 3), tracking_scale=scale)
    return out, measured


__all__ = ["measure", "measure_clip", "kinds_text"]
