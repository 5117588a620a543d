"""The job runner survives what jobs and disks do to it; SIGTERM loses no run; old jobs are removed."""

from __future__ import annotations

import contextlib
import errno
import subprocess
import time
from pathlib import Path

import pytest
import requests
from support.server import job_request, png_b64, run_server, wait_for, wait_progress

# A real server on the tiny model (tens of seconds to start on a loaded 2-core machine): not quick.
pytestmark = pytest.mark.slow

# Long enough to be running when the test acts (200 steps of ~0.3 s on 2 CPU cores).
LONG = {"num_frames": 65, "width": 512, "height": 512, "num_inference_steps": 200}


@contextlib.contextmanager
def _small_disk(path: Path, size: str = "16m"):
    """A real small filesystem (tmpfs; CI runs as root), so 'disk full' is the kernel's ENOSPC."""
    path.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    # Unbuffered: a buffered file would try to write its rest again when closed, and raise ENOSPC there.
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def _until(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout:.0f} s")


def test_full_disk_kills_the_job_runner_then_it_is_restarted(tiny_model_dir, tmp_path):
    with _small_disk(tmp_path / "disk") as disk, requests.Session() as http:
        args = ("--data-dir", str(disk))  # the port file and log stay on the big disk
        with run_server(tmp_path / "srv", str(tiny_model_dir), extra_args=args) as srv:
            health = lambda: http.get(srv.url + "/v1/health", timeout=10).json()  # noqa: E731
            assert health()["runner"] == {"alive": True, "job": None, "restarts": 0}
            job = http.post(srv.url + "/v1/jobs", json=job_request(**LONG)).json()
            wait_progress(http, srv.url, job["id"])
            assert health()["runner"]["job"] == job["id"]

            filler = _fill(disk)
            # The next progress record fails, then the record of that failure: the runner thread dies
            # for real, and health says so while the disk stays full (the restart needs a write too).
            dead = _until(lambda: (w := health()["runner"])["alive"] is False and w, what="dead runner")
            assert dead["job"] == job["id"] and dead["restarts"] == 0

            # A submit on the full disk: 507 with a sentence, and nothing half-written.
            r = http.post(
                srv.url + "/v1/jobs", json=job_request(conditions=[{"frame_index": 0, "image": png_b64()}])
            )
            assert r.status_code == 507 and "disk is full" in r.json()["detail"], r.text
            assert list((disk / "inputs").iterdir()) == []
            r = http.post(f"{srv.url}/v1/jobs/{job['id']}/cancel")  # a cancel is a write too
            assert r.status_code == 507 and "disk is full" in r.json()["detail"], r.text

            filler.unlink()
            alive = _until(lambda: (w := health()["runner"])["alive"] and w, what="restarted runner")
            assert alive["restarts"] == 1
            # The job the dead thread held is run again, its lost run not counted.
            again = wait_progress(http, srv.url, job["id"])
            assert again["attempts"] == 1 and again["error"] is None
            http.post(f"{srv.url}/v1/jobs/{job['id']}/cancel")
            small = http.post(srv.url + "/v1/jobs", json=job_request()).json()
            assert wait_for(http, srv.url, small["id"])["status"] == "succeeded"
            assert "the job runner thread died" in srv.log()


def test_sigterm_requeues_the_running_job_uncounted(tiny_model_dir, tmp_path):
    with requests.Session() as http:
        with run_server(tmp_path / "srv", str(tiny_model_dir)) as srv:
            job = http.post(srv.url + "/v1/jobs", json=job_request(**LONG)).json()
            wait_progress(http, srv.url, job["id"])
            srv.proc.terminate()
            assert srv.proc.wait(timeout=60) in (0, -15)  # uvicorn re-raises the signal once shut down
            assert "queued again" in srv.log()
        with run_server(tmp_path / "srv", str(tiny_model_dir)) as srv:
            status = wait_progress(http, srv.url, job["id"])
            assert status["attempts"] == 1, status  # the interrupted run was not counted
            http.post(f"{srv.url}/v1/jobs/{job['id']}/cancel")
            assert wait_for(http, srv.url, job["id"])["status"] == "cancelled"


def test_retention_by_video_budget_then_by_age(tiny_model_dir, tmp_path):
    data = tmp_path / "srv"
    with requests.Session() as http:
        with run_server(data, str(tiny_model_dir)) as srv:
            ids = []
            for seed in (1, 2):
                job = http.post(srv.url + "/v1/jobs", json=job_request(seed=seed)).json()
                assert wait_for(http, srv.url, job["id"])["status"] == "succeeded"
                ids.append(job["id"])
        old, new = (data / "videos" / f"{i}.mp4" for i in ids)
        budget_gb = (new.stat().st_size + 1) / 1e9  # room for the newest video only
        with run_server(data, str(tiny_model_dir), extra_args=("--video-budget-gb", str(budget_gb))) as srv:
            assert http.get(f"{srv.url}/v1/jobs/{ids[0]}").status_code == 404
            assert not old.exists() and new.exists()
            assert http.get(f"{srv.url}/v1/jobs/{ids[1]}/video").status_code == 200
        time.sleep(0.2)
        with run_server(data, str(tiny_model_dir), extra_args=("--keep-days", "0.000001")) as srv:  # 86 ms
            assert http.get(f"{srv.url}/v1/jobs/{ids[1]}").status_code == 404
            assert not new.exists() and http.get(srv.url + "/v1/jobs").json()["jobs"] == []


def test_a_job_that_raises_fails_alone(server, http):
    # Queue a keyframed job behind a running one (long: it cannot end before the file is gone), then take
    # its keyframe file away and cancel the long one: when the keyframed job's turn comes, reading it
    # raises (FileNotFoundError), the job fails with the reason, and the runner goes on.
    running = http.post(server.url + "/v1/jobs", json=job_request(**LONG)).json()
    wait_progress(http, server.url, running["id"])
    broken = http.post(
        server.url + "/v1/jobs", json=job_request(seed=5, conditions=[{"frame_index": 0, "image": png_b64()}])
    ).json()
    after = http.post(server.url + "/v1/jobs", json=job_request(seed=6)).json()
    (server.data_dir / "inputs" / broken["id"] / "0.png").unlink()
    assert http.post(f"{server.url}/v1/jobs/{running['id']}/cancel").status_code == 200
    assert wait_for(http, server.url, running["id"])["status"] == "cancelled"
    failed = wait_for(http, server.url, broken["id"])
    assert failed["status"] == "failed" and "FileNotFoundError" in failed["error"]
    assert wait_for(http, server.url, after["id"])["status"] == "succeeded"
    assert http.get(server.url + "/v1/health").json()["runner"]["alive"] is True


def test_full_disk_asset_upload_leaves_nothing_and_counts_nothing(tiny_model_dir, tmp_path):
    import hashlib
    import os

    with _small_disk(tmp_path / "disk") as disk, requests.Session() as http:
        args = ("--data-dir", str(disk))
        with run_server(tmp_path / "srv", str(tiny_model_dir), extra_args=args) as srv:
            filler = _fill(disk)
            os.truncate(filler, filler.stat().st_size - 1_500_000)  # 1.5 MB of room left
            big, small = os.urandom(3_000_000), os.urandom(1_000_000)
            r = http.put(f"{srv.url}/v1/assets/{hashlib.sha256(big).hexdigest()}", data=big)
            assert r.status_code == 507 and "disk is full" in r.json()["detail"], r.text
            assert [p.name for p in (disk / "assets").iterdir()] == []  # no half-written temp file
            assert srv.health()["assets"]["uploaded_bytes"] == 0  # refused: not counted
            # The room the failed write took is free again: an upload that fits is stored.
            r = http.put(f"{srv.url}/v1/assets/{hashlib.sha256(small).hexdigest()}", data=small)
            assert r.status_code == 201, r.text
            stats = srv.health()["assets"]
            assert stats["uploaded_bytes"] == len(small) and stats["stored"] == 1


#: One denoising step of this on the tiny model takes far longer than the shutdown may (44 s a step on the
#: 2-core test machine): a shutdown that waited for the step would take that long.
SLOW_STEP = {"num_frames": 257, "width": 1280, "height": 704, "num_inference_steps": 2}


def test_sigterm_stops_at_once_mid_step_and_requeues_uncounted(tiny_model_dir, tmp_path):
    from server.queue.store import JobStore

    with requests.Session() as http:
        with run_server(tmp_path / "srv", str(tiny_model_dir)) as srv:
            job = http.post(srv.url + "/v1/jobs", json=job_request(**SLOW_STEP)).json()
            _until(lambda: http.get(f"{srv.url}/v1/jobs/{job['id']}").json()["status"] == "running")
            time.sleep(2.0)  # well inside the first step
            t0 = time.monotonic()
            srv.proc.terminate()
            code = srv.proc.wait(timeout=60)
            stop_s = time.monotonic() - t0
            print(f"stop took {stop_s:.2f} s mid-step")
            assert stop_s < 8.0, f"the server took {stop_s:.1f} s to stop"
            assert code in (0, -15), srv.log()[-2000:]
            assert "queued again" in srv.log()
    store = JobStore(tmp_path / "srv")
    try:
        row = store.get(job["id"])
        assert row["status"] == "queued" and row["attempts"] == 0, row  # the stopped run is not counted
    finally:
        store.close()
