"""Jobs run to completion over real HTTP and produce the mp4 that was asked for."""

from __future__ import annotations

from fractions import Fraction

import pytest
from support.server import job_request, png_b64, wait_for

from server.generation.video import probe_mp4

# A real server on the tiny model (tens of seconds to start on a loaded 2-core machine): not quick.
pytestmark = pytest.mark.slow


def _run(http, server, tmp_path, **overrides):
    r = http.post(server.url + "/v1/jobs", json=job_request(**overrides))
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "queued" and len(job["id"]) == 32
    done = wait_for(http, server.url, job["id"])
    assert done["status"] == "succeeded", done
    video = http.get(f"{server.url}/v1/jobs/{job['id']}/video")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    path = tmp_path / f"{job['id']}.mp4"
    path.write_bytes(video.content)
    return done, probe_mp4(path)


@pytest.mark.parametrize(
    "num_frames,width,height,frame_rate",
    [(9, 64, 64, 24.0), (17, 96, 64, 24000 / 1001), (25, 64, 96, 25.0)],
)
def test_job_produces_exact_mp4(server, http, tmp_path, num_frames, width, height, frame_rate):
    done, mp4 = _run(
        http, server, tmp_path, num_frames=num_frames, width=width, height=height, frame_rate=frame_rate
    )
    assert mp4["codec"] == "h264"
    assert (mp4["frames"], mp4["width"], mp4["height"]) == (num_frames, width, height)
    assert mp4["rate"] == (Fraction(24000, 1001) if frame_rate < 24 else Fraction(frame_rate))
    assert done["progress"] == 1.0 and done["attempts"] == 1 and done["error"] is None
    assert done["request"]["num_frames"] == num_frames
    assert set(done["timings"]) == {"queued_s", "generate_s", "encode_s", "total_s", "peak_gpu_mb"}
    assert done["timings"]["peak_gpu_mb"] is None  # CPU: no GPU memory to report


def test_keyframes_are_applied_and_reported(server, http, tmp_path):
    conditions = [
        {"frame_index": 0, "image": png_b64(96, 64, seed=1)},
        {"frame_index": 13, "image": png_b64(128, 96, seed=2), "strength": 0.7},
    ]
    done, mp4 = _run(http, server, tmp_path, num_frames=17, width=96, height=64, conditions=conditions)
    assert mp4["frames"] == 17
    applied = done["applied"]
    assert applied["layers"] == ["keyframes"]
    assert applied["conditions"] == [
        {"requested_frame_index": 0, "frame_index": 0, "strength": 1.0},
        {"requested_frame_index": 13, "frame_index": 13, "strength": 0.7},
    ]
    assert applied["negative_prompt"] == "blurry"
