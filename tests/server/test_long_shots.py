"""Long shots as ONE clip: a job above --segment-frames runs as a chain on the real tiny model, over HTTP."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest
from support.server import REPO, SERVER_PYTHON, job_request, png_b64, run_server, wait_for, wait_progress

from server.generation.video import probe_mp4

# A real server on the tiny model (tens of seconds to start on a loaded 2-core machine): not quick.
pytestmark = pytest.mark.slow

SEGMENT = ("--segment-frames", "17", "--max-frames", "65")


@pytest.fixture(scope="module")
def chained(tiny_model_dir, tmp_path_factory):
    with run_server(tmp_path_factory.mktemp("chain"), model=str(tiny_model_dir), extra_args=SEGMENT) as srv:
        yield srv


def _trajectory(n: int, start: int = 1001) -> dict:
    """A camera rising for the first 8 frames, then holding still."""
    mats = []
    for i in range(n):
        z = 0.05 * min(i, 8)
        mats.append([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, z, 0, 0, 0, 1])
    return {"frames": list(range(start, start + n)), "matrix_world": mats, "lens_mm": [35.0] * n}


def _poll_progress(http, url: str, job_id: str) -> tuple[dict, list[float]]:
    seen = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = http.get(f"{url}/v1/jobs/{job_id}").json()
        seen.append(status["progress"])
        if status["status"] in ("succeeded", "failed", "cancelled"):
            return status, seen
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish")


def test_health_reports_the_longest_job_and_one_generation(chained, http):
    health = http.get(chained.url + "/v1/health").json()
    assert (health["max_frames"], health["segment_frames"], health["segment_overlap"]) == (65, 17, 9)
    assert health["limits"]["max_frames"] == 65
    assert "long_shots" in health["capabilities"]
    assert health["features"]["video_conditions"] is True


@pytest.mark.parametrize("num_frames, segments", [(41, 4), (25, 2)])
def test_long_job_is_one_clip_of_exactly_the_requested_frames(chained, http, tmp_path, num_frames, segments):
    keys = [0, 12, num_frames - 1]  # 12 lies in segment 2's overlap: segment 1 keeps it
    req = job_request(
        num_frames=num_frames,
        width=96,
        height=64,
        num_inference_steps=2,
        trajectory=_trajectory(num_frames),
        conditions=[{"frame_index": k, "image": png_b64(96, 64, seed=k)} for k in keys],
    )
    job = http.post(chained.url + "/v1/jobs", json=req).json()
    done, seen = _poll_progress(http, chained.url, job["id"])
    assert done["status"] == "succeeded", done
    assert seen == sorted(seen) and seen[-1] == 1.0  # never backwards across the segments

    r = http.get(f"{chained.url}/v1/jobs/{job['id']}/video")
    (tmp_path / "clip.mp4").write_bytes(r.content)
    probe = probe_mp4(tmp_path / "clip.mp4")
    assert (probe["frames"], probe["width"], probe["height"]) == (num_frames, 96, 64)

    chain = done["applied"]["segments"]
    assert len(chain) == segments
    assert [(s["frame_start"], s["overlap"]) for s in chain] == [(0, 0)] + [
        (8 * i, 9) for i in range(1, segments)
    ]
    assert chain[-1]["frame_end"] == num_frames - 1
    assert chain[0]["conditions"] == [{"condition": 0, "frame_index": 0}, {"condition": 1, "frame_index": 12}]
    assert chain[-1]["conditions"][-1] == {"condition": 2, "frame_index": chain[-1]["num_frames"] - 1}
    # Each segment's prompt describes its own camera move: rising at first, still at the end.
    assert "rises" in chain[0]["prompt_used"] and "rises" not in chain[-1]["prompt_used"]


def test_too_long_a_job_is_refused_naming_the_field(chained, http):
    r = http.post(chained.url + "/v1/jobs", json=job_request(num_frames=73))
    assert r.status_code == 422 and r.json()["field"] == "num_frames"
    assert "65" in r.json()["detail"]


def test_cancel_mid_chain_ends_cancelled_without_video(chained, http):
    req = job_request(num_frames=65, width=256, height=256, num_inference_steps=30)
    job = http.post(chained.url + "/v1/jobs", json=req).json()
    first_share = 17 / (17 * 7) * 0.97  # 65 frames = 7 segments of 17
    deadline = time.monotonic() + 300
    status = wait_progress(http, chained.url, job["id"])
    while status["progress"] <= first_share and time.monotonic() < deadline:  # into segment 2
        time.sleep(0.02)
        status = http.get(f"{chained.url}/v1/jobs/{job['id']}").json()
    assert status["status"] == "running", status
    http.post(f"{chained.url}/v1/jobs/{job['id']}/cancel")
    done = wait_for(http, chained.url, job["id"])
    assert done["status"] == "cancelled" and done["progress"] < 0.9 and done["error"] is None
    assert http.get(f"{chained.url}/v1/jobs/{job['id']}/video").status_code == 409


def test_each_segment_starts_from_the_previous_segments_last_frames(tiny_model_dir, tmp_path):
    # The chain on a real LTXBackend in its own process (torch stays out of pytest), recording what each
    # segment's generate() was given.
    out = tmp_path / "rec.npz"
    subprocess.run(
        [SERVER_PYTHON, "tests/support/record_chain.py", str(tiny_model_dir), str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )
    rec = np.load(out)
    assert rec["cond_0"].shape[0] == 0  # the first segment has no video condition
    assert np.array_equal(rec["cond_1"], rec["made_0"][-9:])  # the last 9 frames of segment 1, as made
    # The condition reached the model: the same request without it makes another video.
    assert np.abs(rec["made_1"].astype(int) - rec["plain_1"]).mean() > 1.0
    # One clip: segment 1 whole, then segment 2 without the 9 frames it shares with segment 1.
    assert np.array_equal(rec["out"], np.concatenate([rec["made_0"], rec["made_1"][9:]]))
    progress = rec["progress"]
    assert (np.diff(progress) >= 0).all() and 0.9 < progress[-1] < 1.0
