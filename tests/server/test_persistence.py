"""kill -9 with jobs finished, queued and running: a restart finds every job; the running one is retried
once, then failed with a reason."""

from __future__ import annotations

import pytest


import requests
from support.server import job_request, start_server, wait_for, wait_progress

# A real server on the tiny model (tens of seconds to start on a loaded 2-core machine): not quick.
pytestmark = pytest.mark.slow

# Runs for several seconds, so it is surely mid-way when the server is killed.
LONG = {"num_frames": 33, "width": 256, "height": 256, "num_inference_steps": 60}


def test_kill9_restart_loses_nothing_and_retries_once(tiny_model_dir, tmp_path):
    data = tmp_path / "data"
    http = requests.Session()
    srv = start_server(data, str(tiny_model_dir))
    try:
        finished = http.post(srv.url + "/v1/jobs", json=job_request(shot="sh010", tags={"take": "1"})).json()
        finished = wait_for(http, srv.url, finished["id"])
        video = http.get(f"{srv.url}/v1/jobs/{finished['id']}/video").content
        long_job = http.post(srv.url + "/v1/jobs", json=job_request(**LONG)).json()
        queued = [http.post(srv.url + "/v1/jobs", json=job_request(seed=i)).json() for i in range(3)]
        wait_progress(http, srv.url, long_job["id"])
    finally:
        srv.kill9()

    # First restart: the interrupted job is queued again (ahead of the others: it is older) and runs.
    srv = start_server(data, str(tiny_model_dir))
    try:
        listed = {j["id"]: j for j in http.get(srv.url + "/v1/jobs").json()["jobs"]}
        assert {long_job["id"], *(q["id"] for q in queued)} <= set(listed)
        second = wait_progress(http, srv.url, long_job["id"])
        assert second["attempts"] == 2
    finally:
        srv.kill9()

    # Second restart: it was interrupted on its retry, so it fails with the reason; the rest run.
    srv = start_server(data, str(tiny_model_dir))
    try:
        failed = http.get(f"{srv.url}/v1/jobs/{long_job['id']}").json()
        assert failed["status"] == "failed" and failed["attempts"] == 2
        assert "not retried again" in failed["error"]
        for q in queued:
            done = wait_for(http, srv.url, q["id"])
            assert done["status"] == "succeeded" and done["attempts"] == 1
            assert http.get(f"{srv.url}/v1/jobs/{q['id']}/video").status_code == 200
        assert not list((data / "videos").glob(".tmp-*")), "a half-written video was left behind"
        # A job finished before both crashes is unchanged, video included (its motion measurement lands
        # after the job succeeded, so it may have changed since the first look).
        again = http.get(f"{srv.url}/v1/jobs/{finished['id']}").json()
        assert {**again, "motion": None} == {**finished, "motion": None}
        assert http.get(f"{srv.url}/v1/jobs/{finished['id']}/video").content == video
    finally:
        srv.stop()


def test_restart_removes_half_written_videos(tiny_model_dir, tmp_path):
    # A kill -9 during mp4 encoding leaves write_mp4's temp file behind; nothing else ever removes it.
    data = tmp_path / "data"
    (data / "videos").mkdir(parents=True)
    stale = data / "videos" / ".tmp-abc123.mp4"
    stale.write_bytes(b"\0" * 1024)
    srv = start_server(data, str(tiny_model_dir))
    try:
        assert not stale.exists()
    finally:
        srv.stop()
