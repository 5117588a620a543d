"""What the meter says about one finished job's clip (the thread that measures every succeeded job in
turn is the queue's, ``server/queue/motion.py``): the meter's result (``server.meter.measure_clip``), or
a not-measurable answer when the meter fails. The lens comes from the request's trajectory (its first
sample); a request without one is measured with a 50 mm lens on a 36 mm sensor and gets no agreement.
"""

from __future__ import annotations

import logging
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
