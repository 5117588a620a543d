"""Motion analysis on synthetic camera paths built in numpy (no bpy).

The test camera stands at (0, -10, 1) looking along +Y (its right is +X) unless a case says otherwise,
so each direction in the vocabulary can be written down independently of the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from blender_ltx.core.motion import analyze_motion, motion_prompt, shot_script
from blender_ltx.core.shots import MOTION_KINDS, SPEEDS, MotionSegment, Trajectory
from blender_ltx.core.trajectory import (
    camera_axes,
    field_of_view,
    look_at_point,
    matrices,
    positions,
    rotations,
    yaw_pitch_roll,
)

FPS = 24


def cam(position, forward, roll_deg: float = 0.0) -> np.ndarray:
    """World matrix of a camera at ``position`` looking along ``forward``, world Z up; positive roll
    tips its top toward its left."""
    f = np.asarray(forward, float)
    f = f / np.linalg.norm(f)
    right = np.cross(f, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, f)
    a = math.radians(roll_deg)
    right, up = math.cos(a) * right + math.sin(a) * up, -math.sin(a) * right + math.cos(a) * up
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, up, -f, position
    return m


def heading_vec(yaw_deg: float, pitch_deg: float = 0.0) -> np.ndarray:
    """View direction: yaw 0 looks along +Y, positive yaw turns left (toward -X), pitch up positive."""
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    return np.array([-math.sin(y) * math.cos(p), math.cos(y) * math.cos(p), math.sin(p)])


def make(samples, start: int = 1) -> Trajectory:
    """samples: list of (matrix, lens_mm)."""
    return Trajectory(
        frames=list(range(start, start + len(samples))),
        matrix_world=[m.reshape(-1).tolist() for m, _ in samples],
        lens_mm=[float(lens) for _, lens in samples],
    )


def path(n: int, pose, start: int = 1) -> Trajectory:
    """pose(u) -> (position, forward[, roll_deg[, lens]]) for u in [0, 1]."""
    out = []
    for i in range(n):
        p = pose(i / (n - 1) if n > 1 else 0.0)
        pos, fwd = p[0], p[1]
        roll = p[2] if len(p) > 2 else 0.0
        lens = p[3] if len(p) > 3 else 50.0
        out.append((cam(pos, fwd, roll), lens))
    return make(out, start)


def ease(u: float) -> float:
    return u * u * (3 - 2 * u)


def kinds(segments) -> list[list[str]]:
    return [s.kinds for s in segments]


def assert_covers(segments, traj: Trajectory) -> None:
    assert segments[0].frame_start == traj.frames[0]
    assert segments[-1].frame_end == traj.frames[-1]
    for a, b in zip(segments, segments[1:], strict=False):
        assert b.frame_start == a.frame_end + 1
    for s in segments:
        assert s.frame_start <= s.frame_end
        assert s.speed in SPEEDS
        assert all(k in MOTION_KINDS for k in s.kinds)


P0 = np.array([0.0, -10.0, 1.0])
AHEAD = heading_vec(0)

# Two seconds of each move; the subject is at the origin, about 10 units ahead.
SINGLE_MOVES = {
    "dolly_in": lambda u: (P0 + [0, 3 * u, 0], AHEAD),
    "dolly_out": lambda u: (P0 - [0, 3 * u, 0], AHEAD),
    "truck_left": lambda u: (P0 - [3 * u, 0, 0], AHEAD),
    "truck_right": lambda u: (P0 + [3 * u, 0, 0], AHEAD),
    "pedestal_up": lambda u: (P0 + [0, 0, 3 * u], AHEAD),
    "pedestal_down": lambda u: (P0 - [0, 0, 3 * u], AHEAD),
    "pan_left": lambda u: (P0, heading_vec(40 * u)),
    "pan_right": lambda u: (P0, heading_vec(-40 * u)),
    "tilt_up": lambda u: (P0, heading_vec(0, 30 * u)),
    "tilt_down": lambda u: (P0, heading_vec(0, -30 * u)),
    "roll_left": lambda u: (P0, AHEAD, 30 * u),
    "roll_right": lambda u: (P0, AHEAD, -30 * u),
    "zoom_in": lambda u: (P0, AHEAD, 0.0, 35 + 25 * u),
    "zoom_out": lambda u: (P0, AHEAD, 0.0, 60 - 25 * u),
    # Around the origin, looking at it: moving toward the camera's left (-X at the start).
    "orbit_left": lambda u: (
        np.array([-10 * math.sin(u), -10 * math.cos(u), 1.0]),
        -np.array([-10 * math.sin(u), -10 * math.cos(u), 1.0]),
    ),
    "orbit_right": lambda u: (
        np.array([10 * math.sin(u), -10 * math.cos(u), 1.0]),
        -np.array([10 * math.sin(u), -10 * math.cos(u), 1.0]),
    ),
}


@pytest.mark.parametrize("kind", sorted(SINGLE_MOVES))
def test_each_kind_is_recognised(kind):
    traj = path(48, SINGLE_MOVES[kind], start=101)
    segs = analyze_motion(traj, FPS)
    assert kinds(segs) == [[kind]]
    assert_covers(segs, traj)


def test_static_and_degenerate_inputs():
    traj = path(48, lambda u: (P0, AHEAD))
    assert kinds(analyze_motion(traj, FPS)) == [["static"]]
    one = path(1, lambda u: (P0, AHEAD), start=7)
    assert analyze_motion(one, FPS) == [MotionSegment(["static"], "slow", 7, 7)]
    assert motion_prompt(one, FPS) == ("", [])
    assert analyze_motion(Trajectory(), FPS) == []
    assert motion_prompt(Trajectory(), FPS) == ("", [])


def test_bad_input_raises():
    traj = path(10, lambda u: (P0 + [0, u, 0], AHEAD))
    for fps in (0, -24, float("nan")):
        with pytest.raises(ValueError, match="fps"):
            analyze_motion(traj, fps)
    traj.frames[3] = traj.frames[2]
    with pytest.raises(ValueError, match="increasing"):
        analyze_motion(traj, FPS)
    traj = path(10, lambda u: (P0 + [0, u, 0], AHEAD))
    traj.lens_mm = traj.lens_mm[:5]
    with pytest.raises(ValueError, match="lens_mm"):
        analyze_motion(traj, FPS)


def test_dolly_while_panning_is_one_combined_segment():
    # A camera car turning left: it always moves along its view, which swings left.
    def pose(u):
        yaw = 40 * u
        # position: integral of the heading over the arc (radius r, 3 units of path)
        a = math.radians(yaw)
        r = 3 / math.radians(40)
        return P0 + [-r * (1 - math.cos(a)), r * math.sin(a), 0], heading_vec(yaw)

    segs = analyze_motion(path(48, pose), FPS)
    assert kinds(segs) == [["dolly_in", "pan_left"]]


def test_sequential_moves_split_at_the_change():
    # 2 s dolly in, then 2 s pan left, no pause: the boundary is at frame 49.
    def pose(u):
        i = u * 96
        if i <= 48:
            return P0 + [0, 3 * i / 48, 0], AHEAD
        return P0 + [0, 3, 0], heading_vec(40 * (i - 48) / 48)

    traj = path(97, pose)
    segs = analyze_motion(traj, FPS)
    assert kinds(segs) == [["dolly_in"], ["pan_left"]]
    assert abs(segs[0].frame_end - 49) <= 2
    assert_covers(segs, traj)
    assert shot_script(segs, FPS) == "Medium dolly in over 2 s, then medium pan left over 2 s."


def test_eased_moves_between_holds_have_no_spurious_segments():
    # hold 1 s, eased dolly in 3 s, hold 1 s, eased pan right 2 s, hold 1 s
    def pose(i):
        if i < 24:
            return P0, AHEAD
        if i < 96:
            return P0 + [0, 4 * ease((i - 24) / 72), 0], AHEAD
        if i < 120:
            return P0 + [0, 4, 0], AHEAD
        if i < 168:
            return P0 + [0, 4, 0], heading_vec(-45 * ease((i - 120) / 48))
        return P0 + [0, 4, 0], heading_vec(-45)

    traj = make([(cam(*pose(i)), 50.0) for i in range(192)])
    segs = analyze_motion(traj, FPS)
    assert kinds(segs) == [["static"], ["dolly_in"], ["static"], ["pan_right"], ["static"]]
    bounds = [s.frame_start for s in segs[1:]]
    for got, want in zip(bounds, [25, 97, 121, 169], strict=True):
        assert abs(got - want) <= 6, (bounds, [25, 97, 121, 169])
    assert_covers(segs, traj)


def test_eased_move_over_whole_shot_is_one_segment():
    traj = path(96, lambda u: (P0 + [0, 4 * ease(u), 0], AHEAD))
    assert kinds(analyze_motion(traj, FPS)) == [["dolly_in"]]
    traj = path(72, lambda u: (P0, heading_vec(60 * ease(u)), 0.0, 35 + 30 * ease(u)))
    assert kinds(analyze_motion(traj, FPS)) == [["pan_left", "zoom_in"]]


def _jitter(n: int, seed: int = 3):
    rng = np.random.default_rng(seed)
    sway = np.sin(np.linspace(0, 4 * math.pi, n))
    return (
        rng.normal(0, 0.004, (n, 3)) + 0.01 * sway[:, None],  # 4 mm noise + 1 cm sway at 10 m
        rng.normal(0, 0.15, n) + 0.4 * sway,  # yaw, degrees
        rng.normal(0, 0.15, n),  # pitch
        rng.normal(0, 0.1, n),  # roll
    )


def test_handheld_jitter_is_static():
    n = 120
    dp, dyaw, dpitch, droll = _jitter(n)
    traj = make([(cam(P0 + dp[i], heading_vec(dyaw[i], dpitch[i]), droll[i]), 50.0) for i in range(n)])
    assert kinds(analyze_motion(traj, FPS)) == [["static"]]


def test_handheld_dolly_is_one_dolly():
    n = 96
    dp, dyaw, dpitch, droll = _jitter(n, seed=5)
    traj = make(
        [
            (cam(P0 + [0, 4 * i / n, 0] + dp[i], heading_vec(dyaw[i], dpitch[i]), droll[i]), 50.0)
            for i in range(n)
        ]
    )
    assert kinds(analyze_motion(traj, FPS)) == [["dolly_in"]]


def test_orbit_truck_and_pan_are_told_apart():
    # A straight truck that keeps a subject framed (Track To) keeps the look-at point: an orbit.
    target = np.array([0.0, 0.0, 0.0])

    def tracking(u):
        p = np.array([-4 + 8 * u, -10.0, 1.0])
        return p, target - p

    assert kinds(analyze_motion(path(72, tracking), FPS)) == [["orbit_right"]]
    # Trucking right while panning right sweeps the view: no point stays put.
    segs = analyze_motion(path(48, lambda u: (P0 + [2 * u, 0, 0], heading_vec(-30 * u))), FPS)
    assert all("orbit_right" not in k and "orbit_left" not in k for k in kinds(segs))
    assert {"truck_right", "pan_right"} <= set(segs[0].kinds)
    # Truck alone and pan alone.
    assert kinds(analyze_motion(path(48, SINGLE_MOVES["truck_left"]), FPS)) == [["truck_left"]]
    assert kinds(analyze_motion(path(48, SINGLE_MOVES["pan_left"]), FPS)) == [["pan_left"]]


def test_orbit_while_zooming_reads_like_the_example():
    def pose(u):
        p = np.array([-10 * math.sin(1.2 * u), -10 * math.cos(1.2 * u), 1.0])
        return p, -p, 0.0, 35 + 20 * u

    segs = analyze_motion(path(84, pose), FPS)
    assert kinds(segs) == [["zoom_in", "orbit_left"]]
    assert shot_script(segs, FPS) == f"{segs[0].speed.capitalize()} orbit left while zooming in over 3.5 s."


@pytest.mark.parametrize("deg_per_s, speed", [(5, "slow"), (20, "medium"), (60, "fast")])
def test_rotation_speed_classes(deg_per_s, speed):
    traj = path(48, lambda u: (P0, heading_vec(-2 * deg_per_s * u)))
    segs = analyze_motion(traj, FPS)
    assert kinds(segs) == [["pan_right"]]
    assert segs[0].speed == speed


@pytest.mark.parametrize("units_per_s, speed", [(0.4, "slow"), (1.5, "medium"), (4.0, "fast")])
def test_translation_speed_is_relative_to_the_subject_distance(units_per_s, speed):
    # Trucking past a subject 10 units ahead, at 1x and 10x scene scale.
    for scale in (1.0, 10.0):
        traj = path(48, lambda u, k=scale: (k * (P0 + [2 * units_per_s * u, 0, 0]), AHEAD))
        segs = analyze_motion(traj, FPS, subject_distance=10 * scale)
        assert kinds(segs) == [["truck_right"]]
        assert segs[0].speed == speed, (scale, segs)


def test_scene_scale_without_a_subject_distance():
    # Same dolly at 1x and 10x (everything scaled about the origin): same reading.
    base = analyze_motion(path(48, lambda u: (P0 + [0, 2 * u, 0], AHEAD)), FPS)
    big = analyze_motion(path(48, lambda u: (10 * (P0 + [0, 2 * u, 0]), AHEAD)), FPS)
    assert base == big
    # The same world-space move near a close subject is faster than near a far one.
    near = analyze_motion(path(48, lambda u: (P0 + [0, 2 * u, 0], AHEAD)), FPS, subject_distance=2.0)
    far = analyze_motion(path(48, lambda u: (P0 + [0, 2 * u, 0], AHEAD)), FPS, subject_distance=200.0)
    assert (near[0].speed, far[0].speed) == ("fast", "slow")


def test_orbit_speed_is_angular_and_scale_free():
    def orbit(radius, deg):
        def pose(u):
            a = math.radians(deg * u)
            p = np.array([radius * math.sin(a), -radius * math.cos(a), 0.3 * radius])
            return p, -p

        return path(48, pose)

    assert analyze_motion(orbit(10, 12), FPS) == analyze_motion(orbit(100, 12), FPS)
    assert analyze_motion(orbit(10, 12), FPS)[0].speed == "slow"
    assert analyze_motion(orbit(10, 120), FPS)[0].speed == "fast"


def test_zoom_speed_classes():
    slow = analyze_motion(path(48, lambda u: (P0, AHEAD, 0.0, 50 * math.exp(0.1 * u))), FPS)
    fast = analyze_motion(path(48, lambda u: (P0, AHEAD, 0.0, 24 * math.exp(1.4 * u))), FPS)
    assert (kinds(slow), slow[0].speed) == ([["zoom_in"]], "slow")
    assert (kinds(fast), fast[0].speed) == ([["zoom_in"]], "fast")


def test_roll_sign_matches_the_documented_convention():
    # roll_left: the camera's up vector leans toward its left (-X here).
    traj = path(48, lambda u: (P0, AHEAD, 25 * u))
    up_last = np.asarray(traj.matrix_world[-1]).reshape(4, 4)[:3, 1]
    assert up_last[0] < 0
    assert kinds(analyze_motion(traj, FPS)) == [["roll_left"]]


@pytest.mark.parametrize("fps", [24, 25, 30, 24000 / 1001])
def test_script_durations_follow_the_frame_rate(fps):
    n1, n2 = round(2 * fps), round(1.5 * fps)

    def pose(i):
        if i < n1:
            return P0 + [0, 3 * i / n1, 0], AHEAD
        return P0 + [0, 3, 0], heading_vec(30 * (i - n1 + 1) / n2)

    traj = make([(cam(*pose(i)), 50.0) for i in range(n1 + n2)])
    segs = analyze_motion(traj, fps)
    assert kinds(segs) == [["dolly_in"], ["pan_left"]]
    script = shot_script(segs, fps)
    assert " dolly in over 2 s, then " in script and script.endswith(" pan left over 1.5 s."), script


def test_long_sequence_of_moves():
    # hold 1 s, dolly 2 s, pan left 2 s, orbit right 3 s (about the point it looks at), hold 1 s
    poses = []
    for _ in range(24):
        poses.append((P0, AHEAD))
    for i in range(48):
        poses.append((P0 + [0, 3 * (i + 1) / 48, 0], AHEAD))
    p1 = P0 + [0, 3, 0]
    for i in range(48):
        poses.append((p1, heading_vec(45 * (i + 1) / 48)))
    centre = p1 + 6 * heading_vec(45)
    for i in range(72):
        a = math.radians(45 + 50 * (i + 1) / 72)
        p = centre - 6 * heading_vec(math.degrees(a))
        poses.append((p, centre - p))
    for _ in range(24):
        poses.append(poses[-1])
    traj = make([(cam(p, f), 50.0) for p, f in poses], start=1001)
    segs = analyze_motion(traj, FPS)
    assert kinds(segs) == [["static"], ["dolly_in"], ["pan_left"], ["orbit_right"], ["static"]]
    want = [1025, 1073, 1121, 1193]
    assert all(abs(s.frame_start - w) <= 3 for s, w in zip(segs[1:], want, strict=True)), [
        s.frame_start for s in segs
    ]
    assert_covers(segs, traj)
    text, again = motion_prompt(traj, FPS)
    assert again == segs
    assert text.startswith("Hold for 1 s, then ") and text.endswith(", then hold for 1 s.")
    assert analyze_motion(traj, FPS) == segs  # deterministic


# --- script wording on hand-made segments ------------------------------------------------------------
def test_script_wording():
    seg = MotionSegment
    assert shot_script([], 24) == ""
    assert shot_script([seg(["static"], "slow", 1, 48)], 24) == "Static shot."
    assert (
        shot_script([seg(["dolly_in"], "slow", 1, 48), seg(["pan_left"], "medium", 49, 84)], 24)
        == "Slow dolly in over 2 s, then medium pan left over 1.5 s."
    )
    assert (
        shot_script([seg(["zoom_in", "orbit_left"], "medium", 1, 84)], 24)
        == "Medium orbit left while zooming in over 3.5 s."
    )
    assert shot_script([seg(["zoom_out"], "fast", 10, 33)], 24) == "Fast zoom out over 1 s."
    assert (
        shot_script([seg(["dolly_in", "pedestal_up", "pan_left"], "slow", 1, 300)], 24)
        == "Slow dolly in, pedestal up and pan left over 12 s."
    )
    assert (
        shot_script([seg(["static"], "slow", 1, 12), seg(["tilt_up"], "fast", 13, 24)], 24)
        == "Hold for 0.5 s, then fast tilt up over 0.5 s."
    )


# --- trajectory helpers ---------------------------------------------------------------------------------
def test_rotations_remove_scale_and_axes_follow_blender():
    m = cam(P0, AHEAD, 10.0)
    scaled = m.copy()
    scaled[:3, :3] = m[:3, :3] @ np.diag([2.0, 0.5, 3.0])
    traj = make([(scaled, 50.0)])
    mats = matrices(traj)
    assert mats.shape == (1, 4, 4)
    np.testing.assert_allclose(positions(mats)[0], P0)
    rot = rotations(mats)
    np.testing.assert_allclose(rot[0], m[:3, :3], atol=1e-9)
    right, up, fwd = camera_axes(rotations(matrices(make([(np.eye(4), 50.0)]))))
    np.testing.assert_allclose([right[0], up[0], fwd[0]], [[1, 0, 0], [0, 1, 0], [0, 0, -1]])


def test_yaw_pitch_roll_signs():
    rots = rotations(np.stack([cam(P0, heading_vec(30, 20), 15), cam(P0, heading_vec(-30, -20), -15)]))
    ypr = np.degrees(yaw_pitch_roll(rots))
    # yaw is measured from +X, so looking along +Y is 90 degrees
    np.testing.assert_allclose(ypr, [[120, 20, 15], [60, -20, -15]], atol=1e-6)


def test_field_of_view():
    h, v = field_of_view(50.0, 36.0, 24.0, "AUTO", 16 / 9)
    assert math.degrees(h) == pytest.approx(39.5978, abs=1e-3)
    assert math.tan(v / 2) == pytest.approx(math.tan(h / 2) * 9 / 16)
    h, v = field_of_view(50.0, 36.0, 24.0, "AUTO", 9 / 16)  # portrait: width of the sensor is vertical
    assert math.degrees(v) == pytest.approx(39.5978, abs=1e-3)
    h, v = field_of_view(50.0, 36.0, 24.0, "VERTICAL", 16 / 9)
    assert v == pytest.approx(2 * math.atan(12 / 50))
    h, v = field_of_view(50.0, 36.0, 24.0, "HORIZONTAL", 0.5)
    assert h == pytest.approx(2 * math.atan(18 / 50))


def test_look_at_point():
    orbit = path(48, SINGLE_MOVES["orbit_left"])
    mats = matrices(orbit)
    fwd = camera_axes(rotations(mats))[2]
    point = look_at_point(positions(mats), fwd)
    np.testing.assert_allclose(point, [0, 0, 0], atol=1e-6)
    for kind in ("dolly_in", "pan_left", "truck_right"):
        mats = matrices(path(48, SINGLE_MOVES[kind]))
        assert look_at_point(positions(mats), camera_axes(rotations(mats))[2]) is None, kind


def test_tilted_camera_pushed_along_the_floor_is_a_dolly():
    # Track To keeps a subject at the origin framed from 3 units up: the camera tilts down as it nears.
    def pose(u):
        p = np.array([0.0, -10 + 6 * u, 3.0])
        return p, -p

    segs = analyze_motion(path(48, pose), FPS)
    assert kinds(segs) == [["dolly_in", "tilt_down"]]
    # Looking straight down, moving down is still a pedestal.
    down = path(48, lambda u: (np.array([0.0, 0.0, 10 - 3 * u]), np.array([0.0, 1e-4, -1.0])))
    assert kinds(analyze_motion(down, FPS)) == [["pedestal_down"]]


def test_dolly_zoom():
    segs = analyze_motion(path(72, lambda u: (P0 + [0, 5 * u, 0], AHEAD, 0.0, 50 * (10 - 5 * u) / 10)), FPS)
    assert kinds(segs) == [["dolly_in", "zoom_out"]]
    assert shot_script(segs, FPS).endswith("dolly in while zooming out over 3 s.")


def test_slow_truck_then_fast_tilt_boundary():
    def pose(i):
        if i < 60:
            return P0 + [-1.0 * i / 60, 0, 0], AHEAD
        return P0 + [-1.0, 0, 0], heading_vec(0, 70 * (i - 59) / 36)

    traj = make([(cam(*pose(i)), 50.0) for i in range(96)], start=0)
    segs = analyze_motion(traj, FPS, subject_distance=10.0)
    assert kinds(segs) == [["truck_left"], ["tilt_up"]]
    assert [s.speed for s in segs] == ["slow", "fast"]
    assert abs(segs[1].frame_start - 60) <= 3


def test_subject_distance_must_be_positive():
    traj = path(24, SINGLE_MOVES["dolly_in"])
    with pytest.raises(ValueError, match="subject_distance"):
        analyze_motion(traj, FPS, subject_distance=0.0)


# --- orthographic cameras ----------------------------------------------------------------------------


def ortho(traj: Trajectory, scale) -> Trajectory:
    """``traj`` as an orthographic camera whose view size is ``scale(u)`` for u in [0, 1]."""
    n = len(traj)
    traj.camera_type = "ORTHO"
    traj.ortho_scale = [float(scale(i / (n - 1) if n > 1 else 0.0)) for i in range(n)]
    return traj


def test_ortho_scale_shrinking_is_a_zoom_in_like_a_longer_lens():
    for lens_end, kind in ((60.0, "zoom_in"), (20.0, "zoom_out")):
        lens = analyze_motion(path(48, lambda u, e=lens_end: (P0, AHEAD, 0.0, 35 + (e - 35) * u)), FPS)
        # The view size goes as 1 / focal length: the same picture change, the same reading.
        view = ortho(path(48, lambda u: (P0, AHEAD)), lambda u, e=lens_end: 6.0 * 35 / (35 + (e - 35) * u))
        segs = analyze_motion(view, FPS)
        assert kinds(segs) == [[kind]]
        assert segs == lens
    # The lens of an orthographic camera is not used by Blender: changing it is no zoom.
    unused = ortho(path(48, lambda u: (P0, AHEAD, 0.0, 35 + 25 * u)), lambda u: 6.0)
    assert kinds(analyze_motion(unused, FPS)) == [["static"]]


def test_ortho_camera_moving_along_its_view_is_not_a_dolly():
    forward = path(48, SINGLE_MOVES["dolly_in"])
    assert kinds(analyze_motion(forward, FPS)) == [["dolly_in"]]
    assert kinds(analyze_motion(ortho(forward, lambda u: 6.0), FPS)) == [["static"]]
    # Moving in while the view narrows is a zoom only: the move itself does not show.
    both = ortho(path(48, SINGLE_MOVES["dolly_out"]), lambda u: 6.0 - 2.0 * u)
    assert kinds(analyze_motion(both, FPS)) == [["zoom_in"]]
    # Looking straight down, moving down changes nothing; moving toward the image's top is a pedestal up.
    down = np.array([0.0, 1e-4, -1.0])
    sink = ortho(path(48, lambda u: (np.array([0.0, 0.0, 10 - 3 * u]), down)), lambda u: 6.0)
    assert kinds(analyze_motion(sink, FPS)) == [["static"]]
    glide = ortho(path(48, lambda u: (np.array([0.0, 2 * u, 10.0]), down)), lambda u: 6.0)
    assert kinds(analyze_motion(glide, FPS)) == [["pedestal_up"]]


@pytest.mark.parametrize("kind", ["truck_left", "truck_right", "pedestal_up", "pedestal_down", "pan_left"])
def test_ortho_camera_keeps_its_moves_in_the_image_plane(kind):
    traj = ortho(path(48, SINGLE_MOVES[kind]), lambda u: 6.0)
    assert kinds(analyze_motion(traj, FPS)) == [[kind]]


def test_ortho_translation_speed_is_relative_to_the_view_size():
    # 3 units in 2 s is half a 3-unit view per second but a fortieth of a 60-unit one.
    narrow = analyze_motion(ortho(path(48, SINGLE_MOVES["truck_right"]), lambda u: 3.0), FPS)
    wide = analyze_motion(ortho(path(48, SINGLE_MOVES["truck_right"]), lambda u: 60.0), FPS)
    assert (narrow[0].speed, wide[0].speed) == ("fast", "slow")
    # Far from the subject or near it, an orthographic picture is the same: so is its reading.
    far = ortho(path(48, lambda u: (P0 + [3 * u, -500, 0], AHEAD)), lambda u: 3.0)
    assert analyze_motion(far, FPS) == narrow


def test_ortho_orbit_from_far_away_is_an_orbit():
    # Orthographic cameras often stand far back to stay clear of the set; an orbit is still an orbit.
    def pose(u):
        p = np.array([100 * math.sin(u), -100 * math.cos(u), 10.0])
        return p, -p

    assert kinds(analyze_motion(path(48, pose), FPS)) == [["orbit_right"]]
    # Its scale comes from the 6-unit view, so the pivot is 12 times that scale away (beyond a
    # perspective orbit's range), which an orthographic picture does not show.
    assert kinds(analyze_motion(ortho(path(48, pose), lambda u: 6.0), FPS)) == [["orbit_right"]]


def test_ortho_trajectory_checks():
    traj = ortho(path(10, SINGLE_MOVES["truck_right"]), lambda u: 6.0)
    with pytest.raises(ValueError, match=r"trajectory\.ortho_scale has 3 values for 10 frames"):
        analyze_motion(Trajectory(**{**traj.__dict__, "ortho_scale": [6.0] * 3}), FPS)
    with pytest.raises(ValueError, match=r"trajectory\.ortho_scale must be positive"):
        analyze_motion(Trajectory(**{**traj.__dict__, "ortho_scale": [6.0] * 9 + [0.0]}), FPS)
    with pytest.raises(ValueError, match=r"trajectory\.camera_type must be one of PERSP, ORTHO, got 'PANO'"):
        analyze_motion(Trajectory(**{**traj.__dict__, "camera_type": "PANO"}), FPS)
    # A perspective trajectory ignores ortho_scale entirely.
    persp = Trajectory(**{**traj.__dict__, "camera_type": "PERSP", "ortho_scale": [1.0]})
    assert kinds(analyze_motion(persp, FPS)) == [["truck_right"]]
