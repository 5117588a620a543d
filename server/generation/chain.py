"""Long shots as one clip: a job longer than one generation runs as a chain of segments.

Each segment after the first is conditioned on the last ``overlap`` frames of the previous segment's
output (a multi-frame video condition at index 0), so motion and look carry across the seam instead of
restarting from a previs render. Those leading frames only re-create what the previous segment already
made, so they are trimmed and the job returns ONE clip of exactly the requested frame count.

Planning (``plan_segments``, ``split_conditions``, ``split_trajectory``, ``segment_records``) is pure
and family-agnostic; ``run_chain`` drives any Backend's ``generate`` through the plan.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backends.base import (
    Backend,
    CancelCheck,
    Cancelled,
    Clip,
    GenerateRequest,
    ProgressCallback,
    ReplicaLost,
    VideoCondition,
)

#: Frames of the previous segment a chained segment starts from (rounded down to 8k+1 to fit, see
#: segment_overlap); 25 is one second at 24 fps.
DEFAULT_SEGMENT_OVERLAP = 25
#: Share of the job's progress bar the chain's denoising gets; the mp4 encode takes the rest.
CHAIN_SHARE = 0.97


class SegmentFailed(Exception):
    """A segment of a chain failed; the job's error names it ("segment 2 of 3 failed: ...")."""

    def __init__(self, index: int, total: int, cause: BaseException, num_frames: int):
        super().__init__(f"segment {index + 1} of {total} failed: {cause}")
        self.index = index
        self.total = total
        self.cause = cause
        self.num_frames = num_frames  # the segment's, for an out-of-memory sentence


@dataclass(frozen=True)
class SegmentPlan:
    """One generation of the chain, in clip frames (0-based, inclusive ends)."""

    frame_start: int  # the first clip frame this generation makes
    num_frames: int  # 8k+1
    overlap: int  # leading frames pinned to the previous segment's end and trimmed (0 for the first)

    @property
    def frame_end(self) -> int:
        return self.frame_start + self.num_frames - 1

    @property
    def keep_start(self) -> int:
        """The first clip frame this segment contributes to the output."""
        return self.frame_start + self.overlap


def _is_8k1(n: int) -> bool:
    return n >= 1 and (n - 1) % 8 == 0


def segment_overlap(segment_frames: int, wanted: int) -> int:
    """The overlap actually used: ``wanted`` rounded down to 8k+1 (LTX video conditions are 8k+1
    frames, the VAE's temporal compression) and small enough that every segment still makes at least 8
    new frames."""
    if not _is_8k1(segment_frames) or segment_frames < 9:
        raise ValueError(f"segment_frames must be 8k+1 and at least 9 but is {segment_frames}")
    if wanted < 1:
        raise ValueError(f"the overlap must be at least 1 frame but is {wanted}")
    overlap = min(wanted, segment_frames - 8)
    return (overlap - 1) // 8 * 8 + 1


def plan_segments(num_frames: int, segment_frames: int, overlap: int) -> list[SegmentPlan]:
    """Full-size segments, each starting ``overlap`` frames before the previous one ends; the last one
    is sized to land exactly on ``num_frames``. With 8k+1 lengths and an 8k+1 overlap every segment
    adds a multiple of 8 frames, so any 8k+1 total is reached exactly."""
    for name, n in (("num_frames", num_frames), ("segment_frames", segment_frames), ("overlap", overlap)):
        if not _is_8k1(n):
            raise ValueError(f"{name} must be 8k+1 but is {n}")
    if overlap >= segment_frames:
        raise ValueError(f"the overlap ({overlap}) must be shorter than a segment ({segment_frames})")
    if num_frames <= segment_frames:
        return [SegmentPlan(0, num_frames, 0)]
    plans = [SegmentPlan(0, segment_frames, 0)]
    while plans[-1].frame_end < num_frames - 1:
        start = plans[-1].frame_end + 1 - overlap
        plans.append(SegmentPlan(start, min(segment_frames, num_frames - start), overlap))
    return plans


def split_conditions(
    conditions: list[dict[str, Any]], plans: list[SegmentPlan]
) -> list[list[dict[str, Any]]]:
    """Per segment: ``{"condition": i, "frame_index": local}`` for the applied keyframes it gets.

    A keyframe goes to the ONE segment whose kept frames hold it. A keyframe inside an overlap thus goes
    to the earlier segment: the output shows the earlier segment's frames there, and the later segment
    receives the keyed look through the overlap condition anyway; pinning it there as well would put two
    conditions on the same frames."""
    out: list[list[dict[str, Any]]] = [[] for _ in plans]
    for i, cond in enumerate(conditions):
        index = cond["frame_index"]
        for k, plan in enumerate(plans):
            if plan.keep_start <= index <= plan.frame_end:
                out[k].append({"condition": i, "frame_index": index - plan.frame_start})
                break
    return out


def split_trajectory(trajectory: dict[str, Any] | None, plan: SegmentPlan) -> dict[str, Any] | None:
    """The samples of the segment's frames (overlap included: the segment's motion is what it makes).
    Trajectory frames are scene frames; the clip's frame 0 is the first sample's scene frame."""
    if not trajectory or not trajectory.get("frames"):
        return None
    first = trajectory["frames"][0]
    lo, hi = first + plan.frame_start, first + plan.frame_end
    idx = [i for i, f in enumerate(trajectory["frames"]) if lo <= f <= hi]
    out = dict(trajectory)
    for key in ("frames", "matrix_world", "lens_mm"):
        out[key] = [trajectory[key][i] for i in idx]
    return out


def segment_records(
    request: dict[str, Any],
    conditions: list[dict[str, Any]],
    segment_frames: int,
    overlap: int,
    motion_prompt: bool = True,
) -> list[dict[str, Any]] | None:
    """What ``applied.segments`` records for a job (None when it fits one generation): each segment's
    frames, overlap, keyframes and prompt with its own motion sentence (none where ``motion_prompt`` is
    false: a family that takes the exact camera path)."""
    from .conditioning import motion_for  # conditioning imports this module for the chain record

    num_frames = request["num_frames"]
    if num_frames <= segment_frames:
        return None
    plans = plan_segments(num_frames, segment_frames, overlap)
    prompt = request.get("prompt", "").strip()
    records = []
    for plan, conds in zip(plans, split_conditions(conditions, plans), strict=True):
        script, sentence = "", ""
        if motion_prompt and request.get("motion_prompt", True):
            script, sentence = motion_for(
                split_trajectory(request.get("trajectory"), plan), request["frame_rate"]
            )
        records.append(
            {
                "frame_start": plan.frame_start,
                "frame_end": plan.frame_end,
                "num_frames": plan.num_frames,
                "overlap": plan.overlap,
                "prompt_used": f"{prompt} {sentence}".strip() if sentence else prompt,
                "motion_script": script,
                "conditions": conds,
            }
        )
    return records


def segment_request(
    whole: GenerateRequest, record: dict[str, Any], index: int, previous: Clip | None
) -> GenerateRequest:
    """The backend request of one segment; ``previous`` is the segment before's output."""
    video_conditions = []
    if previous is not None and record["overlap"]:
        video_conditions.append(VideoCondition(frames=previous.frames[-record["overlap"] :], frame_index=0))
    keyframes = [
        dataclasses.replace(whole.keyframes[c["condition"]], frame_index=c["frame_index"])
        for c in record["conditions"]
    ]
    poses = whole.camera_poses
    if poses is not None:  # the segment's own frames; the backend takes them relative to its first
        lo, hi = record["frame_start"], record["frame_start"] + record["num_frames"]
        poses = dataclasses.replace(poses, c2w=poses.c2w[lo:hi], intrinsics=poses.intrinsics[lo:hi])
    return dataclasses.replace(
        whole,
        camera_poses=poses,
        prompt=record["prompt_used"],
        # A new seed per segment: the same noise in every segment would repeat its texture.
        seed=whole.seed + index,
        num_frames=record["num_frames"],
        keyframes=keyframes,
        video_conditions=video_conditions,
    )


def _audio_span(plan: dict[str, Any], rate: int, fps: float) -> tuple[int, int]:
    """Sample range, local to the segment's audio, of its kept frames. Bounds come from global frame
    times so the pieces tile without gaps and the total is round(num_frames * rate / fps) samples."""

    def at(frame: int) -> int:
        return round(frame * rate / fps)

    origin = at(plan["frame_start"])
    return at(plan["frame_start"] + plan["overlap"]) - origin, at(plan["frame_end"] + 1) - origin


def stitch(clips: list[Clip], records: list[dict[str, Any]], frame_rate: float) -> Clip:
    """Trim each segment's overlap and concatenate frames (and audio, where every segment has it)."""
    frames = np.concatenate([c.frames[r["overlap"] :] for c, r in zip(clips, records, strict=True)])
    audio, rate = None, clips[0].audio_rate
    if rate and all(c.audio is not None and c.audio_rate == rate for c in clips):
        pieces = []
        for clip, record in zip(clips, records, strict=True):
            lo, hi = _audio_span(record, rate, frame_rate)
            piece = clip.audio[:, lo:hi]
            if piece.shape[1] < hi - lo:  # a vocoder a few samples short: pad with silence, keep timing
                piece = np.pad(piece, ((0, 0), (0, hi - lo - piece.shape[1])))
            pieces.append(piece)
        audio = np.concatenate(pieces, axis=1)
    peaks = [c.peak_gpu_mb for c in clips if c.peak_gpu_mb is not None]
    return Clip(
        frames=frames,
        audio=audio,
        audio_rate=rate if audio is not None else None,
        # Every segment runs with the same references and LoRAs: the first one's record stands for all.
        applied=dict(clips[0].applied),
        peak_gpu_mb=max(peaks) if peaks else None,
    )


def run_chain(
    backend: Backend,
    whole: GenerateRequest,
    records: list[dict[str, Any]],
    progress_cb: ProgressCallback,
    cancel_check: CancelCheck,
) -> Clip:
    """Generate the segments in order, each from the previous one's end; one clip of ``whole.num_frames``."""
    total = sum(r["num_frames"] for r in records)
    done = 0
    best = 0.0

    def report(p: float) -> None:
        nonlocal best
        # Weighted by frames; never backwards (a segment starts at the previous one's end).
        best = max(best, CHAIN_SHARE * (done + r["num_frames"] * min(max(p, 0.0), 1.0)) / total)
        progress_cb(best)

    clips: list[Clip] = []
    for i, r in enumerate(records):
        if cancel_check():
            raise Cancelled()
        request = segment_request(whole, r, i, clips[-1] if clips else None)
        try:
            clips.append(backend.generate(request, report, cancel_check))
        except (Cancelled, ReplicaLost):  # not the segment's fault: the queue stops or requeues the job
            raise
        except Exception as exc:
            raise SegmentFailed(i, len(records), exc, r["num_frames"]) from exc
        report(1.0)
        done += r["num_frames"]
    clip = stitch(clips, records, whole.frame_rate)
    if len(clip.frames) != whole.num_frames:  # the plan guarantees it; a backend returning fewer would not
        raise RuntimeError(f"the chain made {len(clip.frames)} frames instead of {whole.num_frames}")
    return clip
