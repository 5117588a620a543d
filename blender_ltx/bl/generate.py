"""Generation, end to end: plan -> guide frames -> job requests -> server -> clips -> takes in the VSE.

Main-thread side of generation. The network runs on ``worker.py``'s thread; the messages it posts are
applied here (``apply_message``), from the timer in a running Blender or from ``drain()`` calls in
``run_sync`` (scripts, ``blender -b``, ``python -m blender_ltx``): one code path for both.

State by lifetime: what must survive a save (job ids, status sentence, input hash) is written on the
shot's settings at once; what only lives while a job runs (which segment has which clip) is kept in
``_runs`` and rebuilt from the settings when a .blend is reopened (``reattach_all``, on load_post).

Shots with several generation segments: one job per segment (``job_id`` holds their ids, comma
separated, in segment order), each downloaded to ``take_N_segK.mp4`` and imported as soon as it is
downloaded (so one tick creates at most one strip), as consecutive strips of the same take; the take
becomes active, and the shot "imported", when its last segment is in. A segment that fails cancels
the others and removes the take's segments already imported (an incomplete take never stays).
Each segment's first frame is conditioned on the guide render at the segment's own first frame.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import bpy

from ..core import job_request
from ..core.client import Client, is_loopback
from ..core.protocol import ProtocolError, ServerError
from ..core.shots import Shot
from . import props, vse, worker
from .prefs import get_prefs
from .worker import ClientConfig

Report = Callable[[str], None]

#: Shot states in which a job id is still worth asking the server about.
ATTACH_STATES = ("queued", "running", "importing", "succeeded")

_server_override: dict[str, Any] = {}


@dataclass
class _Run:
    """One take of one shot in flight (main thread only)."""

    scene: int  # session_uid (see _sid)
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


_runs: dict[tuple[int, str], _Run] = {}


def _sid(scene) -> int:
    """Whom a run belongs to: the scene's session id, which (unlike its name) survives a rename while
    the job runs. Runs are runtime state, rebuilt by ``reattach_all`` after a load, so a per-session
    id is enough."""
    return scene.session_uid


def _scene_of(sid: int):
    return next((scene for scene in bpy.data.scenes if scene.session_uid == sid), None)


# -- settings ----------------------------------------------------------------------------------------
def set_server(url: str | None = None, token: str | None = None) -> None:
    """Use this server instead of the preferences' (the command line's ``--server``)."""
    _server_override.clear()
    if url:
        _server_override["url"] = url
    if token:
        _server_override["token"] = token


def client_config(context=None) -> ClientConfig:
    prefs = get_prefs(context)
    return ClientConfig(
        url=_server_override.get("url") or prefs.server_url,
        token=_server_override.get("token", prefs.token),
        timeout=float(prefs.timeout_s),
        online_access=bool(getattr(bpy.app, "online_access", True)),
    )


#: How long a submit waits for a local server that this Blender has just started (model loading).
LOCAL_START_WAIT_S = 300.0


def _with_local_server(cfg: ClientConfig, context=None) -> ClientConfig:
    """With "Start Local Server" on and the URL on this computer, start the server if this Blender has
    not yet (it keeps running across generations); submits then wait for it to come up."""
    from . import server_proc

    prefs = get_prefs(context)
    wanted = getattr(prefs, "start_local_server", False) and "url" not in _server_override
    if not wanted or not is_loopback(cfg.url):
        return cfg
    if not server_proc.is_running():
        try:
            Client(cfg.url, timeout=1.0).health()
            return cfg  # someone else's server already answers there
        except ServerError:
            server_proc.start(prefs)
    return replace(cfg, start_wait_s=LOCAL_START_WAIT_S)


def _settings_dict(ss) -> dict[str, Any]:
    return {
        "prompt": ss.prompt,
        "negative_prompt": ss.negative_prompt,
        "seed": ss.seed,
        "steps": ss.steps,
        "guidance": ss.guidance,
    }


def _say(scene, ss, run: _Run | None, message: str) -> None:
    if message and message != ss.message:
        ss.message = message
        if run is not None and run.report is not None:
            run.report(f"{ss.name}: {message}")


# -- planning and submitting -------------------------------------------------------------------------
def refresh_plan(scene):
    from .plan import plan_scene

    st = props.scene_settings(scene)
    plan = plan_scene(scene, pixel_budget=st.pixel_budget, max_frames=st.max_frames)
    props.sync_shots(scene, plan)
    return plan


def _check_clip_dir(scene) -> None:
    if props.scene_settings(scene).clip_dir.startswith("//") and not bpy.data.filepath:
        raise ValueError("Save the .blend first: clips are saved next to it (or set an absolute clip dir).")


def _render_guides(scene, part: Shot, out_dir: str, *, first: bool = True) -> list[tuple[int, str]]:
    """The guide frames of one (segment) shot; the first frame of the shot's first segment comes from
    the scene's First Frame setting (a render, an image, or the previous take of the same camera)."""
    with worker.exclusive():  # Blender renders: the worker thread stays parked meanwhile
        return _render_guides_now(scene, part, out_dir, first=first)


def _render_guides_now(scene, part: Shot, out_dir: str, *, first: bool) -> list[tuple[int, str]]:
    from . import render

    st = props.scene_settings(scene)
    guides = render.render_guides(
        scene,
        part,
        out_dir,
        engine=st.guide_engine,
        every_n=st.guide_every_n,
        at_motion_changes=st.guide_at_motion_changes,
    )
    source = st.first_frame_source if first else "RENDER"
    if source == "RENDER":
        return guides
    png = os.path.join(vse.abspath(out_dir), "first_frame.png")
    w, h = part.generation.width, part.generation.height
    if source == "IMAGE":
        if not st.first_frame_image:
            raise ValueError("First Frame is set to Image but no image is chosen: pick one or use Render.")
        render.first_frame_from_image(st.first_frame_image, w, h, png)
    else:
        render.last_frame_of_clip(_previous_take_clip(scene, part), png)
    return [(0, png)] + [g for g in guides if g[0] != 0]


def _previous_take_clip(scene, shot: Shot) -> str:
    """The clip of the active take of the nearest earlier shot filmed by the same camera."""
    plan = props.load_plan(scene)
    shots = plan.shots if plan else []
    earlier = [s for s in shots if s.camera == shot.camera and s.frame_end < shot.frame_start]
    for prev in sorted(earlier, key=lambda s: s.frame_start, reverse=True):
        strip = vse.active_take(scene, prev.name)
        if strip is not None:  # a take in segments ends with its last one
            return vse.take_strips(scene, prev.name, strip.ltx.take)[-1].filepath
    raise ValueError(
        f"Shot {shot.name}: no earlier shot of camera {shot.camera} has a take to continue from; "
        "generate it first or set First Frame to Render."
    )


def _prepare(scene, shot: Shot, ss, cfg: ClientConfig, report: Report | None) -> tuple[_Run, list[dict]]:
    """Guides rendered and requests built for a new take of ``shot`` (nothing sent yet)."""
    st = props.scene_settings(scene)
    take = vse.next_take(scene, shot.name)
    seed = props.resolve_seed(ss)
    prompt = props.full_prompt(scene, ss)
    parts = job_request.segment_shots(shot)
    run = _Run(_sid(scene), shot, parts, take, seed, prompt, cfg, props.input_hash(scene, shot, ss), report)
    requests = []
    for i, part in enumerate(parts):
        guide_dir = vse.abspath(f"{vse.clip_dir(scene)}/{vse.safe_name(shot.name)}/guides/take_{take}")
        if len(parts) > 1:
            guide_dir = os.path.join(guide_dir, f"part{i + 1}")
        guides = _render_guides(scene, part, guide_dir, first=i == 0)
        tags = {"scene": scene.name, "take": take, "segment": f"{i + 1}/{len(parts)}"}
        requests.append(
            job_request.build_request(
                part,
                _settings_dict(ss),
                guides,
                prompt=prompt,
                seed=seed,
                tags=tags,
                max_frames=st.max_frames,
                pixel_budget=st.pixel_budget,
            )
        )
    return run, requests


def _submit(scene, run: _Run, requests: list[dict], ss) -> None:
    _runs[(_sid(scene), run.shot.name)] = run
    ss.job_id = ""
    ss.job_status = "queued"
    ss.progress = 0.0
    _say(scene, ss, run, f"Submitting take {run.take} to {run.cfg.url}.")
    for i, request in enumerate(requests):
        dest = vse.clip_abspath(scene, run.shot.name, run.take, i, len(requests))
        worker.get().send(worker.Submit((_sid(scene), run.shot.name, i), run.cfg, request, dest))


def _attach(scene, ss, cfg: ClientConfig, report: Report | None) -> bool:
    """Watch the jobs stored on ``ss`` again (a reopened .blend, or ``generate --wait`` after a run
    without it). Returns False when the shot cannot be matched to the plan any more."""
    key = (_sid(scene), ss.name)
    if key in _runs:
        _runs[key].report = _runs[key].report or report
        return True
    plan = props.load_plan(scene)
    try:
        shot = plan.shot(ss.name) if plan is not None else None
    except KeyError:
        shot = None
    job_ids = [j for j in ss.job_id.split(",") if j]
    if shot is None or not job_ids:
        ss.job_status = "error"
        _say(scene, ss, None, f"Job {ss.job_id or '?'} cannot be re-attached: {ss.name} is not in the plan.")
        return False
    parts = job_request.segment_shots(shot)
    if len(parts) != len(job_ids):  # re-cut since: the first job's clip is imported over the shot
        shot = replace(shot, generation=replace(shot.generation, segments=[]))
        parts = [shot]
        job_ids = job_ids[:1]
    # A take some of whose segments are already on strips keeps its number (the rest join it).
    imported = {s.ltx.job_id: s.ltx.take for s in vse.take_strips(scene, ss.name)}
    take = next((imported[j] for j in job_ids if j in imported), None) or vse.next_take(scene, ss.name)
    prompt = props.full_prompt(scene, ss)
    run = _Run(_sid(scene), shot, parts, take, ss.seed, prompt, cfg, "", report, job_ids)
    _runs[key] = run
    for i, job_id in enumerate(job_ids):
        dest = vse.clip_abspath(scene, ss.name, take, i, len(parts))
        worker.get().send(worker.Track((_sid(scene), ss.name, i), cfg, job_id, dest))
    _say(scene, ss, run, f"Re-attached to job {ss.job_id} on {cfg.url}.")
    return True


def forget() -> None:
    """Drop the in-flight runs (another .blend is being loaded; its own jobs re-attach after)."""
    _runs.clear()


def after_undo() -> None:
    """Undo and redo bring back scene data from before answers that came in since (undo_post handler).

    A take still in flight gets its job ids and state back from its run. A shot that says it waits for
    a job this session no longer follows had its take undone away: it says so and keeps its job id, so
    Generate Shot re-attaches to it and imports the take again from its clip on disk."""
    for (sid, name), run in _runs.items():
        scene = _scene_of(sid)
        ss = props.shot_settings(scene, name, create=False) if scene is not None else None
        if ss is not None:
            ss.job_id = ",".join(run.job_ids) if run.submitted else ss.job_id
            ss.job_status = "running" if "running" in run.status else "queued"
    for scene in bpy.data.scenes:
        st = getattr(scene, "ltx", None)
        for ss in st.shots if st is not None else ():
            if ss.job_status not in ATTACH_STATES or (_sid(scene), ss.name) in _runs:
                continue
            imported = {s.ltx.job_id for s in vse.take_strips(scene, ss.name)}
            if ss.job_id and all(j in imported for j in ss.job_id.split(",")):
                ss.job_status, ss.progress = "imported", 1.0
            elif ss.job_id:
                ss.job_status = "succeeded"
                _say(scene, ss, None, f"Its take was undone: Generate Shot re-attaches job {ss.job_id}.")
            else:
                _unstick(scene, ss)


def _unstick(scene, ss) -> None:
    """A shot marked in flight with no job to follow (saved, or undone to, before its job id came
    back): say so, and let it be generated again instead of waiting forever."""
    ss.job_status = "error"
    _say(scene, ss, None, "Its job id never reached the .blend, so the take is lost: generate it again.")


def reattach_all(cfg: ClientConfig | None = None) -> list[str]:
    """After a .blend loads: watch every job its shots still wait for (load_post handler)."""
    attached = []
    for scene in bpy.data.scenes:
        st = getattr(scene, "ltx", None)
        if st is None:
            continue
        for ss in st.shots:
            if ss.job_id and ss.job_status in ATTACH_STATES:
                if _attach(scene, ss, cfg or client_config(), None):
                    attached.append(ss.name)
            elif ss.job_status in props.ACTIVE_STATES:
                _unstick(scene, ss)
    if attached:
        worker.ensure_timer()
    return attached


def submit(
    scene,
    shot_names: list[str] | None = None,
    *,
    force: bool = False,
    report: Report | None = print,
    cfg: ClientConfig | None = None,
) -> dict[str, list[str]]:
    """Plan, render guides and send the shots' jobs (returns at once; ``drain`` applies the answers).

    ``shot_names`` None means every shot of the plan whose inputs changed since its last take (all with
    ``force``); named shots are always generated. A shot whose job is still running is re-attached,
    never submitted twice.
    """
    _check_clip_dir(scene)
    cfg = _with_local_server(cfg or client_config())
    plan = refresh_plan(scene)
    names = [s.name for s in plan.shots]
    wanted = names if shot_names is None else list(shot_names)
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise ValueError(f"No shot named {', '.join(unknown)} in the plan; the shots are {', '.join(names)}.")
    out: dict[str, list[str]] = {"submitted": [], "attached": [], "unchanged": []}
    try:
        for name in wanted:
            shot = plan.shot(name)
            ss = props.shot_settings(scene, name)
            if ss.job_id and ss.job_status in ATTACH_STATES:
                if _attach(scene, ss, cfg, report):
                    out["attached"].append(name)
                continue
            if shot_names is None and not force and not props.inputs_changed(scene, shot, ss):
                out["unchanged"].append(name)
                continue
            try:
                run, requests = _prepare(scene, shot, ss, cfg, report)
            except ProtocolError as exc:
                ss.job_status = "error"
                _say(scene, ss, None, f"Shot {name} cannot be sent: {exc}.")
                raise ValueError(ss.message) from None
            _submit(scene, run, requests, ss)
            out["submitted"].append(name)
    finally:  # shots sent before one that fails to prepare are in flight: the timer brings them in
        worker.ensure_timer()
    return out


# -- applying worker messages (main thread) ------------------------------------------------------------
def apply_message(msg: worker.Message) -> None:
    sid, shot_name, seg = msg.key
    run = _runs.get((sid, shot_name))
    scene = _scene_of(sid)
    ss = props.shot_settings(scene, shot_name, create=False) if scene is not None else None
    if run is None or ss is None or (msg.job_id and run.job_ids[seg] not in ("", msg.job_id)):
        return  # a job this file no longer waits for (finished, replaced or cancelled)
    prefix = f"part {seg + 1}/{len(run.parts)}: " if len(run.parts) > 1 else ""
    if isinstance(msg, worker.Submitted):
        run.job_ids[seg] = msg.job_id
        ss.job_id = ",".join(run.job_ids)
        if run.submitted:
            ss.input_hash = run.input_hash or ss.input_hash
            _say(scene, ss, run, f"Take {run.take} submitted as job {ss.job_id} (seed {run.seed}).")
        if run.cancel_requested:
            worker.get().send(worker.Cancel(msg.key, run.cfg, msg.job_id))
    elif isinstance(msg, worker.Update):
        run.status[seg], run.progress[seg] = msg.status, msg.progress
        ss.progress = sum(run.progress) / len(run.progress)
        ss.job_status = "running" if "running" in run.status else ss.job_status or "queued"
        if msg.status == "succeeded" and all(s == "succeeded" for s in run.status):
            ss.job_status = "succeeded"
        _say(scene, ss, run, prefix + msg.message)
    elif isinstance(msg, worker.Note):
        _say(scene, ss, run, prefix + msg.message)
    elif isinstance(msg, worker.Downloaded):
        run.paths[seg], run.jobs[seg] = msg.path, msg.job
        run.status[seg], run.progress[seg] = "succeeded", 1.0
        _import_segment(scene, ss, run, seg)
    elif isinstance(msg, worker.Failed):
        for other in run.job_ids:
            if other and other != msg.job_id:
                worker.get().send(worker.Cancel(msg.key, run.cfg, other))
        del _runs[(sid, shot_name)]
        if len(run.parts) > 1:
            vse.remove_incomplete_take(scene, shot_name, run.take)
        ss.job_status = msg.status
        if msg.status == "cancelled":
            ss.progress = 0.0
        _say(scene, ss, run, prefix + msg.message)


def _import_segment(scene, ss, run: _Run, seg: int) -> None:
    """Segment ``seg`` is downloaded: import it as part of take ``run.take`` (``vse.import_take`` skips
    a segment already on a strip, so nothing is imported twice). The take is imported, and active,
    once its last segment is in."""
    job = run.jobs[seg]
    applied = job.get("applied") or {}
    meta = {
        "job_id": run.job_ids[seg],
        "seed": run.seed,
        "prompt": applied.get("prompt_used") or run.prompt,
        "applied": applied,
        "server": run.cfg.url,
    }
    # The rate the server encoded the clip at: Blender need not open the file again to read it.
    fps = (job.get("request") or {}).get("frame_rate") or run.parts[seg].generation.frame_rate
    path = vse.clip_path(scene, ss.name, run.take, seg, len(run.parts))
    done = all(run.paths)
    if done:
        ss.job_status = "importing"
    try:
        vse.import_take(scene, run.shot, path, run.take, meta, segment=seg, fps=float(fps))
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        del _runs[(_sid(scene), ss.name)]
        for i, job_id in enumerate(run.job_ids):
            if not run.paths[i] and job_id:
                worker.get().send(worker.Cancel((_sid(scene), ss.name, i), run.cfg, job_id))
        vse.remove_incomplete_take(scene, ss.name, run.take)
        ss.job_status = "error"
        _say(scene, ss, run, f"Take {run.take} was downloaded but not imported: {exc}")
        return
    if not done:
        return
    del _runs[(_sid(scene), ss.name)]
    ss.takes = len(vse.takes(scene, ss.name))
    ss.active_take = run.take
    ss.job_status = "imported"
    ss.progress = 1.0
    where = vse.clip_path(scene, ss.name, run.take, 0, len(run.parts))
    parts = f" in {len(run.parts)} segments" if len(run.parts) > 1 else ""
    _say(scene, ss, run, f"Take {run.take} imported{parts} ({where}).")


# -- the public entry points -----------------------------------------------------------------------------
def pending(scene, shot_names: list[str] | None = None) -> list[str]:
    """Shots of ``scene`` whose take is still in flight in this session."""
    return [n for (s, n), _ in _runs.items() if s == _sid(scene) and (shot_names is None or n in shot_names)]


def wait(scene, shot_names: list[str] | None = None, *, timeout: float | None = None, submitted_only=False):
    """Pump the worker's messages (as the timer would) until the shots are done, or only submitted."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        worker.drain(0.05)
        sid = _sid(scene)
        left = [n for n in pending(scene, shot_names) if not (submitted_only and _runs[(sid, n)].submitted)]
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
) -> dict:
    """Generate synchronously: submit, wait with progress lines through ``report``, import, summarize.

    ``wait_for_clips=False`` returns once the jobs are on the server (their ids are on the shots, so a
    later run or reopening the .blend picks them up)."""
    out = submit(scene, shot_names, force=force, report=report)
    names = out["submitted"] + out["attached"]
    left = wait(scene, names, timeout=timeout, submitted_only=not wait_for_clips)
    result: dict[str, Any] = {**out, "imported": [], "failed": [], "waiting": left, "shots": {}}
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
    parts = [f"{k} {', '.join(v)}" for k, v in result.items() if isinstance(v, list) and v]
    result["message"] = "; ".join(parts) or "Nothing to generate: every shot is up to date (use force)."
    return result


def start_async(context, shot_names: list[str] | None, *, force: bool = False) -> dict[str, list[str]]:
    """Submit in the background; the timer applies progress and imports the clips when they are done."""
    return submit(context.scene, shot_names, force=force, report=None, cfg=client_config(context))


def cancel(scene, shot_names: list[str]) -> None:
    """Cancel the shots' jobs on the server (queued ones at once, running ones at their next step)."""
    for name in shot_names:
        ss = props.shot_settings(scene, name, create=False)
        if ss is None:
            continue
        run = _runs.get((_sid(scene), name))
        if run is None and ss.job_id and ss.job_status in ATTACH_STATES:
            _attach(scene, ss, client_config(), None)
            run = _runs.get((_sid(scene), name))
        if run is None:
            if ss.job_status in props.ACTIVE_STATES:
                _unstick(scene, ss)
            continue
        run.cancel_requested = True
        for i, job_id in enumerate(run.job_ids):
            if job_id:
                worker.get().send(worker.Cancel((_sid(scene), name, i), run.cfg, job_id))
        _say(scene, ss, run, "Cancelling.")
    worker.ensure_timer()


def test_connection(context=None) -> tuple[bool, str]:
    """(ok, one sentence): the server's model, device and capabilities, or what is wrong."""
    return connection_probe(context)()


def connection_probe(context=None) -> Callable[[], tuple[bool, str]]:
    """The connection test as a call that touches no bpy: read the settings here (main thread), run the
    returned function anywhere (the Test Connection button runs it on a thread, so a hung server never
    freezes Blender)."""
    cfg = client_config(context)
    return lambda: _probe(cfg)


def _probe(cfg: ClientConfig) -> tuple[bool, str]:
    from ..core.courier import probe

    return probe(cfg)
