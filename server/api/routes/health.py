"""``GET /v1/health``: that the server is up, and (with the token, or on loopback) what it runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from blender_ltx.core.looks import CAPABILITY_LOOK_FRAMES, CAPABILITY_REFERENCES
from blender_ltx.core.protocol import API_PREFIX

from ... import __version__
from ...queue import drafts
from ..access import has_token
from ..state import ServerState, server_of

router = APIRouter()


@router.get(f"{API_PREFIX}/health")
def health(request: Request) -> dict[str, Any]:
    srv = server_of(request)
    if srv.settings.token and not has_token(request, srv.settings.token):
        # Without the token, only that the server is up: the rest names jobs, paths and the queue.
        return {"status": "ok", "version": __version__, "auth": True}
    backend, settings = srv.backend, srv.settings
    look_caps = [CAPABILITY_LOOK_FRAMES, CAPABILITY_REFERENCES] if srv.look is not None else []
    return {
        "status": "ok",
        "version": __version__,
        **backend.info(),
        "backend": backend.name,
        "family": backend.family,
        # Every family chains long jobs (chain.py), so long shots are the server's, not the model's.
        "capabilities": backend.capability_list() + ["long_shots"] + look_caps,
        "features": backend.capabilities(),
        "loras": backend.loras(),
        "memory": backend.memory_report(),
        # What a request that leaves num_inference_steps / guidance_scale out (or null) gets.
        "defaults": backend.profile().defaults(),
        "profile": backend.profile().to_dict(),
        "limits": settings.limits(),
        # Jobs up to max_frames are accepted; above segment_frames they run as a chain (one clip).
        "max_frames": settings.max_frames,
        "segment_frames": settings.segment_frames,
        "segment_overlap": srv.runners.segment_overlap,
        "queue_length": srv.store.queue_length(),
        "running": srv.store.running_id(),
        "runner": srv.runners.info(),
        "meter": srv.meter.info(),
        "auth": bool(settings.token),
        **({"replicas": _replicas(srv)} if srv.pool is not None else {}),
        "assets": srv.assets.stats(),
        # The look model (null: none) and how it shares the device with the video model.
        "look": srv.look.info() if srv.look is not None else None,
        "device_share": srv.share.info() if srv.share is not None else None,
        # Draft, then final: the model's recipe and how long a draft stays finalizable.
        "recipe": backend.recipe(),
        "drafts": drafts.retention_info(
            settings.keep_draft_days, settings.keep_days, settings.video_budget_gb
        ),
    }


def _replicas(srv: ServerState) -> list[dict[str, Any]]:
    return [{**r.backend.state.to_dict(), "job": r.job} for r in srv.runners.all]
