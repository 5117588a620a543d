"""Server -> clip -> strip: the worker's answers applied on the main thread.

``apply_message`` is the handler the worker calls, from the timer in a running Blender or from
``drain()`` calls in ``generate.run_sync`` (scripts, ``blender -b``, ``python -m blender_ltx``): one code
path for both. It writes each job's state onto its shot and imports each downloaded clip into the VSE.

Shots with several generation segments: one job per segment (``job_id`` holds their ids, comma
separated, in segment order), each downloaded to ``take_N_segK.mp4`` and imported as soon as it is
downloaded (so one tick creates at most one strip), as consecutive strips of the same take; the take
becomes active, and the shot "imported", when its last segment is in. A segment that fails cancels
the others and removes the take's segments already imported (an incomplete take never stays).
"""

from __future__ import annotations

from ..core.takes import camera_lora_text
from . import props, vse, worker
from .runs import Run, runs, say, scene_of, sid


def apply_message(msg: worker.Message) -> None:
    scene_id, shot_name, seg = msg.key
    run = runs.get((scene_id, shot_name))
    scene = scene_of(scene_id)
    ss = props.shot_settings(scene, shot_name, create=False) if scene is not None else None
    if run is None or ss is None or (msg.job_id and run.job_ids[seg] not in ("", msg.job_id)):
        return  # a job this file no longer waits for (finished, replaced or cancelled)
    prefix = f"part {seg + 1}/{len(run.parts)}: " if len(run.parts) > 1 else ""
    if isinstance(msg, worker.Submitted):
        run.job_ids[seg] = msg.job_id
        ss.job_id = ",".join(run.job_ids)
        if run.submitted:
            ss.input_hash = run.input_hash or ss.input_hash
            say(ss, run, f"Take {run.take} submitted as job {ss.job_id} (seed {run.seed}).")
        if run.cancel_requested:
            worker.get().send(worker.Cancel(msg.key, run.cfg, msg.job_id))
    elif isinstance(msg, worker.Update):
        run.status[seg], run.progress[seg] = msg.status, msg.progress
        ss.progress = sum(run.progress) / len(run.progress)
        ss.job_status = "running" if "running" in run.status else ss.job_status or "queued"
        if msg.status == "succeeded" and all(s == "succeeded" for s in run.status):
            ss.job_status = "succeeded"
        say(ss, run, prefix + msg.message)
    elif isinstance(msg, worker.Note):
        say(ss, run, prefix + msg.message)
    elif isinstance(msg, worker.Downloaded):
        run.paths[seg], run.jobs[seg] = msg.path, msg.job
        run.status[seg], run.progress[seg] = "succeeded", 1.0
        _import_segment(scene, ss, run, seg)
    elif isinstance(msg, worker.Failed):
        for other in run.job_ids:
            if other and other != msg.job_id:
                worker.get().send(worker.Cancel(msg.key, run.cfg, other))
        del runs[(scene_id, shot_name)]
        if len(run.parts) > 1:
            vse.remove_incomplete_take(scene, shot_name, run.take)
        ss.job_status = msg.status
        if msg.status == "cancelled":
            ss.progress = 0.0
        say(ss, run, prefix + msg.message)


def _import_segment(scene, ss, run: Run, seg: int) -> None:
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
        has_audio = bool(applied.get("audio"))  # the mp4 carries AAC audio: a sound strip goes with it
        vse.import_take(scene, run.shot, path, run.take, meta, segment=seg, fps=float(fps), audio=has_audio)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        del runs[(sid(scene), ss.name)]
        for i, job_id in enumerate(run.job_ids):
            if not run.paths[i] and job_id:
                worker.get().send(worker.Cancel((sid(scene), ss.name, i), run.cfg, job_id))
        vse.remove_incomplete_take(scene, ss.name, run.take)
        ss.job_status = "error"
        say(ss, run, f"Take {run.take} was downloaded but not imported: {exc}")
        return
    if not done:
        return
    del runs[(sid(scene), ss.name)]
    ss.takes = len(vse.takes(scene, ss.name))
    ss.active_take = run.take
    ss.job_status = "imported"
    ss.progress = 1.0
    where = vse.clip_path(scene, ss.name, run.take, 0, len(run.parts))
    parts = f" in {len(run.parts)} segments" if len(run.parts) > 1 else ""
    lora = camera_lora_text(applied)
    say(ss, run, f"Take {run.take} imported{parts} ({where})" + (f"; {lora}." if lora else "."))
