"""Agreement between a planned and a measured motion, and its words (pure: trajectories made in code)."""

from __future__ import annotations

import numpy as np
import pytest

from blender_ltx.core.motion import analyze_motion
from blender_ltx.core.motion_compare import agreement, kinds_text, mismatch_text, summary_text
from blender_ltx.core.shots import Trajectory
from blender_ltx.core.trajectory import look_at_matrix


def _traj(n=25, forward=0.1, yaw_deg=0.0, first=1):
    mats = []
    for i in range(n):
        yaw = np.radians(yaw_deg * i)
        pos = np.array([0.0, -10.0 + forward * i, 1.5])
        mats.append(look_at_matrix(pos, pos + [-np.sin(yaw), np.cos(yaw), 0.0]).ravel().tolist())
    return Trajectory(frames=list(range(first, first + n)), matrix_world=mats, lens_mm=[50.0] * n)


def _agree(plan, measured):
    return agreement(plan, analyze_motion(plan, 24), measured, analyze_motion(measured, 24))


def test_same_motion_agrees_fully_whatever_the_scene_frames():
    result = _agree(_traj(first=101), _traj(first=0))
    assert result["score"] == 1.0 and result["kinds_matched"] == 1.0
    assert result["rotation_error_deg"] == 0.0 and result["translation_direction_error_deg"] == 0.0
    assert result["segments"] == [
        {"frame_start": 0, "frame_end": 24, "planned": ["dolly_in"], "measured": ["dolly_in"], "match": 1.0}
    ]


def test_opposite_moves_disagree():
    dolly = _agree(_traj(forward=0.1), _traj(forward=-0.1, first=0))
    assert dolly["kinds_matched"] == 0.0 and dolly["translation_direction_error_deg"] == 180.0
    assert dolly["score"] < 0.3
    pan = _agree(_traj(forward=0.0, yaw_deg=1.0), _traj(forward=0.0, yaw_deg=-1.0, first=0))
    assert pan["rotation_error_deg"] == pytest.approx(2.0, abs=1e-6)
    assert pan["translation_direction_error_deg"] is None and pan["score"] < 0.1


def test_measured_standstill_against_a_dolly_counts_ninety_degrees():
    result = _agree(_traj(forward=0.1), _traj(forward=0.0, first=0))
    assert result["translation_direction_error_deg"] == 90.0
    assert mismatch_text(result["segments"]) == "planned dolly in, measured static"


def test_words():
    assert kinds_text(["dolly_in", "pan_left"]) == "dolly in, pan left"
    assert kinds_text([]) == "static"
    motion = {"measurable": True, "kinds": ["dolly_in", "pan_left"], "agreement": {"score": 0.912}}
    assert summary_text(motion) == "follows the plan 0.91: dolly in, pan left"
    assert summary_text({**motion, "agreement": {"score": 0.31}}) == "off the plan 0.31: dolly in, pan left"
    assert summary_text({**motion, "agreement": None}) == "measured: dolly in, pan left"
    assert summary_text({"pending": True}) == summary_text(None) == "motion not measured yet"
    assert summary_text({"measurable": False, "reason": "too little texture"}) == (
        "motion not measurable: too little texture"
    )
    compared = [
        {"planned": ["dolly_in"], "measured": ["zoom_in"]},
        {"planned": ["pan_left"], "measured": ["pan_left"]},
    ]
    assert mismatch_text(compared) == "planned dolly in, measured zoom in"
    assert mismatch_text(compared[1:]) is None
