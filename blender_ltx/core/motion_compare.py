"""A measured camera motion held against the planned one: the agreement and the words for it.

Pure (numpy only), so the server computes it and the add-on words it the same way. Both motions are
``Trajectory``s sampled per clip frame (the plan's first sample is the clip's frame 0) and described by
``motion.analyze_motion``, so they share the 17 kinds.

Agreement (0..1) is a weighted mean of three parts, each 0..1:

- ``kinds_matched`` (weight ``W_KINDS``): per clip frame, the planned and measured kind sets compared
  as |common| / |either| (static against static counts 1), averaged over the frames;
- ``rotation_error_deg``: median over frame pairs of the angle between the planned and the measured
  frame-to-frame rotation (in the camera's own frame); scored ``exp(-error / ROTATION_SCALE_DEG)``;
- ``translation_direction_error_deg``: median over the frame pairs where the plan moves of the angle
  between the planned and measured directions of travel (in the camera's own frame; 90 where nothing
  was measured); scored ``(1 + cos(error)) / 2``. ``None`` (and left out of the score) when the plan
  does not move the camera.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .shots import MotionSegment, Trajectory
from .trajectory import matrices, positions, rotations

W_KINDS, W_ROTATION, W_TRANSLATION = 0.6, 0.2, 0.2
ROTATION_SCALE_DEG = 0.5
#: A frame pair counts as moving in the plan when its step is at least this fraction of the largest.
MOVING_STEP = 0.2
#: At or above this agreement a take "follows the plan".
FOLLOWS = 0.7
_TRANSLATING = ("dolly", "truck", "pedestal", "orbit")


def _local_steps(traj: Trajectory) -> tuple[np.ndarray, np.ndarray]:
    """Frame-to-frame rotations (N-1, 3, 3) and steps (N-1, 3), each in the earlier camera's frame."""
    mats = matrices(traj)
    rots, pos = rotations(mats), positions(mats)
    rel = np.einsum("nji,njk->nik", rots[:-1], rots[1:])
    steps = np.einsum("nji,nj->ni", rots[:-1], np.diff(pos, axis=0))
    return rel, steps


def _angle_deg(r: np.ndarray) -> np.ndarray:
    cos = (np.trace(r, axis1=1, axis2=2) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _kinds_per_frame(segments: list[MotionSegment], first: int, n: int) -> list[frozenset]:
    out = [frozenset()] * n
    for seg in segments:
        kinds = frozenset(k for k in seg.kinds if k != "static")
        for f in range(max(seg.frame_start - first, 0), min(seg.frame_end - first + 1, n)):
            out[f] = kinds
    return out


def _similarity(a: frozenset, b: frozenset) -> float:
    return 1.0 if not a and not b else len(a & b) / len(a | b)


def _names(kinds) -> list[str]:
    return sorted(kinds) or ["static"]


def agreement(
    plan: Trajectory,
    plan_segments: list[MotionSegment],
    measured: Trajectory,
    measured_segments: list[MotionSegment],
) -> dict[str, Any]:
    """The agreement of a measured clip motion (frames from 0) with the planned one (scene frames)."""
    n = min(len(plan), len(measured))
    if n < 2:
        raise ValueError(
            f"agreement needs at least 2 frames in both motions, got {len(plan)} and {len(measured)}"
        )
    planned = _kinds_per_frame(plan_segments, int(plan.frames[0]), n)
    seen = _kinds_per_frame(measured_segments, int(measured.frames[0]), n)
    per_frame = [_similarity(p, m) for p, m in zip(planned, seen, strict=True)]
    kinds_matched = float(np.mean(per_frame))

    rel_p, step_p = _local_steps(plan.slice(plan.frames[0], plan.frames[n - 1]))
    rel_m, step_m = _local_steps(measured.slice(measured.frames[0], measured.frames[n - 1]))
    rot_err = float(np.median(_angle_deg(np.einsum("nji,njk->nik", rel_p, rel_m))))

    trans_err = None
    if any(k.split("_")[0] in _TRANSLATING for s in plan_segments for k in s.kinds):
        length = np.linalg.norm(step_p, axis=1)
        moving = (
            length >= MOVING_STEP * float(length.max()) if length.max() > 0 else np.zeros(len(length), bool)
        )
        if moving.any():
            up = step_p[moving] / length[moving, None]
            lm = np.linalg.norm(step_m[moving], axis=1)
            cos = np.einsum("ij,ij->i", up, step_m[moving]) / np.where(lm > 0, lm, 1.0)
            trans_err = float(np.median(np.where(lm > 0, np.degrees(np.arccos(np.clip(cos, -1, 1))), 90.0)))

    parts = [(W_KINDS, kinds_matched), (W_ROTATION, math.exp(-rot_err / ROTATION_SCALE_DEG))]
    if trans_err is not None:
        parts.append((W_TRANSLATION, (1.0 + math.cos(math.radians(trans_err))) / 2.0))
    score = sum(w * v for w, v in parts) / sum(w for w, _ in parts)

    segments = []
    for seg in plan_segments:
        lo, hi = (
            max(seg.frame_start - int(plan.frames[0]), 0),
            min(seg.frame_end - int(plan.frames[0]), n - 1),
        )
        if hi < lo:
            continue
        frames = range(lo, hi + 1)
        # What was measured over the planned segment: the kind set seen on most of its frames.
        counts: dict[frozenset, int] = {}
        for f in frames:
            counts[seen[f]] = counts.get(seen[f], 0) + 1
        segments.append(
            {
                "frame_start": lo,
                "frame_end": hi,
                "planned": _names(planned[lo]),
                "measured": _names(max(counts, key=counts.get)),
                "match": round(float(np.mean([per_frame[f] for f in frames])), 3),
            }
        )
    return {
        "score": round(score, 3),
        "kinds_matched": round(kinds_matched, 3),
        "rotation_error_deg": round(rot_err, 3),
        "translation_direction_error_deg": None if trans_err is None else round(trans_err, 2),
        "segments": segments,
    }


# --- words (the add-on shows these as they are) -------------------------------------------------------
def kinds_text(kinds: list[str]) -> str:
    """["dolly_in", "pan_left"] -> "dolly in, pan left"."""
    return ", ".join(k.replace("_", " ") for k in kinds) or "static"


def mismatch_text(compared_segments: list[dict[str, Any]]) -> str | None:
    """ "planned dolly in, measured zoom in" for each planned segment whose kinds were not seen (joined by
    "; "), or None when every segment matched."""
    out = []
    for seg in compared_segments:
        if set(seg["planned"]) != set(seg["measured"]):
            out.append(f"planned {kinds_text(seg['planned'])}, measured {kinds_text(seg['measured'])}")
    return "; ".join(out) or None


def summary_text(motion: dict[str, Any] | None) -> str:
    """One line for a take: "follows the plan 0.91: dolly in, pan left", "off the plan 0.32: zoom in",
    "measured: pan left" (no plan), "motion not measured yet", "motion not measurable: REASON"."""
    if not motion or motion.get("pending"):
        return "motion not measured yet"
    if not motion.get("measurable"):
        return f"motion not measurable: {motion.get('reason') or 'no reason given'}"
    kinds = kinds_text(motion.get("kinds") or [])
    agree = motion.get("agreement")
    if not agree:
        return f"measured: {kinds}"
    verdict = "follows the plan" if agree["score"] >= FOLLOWS else "off the plan"
    return f"{verdict} {agree['score']:.2f}: {kinds}"
