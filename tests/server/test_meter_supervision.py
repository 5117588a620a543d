"""The motion meter's thread is supervised like the job runners: when it dies, a new one measures every
job still pending, and health shows ``meter: {alive, restarts}``. The store and the thread are real; the
measurement the dying thread runs into is one that escapes the meter's own error handling."""

from __future__ import annotations

import time

import pytest

from server.queue.motion import MotionMeasurements
from server.queue.store import JobStore


class _Escapes(BaseException):
    """Something no ``except Exception`` catches (what killed the unsupervised thread for good)."""


def _succeeded_job(store: JobStore) -> str:
    job, _ = store.create({"num_frames": 9, "frame_rate": 24.0}, [], {"conditions": []})
    store.claim_next()
    store.update(job["id"], status="succeeded")
    return job["id"]


def _until(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the death is the point
def test_a_dead_meter_thread_is_restarted_and_measures_what_was_pending(tmp_path):
    store = JobStore(tmp_path)
    calls = []

    def measure(video_path, request):
        calls.append(video_path.stem)
        if len(calls) == 1:
            raise _Escapes()
        return {"summary": "static", "measurable": True}

    meter = MotionMeasurements(store, measure)
    meter.start()
    first, second = _succeeded_job(store), _succeeded_job(store)
    meter.submit(first)  # kills the thread
    _until(lambda: not meter.alive)
    meter.submit(second)  # nobody reads the queue now: both stay pending
    time.sleep(0.2)
    assert store.get(second)["motion"] == {"pending": True}
    assert meter.info() == {"alive": False, "restarts": 0}

    assert meter.ensure_running()  # what the app's watchdog calls every second
    assert meter.info() == {"alive": True, "restarts": 1}
    _until(lambda: store.motion_pending({"pending": True}) == [])
    assert store.get(first)["motion"]["summary"] == "static"
    assert store.get(second)["motion"]["summary"] == "static"
    assert calls == [first, first, second]  # each measured once more, none twice after the restart
    assert not meter.ensure_running()  # alive: nothing to do
    meter.stop()
    store.close()


def test_health_shows_the_meter(server, http):
    assert http.get(server.url + "/v1/health").json()["meter"] == {"alive": True, "restarts": 0}
