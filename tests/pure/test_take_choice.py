"""Best of N takes by agreement, and the panel's words for a take's motion."""

from __future__ import annotations

from blender_ltx.core import take_choice as tc


def measured(score: float, planned=("dolly_in",), seen=("dolly_in",)) -> dict:
    seg = {"frame_start": 0, "frame_end": 24, "planned": list(planned), "measured": list(seen), "match": 1.0}
    return {"measurable": True, "kinds": list(seen), "agreement": {"score": score, "segments": [seg]}}


def test_best_agreement_wins_whatever_the_order():
    take, why = tc.best_take([(3, measured(0.41)), (4, measured(0.82)), (5, measured(0.33))])
    assert take == 4 and "0.82" in why and "take 3 0.41" in why and "take 5 0.33" in why
    assert tc.best_take([(1, measured(0.5)), (2, measured(0.5))])[0] == 1  # a tie keeps the earlier


def test_unmeasured_takes_never_win_and_none_measured_keeps_the_first():
    flat = {"measurable": False, "reason": "too little texture to track"}
    take, why = tc.best_take([(1, flat), (2, measured(0.2)), (3, {"unavailable": "no meter"})])
    assert take == 2 and "takes 1, 3 not measured" in why
    take, why = tc.best_take([(7, flat), (8, None)])
    assert take == 7 and "too little texture to track" in why and "first of 2" in why


def test_motion_lines():
    assert tc.motion_lines(measured(0.91, ("dolly_in",), ("dolly_in", "pan_left"))) == [
        "follows the plan 0.91: dolly in, pan left",
        "planned dolly in, measured dolly in, pan left",
    ]
    assert tc.motion_lines(measured(0.91)) == ["follows the plan 0.91: dolly in"]
    off = tc.motion_lines(measured(0.3, ("dolly_in",), ("zoom_in",)))
    assert off == ["off the plan 0.30: zoom in", "planned dolly in, measured zoom in"]
    assert tc.motion_lines({"measurable": False, "reason": "flat"}) == ["not measurable: flat"]
    assert tc.motion_lines({"unavailable": "The server has no meter."}) == [
        "motion not measured: The server has no meter."
    ]
    assert tc.motion_lines(None) == ["motion not measured yet"]
