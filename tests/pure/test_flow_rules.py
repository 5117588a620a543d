"""The flow's rules that need no Blender: cuts from markers, take names and clip paths, keyframe
indices, prompt assembly, the input hash, the run summary and the writable-path checks."""

from __future__ import annotations

import os
from dataclasses import replace
from types import SimpleNamespace

import pytest

from blender_ltx.core import job_request, status, take_inputs, takes
from blender_ltx.core.cuts import LastPlanned, MarkerInfo, cuts, lost_cameras, marker_camera, unique_name
from blender_ltx.core.paths import check_writable_dir, check_writable_file
from blender_ltx.core.shots import GenerationGrid, MotionSegment, Shot, Trajectory

A, B = SimpleNamespace(name="CamA"), SimpleNamespace(name="CamB")


def _shot(start=11, end=40, motion=()) -> Shot:
    grid = GenerationGrid(num_frames=33, width=96, height=64, frame_rate=24.0)
    return Shot("sh010", "CamA", start, end, generation=grid, trajectory=Trajectory(), motion=list(motion))


# -- cuts ----------------------------------------------------------------------------------------------
def test_bound_markers_cut_and_unbound_ones_split_the_camera_in_effect():
    markers = [MarkerInfo(1, "SH010", A), MarkerInfo(20, "mid", None), MarkerInfo(40, "SH030", B)]
    shots, warnings = cuts(markers, scene_camera=None, frame_start=1, frame_end=60)
    got = [(c.name, c.camera.name, c.frame_start, c.frame_end) for c in shots]
    assert got == [("SH010", "CamA", 1, 19), ("mid", "CamA", 20, 39), ("SH030", "CamB", 40, 60)]
    assert warnings == []


def test_frames_before_the_first_marker_are_a_shot_of_the_first_bound_camera():
    shots, _ = cuts([MarkerInfo(10, "SH020", B)], scene_camera=A, frame_start=1, frame_end=20)
    assert [(c.name, c.camera.name, c.frame_start, c.frame_end) for c in shots] == [
        ("CamB", "CamB", 1, 9),
        ("SH020", "CamB", 10, 20),
    ]


def test_no_markers_is_one_shot_of_the_scene_camera_and_repeats_get_suffixes():
    (shot,), _ = cuts([], scene_camera=A, frame_start=5, frame_end=9)
    assert (shot.name, shot.frame_start, shot.frame_end) == ("CamA", 5, 9)
    shots, _ = cuts([MarkerInfo(1, "X", A), MarkerInfo(5, "X", B)], None, 1, 9)
    assert [c.name for c in shots] == ["X", "X.001"]
    assert unique_name("X", {"X", "X.001"}) == "X.002"


def test_two_markers_on_one_frame_drop_the_later_with_a_warning():
    shots, warnings = cuts([MarkerInfo(1, "P", A), MarkerInfo(1, "Q", B)], None, 1, 9)
    assert [c.name for c in shots] == ["P"]
    assert len(warnings) == 1 and "'Q'" in warnings[0] and "dropped" in warnings[0]


def test_a_deleted_marker_camera_is_named_on_its_shot_and_the_shots_that_followed_it():
    """Issue 15 #19: deleting CamB unbinds marker SH020 (Blender clears the pointer), and SH020 and the
    unbound SH025 after it fall back to CamA without a word."""
    before, _ = cuts(
        [MarkerInfo(1, "SH010", A), MarkerInfo(20, "SH020", B), MarkerInfo(40, "SH025", None)], None, 1, 60
    )
    assert [c.bound for c in before] == [True, True, False]
    last = {c.name: LastPlanned(c.camera.name, marker_camera(c, None, "")) for c in before}
    assert last["SH020"].marker_camera == "CamB" and last["SH025"].marker_camera == ""
    markers = [MarkerInfo(1, "SH010", A), MarkerInfo(20, "SH020", None), MarkerInfo(40, "SH025", None)]
    after, _ = cuts(markers, None, 1, 60)
    assert lost_cameras(after, last, lambda n: n == "CamA") == {"SH020": "CamB", "SH025": "CamB"}
    assert lost_cameras(after, last, lambda n: True) == {}  # CamB is back (an undo): nothing lost

    # The next plan still says it (the marker stays unbound), until the marker is bound again.
    lost = lost_cameras(after, last, lambda n: n == "CamA")
    again = {c.name: LastPlanned(c.camera.name, marker_camera(c, last[c.name], lost.get(c.name, "")),
                                 lost.get(c.name, "")) for c in after}  # fmt: skip
    assert again["SH020"].marker_camera == "CamB"
    assert lost_cameras(after, again, lambda n: n == "CamA") == {"SH020": "CamB", "SH025": "CamB"}
    markers[1] = MarkerInfo(20, "SH020", A)  # bound to the camera now in effect: the user keeps it
    rebound, _ = cuts(markers, None, 1, 60)
    assert lost_cameras(rebound, again, lambda n: n == "CamA") == {}


def test_a_renamed_camera_is_not_taken_for_a_deleted_one():
    before, _ = cuts([MarkerInfo(1, "SH010", A), MarkerInfo(20, "SH015", None)], None, 1, 60)
    last = {c.name: LastPlanned(c.camera.name, marker_camera(c, None, "")) for c in before}
    renamed = SimpleNamespace(name="CamA.v2")  # the marker keeps its (renamed) camera
    after, _ = cuts([MarkerInfo(1, "SH010", renamed), MarkerInfo(20, "SH015", None)], None, 1, 60)
    assert lost_cameras(after, last, lambda n: n == "CamA.v2") == {}


# -- takes ---------------------------------------------------------------------------------------------
def test_each_blend_keeps_its_own_clip_folder():
    one = takes.clip_path("//ltx", "/proj/one.blend", "SH010", 3)
    two = takes.clip_path("//ltx", "/proj/two.blend", "SH010", 3)
    assert one == "//ltx/one/SH010/take_3.mp4" and two == "//ltx/two/SH010/take_3.mp4"
    assert takes.clip_path("//ltx/", "C:\\p\\edit.blend", "A", 2, 1, 3) == "//ltx/edit/A/take_2_seg2.mp4"
    assert takes.shot_dir("", "", "A") == "//ltx/untitled/A"  # default base, unsaved file


def test_names_cannot_leave_the_clip_folder_and_never_collide():
    evil = takes.shot_dir("//ltx", "/p/../x.blend", "../../etc/passwd")
    assert "/../" not in evil and evil.count("/") == 4
    assert takes.safe_name("A/B") != takes.safe_name("A_B")
    assert not takes.safe_name("..").startswith(".") and takes.safe_name(".hidden") != ".hidden"
    assert takes.blend_stem("/p/my edit.blend") != takes.blend_stem("/p/my_edit.blend")


def test_next_take_counts_strips_and_files():
    assert takes.next_take([], []) == 1
    assert takes.next_take([2], ["take_5.mp4", "take_7_seg2.mp4", "take_9.mov", "notes.txt"]) == 8
    assert (
        takes.strip_name("SH010", 2) == "SH010 take 2" and takes.strip_name("SH010", 2, 1) == "SH010 take 2.2"
    )


# -- keyframes, prompt, hash ---------------------------------------------------------------------------
def test_keyframe_indices():
    motion = [
        MotionSegment(["dolly_in"], "slow", 11, 20),
        MotionSegment(["pan_left"], "fast", 21, 32),
        MotionSegment(["static"], "slow", 33, 40),
    ]
    shot = _shot(11, 40, motion)  # 30 frames
    assert job_request.keyframe_indices(shot) == [0]
    assert job_request.keyframe_indices(shot, 8) == [0, 8, 16, 24]
    assert job_request.keyframe_indices(shot, 0, at_motion_changes=True) == [0, 10, 22]
    assert job_request.keyframe_indices(shot, 10, at_motion_changes=True) == [0, 10, 20, 22]
    with pytest.raises(ValueError, match="every_n"):
        job_request.keyframe_indices(shot, -1)


def test_full_prompt_puts_the_style_first_and_drops_blanks():
    assert take_inputs.full_prompt(" noir, 35mm ", "a man walks") == "noir, 35mm a man walks"
    assert take_inputs.full_prompt("", " a man ") == "a man"


SETTINGS = {"prompt": "p", "negative_prompt": "", "seed": 7, "steps": 0, "guidance": 0.0}
GUIDE = {"engine": "BLENDER_WORKBENCH", "every_n": 0, "at_motion_changes": False}


def _hash(shot=None, settings=SETTINGS, locked=False, style="", guide=GUIDE):
    return take_inputs.input_hash(
        shot or _shot(), settings, seed_locked=locked, style_prompt=style, guide=guide
    )


def test_input_hash_changes_with_what_shapes_a_take_only():
    base = _hash()
    assert _hash(settings={**SETTINGS, "seed": 8}) == base  # an unlocked seed is not a change
    assert _hash(settings={**SETTINGS, "seed": 8}, locked=True) != _hash(locked=True)
    assert _hash(shot=replace(_shot(), name="renamed")) == base
    assert _hash(settings={**SETTINGS, "prompt": "q"}) != base
    assert _hash(style="noir") != base
    assert _hash(shot=_shot(12, 40)) != base
    assert _hash(guide={**GUIDE, "every_n": 8}) != base
    assert len(base) == 16


# -- the summary line ----------------------------------------------------------------------------------
def test_a_failed_shot_is_named_once_with_its_reason():
    result = {
        "submitted": ["Cam", "B"],
        "imported": ["B"],
        "failed": ["Cam"],
        "shots": {"Cam": {"message": "No LTX server at http://127.0.0.1:9: connection refused."}},
    }
    line = status.summary(result)
    assert (
        line
        == "submitted B; imported B; failed Cam (No LTX server at http://127.0.0.1:9: connection refused)."
    )
    assert status.failed(result)


def test_shots_not_in_when_the_wait_ends_are_named():
    line = status.summary({"attached": ["A", "B"], "imported": ["A"], "waiting": ["B"]})
    assert line.startswith("attached A, B; imported A; not imported yet: B (")
    assert status.failed({"waiting": ["B"]}) and not status.failed({"imported": ["A"], "waiting": []})
    assert status.summary({"submitted": [], "unchanged": []}) == status.NOTHING_TO_DO
    assert status.summary({"unchanged": ["A"]}) == "unchanged A."
    said = "Shot A was filmed through camera 'CamB', which is no longer in the file, so ..."
    assert status.summary({"submitted": ["A"], "warnings": [said]}) == f"submitted A. {said}"


# -- paths ---------------------------------------------------------------------------------------------
def test_writable_checks_name_the_path_and_the_fix(tmp_path):
    check_writable_dir(str(tmp_path / "new" / "deeper"), "The clip folder")  # creatable: fine
    (tmp_path / "file").write_text("x")
    with pytest.raises(
        ValueError, match=r"The clip folder .*file/sub cannot be created because .*file is a file"
    ):
        check_writable_dir(str(tmp_path / "file" / "sub"), "The clip folder")
    with pytest.raises(ValueError, match="--output .* is a folder"):
        check_writable_file(str(tmp_path), "--output")
    with pytest.raises(ValueError, match="The folder of --output"):
        check_writable_file(str(tmp_path / "file" / "out.blend"), "--output")
    if os.geteuid() != 0:  # root writes anywhere: the permission bits cannot be tested as root
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(ValueError, match="is not writable"):
            check_writable_dir(str(ro / "clips"), "The clip folder")
