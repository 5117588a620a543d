"""``POST /v1/jobs/ID/cancel`` cancels a queued job at once and a running one at its next step, and leaves a
job that ended as it is; ``DELETE`` removes only a job that has ended (a queued or running one is a 409)."""

from __future__ import annotations

import pytest

from support.server import job_request, wait_for, wait_progress

# A real server on the tiny model (tens of seconds to start on a loaded 2-core machine): not quick.
pytestmark = pytest.mark.slow

# Long enough that it cannot finish between two polls (200 steps of ~0.3 s on 2 CPU cores).
LONG = {"num_frames": 65, "width": 512, "height": 512, "num_inference_steps": 200}


def test_cancel_queued_and_running(server, http):
    running = http.post(server.url + "/v1/jobs", json=job_request(**LONG)).json()
    queued = http.post(server.url + "/v1/jobs", json=job_request(seed=7)).json()
    wait_progress(http, server.url, running["id"])
    assert http.get(f"{server.url}/v1/jobs/{queued['id']}").json()["status"] == "queued"
    assert http.get(f"{server.url}/v1/jobs/{queued['id']}/video").status_code == 409

    for job in (queued, running):  # DELETE removes nothing that has not ended, and cancels nothing
        r = http.delete(f"{server.url}/v1/jobs/{job['id']}")
        assert r.status_code == 409 and f"POST /v1/jobs/{job['id']}/cancel" in r.json()["detail"], r.text
    assert http.get(f"{server.url}/v1/jobs/{queued['id']}").json()["status"] == "queued"

    r = http.post(f"{server.url}/v1/jobs/{queued['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"  # at once, not at a step

    r = http.post(f"{server.url}/v1/jobs/{running['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] in ("running", "cancelled")
    done = wait_for(http, server.url, running["id"])
    assert done["status"] == "cancelled" and done["progress"] < 1.0 and done["error"] is None

    # Neither ever ran to a video, and the queued one never started.
    assert http.get(f"{server.url}/v1/jobs/{queued['id']}").json()["started_at"] is None
    for job in (running, queued):
        r = http.get(f"{server.url}/v1/jobs/{job['id']}/video")
        assert r.status_code == 409 and "cancelled" in r.json()["detail"]

    # Ended now: DELETE removes the cancelled job.
    assert http.delete(f"{server.url}/v1/jobs/{queued['id']}").status_code == 200
    assert http.get(f"{server.url}/v1/jobs/{queued['id']}").status_code == 404

    # The job runner is free again: the next job runs.
    after = http.post(server.url + "/v1/jobs", json=job_request()).json()
    assert wait_for(http, server.url, after["id"])["status"] == "succeeded"


def test_delete_finished_job_removes_it_and_its_files(server, http):
    job = http.post(server.url + "/v1/jobs", json=job_request()).json()
    assert wait_for(http, server.url, job["id"])["status"] == "succeeded"
    video = server.data_dir / "videos" / f"{job['id']}.mp4"
    assert video.is_file()
    r = http.delete(f"{server.url}/v1/jobs/{job['id']}")
    assert r.status_code == 200 and r.json()["status"] == "succeeded"  # what it was
    assert not video.exists()
    for path in ("", "/video"):
        assert http.get(f"{server.url}/v1/jobs/{job['id']}{path}").status_code == 404
    assert job["id"] not in [j["id"] for j in http.get(server.url + "/v1/jobs").json()["jobs"]]
    assert http.delete(f"{server.url}/v1/jobs/{job['id']}").status_code == 404


def test_a_cancel_that_crosses_the_end_keeps_the_take(server, http):
    """A cancel (the add-on's, by Client.cancel) of a job that ended meanwhile keeps its row and video."""
    from blender_ltx.core.client import Client

    job = http.post(server.url + "/v1/jobs", json=job_request()).json()
    assert wait_for(http, server.url, job["id"])["status"] == "succeeded"
    assert Client(server.url).cancel(job["id"])["status"] == "succeeded"
    r = http.post(f"{server.url}/v1/jobs/{job['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "succeeded"
    r = http.get(f"{server.url}/v1/jobs/{job['id']}/video")
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert (server.data_dir / "videos" / f"{job['id']}.mp4").is_file()


def test_unknown_job_is_404(server, http):
    for method, path in [("get", ""), ("get", "/video"), ("delete", ""), ("post", "/cancel")]:
        r = getattr(http, method)(f"{server.url}/v1/jobs/0123456789abcdef0123456789abcdef{path}")
        assert r.status_code == 404 and "No job" in r.json()["detail"]
    assert http.get(f"{server.url}/v1/jobs/..%2F..%2Fjobs.sqlite3/video").status_code == 404


def test_cancel_after_the_last_step_still_cancels(server, http):
    # One step, then a long VAE decode and encode at shot size: the cancel lands after the denoising
    # loop (no step callback will come) and the job must still end cancelled, with no video.
    job = http.post(
        server.url + "/v1/jobs",
        json=job_request(num_frames=121, width=768, height=512, num_inference_steps=1, conditions=[]),
    ).json()
    status = wait_progress(http, server.url, job["id"])
    assert status["progress"] >= 0.9  # every step is done: decoding now
    r = http.post(f"{server.url}/v1/jobs/{job['id']}/cancel")
    assert r.status_code == 200
    done = wait_for(http, server.url, job["id"])
    assert done["status"] == "cancelled", done
    assert http.get(f"{server.url}/v1/jobs/{job['id']}/video").status_code == 409
