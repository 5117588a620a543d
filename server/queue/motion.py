"""Every succeeded job's clip measured by the motion meter (``server.meter``), off the generation path.

A job runner marks a job succeeded first and then hands it here, so the meter never delays a clip: the
status shows ``motion: {"pending": true}`` until the measurement lands in the job's row (a moment later).
The thread is supervised like the job runners: should it die, the app's watchdog starts a new one, which
picks up every measurement still pending in the store (so does a restart of the server); health shows
``meter: {alive, restarts}``.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import traceback
from typing import Any, Callable

from ..meter.job_motion import PENDING, measure_job
from .store import JobStore

log = logging.getLogger("server.queue.motion")


class MotionMeasurements:
    """One thread measuring finished jobs in the order they finish, restarted by ``ensure_running``."""

    def __init__(
        self, store: JobStore, measure: Callable[[Any, dict[str, Any]], dict[str, Any]] = measure_job
    ):
        self.store = store
        self.restarts = 0
        self._measure = measure
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def info(self) -> dict[str, Any]:
        return {"alive": self.alive, "restarts": self.restarts}

    def submit(self, job_id: str) -> None:
        self.store.set_motion(job_id, PENDING)
        self._queue.put(job_id)

    def start(self) -> None:
        """Start the thread on every measurement the store still has pending (a restart's included)."""
        self._queue = queue.SimpleQueue()  # what a dead thread left is in the store as pending
        for job_id in self.store.motion_pending(PENDING):
            self._queue.put(job_id)
        self._thread = threading.Thread(
            target=self._run, args=(self._queue,), name="ltx-motion-meter", daemon=True
        )
        self._thread.start()

    def ensure_running(self) -> bool:
        """Restart a meter thread that died; True if it did."""
        if self.alive or self._stopped or self._thread is None:
            return False
        self.restarts += 1
        log.error("the motion meter thread had stopped; restarted it (restart %d)", self.restarts)
        self.start()
        return True

    def stop(self) -> None:
        self._stopped = True
        self._queue.put(None)

    def _run(self, jobs: queue.SimpleQueue) -> None:
        try:
            import cv2

            cv2.setNumThreads(1)  # the job runner generates meanwhile; the meter must not crowd it
            while (job_id := jobs.get()) is not None:
                self._measure_one(job_id)
        except BaseException:
            log.critical("the motion meter thread died:\n%s", traceback.format_exc())
            raise

    def _measure_one(self, job_id: str) -> None:
        row = self.store.row(job_id)
        if row is None or row["status"] != "succeeded" or json.loads(row["motion"] or "null") != PENDING:
            return  # removed, or measured already (a restart may queue a job twice)
        result = self._measure(self.store.video_path(job_id), json.loads(row["request"]))
        self.store.set_motion(job_id, result)
        log.info("job %s motion: %s", job_id, result["summary"])
