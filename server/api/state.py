"""What the routes share: the server's parts, made once by app.py and found on ``app.state.server``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from ..backends.base import Backend
from ..queue.asset_store import AssetStore
from ..queue.motion import MotionMeasurements
from ..queue.runner import JobRunners
from ..queue.store import JobStore
from .settings import Settings


@dataclass
class ServerState:
    settings: Settings
    backend: Backend
    store: JobStore
    runners: JobRunners
    assets: AssetStore
    meter: MotionMeasurements
    pool: Any = None  # a started ray_pool.RayPool (--ray), else None
    look: Any = None  # the look model (backends/look.py), else None: this server makes no looks
    share: Any = None  # backends/device_share.DeviceShare: the video and look models take the device in turn


def server_of(request: Request) -> ServerState:
    return request.app.state.server
