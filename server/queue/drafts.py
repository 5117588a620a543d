"""Drafts and their finalize, as the queue sees them.

A job with ``"draft": true`` runs the model's first stage at the recipe's reduced size; once it has
succeeded, its latents (and its keyframe images, which the finalize conditions on again) are kept in
``videos/<id>.draft.npz`` beside its video, counted in the video budget and removed by retention.
``POST /v1/jobs {"finalize": DRAFT_ID}`` queues a new job with the draft's request (seed, conditions,
frames, final size) and a copy of those latents in its inputs, so a queued or running finalize never
depends on the draft still being there; kill -9 and retries find everything in the job's own folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from blender_ltx.core.protocol import ProtocolError

from ..backends import recipes
from ..generation import conditioning

#: The copy of the draft's latents in a finalize job's inputs folder.
LATENTS_INPUT = "latents.npz"
#: What a finalize request may change besides naming the draft (everything else is the draft's).
OVERRIDES = ("prompt", "negative_prompt", "audio", "shot", "tags")
DEFAULT_KEEP_DRAFT_DAYS = 7.0


class DraftMissing(Exception):
    """No such job: 404."""


class DraftConflict(Exception):
    """The job is not a finished draft, or its latents are gone: 409."""


# -- submitting ------------------------------------------------------------------------------------


def check_draft(request: dict[str, Any], backend, segment_frames: int) -> dict[str, Any] | None:
    """For ``"draft": true``: what the draft will be (its size), or ProtocolError with the sentence.
    None for other requests."""
    if not request.get("draft"):
        return None
    if "draft" not in backend.capability_list():
        why = backend.recipe().get("why_not") or "its model has no two-stage recipe"
        raise ProtocolError("draft", f"is true but this server cannot make drafts: {why}; leave it out")
    if request["num_frames"] > segment_frames:
        raise ProtocolError(
            "draft",
            f"is true for {request['num_frames']} frames, but a draft is one generation of up to "
            f"{segment_frames} frames; shorten the shot or make it in one pass",
        )
    try:
        width, height = backend.draft_size(request["width"], request["height"])
    except ValueError as exc:
        raise ProtocolError("width", str(exc)) from None
    smallest = backend.capabilities().get("min_size")
    for name, side in (("width", width), ("height", height)):
        if isinstance(smallest, int) and side < smallest:
            raise ProtocolError(
                name,
                f"is {request[name]}, so its half-size draft would be {side}, under the {smallest} this "
                f"model decodes; make the final {name} at least {2 * smallest}",
            )
    return {
        "width": width,
        "height": height,
        "final_width": request["width"],
        "final_height": request["height"],
    }


def parse_finalize(data: Any) -> tuple[str, dict[str, Any]] | None:
    """A finalize request's (draft id, overrides); None when ``data`` is not one (no "finalize" key).
    Raises ProtocolError naming the field for anything else in it."""
    if not isinstance(data, dict) or "finalize" not in data:
        return None
    draft_id = data["finalize"]
    if not isinstance(draft_id, str) or not 1 <= len(draft_id) <= 64:
        raise ProtocolError("finalize", "must be the id (text) of a finished draft job")
    overrides = {k: v for k, v in data.items() if k != "finalize"}
    for key, value in overrides.items():
        if key not in OVERRIDES:
            raise ProtocolError(
                key,
                f"cannot change in a finalize (it keeps the draft's seed, conditions, frames and size); "
                f"only {', '.join(OVERRIDES)} can",
            )
        ok = {
            "prompt": isinstance(value, str) and 0 < len(value) <= 10_000,
            "negative_prompt": isinstance(value, str) and len(value) <= 10_000,
            "audio": isinstance(value, bool),
            "shot": value is None or (isinstance(value, str) and len(value) <= 200),
            "tags": isinstance(value, dict) and all(isinstance(v, str) for v in value.values()),
        }[key]
        if not ok:
            raise ProtocolError(key, "has the wrong type for a finalize override (as in a job request)")
    return draft_id, overrides


def submit_finalize(
    store,
    worker,
    draft_id: str,
    overrides: dict[str, Any],
    gone_hint: str,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Queue the finalize of ``draft_id``. Raises DraftMissing / DraftConflict with the sentence;
    ``gone_hint`` says how long latents are kept (for the sentence when they are gone). A key a job
    already holds answers that job (the submit idempotency contract)."""
    row = store.row(draft_id)
    if row is None:
        raise DraftMissing(
            f"No job with id {draft_id!r} on this server; finalize takes the id of a draft made here."
        )
    request = json.loads(row["request"])
    if not request.get("draft"):
        raise DraftConflict(
            f"Job {draft_id} is not a draft (it was made in one pass at its full size); submit one with "
            '"draft": true and finalize that.'
        )
    if row["status"] != "succeeded":
        raise DraftConflict(
            f"The draft {draft_id} is {row['status']}; a draft can be finalized once it has succeeded."
        )
    backend = worker.backend
    if "finalize" not in backend.capability_list():
        why = backend.recipe().get("why_not") or "its model has no two-stage recipe"
        raise DraftConflict(f"This server cannot finalize drafts: {why}.")
    path = store.latents_path(draft_id)
    try:
        raw = path.read_bytes()
        _, meta, images = recipes.load_latents(path)
    except (OSError, ValueError):
        raise DraftConflict(
            f"The latents of the draft {draft_id} are gone ({gone_hint}); make the draft again."
        ) from None
    model = backend.info().get("model_path")
    if meta.get("model") != model:
        raise DraftConflict(
            f"The draft {draft_id} was made with {meta.get('model')!r} and this server runs {model!r}; "
            "its latents only fit the model that made them, so make the draft again here."
        )
    final = {k: v for k, v in request.items() if k != "draft"}
    final.update(overrides)
    final["finalize"] = draft_id
    draft_applied = json.loads(row["applied"])
    applied = conditioning.apply(final, draft_applied.get("sampling"), backend).to_dict()
    applied["segments"] = None
    applied["finalize"] = {"draft": draft_id, **(draft_applied.get("draft") or {})}
    status, _ = store.create(final, images, applied, idempotency_key, files={LATENTS_INPUT: raw})
    worker.notify()
    return status


# -- running ---------------------------------------------------------------------------------------


def run_finalize(store, backend, job_id: str, gen, progress, stopping):
    """The finalize job's clip from the latents copied into its inputs."""
    latents, _, _ = recipes.load_latents(store.inputs_dir(job_id) / LATENTS_INPUT)
    return backend.finalize(gen, latents, progress, stopping)


def keep_draft(store, job_id: str, clip, request: dict[str, Any], backend) -> None:
    """A succeeded draft's latents and keyframes, kept beside its video."""
    folder = store.inputs_dir(job_id)
    images = [(folder / f"{i}.png").read_bytes() for i in range(len(request.get("conditions", [])))]
    meta = {
        "job": job_id,
        "model": backend.info().get("model_path"),
        "seed": request["seed"],
        "num_frames": request["num_frames"],
        "final_width": request["width"],
        "final_height": request["height"],
        "made_at": time.time(),
    }
    recipes.save_latents(store.latents_path(job_id), clip.latents, meta, images)


# -- retention -------------------------------------------------------------------------------------


def prune_latents(store, keep_s: float | None) -> int:
    """Remove the kept latents of drafts finished more than ``keep_s`` ago (their jobs and videos stay;
    a finalize of them is then a 409). Returns how many went."""
    if keep_s is None:
        return 0
    cutoff = time.time() - keep_s
    removed = 0
    for path in (Path(store.root) / "videos").glob("*.draft.npz"):
        job_id = path.name.removesuffix(".draft.npz")
        row = store.row(job_id)
        finished = (row["finished_at"] if row is not None else None) or 0
        if finished < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def retention_info(keep_draft_days: float, keep_days: float, video_budget_gb: float) -> dict[str, Any]:
    """Health's ``drafts``: how long a draft's latents are kept, in numbers and one sentence."""
    days = keep_draft_days if keep_draft_days > 0 else keep_days
    if days > 0:
        span = f"{days:g} days after the draft finishes"
    else:
        span = "as long as the draft's job"
    budget = f", counted in the {video_budget_gb:g} GB video budget" if video_budget_gb > 0 else ""
    return {
        "keep_days": days if days > 0 else None,
        "counted_in_video_budget": video_budget_gb > 0,
        "sentence": f"A draft's latents are kept {span}{budget}; after that it cannot be finalized.",
    }


def gone_hint(keep_draft_days: float, keep_days: float) -> str:
    days = keep_draft_days if keep_draft_days > 0 else keep_days
    return (
        f"this server keeps a draft's latents {days:g} days, less when the video budget is full"
        if days > 0
        else "removed to keep the videos within the server's budget"
    )
