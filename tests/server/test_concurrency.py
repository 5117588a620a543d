"""Many clients at once: every job is accounted for, and polls keep answering while jobs run."""

from __future__ import annotations

import pytest

import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from support.server import job_request, wait_for

# A real server on the tiny model (tens of seconds to start on a loaded 2-core machine): not quick.
pytestmark = pytest.mark.slow

CLIENTS = 5
JOBS_EACH = 10


def test_50_jobs_from_5_threads_while_polling(server):
    stop = threading.Event()
    poll_errors: list[str] = []
    polls = [0]

    def poller():
        with requests.Session() as s:
            while not stop.is_set():
                for path in ("/v1/health", "/v1/jobs"):
                    r = s.get(server.url + path, timeout=10)
                    if r.status_code != 200:
                        poll_errors.append(f"{path}: {r.status_code}")
                polls[0] += 1

    def client(c: int) -> list[str]:
        ids = []
        with requests.Session() as s:
            for j in range(JOBS_EACH):
                req = job_request(seed=c * 100 + j, tags={"client": str(c), "n": str(j)})
                r = s.post(server.url + "/v1/jobs", json=req, timeout=30)
                assert r.status_code == 202, r.text
                ids.append(r.json()["id"])
        return ids

    poll_thread = threading.Thread(target=poller)
    poll_thread.start()
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            ids = [i for batch in pool.map(client, range(CLIENTS)) for i in batch]
        with requests.Session() as s:
            done = [wait_for(s, server.url, i) for i in ids]
    finally:
        stop.set()
        poll_thread.join()

    assert len(set(ids)) == CLIENTS * JOBS_EACH
    assert [d["status"] for d in done] == ["succeeded"] * len(ids)
    assert not poll_errors and polls[0] > 0
    listed = requests.get(server.url + "/v1/jobs", params={"limit": 1000}).json()["jobs"]
    assert set(ids) <= {j["id"] for j in listed}
    # One at a time on the device: no two jobs' run intervals overlap.
    spans = sorted((d["started_at"], d["finished_at"]) for d in done)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False))
    # Newest first.
    created = [j["created_at"] for j in listed]
    assert created == sorted(created, reverse=True)
