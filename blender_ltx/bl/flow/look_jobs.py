"""Generate Looks in the background: a click checks each shot's references, saves ONE copy of the file
(``staged.FileCopy``) and renders nothing: each shot's layout (its first frame through the shot's camera:
one small frame) renders in a background process from that copy (``guides.PendingGuides``, as a click's
guide frames do; ``poll`` on the tick starts them, ``staged.MAX_RENDERS`` at a time with the takes' renders,
and says per shot how far it is). Once a shot's layout is in, its look job goes to the courier
(``core/courier.py``: uploads the layout and references as content-addressed assets, posts the job with
an idempotency key, follows it, downloads the stills). The tick applies the courier's answers here
(``apply_message``, called by ``clips.apply_message`` for keys whose segment is ``LOOK_SEGMENT``):
progress on the shot's sentence, and the stills placed as look strips when they are in (the first one
the shot's look if it has none). The synchronous path (scripts, ``looks --wait``) is ``looks.make_looks``.

Look runs are live state (``session.looks``); once the server has given a look job its id, the shot keeps
it (``JOB_KEY``, saved with the .blend, as a take's job id is), so a file closed while the job runs
re-attaches it when it is opened again (``reattach_all``, the load_post handler) and the stills land then.
A file saved before the id came back has nothing to re-attach (the layout was still rendering, or the job
still on its way): Generate Looks again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import bpy

from ...core import looks as vocab
from ...core import server_info
from ...core.courier_wire import LOOK_SEGMENT, ClientConfig
from ..addon import blend_paths, props
from ..edit import look_strips, vse
from ..link import courier_link, tick
from ..link.connection import client_config
from ..plan.scene import plan_scene
from ..render import guides
from . import looks, staged
from .runs import scene_of, sid
from .session import session


#: The shot's look job in flight, saved with the .blend: {"job": id, "count": stills} as JSON (an ID
#: property on the shot's settings; removed once its stills are in, or it failed or was cancelled).
JOB_KEY = "ltx_look_job_in_flight"


@dataclass
class LookRun:
    """One shot's look job in flight."""

    scene: int  # session_uid
    shot: Any  # core.shots.Shot (its frames place the strips)
    count: int
    cfg: ClientConfig
    job_id: str = ""
    status: str = "queued"
    progress: float = 0.0
    cancel_requested: bool = False
    #: While its layout frame renders in the background: the render, the click's file copy it reads,
    #: and the courier command that goes once the frame is in (all None once sent).
    layout: guides.PendingGuides | None = None
    copy: staged.FileCopy | None = None
    submit: Any = None


def pending(scene, shot_names: list[str] | None = None) -> list[str]:
    """The shots of ``scene`` whose look job is still in flight."""
    mine = sid(scene)
    return [n for (s, n) in session.looks if s == mine and (shot_names is None or n in shot_names)]


def _layout_render(scene, shot, copy: staged.FileCopy) -> guides.PendingGuides:
    """The background render of the shot's layout (its first frame, from the click's file copy) into the
    shot's looks folder, where the courier reads it later; a frame left there by an earlier run is removed
    first, so only this run's frame can go."""
    folder = os.path.join(blend_paths.abspath(f"{vse.shot_dir(scene, shot.name)}/looks"), "layout")
    planned = guides.planned_guides(shot, folder)
    for _index, path in planned:
        if os.path.isfile(path):
            os.remove(path)
    return guides.PendingGuides(shot.name, guides.guide_job(scene, shot, folder, copy.path()), planned)


def _reference_files(scene, shot_name: str) -> list[dict[str, str]]:
    """The shot's references as files ({name, kind, path}), each checked to be a PNG now (one sentence
    otherwise); the previous shot's chosen look where it continues from it."""
    ss = props.shot_settings(scene, shot_name)
    names = looks.shot_reference_names(scene, ss)
    looks.scene_references(scene, names)  # every file read and checked before anything is sent
    out = [
        {"name": r.name, "kind": r.kind, "path": blend_paths.abspath(r.image)}
        for r in scene.ltx.references
        if r.name in names
    ]
    if ss.continue_previous:
        looks.continuity_reference(scene, shot_name)  # checked: the previous shot has a look
        prev = looks.previous_shot(scene, shot_name)
        strip = look_strips.chosen_look(scene, prev.name)
        out.append({"name": f"shot {prev.name}", "kind": "set", "path": look_strips.look_file(strip)})
    return out[: vocab.MAX_LOOK_REFERENCES]


def start(scene, cfg: ClientConfig, *, count: int, shot_names: list[str] | None = None) -> dict[str, Any]:
    """Hand the shots' look jobs to the courier and return at once (the tick lands the strips).
    Returns {"started": [names], "busy": [names already making looks]}. Bad input (a server known to
    make no looks, a missing reference, a shot without its previous look) raises ValueError before any
    job is sent."""
    info = server_info.get(cfg.url)
    if info is not None and vocab.CAPABILITY_LOOK_FRAMES not in info.get("capabilities", []):
        raise ValueError(f"The server at {cfg.url} makes no looks; start it with --look-model.")
    if not 1 <= count <= vocab.MAX_LOOK_COUNT:
        raise ValueError(f"Count is {count}; ask for 1 to {vocab.MAX_LOOK_COUNT} looks per shot.")
    plan = plan_scene(scene, pixel_budget=scene.ltx.pixel_budget)
    shots = sorted(
        (s for s in plan.shots if shot_names is None or s.name in shot_names), key=lambda s: s.frame_start
    )
    if shot_names is not None and not shots:
        raise ValueError(f"No shot named {', '.join(shot_names)} in the plan; Refresh Plan first.")
    mine = sid(scene)
    busy = [s.name for s in shots if (mine, s.name) in session.looks]
    shots = [s for s in shots if (mine, s.name) not in session.looks]
    refs = {s.name: _reference_files(scene, s.name) for s in shots}  # all checked before any is sent
    copy = staged.FileCopy()
    try:
        layouts = {s.name: _layout_render(scene, s, copy) for s in shots}
    except (ValueError, OSError):
        copy.discard()
        raise
    for shot in shots:
        ss = props.shot_settings(scene, shot.name)
        layout = layouts[shot.name]
        spec = {"layout": ["beauty", layout.planned[0][1]], "references": refs[shot.name]}
        request = {
            "kind": vocab.JOB_KIND_LOOK,
            "prompt": props.full_prompt(scene, ss),
            "width": shot.generation.width,
            "height": shot.generation.height,
            "count": count,
            "shot": shot.name,
        }
        folder = blend_paths.abspath(f"{vse.shot_dir(scene, shot.name)}/looks")
        submit = courier_link.Submit((mine, shot.name, LOOK_SEGMENT), cfg, request, folder, look=spec)
        run = LookRun(mine, shot, count, cfg, layout=layout, copy=copy, submit=submit)
        session.looks[(mine, shot.name)] = run
        ss.message = "Looks: rendering the layout frame in the background."
    if shots:
        tick.add_hook(poll, fail_all)
    else:
        copy.discard()
    return {"started": [s.name for s in shots], "busy": busy}


def _release(run: LookRun) -> None:
    """The run no longer renders: stop its render if it runs, and remove the click's file copy once no
    other look run renders from it."""
    if run.layout is not None:
        run.layout.cancel()
    copy, run.layout, run.copy = run.copy, None, None
    if copy is not None and not any(r.copy is copy for r in session.looks.values()):
        copy.discard()


def poll() -> int:
    """One pass over the look runs whose layout renders: start renders where slots are free, say how far
    they are, send a run's look job once its frame is in, fail a run whose render failed (the others go
    on). Returns how many still render."""
    left = 0
    for key, run in list(session.looks.items()):
        if run.layout is None:
            continue
        scene = scene_of(key[0])
        ss = props.shot_settings(scene, key[1], create=False) if scene is not None else None
        if ss is None:  # the scene or shot is gone: nothing to send it for
            del session.looks[key]
            _release(run)
            continue
        layout = run.layout
        try:
            if layout.render is None and staged.running() < staged.MAX_RENDERS:
                layout.start()
            layout.poll()
        except ValueError as exc:
            del session.looks[key]
            _release(run)
            ss.message = f"Looks failed: {exc}"
            continue
        if not layout.finished:
            left += 1
            if layout.render is not None:  # else it waits for a free slot, as the click said
                ss.message = f"Looks: rendering the layout frame: {round(100.0 * layout.progress())} %."
            continue
        submit, run.submit = run.submit, None
        _release(run)
        courier_link.get().send(submit)
        ss.message = f"Looks: {run.count} still(s) handed to the courier."
        tick.ensure_timer()  # the courier's answers for the job just sent
    return left


def fail_all(sentence: str) -> None:
    """``poll`` raised (the tick logged the traceback): every look run still rendering ends with it."""
    for key, run in list(session.looks.items()):
        if run.layout is None:
            continue
        del session.looks[key]
        _release(run)
        scene = scene_of(key[0])
        ss = props.shot_settings(scene, key[1], create=False) if scene is not None else None
        if ss is not None:
            ss.message = f"Looks failed: {sentence}"


def cancel(scene, shot_name: str) -> bool:
    """Cancel the shot's look job (at once if it is on the server, else as soon as it is). False when
    the shot makes no looks."""
    key = (sid(scene), shot_name)
    run = session.looks.get(key)
    if run is None:
        return False
    if run.layout is not None:  # its layout still renders: nothing was sent
        del session.looks[key]
        _release(run)
        ss = props.shot_settings(scene, shot_name, create=False)
        if ss is not None:
            ss.message = "Looks: cancelled while the layout frame rendered; nothing was sent."
        return True
    run.cancel_requested = True
    if run.job_id:
        key = (run.scene, shot_name, LOOK_SEGMENT)
        courier_link.get().send(courier_link.Cancel(key, run.cfg, run.job_id))
    return True


def apply_message(msg: courier_link.Message) -> None:
    """One courier answer for a look job, on the main thread."""
    scene_id, shot_name, _ = msg.key
    run = session.looks.get((scene_id, shot_name))
    scene = scene_of(scene_id)
    ss = props.shot_settings(scene, shot_name, create=False) if scene is not None else None
    if run is None or ss is None or (msg.job_id and run.job_id not in ("", msg.job_id)):
        return  # a look job this file no longer waits for
    if isinstance(msg, courier_link.Submitted):
        run.job_id = msg.job_id
        _keep_job(ss, run)
        ss.message = f"Looks: job {msg.job_id} queued ({run.count} still(s))."
        if run.cancel_requested:
            courier_link.get().send(courier_link.Cancel(msg.key, run.cfg, msg.job_id))
    elif isinstance(msg, courier_link.Update):
        run.status, run.progress = msg.status, msg.progress
        ss.message = f"Looks: {msg.message}"
    elif isinstance(msg, courier_link.Note):
        ss.message = f"Looks: {msg.message}"
    elif isinstance(msg, courier_link.Downloaded):
        stills = (msg.job.get("applied") or {}).get("stills", [])
        placed = [{**still, "path": path} for still, path in zip(stills, msg.files, strict=True)]
        strips = look_strips.place_looks(scene, run.shot, placed, msg.job_id)
        run.status, run.progress = "succeeded", 1.0
        ss.message = f"Looks: {len(strips)} look(s) on the Looks channel (job {msg.job_id})."
        del session.looks[(scene_id, shot_name)]
        _forget_job(ss)
    elif isinstance(msg, courier_link.Failed):
        session.looks.pop((scene_id, shot_name), None)
        _forget_job(ss)
        ss.message = "Looks: cancelled." if msg.status == "cancelled" else f"Looks failed: {msg.message}"


def fail(key, job_id: str, sentence: str) -> None:
    """Applying a look message raised: the look run ends with ``sentence`` on the shot."""
    run = session.looks.pop((key[0], key[1]), None)
    scene = scene_of(key[0])
    ss = props.shot_settings(scene, key[1], create=False) if scene is not None else None
    if run is not None and ss is not None:
        ss.message = f"Looks failed: {sentence}"
        _forget_job(ss)


def after_undo() -> None:
    """Undo and redo bring back the shots as they were before the look jobs' ids came in (undo_post
    handler): each look job still in flight puts its id back on its shot, so a save keeps it."""
    for (scene_id, name), run in session.looks.items():
        scene = scene_of(scene_id)
        ss = props.shot_settings(scene, name, create=False) if scene is not None else None
        if ss is not None and run.job_id:
            _keep_job(ss, run)


def _keep_job(ss, run: LookRun) -> None:
    ss[JOB_KEY] = json.dumps({"job": run.job_id, "count": run.count})


def _forget_job(ss) -> None:
    if ss.get(JOB_KEY) is not None:
        del ss[JOB_KEY]


def reattach_all(cfg: ClientConfig | None = None) -> list[str]:
    """After a .blend loads: follow again every look job its shots still wait for (``JOB_KEY``), from the
    server this session talks to; their stills land as a click's do. Returns the shots re-attached."""
    attached = []
    for scene in bpy.data.scenes:
        st = getattr(scene, "ltx", None)
        waiting = [ss for ss in st.shots if ss.get(JOB_KEY)] if st is not None else []
        if waiting:
            attached += _reattach_scene(scene, waiting, cfg or client_config())
    if attached:
        tick.ensure_timer()
    return attached


def _reattach_scene(scene, waiting: list, cfg: ClientConfig) -> list[str]:
    shots = {s.name: s for s in plan_scene(scene, pixel_budget=scene.ltx.pixel_budget).shots}
    mine, attached = sid(scene), []
    for ss in waiting:
        try:
            saved = json.loads(str(ss[JOB_KEY]))
            job_id, count = str(saved["job"]), int(saved["count"])
        except (ValueError, KeyError, TypeError):
            job_id, count = "", 0
        shot = shots.get(ss.name)
        if (mine, ss.name) in session.looks:
            continue
        if shot is None or not job_id:
            _forget_job(ss)
            ss.message = f"Looks: the look job of {ss.name} cannot be re-attached; Generate Looks again."
            continue
        session.looks[(mine, ss.name)] = LookRun(mine, shot, count, cfg, job_id=job_id)
        folder = blend_paths.abspath(f"{vse.shot_dir(scene, ss.name)}/looks")
        courier_link.get().send(courier_link.Track((mine, ss.name, LOOK_SEGMENT), cfg, job_id, folder))
        ss.message = f"Looks: re-attached to job {job_id} on {cfg.url}."
        attached.append(ss.name)
    return attached
