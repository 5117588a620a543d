"""Takes in flight: what the main thread remembers about each shot's jobs while they run.

State by lifetime: what must survive a save (job ids, status sentence, input hash) is written on the
shot's settings at once; what only lives while a job runs (which segment has which clip) is kept here
and rebuilt from the settings when a .blend is reopened (``submit.reattach_all``, on load_post).
Main thread only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import bpy

from ..core.shots import Shot
from .worker import ClientConfig

Report = Callable[[str], None]


@dataclass
class Run:
    """One take of one shot in flight."""

    scene: int  # session_uid (see sid)
    shot: Shot
    parts: list[Shot]  # one per generation segment
    take: int
    seed: int
    prompt: str
    cfg: ClientConfig
    input_hash: str = ""
    report: Report | None = None
    job_ids: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    progress: list[float] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    jobs: list[dict] = field(default_factory=list)
    cancel_requested: bool = False

    def __post_init__(self) -> None:
        n = len(self.parts)
        self.job_ids = self.job_ids or [""] * n
        self.status = ["queued"] * n
        self.progress = [0.0] * n
        self.paths = [""] * n
        self.jobs = [{} for _ in range(n)]

    @property
    def submitted(self) -> bool:
        return all(self.job_ids)


#: (scene session_uid, shot name) -> its take in flight.
runs: dict[tuple[int, str], Run] = {}


def sid(scene) -> int:
    """Whom a run belongs to: the scene's session id, which (unlike its name) survives a rename while
    the job runs. Runs are runtime state, rebuilt after a load, so a per-session id is enough."""
    return scene.session_uid


def scene_of(scene_id: int):
    return next((scene for scene in bpy.data.scenes if scene.session_uid == scene_id), None)


def say(ss, run: Run | None, message: str) -> None:
    """Put ``message`` on the shot (saved with it) and pass it to the run's report, once."""
    if message and message != ss.message:
        ss.message = message
        if run is not None and run.report is not None:
            run.report(f"{ss.name}: {message}")


def pending(scene, shot_names: list[str] | None = None) -> list[str]:
    """Shots of ``scene`` whose take is still in flight in this session."""
    mine = sid(scene)
    return [n for (s, n) in runs if s == mine and (shot_names is None or n in shot_names)]


def forget() -> None:
    """Drop the in-flight runs (another .blend is being loaded; its own jobs re-attach after)."""
    runs.clear()
