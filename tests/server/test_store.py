"""The SQLite job store on its own: no server, no thread; every call made here, in this process."""

from __future__ import annotations

import pytest

from server.queue.store import MAX_ATTEMPTS, DataDirInUse, JobStore, SubmitKey

REQUEST = {"num_frames": 9, "width": 64, "height": 64, "frame_rate": 24.0, "seed": 1, "shot": "sh010"}
APPLIED = {"conditions": [], "layers": []}


@pytest.fixture()
def store(tmp_path):
    s = JobStore(tmp_path / "data")
    yield s
    s.close()


def _create(store, key=None, images=(), digest="d0"):
    held = SubmitKey(key, digest) if key else None
    status, created = store.create(dict(REQUEST), list(images), dict(APPLIED), held)
    return status, created


def test_create_claim_and_finish(store):
    first, created = _create(store, images=[b"png0", b"png1"])
    second, _ = _create(store)
    assert created and first["status"] == "queued" and first["queue_position"] == 0
    assert second["queue_position"] == 1 and store.queue_length() == 2
    assert sorted(p.name for p in store.inputs_dir(first["id"]).iterdir()) == ["0.png", "1.png"]
    row = store.claim_next()
    assert row["id"] == first["id"] and row["attempts"] == 1 and store.running_id() == first["id"]
    store.update(first["id"], status="succeeded", progress=1.0, timings={"total_s": 1.0})
    done = store.get(first["id"])
    assert done["status"] == "succeeded" and done["timings"] == {"total_s": 1.0}
    assert done["video_url"].endswith(f"/jobs/{first['id']}/video")
    assert [j["id"] for j in store.list()] == [second["id"], first["id"]]  # newest first
    assert store.remove(first["id"]) and store.get(first["id"]) is None
    assert not store.remove(second["id"])  # not final: stays


def test_requeue_is_uncounted_and_lost_runs_are_counted(store):
    job, _ = _create(store)
    store.claim_next()
    store.requeue(job["id"])  # the server stopped it: the run does not count
    assert store.get(job["id"])["status"] == "queued" and store.get(job["id"])["attempts"] == 0
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert store.claim_next()["attempts"] == attempt
        status = store.requeue_lost(job["id"], "replica died")
    assert status == "failed"
    failed = store.get(job["id"])
    assert "lost 2 times (replica died)" in failed["error"] and failed["finished_at"] is not None


def test_recover_after_a_crash(tmp_path):
    store = JobStore(tmp_path)
    once, _ = _create(store)
    twice, _ = _create(store)
    store.claim_next()
    store.claim_next()
    store.update(twice["id"], attempts=MAX_ATTEMPTS)
    store.close()  # a crash: both rows still say running
    store = JobStore(tmp_path)
    assert store.recover() == (1, 1)
    assert store.get(once["id"])["status"] == "queued"
    failed = store.get(twice["id"])
    assert failed["status"] == "failed" and "stopped 2 times" in failed["error"]
    store.close()


def test_a_second_store_on_the_data_dir_is_refused(store):
    with pytest.raises(DataDirInUse, match="--data-dir"):
        JobStore(store.root)


def test_idempotency_key_gives_one_job_and_outlives_a_restart(tmp_path):
    store = JobStore(tmp_path)
    first, created = _create(store, key="take-7f3a", images=[b"png"])
    again, created_again = _create(store, key="take-7f3a", images=[b"other png"])
    assert created and not created_again and again == first
    assert store.queue_length() == 1 and [p.name for p in (tmp_path / "inputs").iterdir()] == [first["id"]]
    other, _ = _create(store, key="take-8b21")
    assert other["id"] != first["id"]
    store.close()
    store = JobStore(tmp_path)  # the key is in the database, not in memory
    assert store.by_idempotency_key("take-7f3a")["id"] == first["id"]
    assert store.idempotency_digest("take-7f3a") == "d0"  # the body it came with, kept beside it
    assert store.by_idempotency_key("never-sent") is None and store.idempotency_digest("never-sent") is None
    store.cancel_queued(first["id"])
    assert store.remove(first["id"])  # the key lives as long as its job
    assert store.by_idempotency_key("take-7f3a") is None
    fresh, created = _create(store, key="take-7f3a")
    assert created and fresh["id"] != first["id"]
    store.close()


def test_motion_pending_and_set(store):
    job, _ = _create(store)
    store.claim_next()
    store.update(job["id"], status="succeeded")
    pending = {"pending": True}
    store.set_motion(job["id"], pending)
    assert store.motion_pending(pending) == [job["id"]] and store.get(job["id"])["motion"] == pending
    store.set_motion(job["id"], {"summary": "dolly in"})
    assert store.motion_pending(pending) == [] and store.get(job["id"])["motion"] == {"summary": "dolly in"}
