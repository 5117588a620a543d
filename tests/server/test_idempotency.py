"""Submit idempotency over real HTTP: a POST re-sent with the same ``Idempotency-Key`` (a courier that
restarted mid-submit) creates nothing and answers the first job as GET would, with 200; the same key with
another body is a 422 naming the header (a client that reused a key by mistake learns it, instead of reading
some other job as its own); the key is kept with the job in the store, so it holds across a server restart;
a bad key is a 422 naming the header."""

from __future__ import annotations

import pytest

import json
import uuid

import requests
from support.server import job_request, run_server, wait_for

# A real server on the tiny model (tens of seconds to start on a loaded 2-core machine): not quick.
pytestmark = pytest.mark.slow


def _key() -> str:
    return uuid.uuid4().hex


def test_same_key_answers_the_first_job(server, http):
    key = _key()
    first = http.post(server.url + "/v1/jobs", json=job_request(seed=11), headers={"Idempotency-Key": key})
    assert first.status_code == 202, first.text
    # Settled first, so the answer and the GET beside it read the same state (a running job's progress
    # moves between two requests).
    wait_for(http, server.url, first.json()["id"])
    count = len(http.get(server.url + "/v1/jobs", params={"limit": 1000}).json()["jobs"])
    # The same submit again, even with its JSON keys in another order and spaced otherwise: that job.
    body = job_request(seed=11)
    for raw in (json.dumps(body), json.dumps(dict(reversed(list(body.items()))), indent=2)):
        again = http.post(
            server.url + "/v1/jobs",
            data=raw,
            headers={"Idempotency-Key": key, "Content-Type": "application/json"},
        )
        assert again.status_code == 200, again.text
        assert again.json() == http.get(f"{server.url}/v1/jobs/{first.json()['id']}").json()
    # Another body with that key, valid or not: a 422 naming the header and the job it holds.
    for other_body in (job_request(seed=12), {"prompt": 3}):
        r = http.post(server.url + "/v1/jobs", json=other_body, headers={"Idempotency-Key": key})
        assert r.status_code == 422 and r.json()["field"] == "Idempotency-Key", r.text
        assert first.json()["id"] in r.json()["detail"] and "new key" in r.json()["detail"]
    assert len(http.get(server.url + "/v1/jobs", params={"limit": 1000}).json()["jobs"]) == count
    other = http.post(server.url + "/v1/jobs", json=job_request(seed=11), headers={"Idempotency-Key": _key()})
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    unkeyed = [http.post(server.url + "/v1/jobs", json=job_request(seed=11)).json()["id"] for _ in range(2)]
    assert unkeyed[0] != unkeyed[1]  # without a key every POST is a new job, as before
    for job_id in (other.json()["id"], *unkeyed):
        wait_for(http, server.url, job_id)


def test_bad_key_is_422_naming_the_header(server, http):
    before = [j["id"] for j in http.get(server.url + "/v1/jobs").json()["jobs"]]
    for bad in ("", "has space", "a" * 129, "dot.ted", "ünï"):
        r = http.post(
            server.url + "/v1/jobs", json=job_request(), headers={"Idempotency-Key": bad.encode("utf-8")}
        )
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["field"] == "Idempotency-Key" and "letters, digits" in r.json()["detail"], r.json()
    assert [j["id"] for j in http.get(server.url + "/v1/jobs").json()["jobs"]] == before  # nothing queued


def test_key_holds_across_a_restart(tiny_model_dir, tmp_path):
    key = _key()
    with requests.Session() as http:
        with run_server(tmp_path / "srv", str(tiny_model_dir)) as srv:
            first = http.post(srv.url + "/v1/jobs", json=job_request(), headers={"Idempotency-Key": key})
            assert first.status_code == 202
            wait_for(http, srv.url, first.json()["id"])
        with run_server(tmp_path / "srv", str(tiny_model_dir)) as srv:
            again = http.post(srv.url + "/v1/jobs", json=job_request(), headers={"Idempotency-Key": key})
            assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
            assert again.json()["status"] == "succeeded"
            assert len(http.get(srv.url + "/v1/jobs").json()["jobs"]) == 1
