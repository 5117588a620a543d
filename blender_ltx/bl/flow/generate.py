"""Generation, the public entry points: run (synchronously), start (in the background), cancel, wait.

The flow, one file per step: scene -> plan (``plan.py``) -> request (``request.py``: checks, guide
frames, job requests) -> server (``submit.py`` sends; on a click, a shot with control first waits in
``staged.py`` for its background control render; ``link/courier_link.py`` hands the network to the
courier, a child process, and ``link/tick.py`` pumps it on the main thread) -> clip (``clips.py``
applies the answers) -> strip (``vse.py``). ``connection.py`` says which server; ``runs.py`` holds the
takes in flight.

``register()`` installs ``clips.apply_message`` as the tick's handler, the load handlers that drop
this session's jobs (``session.reset``: runs, control renders, the courier's) when another .blend is
opened and re-attach that file's jobs once it is in, and the undo/redo handlers that put in-flight runs back
on their shots (``runs.after_undo``). The link imports nothing of the flow, and these are the only
load handlers.
"""

from __future__ import annotations

import time
from typing import Any

import bpy
from bpy.app.handlers import persistent

from ...core import server_info, status
from ..addon import props
from . import staged
from ..link import courier_link, tick
from .clips import apply_message, fail_run
from ..link.connection import client_config, connection_probe, set_server, test_connection
from . import session
from .runs import ATTACH_STATES, Report, after_undo, pending, reset_live_state, runs, scene_of, sid
from .submit import cancel, reattach_all, refresh_plan, submit

#: After ``timeout`` runs out, how long a run still waits for its jobs' ids (never a job the file loses).
SUBMIT_GRACE_S = 60.0

__all__ = [
    "ATTACH_STATES",
    "after_undo",
    "apply_message",
    "cancel",
    "client_config",
    "connection_probe",
    "pending",
    "reattach_all",
    "refresh_plan",
    "run_sync",
    "set_server",
    "start_async",
    "submit",
    "test_connection",
    "wait",
]


def wait(scene, shot_names: list[str] | None = None, *, timeout: float | None = None, submitted_only=False):
    """Pump the courier's messages (as the timer would) until the shots are done, or only submitted.
    Returns the shots still in flight (empty when all are done)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        tick.drain(0.05)
        mine = sid(scene)
        left = [n for n in pending(scene, shot_names) if not (submitted_only and runs[(mine, n)].submitted)]
        if not left or (deadline is not None and time.monotonic() > deadline):
            return left
        time.sleep(0.05)


def run_sync(
    scene,
    shot_names: list[str] | None = None,
    *,
    force: bool = False,
    report: Report = print,
    wait_for_clips: bool = True,
    timeout: float | None = None,
    control: str | None = None,
    draft: bool = False,
) -> dict:
    """Generate synchronously: submit, wait with progress lines through ``report``, import, summarize.

    ``wait_for_clips=False`` returns once the jobs are on the server (their ids are on the shots, so a
    later run or reopening the .blend picks them up). ``result["waiting"]`` names the shots still in
    flight when ``timeout`` ran out; ``result["message"]`` is the one-line summary. ``control``: the
    control kind of every shot of this run (default: each shot's own). ``draft``: the takes are drafts."""
    learn_server(client_config())
    info = _server_info()
    out = submit(scene, shot_names, force=force, report=report, control=control, info=info, draft=draft)
    return collect(scene, out, wait_for_clips=wait_for_clips, timeout=timeout)


def collect(scene, out: dict, *, wait_for_clips: bool = True, timeout: float | None = None) -> dict:
    """Wait for the shots a submit (or a finalize) sent and summarize them as ``run_sync`` does."""
    names = out["submitted"] + out["attached"]
    left = wait(scene, names, timeout=timeout, submitted_only=not wait_for_clips)
    if left:  # out of time: still see every job onto the server, so the saved file records its id
        wait(scene, left, timeout=SUBMIT_GRACE_S, submitted_only=True)
    result: dict[str, Any] = {**out, "imported": [], "waiting": left}
    for name in names:
        ss = props.shot_settings(scene, name, create=False)
        result["shots"][name] = {
            "status": ss.job_status,
            "job_id": ss.job_id,
            "take": ss.active_take,
            "message": ss.message,
        }
        if ss.job_status == "imported":
            result["imported"].append(name)
        elif ss.job_status in ("failed", "cancelled", "error"):
            result["failed"].append(name)
    result["message"] = status.summary(result)
    return result


def learn_server(cfg, timeout: float = 10.0) -> bool:
    """Ask the server what it can do (through the courier) unless this session already knows: a script
    waits for its takes anyway, and the answer decides whether a long shot is one job. A click never
    waits: there Test Connection or the first submit tells the add-on (``core.server_info``)."""
    if server_info.get(cfg.url) is not None:
        return True
    link = courier_link.get()
    probe_id = link.probe(cfg)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = link.probe_answer(probe_id)
        if answer is not None:
            return answer[0]
        time.sleep(0.02)
    return False


def _server_info() -> dict | None:
    """The server's health as the courier learned it (``learn_server``), for choosing control kinds
    before rendering; None when it did not answer (the courier then chooses and refuses)."""
    return server_info.get(client_config().url)


def start_async(context, shot_names: list[str] | None, *, force: bool = False, draft: bool = False) -> dict:
    """Submit in the background; the timer applies progress and imports the clips when they are done.

    A draft's size follows the server's recipe (``core.drafts.final_multiple``), which a server not asked
    yet has not told: the click then asks it through the courier and submits once it answers
    (``_draft_after_asking``), so it never waits on the network itself."""
    cfg = client_config(context)
    if draft and server_info.get(cfg.url) is None:
        return _draft_after_asking(context.scene, shot_names, force, cfg)
    result: dict[str, Any] = submit(
        context.scene, shot_names, force=force, report=None, cfg=cfg, stage=True, draft=draft
    )
    result["message"] = status.summary(result)
    return result


def _draft_after_asking(scene, shot_names: list[str] | None, force: bool, cfg) -> dict:
    """Ask the server at ``cfg.url`` for its health (the draft recipe) and submit the drafts from the tick
    once it answered, or once ``staged.PROBE_WAIT_S`` passed (then by the half-size rule); a sentence that
    stops them lands on the shots."""
    link = courier_link.get()
    probe_id, deadline = link.probe(cfg), time.monotonic() + staged.PROBE_WAIT_S
    scene_id = sid(scene)
    names = shot_names if shot_names is not None else [ss.name for ss in scene.ltx.shots]
    asking = f"Asking {cfg.url} for its draft recipe; the draft goes once it answers."
    for name in names:
        ss = props.shot_settings(scene, name, create=False)
        if ss is not None:
            ss.message = asking

    def send_drafts() -> int:
        if link.probe_answer(probe_id) is None and time.monotonic() < deadline:
            return 1
        target = scene_of(scene_id)
        if target is not None:
            try:
                submit(target, shot_names, force=force, report=None, cfg=cfg, stage=True, draft=True)
            except (ValueError, OSError) as exc:
                _say_on_shots(target, names, str(exc))
        return 0

    tick.add_hook(send_drafts, lambda sentence: _say_on_shots(scene_of(scene_id), names, sentence))
    return {"submitted": [], "attached": [], "unchanged": [], "failed": [], "shots": {}, "message": asking}


def _say_on_shots(scene, names: list[str], sentence: str) -> None:
    for name in names if scene is not None else ():
        ss = props.shot_settings(scene, name, create=False)
        if ss is not None:
            ss.job_status = "error"
            ss.message = sentence


# -- hooks into Blender ------------------------------------------------------------------------------
@persistent
def _on_load_pre(*_args) -> None:
    session.reset()  # the closing file's runs, control renders and jobs in the courier


@persistent
def _on_load_post(*_args) -> None:
    from . import look_jobs

    reset_live_state()
    reattach_all()
    look_jobs.reattach_all()


@persistent
def _on_undo_redo(*_args) -> None:
    from . import look_jobs

    after_undo()
    look_jobs.after_undo()


def _handlers():
    app = bpy.app.handlers
    return (
        (app.load_pre, _on_load_pre),
        (app.load_post, _on_load_post),
        (app.undo_post, _on_undo_redo),
        (app.redo_post, _on_undo_redo),
    )


def register() -> None:
    tick.set_handler(apply_message, fail_run)
    staged.register()
    for handlers, fn in _handlers():
        handlers.append(fn)


def unregister() -> None:
    staged.unregister()
    for handlers, fn in _handlers():
        while fn in handlers:
            handlers.remove(fn)
    session.reset(servers=True)
    # The tick's handler is left installed: clearing it here made ``python -m blender_ltx generate``
    # hang at exit after a take was imported (bpy 4.5, 2 of 2 runs; the cause is in Blender's exit,
    # not found), and a handler with nothing in flight does nothing.
