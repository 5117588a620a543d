"""One device, two models: the video model and the look model take it in turn, never at once.

On a GPU the model a job needs is moved onto it and the other one is parked in host memory first
(``swap``): a 24-48 GB card holds LTX or FLUX.2 klein, not both. The look model is read from disk the
first time a look job runs (lazily: a server that never makes looks never pays for it). With
``--cpu-offload`` the pipelines' own hooks already keep idle parts in host memory (``offload``); on the
CPU both simply live in memory (``host``). Every job records what ``use`` did, and health shows the mode
and which model is resident now.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class DeviceShare:
    def __init__(self, video, look, *, device: str, cpu_offload: bool = False):
        self.video = video
        self.look = look
        self.device = device
        self.mode = "host" if device != "cuda" else ("offload" if cpu_offload else "swap")
        self.resident = "video"
        self.swaps = 0
        self._lock = threading.Lock()

    def info(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "resident": self.resident,
            "models": ["video", "look"] if self.look is not None else ["video"],
            "swaps": self.swaps,
            "look_loaded": self.look is not None and self.look.pipe is not None,
        }

    def use(self, role: str) -> dict[str, Any]:
        """Make ``role`` ("video" | "look") the model on the device; returns the record for the job."""
        with self._lock:
            t0 = time.perf_counter()
            before = self.resident
            loaded = False
            if role == "look" and self.look.pipe is None:
                if self.mode == "swap" and before == "video":
                    self._move(self.video, "cpu")
                self.look.load()  # onto the device (look.py)
                loaded = True
            elif role != before and self.mode == "swap":
                self._move(self.video if before == "video" else self.look, "cpu")
                self._move(self.video if role == "video" else self.look, self.device)
            swapped = role != before
            if swapped:
                self.swaps += 1
            self.resident = role
            return {
                "mode": self.mode,
                "model": role,
                "resident_before": before,
                "swapped": swapped and self.mode == "swap",
                "loaded": loaded,
                "seconds": round(time.perf_counter() - t0, 3),
            }

    def _move(self, backend, device: str) -> None:
        pipe = getattr(backend, "pipe", None)
        if pipe is None:
            return
        pipe.to(device)
        if device == "cpu":
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()  # give the freed blocks back before the other model loads
