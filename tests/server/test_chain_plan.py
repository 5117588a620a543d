"""Planning a long job as a chain of segments (server/generation/chain.py), without torch or a model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.generation import chain
from server.backends.base import Clip
from server.generation.chain import (
    SegmentPlan,
    plan_segments,
    segment_overlap,
    split_conditions,
    split_trajectory,
)

eight_k1 = st.integers(0, 200).map(lambda k: 8 * k + 1)


@given(
    num_frames=eight_k1, segment_frames=st.integers(1, 40).map(lambda k: 8 * k + 1), wanted=st.integers(1, 80)
)
def test_plan_covers_exactly_the_requested_frames(num_frames, segment_frames, wanted):
    overlap = segment_overlap(segment_frames, wanted)
    assert (overlap - 1) % 8 == 0 and overlap <= min(wanted, segment_frames - 8)
    plans = plan_segments(num_frames, segment_frames, overlap)
    assert plans[0].frame_start == 0 and plans[0].overlap == 0
    assert plans[-1].frame_end == num_frames - 1  # lands exactly on num_frames
    kept = 0
    for prev, plan in zip([None, *plans[:-1]], plans, strict=True):
        assert (plan.num_frames - 1) % 8 == 0 and plan.num_frames <= segment_frames
        if prev is not None:
            # Starts on the previous segment's last `overlap` frames; adds at least 8 new ones.
            assert plan.overlap == overlap and plan.frame_start == prev.frame_end + 1 - overlap
            assert plan.num_frames - plan.overlap >= 8
        kept += plan.num_frames - plan.overlap
    assert kept == num_frames
    if num_frames > segment_frames:  # as many full-size segments as possible: only the last is short
        assert all(p.num_frames == segment_frames for p in plans[:-1])


def test_plan_examples():
    assert plan_segments(41, 17, 9) == [
        SegmentPlan(0, 17, 0),
        SegmentPlan(8, 17, 9),
        SegmentPlan(16, 17, 9),
        SegmentPlan(24, 17, 9),
    ]
    # 257-frame generations with one second of overlap: the last segment is shorter.
    plans = plan_segments(601, 257, 25)
    assert [(p.frame_start, p.num_frames) for p in plans] == [(0, 257), (232, 257), (464, 137)]
    assert plan_segments(121, 257, 25) == [SegmentPlan(0, 121, 0)]
    assert segment_overlap(17, 25) == 9 and segment_overlap(9, 25) == 1 and segment_overlap(257, 30) == 25


@pytest.mark.parametrize(
    "args, match",
    [((40, 17, 9), "num_frames must be 8k\\+1"), ((41, 17, 17), "shorter than a segment")],
)
def test_plan_refuses_bad_numbers(args, match):
    with pytest.raises(ValueError, match=match):
        plan_segments(*args)
    with pytest.raises(ValueError, match="8k\\+1 and at least 9"):
        segment_overlap(1, 25)


def test_a_keyframe_goes_to_the_segment_whose_frames_are_kept():
    plans = plan_segments(41, 17, 9)  # starts 0, 8, 16, 24; kept from 0, 17, 25, 33
    conds = [{"frame_index": i} for i in (0, 10, 16, 17, 30, 40)]
    out = split_conditions(conds, plans)
    # 10 and 16 lie in segment 2's overlap: the output shows segment 1's frames there.
    assert out[0] == [
        {"condition": 0, "frame_index": 0},
        {"condition": 1, "frame_index": 10},
        {"condition": 2, "frame_index": 16},
    ]
    assert out[1] == [{"condition": 3, "frame_index": 9}]  # never inside a later segment's overlap
    assert out[2] == [{"condition": 4, "frame_index": 14}]
    assert out[3] == [{"condition": 5, "frame_index": 16}]  # the clip's last frame


def test_trajectory_is_cut_to_each_segment_in_scene_frames():
    traj = {
        "frames": list(range(1001, 1042, 2)),  # every other scene frame of a 41-frame shot at 1001
        "matrix_world": [[float(i)] * 16 for i in range(21)],
        "lens_mm": [50.0 + i for i in range(21)],
        "aspect": 2.0,
    }
    part = split_trajectory(traj, SegmentPlan(8, 17, 9))  # clip frames 8..24 = scene 1009..1025
    assert part["frames"] == list(range(1009, 1026, 2))
    assert part["lens_mm"] == [50.0 + i for i in range(4, 13)] and part["matrix_world"][0] == [4.0] * 16
    assert part["aspect"] == 2.0
    assert split_trajectory(None, SegmentPlan(0, 9, 0)) is None


def _lowering(n: int, start: int = 1, speed: float = 0.05) -> dict:
    """A camera moving down (world -Z) at constant speed, then holding still for the second half."""
    mats, z = [], 0.0
    for i in range(n):
        if i < n // 2:
            z -= speed
        mats.append([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, z, 0, 0, 0, 1])
    return {"frames": list(range(start, start + n)), "matrix_world": mats, "lens_mm": [35.0] * n}


def test_segment_records_give_each_segment_its_motion_and_keyframes():
    request = {
        "prompt": "a hallway",
        "num_frames": 81,
        "frame_rate": 24.0,
        "trajectory": _lowering(81),
        "motion_prompt": True,
    }
    records = chain.segment_records(request, [{"frame_index": 80, "strength": 1.0}], 49, 17)
    assert [(r["frame_start"], r["frame_end"], r["overlap"]) for r in records] == [(0, 48, 0), (32, 80, 17)]
    first, second = records
    assert first["prompt_used"].startswith("a hallway The camera") and "lowers" in first["prompt_used"]
    assert first["prompt_used"] != second["prompt_used"]  # the second one is mostly still
    assert second["conditions"] == [{"condition": 0, "frame_index": 48}] and first["conditions"] == []
    assert chain.segment_records({**request, "num_frames": 49}, [], 49, 17) is None
    plain = chain.segment_records({**request, "motion_prompt": False}, [], 49, 17)
    assert {r["prompt_used"] for r in plain} == {"a hallway"}


def test_stitch_trims_overlaps_and_tiles_audio_exactly():
    records = [
        {"frame_start": 0, "frame_end": 16, "num_frames": 17, "overlap": 0},
        {"frame_start": 8, "frame_end": 24, "num_frames": 17, "overlap": 9},
    ]
    rate, fps = 16000, 23.976
    clips = []
    for r in records:
        frames = np.full((r["num_frames"], 4, 4, 3), r["frame_start"], np.uint8)
        frames[:, 0, 0, 0] = np.arange(r["frame_start"], r["frame_end"] + 1)  # global frame number
        n_samples = round(r["num_frames"] * rate / fps) - 3  # a vocoder a little short
        clips.append(Clip(frames, np.ones((2, n_samples), np.float32) * (r["frame_start"] + 1), rate))
    out = chain.stitch(clips, records, fps)
    assert out.frames[:, 0, 0, 0].tolist() == list(range(25))
    assert (out.frames[17:, 1, 1, 0] == 8).all() and (out.frames[:17, 1, 1, 0] == 0).all()
    assert out.audio.shape == (2, round(25 * rate / fps)) and out.audio_rate == rate
    boundary = round(17 * rate / fps)  # segment 2's audio starts where its kept frames do
    assert (out.audio[:, boundary - 10 : boundary - 3] == 1).all()
    assert (out.audio[:, boundary - 3 : boundary] == 0).all()  # segment 1 was short: silence, timing kept
    assert (out.audio[:, boundary : boundary + 1000] == 9).all()
    silent = chain.stitch([Clip(c.frames) for c in clips], records, fps)
    assert silent.audio is None and silent.audio_rate is None


def test_a_segment_failure_names_the_segment():
    from server.queue.runner import failure_sentence

    request = {"width": 64, "height": 64, "num_frames": 41}
    err = chain.SegmentFailed(1, 3, RuntimeError("boom"), 17)
    assert failure_sentence(err, request) == "Segment 2 of 3 failed: RuntimeError: boom."
    oom = chain.SegmentFailed(2, 3, RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), 17)
    assert failure_sentence(oom, request).startswith(
        "Segment 3 of 3 failed: The device ran out of memory for 64x64, 17 frames;"
    )
