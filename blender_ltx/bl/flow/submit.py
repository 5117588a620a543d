"""Requests -> server: send new takes, watch jobs already on the server again, cancel.

Everything is checked before anything is sent: every shot to generate is checked (camera, clip
folder), its guides rendered (a click: planned, rendered later in the background, ``staged.py``) and
its requests built first, and only then are the jobs sent. So a bad shot after a good one leaves
nothing running on the server that no file records. The exception is a shot whose ``tracks`` control
has nothing to track: it fails alone and the others go.

The network work is the courier's, a child process reached through ``courier_link.get().send``; its answers
come back through ``clips.py``.
"""

from __future__ import annotations

from dataclasses import replace

import bpy

from ...core import job_request
from ...core.cuts import lost_camera_text
from ...core import server_info
from ...core.drafts import final_multiple, final_size
from ...core.shots import ShotPlan
from ..addon import props
from . import staged
from ..edit import vse
from ..link import courier_link, tick
from .control import NothingToTrack, PendingControl
from ..link.connection import client_config, with_local_server
from .request import check_shot, job_max_frames, prepare
from .runs import ATTACH_STATES, Report, Run, runs, say, sid, unstick
from ...core.courier_wire import ClientConfig


def refresh_plan(scene, url: str | None = None) -> ShotPlan:
    """The scene's plan, with long shots split only where the server at ``url`` (default: the one
    generation talks to) cannot make them one clip (``request.job_max_frames``)."""
    from ..plan.scene import plan_scene

    st = props.scene_settings(scene)
    max_frames = job_max_frames(scene, url or client_config().url)
    plan = plan_scene(scene, pixel_budget=st.pixel_budget, max_frames=max_frames)
    props.sync_shots(scene, plan)
    return plan


def _check_clip_dir(scene) -> None:
    if props.scene_settings(scene).clip_dir.startswith("//") and not bpy.data.filepath:
        raise ValueError("Save the .blend first: clips are saved next to it (or set an absolute clip dir).")


def submit(
    scene,
    shot_names: list[str] | None = None,
    *,
    force: bool = False,
    report: Report | None = print,
    cfg: ClientConfig | None = None,
    control: str | None = None,
    info: dict | None = None,
    stage: bool = False,
    draft: bool = False,
) -> dict:
    """Plan, render guides and send the shots' jobs (returns at once; ``drain`` applies the answers).

    ``shot_names`` None means every shot of the plan whose inputs changed since its last take (all with
    ``force``); named shots are always generated. A shot whose job is still running is re-attached,
    never submitted twice. Raises ValueError (one sentence) with nothing sent when any shot to
    generate cannot be, except a shot whose ``tracks`` control has nothing to track: that one fails
    alone (listed under ``failed``, its sentence in ``shots[name]["message"]``) and the others go.

    ``control`` overrides every shot's control kind for this run; ``info`` is the server's health
    where the caller has it (``auto`` is then chosen here, else by the courier). ``stage`` (a click)
    renders nothing here: the guide and control frames render in the background from one copy of the
    file, and each shot is sent when its frames are in (``staged.py``); the click's own cost does not
    grow with the frames to render. ``draft``: each take is a draft (the model's first stage at half size,
    finalized later with ``finalize.py``).
    """
    _check_clip_dir(scene)
    cfg = with_local_server(cfg or client_config())
    plan = refresh_plan(scene, cfg.url)
    names = [s.name for s in plan.shots]
    wanted = names if shot_names is None else list(dict.fromkeys(shot_names))
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise ValueError(f"No shot named {', '.join(unknown)} in the plan; the shots are {', '.join(names)}.")
    out: dict = {"submitted": [], "attached": [], "unchanged": [], "failed": [], "shots": {}}
    # A shot whose camera was deleted still goes (through the camera in effect now), with the sentence.
    out["warnings"] = [
        lost_camera_text(s.name, s.frame_start, s.lost_camera, s.camera)
        for s in plan.shots
        if s.lost_camera and s.name in wanted
    ]
    to_attach, to_make = [], []
    for name in wanted:
        shot, ss = plan.shot(name), props.shot_settings(scene, name)
        if staged.is_staged((sid(scene), name)):  # its control frames are still rendering
            out["attached"].append(name)
        elif ss.job_id and ss.job_status in ATTACH_STATES:
            to_attach.append(ss)
        elif shot_names is None and not force and not props.inputs_changed(scene, shot, ss):
            out["unchanged"].append(name)
        else:
            to_make.append((shot, ss))
    if draft and to_make:  # sized before the guides and control renders: every input has the request's shape
        multiple = final_multiple(info if info is not None else server_info.get(cfg.url))
        to_make = [(_draft_shot(scene, shot, multiple), ss) for shot, ss in to_make]
    for shot, _ss in to_make:
        check_shot(scene, shot)
    prepared = []
    copy = staged.FileCopy() if stage else None
    for shot, ss in to_make:
        try:
            prepared.append((ss, *prepare(scene, shot, ss, cfg, report, control, info, copy)))
        except NothingToTrack as exc:  # this shot alone cannot be made as asked: the others go
            ss.job_status = "error"
            say(ss, None, str(exc))
            out["failed"].append(ss.name)
            out["shots"][ss.name] = {"status": "error", "message": str(exc)}
        except ValueError as exc:
            ss.job_status = "error"
            say(ss, None, str(exc))
            if copy is not None:  # nothing was started from it
                copy.discard()
            raise
    for ss in to_attach:
        if attach(scene, ss, cfg, report):
            out["attached"].append(ss.name)
    for _ss, _run, requests, _specs, _guides in prepared if draft else ():
        for request in requests:
            request["draft"] = True
    for ss, run, requests, specs, guides in prepared:
        if guides or any(isinstance(s, PendingControl) for s in specs):
            staged.stage(scene, ss, run, requests, specs, copy, _send, guides)
        else:
            _send(scene, run, requests, ss, specs)
        out["submitted"].append(ss.name)
    tick.ensure_timer()
    return out


def _draft_shot(scene, shot, multiple: int):
    """The shot with a final size a draft can be made for: the nearest multiple of ``multiple`` each way
    within the pixel budget (``core.drafts.final_size``; the server's recipe says the multiple: 64 for a
    half-size draft, 32 for SANA-WM's draft at the final size)."""
    g = shot.generation
    width, height = final_size(g.width, g.height, props.scene_settings(scene).pixel_budget, multiple)
    return replace(shot, generation=replace(g, width=width, height=height))


def _send(scene, run: Run, requests: list[dict], ss, specs: list) -> None:
    runs[(sid(scene), run.shot.name)] = run
    ss.job_id = ""
    ss.job_status = "queued"
    ss.progress = 0.0
    say(ss, run, f"Submitting {takes_text(run)} to {run.cfg.url}." + (f" {run.note}" if run.note else ""))
    if specs and all(specs):  # the control render's beauty frames: the previs strip of the edit
        from ..edit.previs_strip import put_previs

        parts = zip(run.parts, specs[: len(run.parts)], strict=True)
        put_previs(scene, run.shot.name, [(p.frame_start, p.length, s["beauty"]) for p, s in parts])
    for i, request in enumerate(requests):
        dest = vse.clip_abspath(scene, run.shot.name, run.take_of(i), run.segment_of(i), len(run.parts))
        key = (sid(scene), run.shot.name, i)
        courier_link.get().send(courier_link.Submit(key, run.cfg, request, dest, control=specs[i]))


def takes_text(run: Run) -> str:
    """ "take 3", or "takes 3-5" for best of N."""
    return f"take {run.take}" if len(run.takes) == 1 else f"takes {run.takes[0]}-{run.takes[-1]}"


def attach(scene, ss, cfg: ClientConfig, report: Report | None) -> bool:
    """Watch the jobs stored on ``ss`` again (a reopened .blend, or ``generate --wait`` after a run
    without it). Returns False when the shot cannot be matched to the plan any more."""
    key = (sid(scene), ss.name)
    if key in runs:
        runs[key].report = runs[key].report or report
        return True
    plan = props.load_plan(scene)
    try:
        shot = plan.shot(ss.name) if plan is not None else None
    except KeyError:
        shot = None
    job_ids = [j for j in ss.job_id.split(",") if j]
    if shot is None or not job_ids:
        ss.job_status = "error"
        say(ss, None, f"Job {ss.job_id or '?'} cannot be re-attached: {ss.name} is not in the plan.")
        return False
    parts = job_request.segment_shots(shot)
    if len(job_ids) % len(parts):  # re-cut since: the first job's clip is imported over the shot
        shot = replace(shot, generation=replace(shot.generation, segments=[]))
        parts = [shot]
        job_ids = job_ids[:1]
    # A take some of whose segments are already on strips keeps its number (the rest join it); best of
    # N sent N takes' jobs, take-major.
    imported = {s.ltx.job_id: s.ltx.take for s in vse.take_strips(scene, ss.name)}
    fresh = vse.next_take(scene, ss.name)
    takes = []
    for t in range(len(job_ids) // len(parts)):
        mine = job_ids[t * len(parts) : (t + 1) * len(parts)]
        known = next((imported[j] for j in mine if j in imported), None)
        if known is None:
            known, fresh = fresh, fresh + 1
        takes.append(known)
    prompt = props.full_prompt(scene, ss)
    run = Run(sid(scene), shot, parts, takes[0], ss.seed, prompt, cfg, "", report, job_ids, takes=takes)
    runs[key] = run
    for i, job_id in enumerate(job_ids):
        dest = vse.clip_abspath(scene, ss.name, run.take_of(i), run.segment_of(i), len(parts))
        courier_link.get().send(courier_link.Track((sid(scene), ss.name, i), cfg, job_id, dest))
    say(ss, run, f"Re-attached to job {ss.job_id} on {cfg.url}.")
    return True


def reattach_all(cfg: ClientConfig | None = None) -> list[str]:
    """After a .blend loads: watch every job its shots still wait for (load_post handler)."""
    attached = []
    for scene in bpy.data.scenes:
        st = getattr(scene, "ltx", None)
        if st is None:
            continue
        for ss in st.shots:
            if ss.job_id and ss.job_status in ATTACH_STATES:
                if attach(scene, ss, cfg or client_config(), None):
                    attached.append(ss.name)
            elif ss.job_status in props.ACTIVE_STATES:
                unstick(ss)
    if attached:
        tick.ensure_timer()
    return attached


def cancel(scene, shot_names: list[str]) -> None:
    """Cancel the shots' jobs on the server (queued ones at once, running ones at their next step)."""
    for name in shot_names:
        ss = props.shot_settings(scene, name, create=False)
        if ss is None or staged.cancel((sid(scene), name)):  # staged: nothing was sent yet
            continue
        run = runs.get((sid(scene), name))
        if run is None and ss.job_id and ss.job_status in ATTACH_STATES:
            attach(scene, ss, client_config(), None)
            run = runs.get((sid(scene), name))
        if run is None:
            if ss.job_status in props.ACTIVE_STATES:
                unstick(ss)
            continue
        if all(run.paths):  # every clip is in, only its motion awaited: stop waiting (it still lands
            del runs[(sid(scene), name)]  # on the strips), keep the takes as they are
            continue
        run.cancel_requested = True
        for i, job_id in enumerate(run.job_ids):
            if job_id:
                courier_link.get().send(courier_link.Cancel((sid(scene), name, i), run.cfg, job_id))
        say(ss, run, "Cancelling.")
    tick.ensure_timer()
