"""The Shot panel's lines about the active take's record (core/takes.py), from the server's ``applied``."""

from __future__ import annotations

from blender_ltx.core.takes import prompt_text


def test_prompt_text_says_what_the_enhancer_and_the_duration_head_did():
    assert prompt_text({}) == "" and prompt_text("not a record") == ""  # type: ignore[arg-type]
    enhanced = {"prompt_enhancement": {"motion_sentence_appended": True}}
    assert prompt_text(enhanced) == "prompt enhanced, camera sentence put back"
    kept = {"prompt_enhancement": {"motion_sentence_appended": False}}
    assert prompt_text(kept) == "prompt enhanced"
    advice = {"duration": {"predicted_s": 4.21, "shot_s": 0.71, "used": False}}
    assert prompt_text(advice) == "the prompt reads as 4.2 s of action, the shot is 0.7 s"
    both = prompt_text({**enhanced, **advice})
    assert both == f"{prompt_text(enhanced)}; {prompt_text(advice)}"
    assert prompt_text({"duration": {"predicted_s": None}}) == ""  # a broken record says nothing
