"""Takes in flight: what the main thread remembers about each shot's jobs while they run.

State by lifetime: what must survive a save (job ids, job states, input hash, takes) is written on the
shot's settings at once; what only lives while a job runs (which segment has which clip) is kept here
and rebuilt from the settings when a .blend is reopened (``submit.reattach_all``, on load_post). The
shots' progress and status sentences are live too: a loaded file starts without them
(``reset_live_state``). Undo and redo bring back older scene data; ``after_undo`` puts the runs' state
back on their shots. Main thread only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import bpy

from ...core.shots import Shot
from ..addon import props
from ..edit import vse
from ...core.courier_wire import ClientConfig
from .session import session

Report = Callable[[str], None]

#: Shot states in which a job id is still worth asking the server about.
ATTACH_STATES = ("queued", "running", "importing", "succeeded")


@dataclass
class Run:
    """One take of one shot in flight, or several ("Takes per Shot": best of N, ``takes``/``seeds``).

    Jobs are numbered take-major: job ``i`` is segment ``i % len(parts)`` of take ``takes[i //
    len(parts)]``; that index is the third part of the courier's Key. The run ends once every job's clip
    is imported and its motion measured (``Measured``), so best of N can pick its take."""

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
    takes: list[int] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    measured: list[bool] = field(default_factory=list)
    motions: list[dict | None] = field(default_factory=list)
    #: Added to the take strips' metadata (a final: ``draft_take``, the take it was made from).
    extra_meta: dict = field(default_factory=dict)
    #: A sentence the shot keeps saying while its take is sent and when it lands (guides the server does
    #: not take, left out: ``staged.py``).
    note: str = ""

    def __post_init__(self) -> None:
        self.takes = self.takes or [self.take]
        self.seeds = self.seeds or [self.seed] * len(self.takes)
        n = len(self.parts) * len(self.takes)
        self.job_ids = self.job_ids or [""] * n
        self.status = ["queued"] * n
        self.progress = [0.0] * n
        self.paths = [""] * n
        self.jobs = [{} for _ in range(n)]
        self.measured = [False] * n
        self.motions = [None] * n

    def segment_of(self, i: int) -> int:
        return i % len(self.parts)

    def take_of(self, i: int) -> int:
        return self.takes[i // len(self.parts)]

    def seed_of(self, i: int) -> int:
        return self.seeds[i // len(self.parts)]

    @property
    def submitted(self) -> bool:
        return all(self.job_ids)


#: (scene session_uid, shot name) -> its take in flight: the session's (``session.py`` resets it).
runs: dict[tuple[int, str], Run] = session.runs


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


def unstick(ss) -> None:
    """A shot marked in flight with no job to follow (saved, or undone to, before its job id came
    back): say so, and let it be generated again instead of waiting forever."""
    ss.job_status = "error"
    say(ss, None, "Its job id never reached the .blend, so the take is lost: generate it again.")


def reset_live_state() -> None:
    """Progress bars and status sentences describe this session's jobs, not the file: a loaded .blend
    starts without them (job ids, states and takes are the saved part; re-attaching speaks again)."""
    for scene in bpy.data.scenes:
        st = getattr(scene, "ltx", None)
        for ss in st.shots if st is not None else ():
            ss.message = ""
            ss.progress = 1.0 if ss.job_status == "imported" else 0.0


def after_undo() -> None:
    """Undo and redo bring back scene data from before answers that came in since (undo_post handler).

    A take still in flight gets its job ids and state back from its run. A shot that says it waits for
    a job this session no longer follows had its take undone away: it says so and keeps its job id, so
    Generate Shot re-attaches to it and imports the take again from its clip on disk."""
    for (scene_id, name), run in list(runs.items()):
        scene = scene_of(scene_id)
        ss = props.shot_settings(scene, name, create=False) if scene is not None else None
        if ss is not None and all(run.paths):  # every clip in, only its motion awaited
            if all(j in {s.ltx.job_id for s in vse.take_strips(scene, name)} for j in run.job_ids):
                ss.job_status = "imported"
            else:  # the import was undone: the shot re-attaches below, like one whose run had ended
                del runs[(scene_id, name)]
        elif ss is not None:
            ss.job_id = ",".join(run.job_ids) if run.submitted else ss.job_id
            ss.job_status = "running" if "running" in run.status else "queued"
    for scene in bpy.data.scenes:
        st = getattr(scene, "ltx", None)
        for ss in st.shots if st is not None else ():
            if ss.job_status not in ATTACH_STATES or (sid(scene), ss.name) in runs:
                continue
            imported = {s.ltx.job_id for s in vse.take_strips(scene, ss.name)}
            if ss.job_id and all(j in imported for j in ss.job_id.split(",")):
                ss.job_status, ss.progress = "imported", 1.0
            elif ss.job_id:
                ss.job_status = "succeeded"
                say(ss, None, f"Its take was undone: Generate Shot re-attaches job {ss.job_id}.")
            else:
                unstick(ss)
