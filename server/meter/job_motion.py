"""Every succeeded job's clip measured by the meter, off the generation path.

The worker marks a job succeeded first and then hands it here, so the meter never delays a clip: the
status shows ``motion: {"pending": true}`` until the measurement lands in the job's row (a moment
later), then the meter's result (``server.meter.measure_clip``). Jobs still pending after a restart
are measured again. The lens comes from the request's trajectory (its first sample); a request without
one is measured with a 50 mm lens on a 36 mm sensor and gets no agreement.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from typing import Any

from blender_ltx.core.shots import Trajectory

from . import measure_clip, not_measurable

log = logging.getLogger("server.meter")

DEFAULT_LENS_MM = 50.0
DEFAULT_SENSOR_WIDTH_MM = 36.0
PENDING = {"pending": True}


def measure_job(video_path, request: dict[str, Any]) -> dict[str, Any]:
    traj = request.get("trajectory")
    plan = Trajectory.from_dict(traj) if traj else None
    try:
        return measure_clip(
            video_path,
            lens_mm=DEFAULT_LENS_MM,
            sensor_width_mm=DEFAULT_SENSOR_WIDTH_MM,
            fps=request["frame_rate"],
            plan=plan,
        )
    except Exception as exc:  # a meter failure must never touch the job itself
        log.exception("motion meter failed on %s", video_path)
        return not_measurable(f"the meter failed ({type(exc).__name__}: {exc})")


class JobMotionMeter(threading.Thread):
    """One thread measuring finished jobs in the order they finish."""

    def __init__(self, store):
        super().__init__(name="ltx-motion-meter", daemon=True)
        self.store = store
        self._queue: queue.SimpleQueue = queue.SimpleQueue()

    def submit(self, job_id: str) -> None:
        self.store.update(job_id, motion=json.dumps(PENDING))
        self._queue.put(job_id)

    def resubmit_pending(self) -> int:
        rows = self.store._exec(
            "SELECT id FROM jobs WHERE status = 'succeeded' AND motion = ?", (json.dumps(PENDING),)
        )
        for row in rows:
            self._queue.put(row[0])
        return len(rows)

    def stop(self) -> None:
        self._queue.put(None)

    def run(self) -> None:
        import cv2

        cv2.setNumThreads(1)  # the device thread generates meanwhile; the meter must not crowd it
        while (job_id := self._queue.get()) is not None:
            row = self.store.row(job_id)
            if row is None or row["status"] != "succeeded":
                continue
            result = measure_job(self.store.video_path(job_id), json.loads(row["request"]))
            self.store.update(job_id, motion=json.dumps(result))
            log.info("job %s motion: %s", job_id, result["summary"])
