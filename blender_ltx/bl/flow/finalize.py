"""Draft, then final: finalize the shots' drafts on the server and cut the finals in above them.

A draft take (``Generate Draft``: the model's first stage at half size, ``strip.ltx.stage == "draft"``)
is finalized by posting ``{"finalize": DRAFT_JOB_ID}``; the server refines the draft's kept latents with
the draft's seed and conditions into the final size and the draft's frames. The final comes back through
the same courier path as any take (``clips.py``) and lands as a new take of the shot, so above its draft
in the take stack, its strip linked to the draft (``ltx.stage == "final"``, ``ltx.draft_job_id``,
``ltx.draft_take``).

Which draft: the shot's active take when it is a draft (best of N drafts makes the best one active), else
nothing; a named shot without one gets a sentence that says why (no draft yet, its draft take deleted from
the VSE, or its active take is not a draft). Every shot is checked before anything is sent.
"""

from __future__ import annotations

from typing import Any

from ...core import job_request
from ..addon import props
from ..edit import vse
from ..link import courier_link, tick
from ..link.connection import client_config, with_local_server
from .clips import DRAFT_KEY
from .runs import Report, Run, runs, say, sid
from .submit import refresh_plan
from ...core.courier_wire import ClientConfig


def draft_of(scene, ss) -> tuple[list, str]:
    """(the strips of the shot's draft to finalize, one per segment) or ([], the sentence why none)."""
    active = vse.active_take(scene, ss.name)
    if active is not None and active.ltx.stage == "draft":
        return vse.take_strips(scene, ss.name, active.ltx.take), ""
    if active is not None and active.ltx.stage == "final":
        return [], (
            f"Shot {ss.name}'s active take {active.ltx.take} is already the final of draft take "
            f"{active.ltx.draft_take or '?'}; make a draft take active to finalize it again."
        )
    remembered = str(ss.get(DRAFT_KEY, "") or "")
    drafts = vse.draft_takes(scene, ss.name)
    if drafts:
        return [], (
            f"Shot {ss.name}'s active take is not a draft; make one of its draft takes "
            f"({', '.join(str(s.ltx.take) for s in drafts)}) active, then finalize."
        )
    if remembered:
        take, _, jobs = remembered.partition(":")
        return [], (
            f"Shot {ss.name}'s draft take {take} (job {jobs}) was deleted from the VSE, so there is no draft "
            "to finalize; undo the deletion or use Generate Draft again."
        )
    return [], f"Shot {ss.name} has no draft take to finalize; use Generate Draft first."


def finalize(
    scene,
    shot_names: list[str] | None = None,
    *,
    report: Report | None = print,
    cfg: ClientConfig | None = None,
) -> dict[str, Any]:
    """Send the finalize of each shot's active draft (returns at once; the courier's answers import the
    finals). ``shot_names`` None: every planned shot whose active take is a draft. Raises ValueError (one
    sentence) with nothing sent when a named shot cannot be finalized."""
    cfg = with_local_server(cfg or client_config())
    plan = props.load_plan(scene) or refresh_plan(scene, cfg.url)
    names = [s.name for s in plan.shots]
    wanted = names if shot_names is None else list(dict.fromkeys(shot_names))
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise ValueError(f"No shot named {', '.join(unknown)} in the plan; the shots are {', '.join(names)}.")
    out: dict[str, Any] = {"submitted": [], "attached": [], "unchanged": [], "failed": [], "shots": {}}
    todo = []
    for name in wanted:
        ss = props.shot_settings(scene, name)
        if ss.job_status in props.ACTIVE_STATES:
            if shot_names is None:
                out["unchanged"].append(name)
                continue
            raise ValueError(
                f"Shot {name} is {ss.job_status}: wait for its take or cancel it, then finalize."
            )
        strips, why = draft_of(scene, ss)
        if not strips:
            if shot_names is None:
                out["unchanged"].append(name)
                continue
            raise ValueError(why)
        shot = plan.shot(name)
        parts = job_request.segment_shots(shot)
        if len(parts) != len(strips):
            raise ValueError(
                f"Shot {name} was re-cut since its draft take {strips[0].ltx.take} ({len(strips)} "
                f"segment(s), now {len(parts)}); make a new draft of it."
            )
        todo.append((ss, shot, parts, strips))
    for ss, shot, parts, strips in todo:
        _send(scene, ss, shot, parts, strips, cfg, report)
        out["submitted"].append(ss.name)
    tick.ensure_timer()
    return out


def _send(scene, ss, shot, parts, strips, cfg: ClientConfig, report: Report | None) -> None:
    draft = strips[0].ltx
    take = vse.next_take(scene, ss.name)
    extra: dict[str, Any] = {"draft_take": draft.take}
    run = Run(sid(scene), shot, parts, take, draft.seed, draft.prompt, cfg, ss.input_hash, report)
    run.extra_meta = extra
    runs[(sid(scene), ss.name)] = run
    ss.job_id = ""
    ss.job_status = "queued"
    ss.progress = 0.0
    say(ss, run, f"Finalizing draft take {draft.take} as take {take} on {cfg.url}.")
    for i, strip in enumerate(strips):
        dest = vse.clip_abspath(scene, ss.name, take, i, len(parts))
        request = {"finalize": strip.ltx.job_id}
        courier_link.get().send(courier_link.Submit((sid(scene), ss.name, i), cfg, request, dest))


def run_sync(
    scene,
    shot_names: list[str] | None = None,
    *,
    report: Report = print,
    wait_for_clips: bool = True,
    timeout: float | None = None,
) -> dict:
    """Finalize and wait (scripts, ``python -m blender_ltx finalize``); returns what run_sync returns."""
    from ...core import status
    from . import generate

    generate.learn_server(client_config())
    out = finalize(scene, shot_names, report=report)
    result = generate.collect(scene, out, wait_for_clips=wait_for_clips, timeout=timeout)
    result["message"] = status.summary(result)
    return result


def start_async(context, shot_names: list[str] | None) -> dict:
    """Finalize in the background (a click); the timer imports the finals."""
    from ...core import status

    result: dict[str, Any] = finalize(context.scene, shot_names, report=None, cfg=client_config(context))
    result["message"] = status.summary(result)
    return result
