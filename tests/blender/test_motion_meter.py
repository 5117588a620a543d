"""The motion meter on clips rendered by Workbench from known camera moves (textured gray-box set,
256x160, 25 frames): the kinds it measures are the plan's, the agreement is high against the plan the clip
was rendered from and low against the opposite move, a flat gray wall is not measurable, and the
``analyze-motion`` command does it end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # renders clips and measures them

# The meter needs OpenCV and PyAV, which the bpy-only venvs (bpy 5.3 and 4.2 on Python 3.13) do not have,
# just as tests/server/conftest.py skips the server suite there.
pytest.importorskip("cv2")
pytest.importorskip("av")

import textured  # noqa: E402

from server.meter import measure_clip  # noqa: E402

from scenes import ROOT  # noqa: E402

MOVES = [
    "dolly_in",
    "truck_right",
    "pedestal_up",
    "pan_left",
    "tilt_down",
    "roll_left",
    "zoom_in",
    "orbit_left",
]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Rendered once per module: move -> (clip path, shot plan)."""
    out = tmp_path_factory.mktemp("meter")
    cache: dict = {}

    def get(move: str, **kw):
        key = (move, tuple(sorted(kw.items())))
        if key not in cache:
            cache[key] = textured.render_move(move, out / f"{move}_{len(cache)}.mp4", **kw)
        return cache[key]

    return get


def _measure(path, plan=None, traj=None):
    traj = traj or plan.shots[0].trajectory
    return measure_clip(path, lens_mm=50.0, sensor_width_mm=36.0, fps=plan.fps, plan=traj)


@pytest.mark.parametrize("move", MOVES)
def test_meter_measures_the_rendered_move(clips, move):
    path, plan = clips(move)
    result = measure_clip(path, lens_mm=50.0, sensor_width_mm=36.0)
    assert result["measurable"], result
    assert result["kinds"] == [move], result["segments"]
    assert result["frames"] == 25 and result["segments"][-1]["frame_end"] == 24


def test_agreement_high_for_own_plan_low_for_opposite_move(clips):
    path, plan = clips("dolly_in")
    _, opposite = clips("dolly_out")
    own = _measure(path, plan)
    other = _measure(path, plan, traj=opposite.shots[0].trajectory)
    assert own["agreement"]["score"] >= 0.9, own["agreement"]
    assert own["agreement"]["translation_direction_error_deg"] < 10.0
    assert own["mismatch"] is None and own["summary"].startswith("follows the plan")
    assert other["agreement"]["score"] <= 0.3, other["agreement"]
    assert other["agreement"]["translation_direction_error_deg"] > 150.0
    assert other["mismatch"] == "planned dolly out, measured dolly in"


def test_turns_agree_within_half_a_degree_per_frame(clips):
    path, plan = clips("pan_left")
    _, opposite = clips("pan_right")
    own = _measure(path, plan)["agreement"]
    other = _measure(path, plan, traj=opposite.shots[0].trajectory)["agreement"]
    assert own["rotation_error_deg"] < 0.5 and own["score"] >= 0.9
    # 30 degrees each way over 24 frame pairs: 2.5 degrees apart per pair.
    assert other["rotation_error_deg"] == pytest.approx(2.5, abs=0.5) and other["score"] <= 0.3


def test_flat_gray_wall_is_not_measurable(clips):
    path, plan = clips("pan_left", textured=False)
    result = _measure(path, plan)
    assert result["measurable"] is False
    assert "too little texture" in result["reason"]
    assert result["kinds"] == [] and result["agreement"] is None


def test_a_clip_of_noise_is_not_measurable(tmp_path):
    """Every frame new random pixels (what an untrained model makes): corners exist, but none can be
    followed from one frame to the next, so the meter says so instead of reading a move into them."""
    import av
    import numpy as np

    path = tmp_path / "noise.mp4"
    rng = np.random.default_rng(7)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 256, 160, "yuv420p"
        for _ in range(25):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (160, 256, 3), np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    result = measure_clip(path, lens_mm=50.0, sensor_width_mm=36.0)
    assert result["measurable"] is False, result["kinds"]
    assert result["reason"] and result["kinds"] == [] and result["segments"] == []


def test_analyze_motion_command_end_to_end(clips, tmp_path):
    path, plan = clips("truck_right")
    plan_json = tmp_path / "plan.json"
    plan_json.write_text(plan.to_json())
    out = tmp_path / "motion.json"
    shot = plan.shots[0].name
    cmd = [sys.executable, "-m", "server", "analyze-motion", str(path), "--trajectory", str(plan_json)]
    run = subprocess.run([*cmd, "--shot", shot, "--json", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("follows the plan")
    result = json.loads(out.read_text())
    assert result["kinds"] == ["truck_right"] and result["measurable"] is True
    assert result["agreement"]["segments"][0]["planned"] == ["truck_right"]
    # Bad input: one sentence naming what to change, exit code 1.
    bad = subprocess.run([*cmd, "--shot", "nope"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 1 and "--shot" in bad.stderr and "nope" in bad.stderr
