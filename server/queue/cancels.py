"""The cancel board: running jobs a client asked to stop, shared by every job runner."""

from __future__ import annotations

import threading


class CancelBoard:
    """Job ids asked to stop while running; the runner that holds one sees it at its next step."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def add(self, job_id: str) -> None:
        with self._lock:
            self._ids.add(job_id)

    def discard(self, job_id: str) -> None:
        with self._lock:
            self._ids.discard(job_id)

    def __contains__(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._ids
