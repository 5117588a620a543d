"""Generation over Ray: a local Ray with two replicas of the tiny model, over real HTTP.

Two jobs run at once (seen in the job list and in health's ``replicas``), a replica killed with SIGKILL
mid-job has its job run again elsewhere (attempts counted, one video), cancel reaches the replica that runs
the job, and a restart with jobs queued accounts for every job exactly once.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests
from support.server import job_request, run_server, wait_for, wait_progress

pytest.importorskip("ray")

pytestmark = [pytest.mark.server, pytest.mark.slow]

# Long enough on CPU (one thread per replica) to be seen running, short enough for CI.
LONG = {"num_frames": 49, "width": 384, "height": 256, "num_inference_steps": 12}
# Jobs a test acts on while they run (kill, cancel): many steps, so an idle machine cannot finish them
# between two polls (the cancelled one never runs to the end anyway).
LONGER = {**LONG, "num_inference_steps": 40}
NEVER_ENDING = {"num_frames": 65, "width": 512, "height": 512, "num_inference_steps": 200}


def _running_together(session, url: str, ids: set[str], timeout: float = 120.0) -> tuple[list, list]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = session.get(f"{url}/v1/jobs", timeout=10).json()["jobs"]
        running = [j["id"] for j in jobs if j["status"] == "running" and j["id"] in ids]
        replicas = session.get(f"{url}/v1/health", timeout=10).json()["replicas"]
        if len(running) == 2 and sum(r["state"] == "busy" for r in replicas) == 2:
            return running, replicas
        time.sleep(0.05)
    raise AssertionError(f"the two jobs never ran at the same time: {jobs} {replicas}")


@pytest.fixture(scope="module")
def ray_server(tmp_path_factory, tiny_model_dir):
    data = tmp_path_factory.mktemp("ray-srv")
    with run_server(data, str(tiny_model_dir), ["--ray", "--replicas", "2"], timeout=300) as srv:
        yield srv


def test_health_lists_the_replicas(ray_server):
    replicas = ray_server.health()["replicas"]
    assert len(replicas) == 2
    assert {r["state"] for r in replicas} == {"idle"}
    pids = {r["pid"] for r in replicas}
    assert len(pids) == 2 and ray_server.proc.pid not in pids
    assert all(r["device"] == "cpu" and r["node"] for r in replicas)
    memory = ray_server.health()["memory"]  # the replicas' mode, not the front's "no memory mode"
    assert memory["mode"] == "resident" and "cpu" in memory["why"] and memory["replicas"] == 2


def test_two_jobs_run_at_once(ray_server):
    s = requests.Session()
    ids = {s.post(f"{ray_server.url}/v1/jobs", json=job_request(seed=i, **LONG)).json()["id"] for i in (1, 2)}
    running, replicas = _running_together(s, ray_server.url, ids)
    assert {r["job"] for r in replicas} == ids
    for job_id in ids:
        done = wait_for(s, ray_server.url, job_id, timeout=300)
        assert done["status"] == "succeeded" and done["attempts"] == 1
        assert s.get(f"{ray_server.url}{done['video_url']}").headers["content-type"] == "video/mp4"


def test_killed_replica_job_runs_again(ray_server):
    s = requests.Session()
    job_id = s.post(f"{ray_server.url}/v1/jobs", json=job_request(seed=7, **LONGER)).json()["id"]
    wait_progress(s, ray_server.url, job_id)
    victim = next(r for r in ray_server.health()["replicas"] if r["job"] == job_id)
    os.kill(victim["pid"], signal.SIGKILL)
    done = wait_for(s, ray_server.url, job_id, timeout=300)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    # Ray brought the killed replica back with a new process; the server shows it.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        replicas = ray_server.health()["replicas"]
        if all(r["state"] == "idle" for r in replicas):
            break
        time.sleep(0.2)
    pids = {r["pid"] for r in replicas}
    assert victim["pid"] not in pids and len(pids) == 2, replicas


def test_killed_replica_chained_job_runs_again(tmp_path, tiny_model_dir):
    # A long shot runs as a chain of segments; a replica dying under segment 2 is the replica's loss, not
    # the segment's failure: the job is queued again (attempt counted) and then succeeds as one clip.
    args = ["--ray", "--replicas", "1", "--segment-frames", "17", "--segment-overlap", "9"]
    with run_server(tmp_path / "srv", str(tiny_model_dir), args, timeout=300) as srv, requests.Session() as s:
        chained = {**LONG, "num_frames": 41, "num_inference_steps": 40}
        job_id = s.post(f"{srv.url}/v1/jobs", json=job_request(seed=3, **chained)).json()["id"]
        status = s.get(f"{srv.url}/v1/jobs/{job_id}").json()
        assert len(status["applied"]["segments"]) >= 2, status["applied"]["segments"]
        deadline = time.monotonic() + 300
        while (status := s.get(f"{srv.url}/v1/jobs/{job_id}").json())["progress"] < 0.4:  # in segment 2
            assert status["status"] in ("queued", "running") and time.monotonic() < deadline, status
            time.sleep(0.05)
        victim = next(r for r in srv.health()["replicas"] if r["job"] == job_id)
        os.kill(victim["pid"], signal.SIGKILL)
        done = wait_for(s, srv.url, job_id, timeout=600)
        assert done["status"] == "succeeded", done
        assert done["attempts"] == 2 and done["error"] is None
        assert "replica" in srv.log().lower()


def test_cancel_reaches_the_replica(ray_server):
    s = requests.Session()
    job_id = s.post(f"{ray_server.url}/v1/jobs", json=job_request(seed=9, **NEVER_ENDING)).json()["id"]
    status = wait_progress(s, ray_server.url, job_id)
    assert status["progress"] < 0.9
    s.post(f"{ray_server.url}/v1/jobs/{job_id}/cancel")
    done = wait_for(s, ray_server.url, job_id, timeout=120)
    assert done["status"] == "cancelled" and done["video_url"] is None
    assert s.get(f"{ray_server.url}/v1/jobs/{job_id}/video").status_code == 409


def test_restart_with_queued_jobs_runs_each_once(tmp_path, tiny_model_dir):
    data = tmp_path / "srv"
    s = requests.Session()
    with run_server(data, str(tiny_model_dir), ["--ray", "--replicas", "2"], timeout=300) as srv:
        ids = [s.post(f"{srv.url}/v1/jobs", json=job_request(seed=i, **LONG)).json()["id"] for i in range(4)]
    with run_server(data, str(tiny_model_dir), ["--ray", "--replicas", "2"], timeout=300) as srv:
        finals = [wait_for(s, srv.url, job_id, timeout=300) for job_id in ids]
        listed = s.get(f"{srv.url}/v1/jobs").json()["jobs"]
    assert [f["status"] for f in finals] == ["succeeded"] * 4
    assert sorted(j["id"] for j in listed) == sorted(ids)
    assert all(1 <= f["attempts"] <= 2 for f in finals)
    assert len(list((data / "videos").glob("*.mp4"))) == 4
