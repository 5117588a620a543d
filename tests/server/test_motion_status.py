"""Every succeeded job gets the meter's measurement of its clip in its status (over real HTTP, tiny model):
``motion`` is null or pending until the measurement lands, then the meter's result, with the agreement
against the request's trajectory computed on the real clip, whatever the tiny model's noise shows."""

from __future__ import annotations

import pytest

import time

from support.server import dolly_in, job_request, wait_for

from blender_ltx.core.motion_compare import summary_text
from blender_ltx.core.shots import MOTION_KINDS

# A real server on the tiny model (tens of seconds to start on a loaded 2-core machine): not quick.
pytestmark = pytest.mark.slow


def _wait_motion(http, url: str, job_id: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = http.get(f"{url}/v1/jobs/{job_id}", timeout=10).json()
        motion = status["motion"]
        assert status["status"] == "succeeded", status
        assert motion is None or isinstance(motion, dict), motion
        if motion and not motion.get("pending"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} got no motion measurement within {timeout:.0f} s")


def _check_measurement(motion: dict) -> None:
    assert motion["measurable"] is (motion["reason"] is None), motion  # a reason exactly when unmeasured
    assert motion["summary"] == summary_text(motion)
    if motion["measurable"]:
        assert motion["kinds"] and set(motion["kinds"]) <= set(MOTION_KINDS)
        assert motion["segments"][0]["frame_start"] == 0
        assert motion["segments"][-1]["frame_end"] == motion["frames"] - 1
    else:
        assert motion["reason"] and motion["kinds"] == [] and motion["agreement"] is None


def test_succeeded_job_gets_measured_motion_and_agreement(server, http):
    req = job_request(num_frames=25, width=128, height=96, trajectory=dolly_in(25))
    job = http.post(server.url + "/v1/jobs", json=req).json()
    assert job["motion"] is None  # queued: nothing to measure yet
    done = wait_for(http, server.url, job["id"])
    assert done["status"] == "succeeded"
    assert done["motion"] is None or done["motion"] == {"pending": True} or "measurable" in done["motion"]
    motion = _wait_motion(http, server.url, job["id"])["motion"]
    _check_measurement(motion)
    assert motion["frames"] == 25 and motion["fps"] == 24.0
    if motion["measurable"]:
        agree = motion["agreement"]
        assert 0.0 <= agree["score"] <= 1.0 and 0.0 <= agree["kinds_matched"] <= 1.0
        assert agree["rotation_error_deg"] >= 0.0
        assert agree["segments"][0]["planned"] == ["dolly_in"]
    # The list shows the same field.
    listed = {j["id"]: j for j in http.get(server.url + "/v1/jobs").json()["jobs"]}
    assert listed[job["id"]]["motion"] == motion


def test_job_without_trajectory_is_measured_without_agreement(server, http):
    job = http.post(server.url + "/v1/jobs", json=job_request(num_frames=17, width=96, height=64)).json()
    assert wait_for(http, server.url, job["id"])["status"] == "succeeded"
    motion = _wait_motion(http, server.url, job["id"])["motion"]
    _check_measurement(motion)
    assert motion["agreement"] is None and motion["mismatch"] is None
