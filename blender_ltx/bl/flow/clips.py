"""Server -> clip -> strip: the courier's answers applied on the main thread.

``apply_message`` is the handler the tick calls (``link/tick.py``), from the timer in a running Blender
or from ``drain()`` calls in ``generate.run_sync`` (scripts, ``blender -b``, ``python -m blender_ltx``):
one code path for both. It writes each job's state onto its shot and imports each downloaded clip
into the VSE.

Shots with several generation segments: one job per segment (``job_id`` holds their ids, comma
separated, in segment order), each downloaded to ``take_N_segK.mp4`` and imported as soon as it is
downloaded (so one tick creates at most one strip), as consecutive strips of the same take; the take
becomes active, and the shot "imported", when its last segment is in. A segment that fails cancels
the others and removes the take's segments already imported (an incomplete take never stays).

After its clip, each job's measured camera motion comes (``Measured``): it is stored on the job's strips
whatever became of the run, and the run ends once every job is imported and measured. With Takes per
Shot N > 1 one run holds N takes (jobs numbered take-major, see ``runs.Run``); when it ends the take
whose motion agrees best with the plan becomes the active one (``core/take_choice.py``).
"""

from __future__ import annotations

from ...core import take_choice
from ...core.takes import camera_lora_text, camera_poses_text
from ..addon import props
from ..edit import vse
from ..link import courier_link
from . import look_jobs
from .runs import Run, runs, say, scene_of, sid

#: The shot's last draft take and its job ids, "TAKE:ID,ID" (an ID property, saved with the .blend).
DRAFT_KEY = "ltx_last_draft"


def apply_message(msg: courier_link.Message) -> None:
    scene_id, shot_name, seg = msg.key
    if seg == courier_link.LOOK_SEGMENT:  # a shot's look job: its stills, not a take
        look_jobs.apply_message(msg)
        return
    run = runs.get((scene_id, shot_name))
    scene = scene_of(scene_id)
    ss = props.shot_settings(scene, shot_name, create=False) if scene is not None else None
    if isinstance(msg, courier_link.Measured) and ss is not None:
        # The strips keep their job's motion even when the run was replaced meanwhile.
        vse.set_motion(scene, shot_name, msg.job_id, msg.motion or {"unavailable": msg.note})
    if (
        run is None
        or ss is None
        or seg >= len(run.job_ids)
        or (msg.job_id and run.job_ids[seg] not in ("", msg.job_id))
    ):
        return  # a job this file no longer waits for (finished, replaced or cancelled)
    prefix = _prefix(run, seg)
    if isinstance(msg, courier_link.Submitted):
        run.job_ids[seg] = msg.job_id
        ss.job_id = ",".join(run.job_ids)
        if run.submitted:
            ss.input_hash = run.input_hash or ss.input_hash
            seeds = ", ".join(map(str, run.seeds))
            what = f"Take {run.take}" if len(run.takes) == 1 else f"Takes {run.takes[0]}-{run.takes[-1]}"
            say(ss, run, f"{what} submitted as job {ss.job_id} (seed {seeds}).")
        if run.cancel_requested:
            courier_link.get().send(courier_link.Cancel(msg.key, run.cfg, msg.job_id))
    elif isinstance(msg, courier_link.Update):
        run.status[seg], run.progress[seg] = msg.status, msg.progress
        ss.progress = sum(run.progress) / len(run.progress)
        ss.job_status = "running" if "running" in run.status else ss.job_status or "queued"
        if msg.status == "succeeded" and all(s == "succeeded" for s in run.status):
            ss.job_status = "succeeded"
        say(ss, run, prefix + msg.message)
    elif isinstance(msg, courier_link.Note):
        say(ss, run, prefix + msg.message)
    elif isinstance(msg, courier_link.Downloaded):
        run.paths[seg], run.jobs[seg] = msg.path, msg.job
        run.status[seg], run.progress[seg] = "succeeded", 1.0
        _import_segment(scene, ss, run, seg)
    elif isinstance(msg, courier_link.Measured):
        run.measured[seg], run.motions[seg] = True, msg.motion or {"unavailable": msg.note}
        _finish_if_measured(scene, ss, run)
    elif isinstance(msg, courier_link.Failed):
        for other in run.job_ids:
            if other and other != msg.job_id:
                courier_link.get().send(courier_link.Cancel(msg.key, run.cfg, other))
        del runs[(scene_id, shot_name)]
        if len(run.parts) > 1:
            for take in run.takes:
                vse.remove_incomplete_take(scene, shot_name, take)
        ss.job_status = msg.status
        if msg.status == "cancelled":
            ss.progress = 0.0
        say(ss, run, prefix + msg.message)


def fail_run(key: courier_link.Key, job_id: str, sentence: str) -> None:
    """Applying a message for ``key`` raised (the tick logged the traceback): its run ends as a failed
    one would, with ``sentence`` on the shot, and whatever else goes wrong, nothing waits for it any more
    (no shot left "importing", no ``generate --wait`` waiting forever)."""
    if key[2] == courier_link.LOOK_SEGMENT:
        look_jobs.fail(key, job_id, sentence)
        return
    epoch = courier_link.get().epoch
    try:
        apply_message(courier_link.Failed(key, job_id, "error", sentence, epoch))
    finally:
        runs.pop((key[0], key[1]), None)


def _prefix(run: Run, i: int) -> str:
    """Which job a sentence is about: "part 2/3: ", "take 4: ", "take 4 part 2/3: " or nothing."""
    take = f"take {run.take_of(i)}" if len(run.takes) > 1 else ""
    part = f"part {run.segment_of(i) + 1}/{len(run.parts)}" if len(run.parts) > 1 else ""
    return " ".join(p for p in (take, part) if p) + (": " if take or part else "")


def _import_segment(scene, ss, run: Run, i: int) -> None:
    """Job ``i`` is downloaded: import it as its segment of its take (``vse.import_take`` skips a
    segment already on a strip, so nothing is imported twice). A take becomes active once its last
    segment is in; the shot is imported once every take is."""
    seg, take = run.segment_of(i), run.take_of(i)
    job = run.jobs[i]
    applied = job.get("applied") or {}
    meta = {
        "job_id": run.job_ids[i],
        "seed": run.seed_of(i),
        "prompt": applied.get("prompt_used") or run.prompt,
        "applied": applied,
        "server": run.cfg.url,
        **run.extra_meta,
    }
    # The rate the server encoded the clip at: Blender need not open the file again to read it. The last
    # stage's rate when it has one (an LTX-2.5 draft runs at half the shot's), else the request's.
    last = (applied.get("stages") or [None])[-1]  # a record, or a name (SANA-WM's)
    fps = (
        (last.get("frame_rate") if isinstance(last, dict) else None)
        or (job.get("request") or {}).get("frame_rate")
        or run.parts[seg].generation.frame_rate
    )
    path = vse.clip_path(scene, ss.name, take, seg, len(run.parts))
    done = all(run.paths)
    if done:
        ss.job_status = "importing"
    try:
        has_audio = bool(applied.get("audio"))  # the mp4 carries AAC audio: a sound strip goes with it
        vse.import_take(scene, run.shot, path, take, meta, segment=seg, fps=float(fps), audio=has_audio)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        del runs[(sid(scene), ss.name)]
        for k, job_id in enumerate(run.job_ids):
            if not run.paths[k] and job_id:
                courier_link.get().send(courier_link.Cancel((sid(scene), ss.name, k), run.cfg, job_id))
        for t in run.takes:
            vse.remove_incomplete_take(scene, ss.name, t)
        ss.job_status = "error"
        say(ss, run, f"Take {take} was downloaded but not imported: {exc}")
        return
    if not done:
        return
    ss.takes = len(vse.takes(scene, ss.name))
    active = vse.active_take(scene, ss.name)
    ss.active_take = active.ltx.take if active is not None else run.take
    ss.job_status = "imported"
    ss.progress = 1.0
    if applied.get("draft"):  # remembered on the shot: Finalize can say when this take was deleted
        ss[DRAFT_KEY] = f"{run.take}:{','.join(run.job_ids)}"
    where = vse.clip_path(scene, ss.name, run.take, 0, len(run.parts))
    parts = f" in {len(run.parts)} segments" if len(run.parts) > 1 else ""
    if len(run.takes) == 1:
        what = "; ".join(t for t in (camera_lora_text(applied), camera_poses_text(applied)) if t)
        note = f" {run.note}" if run.note else ""
        say(ss, run, f"Take {run.take} imported{parts} ({where})" + (f"; {what}." if what else ".") + note)
    else:
        first, last = run.takes[0], run.takes[-1]
        say(ss, run, f"Takes {first}-{last} imported{parts}; waiting for their motion to keep the best.")
    _finish_if_measured(scene, ss, run)


def _finish_if_measured(scene, ss, run: Run) -> None:
    """Every clip is in and measured: the run ends; best of N makes the take whose motion agrees best
    with the plan the active one (``vse.promote_take``: the others stay, muted) and says why."""
    if not all(run.paths) or not all(run.measured) or ss.job_status != "imported":
        return
    del runs[(sid(scene), ss.name)]
    if len(run.takes) == 1:
        return
    try:
        why = keep_best(scene, ss, run.takes)
    except KeyError as exc:  # the user deleted a strip meanwhile: keep what plays
        say(ss, run, f"Could not keep the best take: {exc}")
        return
    say(ss, run, why)


def keep_best(scene, ss, takes: list[int]) -> str:
    """Make the take among ``takes`` whose motion (stored on its strip; a take in segments by its first)
    agrees best with the plan the shot's active take, the others muted; returns the sentence why."""
    first = {s.ltx.take: s for s in vse.takes(scene, ss.name)}
    best, why = take_choice.best_take([(t, vse.take_motion(first[t]) if t in first else None) for t in takes])
    vse.promote_take(scene, ss.name, best)
    ss.active_take = best
    return why
