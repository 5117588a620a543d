"""Watching one server job: when to ask next, what its answers mean, how to back off (no bpy, no I/O).

The courier process (courier.py) owns the I/O and calls these with the answers it got; keeping the
decisions here makes them testable without a thread, a clock or a server (``now`` is always passed in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .protocol import FINAL_STATUSES, ServerError

#: Seconds between polls while the job runs (progress bar updates) and while it waits in the queue.
POLL_RUNNING_S = 0.5
POLL_QUEUED_S = 1.0

# Phases of a watched job.
POLL = "poll"  # asking GET /v1/jobs/{id}
DOWNLOAD = "download"  # succeeded: fetching the mp4
MEASURE = "measure"  # downloaded: asking again until the server's motion meter has measured the clip
DONE = "done"  # downloaded (and measured), failed, cancelled or lost: nothing more to ask

#: How long a downloaded job is followed for its motion measurement, and how often it is asked.
MOTION_WAIT_S = 120.0
POLL_MOTION_S = 1.0


def final_motion(data: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
    """(final, motion) of a job status: final when the meter's result is in, or when the status has no
    ``motion`` field at all (a server from before the meter: nothing will come)."""
    if "motion" not in data:
        return True, None
    motion = data["motion"]
    if isinstance(motion, dict) and motion and not motion.get("pending"):
        return True, motion
    return False, None  # null (just succeeded) or {"pending": true}


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff for a server that is down, slow or restarting: 1, 2, 4, ... up to 30 s."""

    first: float = 1.0
    factor: float = 2.0
    maximum: float = 30.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure in a row (``failures`` >= 1)."""
        if failures < 1:
            return 0.0
        return min(self.maximum, self.first * self.factor ** (failures - 1))


@dataclass
class JobWatch:
    job_id: str
    phase: str = POLL
    status: str = "queued"
    progress: float = 0.0
    failures: int = 0
    next_at: float = 0.0
    message: str = ""
    error: str = ""
    backoff: Backoff = Backoff()
    measure_until: float = 0.0

    def due(self, now: float) -> bool:
        return self.phase != DONE and now >= self.next_at

    def on_status(self, data: dict[str, Any], now: float) -> str:
        """Take a ``GET /v1/jobs/{id}`` answer; returns the status sentence for the shot."""
        self.failures = 0
        self.status = str(data.get("status", "queued"))
        self.progress = float(data.get("progress") or 0.0)
        if self.status == "succeeded":
            self.phase, self.progress, self.next_at = DOWNLOAD, 1.0, now
            total = (data.get("timings") or {}).get("total_s")
            took = f" in {total:.1f} s" if isinstance(total, (int, float)) else ""
            self.message = f"Generated{took}; downloading the clip."
        elif self.status in FINAL_STATUSES:
            self.phase = DONE
            if self.status == "failed":
                self.error = str(data.get("error") or "no reason given")
                self.message = f"The server failed this job: {self.error}"
            else:
                self.message = "Cancelled."
        elif self.status == "running":
            self.next_at = now + POLL_RUNNING_S
            self.message = f"Generating: {self.progress:.0%}."
        else:
            self.next_at = now + POLL_QUEUED_S
            self.message = "Queued on the server."
        return self.message

    def on_error(self, err: ServerError, now: float) -> str:
        """A failed poll or download. Transient failures back off and retry; a job the server no longer
        knows (404) is final, as nothing will bring it back."""
        if err.status == 404:
            self.phase, self.status, self.error = DONE, "error", str(err)
            self.message = str(err)
            return self.message
        self.failures += 1
        wait = self.backoff.delay(self.failures)
        self.next_at = now + wait
        self.message = f"{str(err).rstrip('.')}; retrying in {wait:.0f} s (job {self.job_id} is kept)."
        return self.message

    def on_downloaded(self, data: dict[str, Any] | None = None, now: float = 0.0) -> bool:
        """The clip is on disk. Returns True when the job is done; False when its motion is still being
        measured (phase MEASURE: ask again with ``on_motion`` until ``measure_until``)."""
        self.failures = 0
        if data is None or final_motion(data)[0]:
            self.phase = DONE
            return True
        self.phase, self.measure_until, self.next_at = MEASURE, now + MOTION_WAIT_S, now + POLL_MOTION_S
        return False

    def on_motion(self, data: dict[str, Any], now: float) -> bool:
        """A status asked for while measuring; True (phase DONE) once the motion is final or the wait
        is over."""
        self.failures = 0
        if final_motion(data)[0] or now >= self.measure_until:
            self.phase = DONE
            return True
        self.next_at = now + POLL_MOTION_S
        return False
