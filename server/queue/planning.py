"""Submit planning: what a checked request becomes before it is queued (seed, sampling, conditioning,
the chain of segments a long shot runs as)."""

from __future__ import annotations

import secrets
from typing import Any

from blender_ltx.core.protocol import ProtocolError

from ..backends import profiles
from ..backends.base import Backend
from ..generation import chain, conditioning
from . import drafts
from .store import JobStore


def plan(
    request: dict[str, Any], backend: Backend, segment_frames: int, segment_overlap: int
) -> dict[str, Any]:
    """The job's ``applied`` record: pick a seed if none, fill sampling defaults from the model's profile,
    record what conditioning will be applied and the segments a job longer than one generation runs as."""
    draft = drafts.check_draft(request, backend, segment_frames)
    if request.get("enhance_prompt") and "prompt_enhancement" not in backend.capability_list():
        raise ProtocolError(
            "enhance_prompt",
            "is true but this server has no prompt enhancer (an LTX-2.5 server started with "
            "--prompt-enhancement has one); leave it out",
        )
    if request.get("seed") is None:
        request["seed"] = secrets.randbelow(2**31)
    sampling = profiles.resolve(request, backend.profile())
    applied = conditioning.apply(request, sampling, backend).to_dict()
    if draft is not None:
        applied["draft"] = draft
    applied["segments"] = chain.segment_records(
        request,
        applied["conditions"],
        segment_frames,
        segment_overlap,
        motion_prompt="camera_poses" not in applied,
    )
    return applied


def submit(
    store: JobStore,
    runners,
    request: dict[str, Any],
    images: list[bytes],
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Queue a checked request and wake the runners: (its status, True), or, when ``idempotency_key`` is
    already some job's, (that job's status, False) with nothing stored."""
    applied = plan(request, runners.backend, runners.segment_frames, runners.segment_overlap)
    status, created = store.create(request, images, applied, idempotency_key)
    if created:
        runners.notify()
    return status, created
