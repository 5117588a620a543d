"""The job routes: submit (``POST /v1/jobs``), list, status, video, cancel (``POST .../cancel``) and remove
(``DELETE``)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from blender_ltx.core import protocol
from blender_ltx.core.protocol import API_PREFIX, ProtocolError

from ...queue import drafts, planning
from ...queue.store import SubmitKey
from .. import schemas
from . import looks
from ..http_limits import read_body
from ..state import ServerState, server_of

router = APIRouter()

IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_IDEMPOTENCY_KEY = Header(
    None,
    alias="Idempotency-Key",
    description="1 to 128 letters, digits, '-' or '_', one per submit: a later POST with the same key "
    "and the same body creates nothing and answers that job's status with 200, for as long as the job "
    "exists; the same key with another body is a 422",
    json_schema_extra={"pattern": IDEMPOTENCY_KEY_RE.pattern, "minLength": 1, "maxLength": 128},
)


def _job_or_404(srv: ServerState, job_id: str) -> dict[str, Any]:
    status = srv.store.get(job_id)
    if status is None:
        raise HTTPException(404, f"No job with id {job_id!r} on this server.")
    return status


def check_idempotency_key(key: str | None) -> str | None:
    if key is not None and not IDEMPOTENCY_KEY_RE.match(key):
        raise ProtocolError(
            "Idempotency-Key",
            f"must be 1 to 128 letters, digits, '-' or '_' but is {key[:140]!r}; send a key like a UUID",
        )
    return key


def body_digest(data: dict[str, Any]) -> str:
    """The SHA-256 of a submit's parsed body written with sorted keys, so a re-send that orders or spaces
    its JSON differently is the same submit."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _resent(srv: ServerState, key: str, digest: str) -> dict[str, Any] | None:
    """The job a re-sent ``Idempotency-Key`` names (None for a new key); 422 if it came with another body."""
    held = srv.store.by_idempotency_key(key)
    if held is None:
        return None
    stored = srv.store.idempotency_digest(key)
    if stored is not None and stored != digest:
        raise ProtocolError(
            "Idempotency-Key",
            f"was first sent with another body (job {held['id']}); send a new key for a new submit, or the "
            "same body again to read that job",
        )
    return held


@router.post(
    f"{API_PREFIX}/jobs",
    status_code=202,
    response_model=schemas.JobStatus,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobRequest"}}},
        }
    },
    responses={
        200: {
            "model": schemas.JobStatus,
            "description": "a job with this Idempotency-Key exists: its status",
        },
        408: {"model": schemas.Problem, "description": "the body stopped arriving"},
        413: {"model": schemas.Problem, "description": "body too large"},
    },
)
async def submit(request: Request, response: Response, idempotency_key: str | None = _IDEMPOTENCY_KEY):
    srv = server_of(request)
    settings = srv.settings
    key = check_idempotency_key(idempotency_key)
    advice = "send fewer or smaller keyframe images"
    body = await read_body(request, settings.max_body_bytes, settings.stall_timeout_s, advice)
    # Parsing, PNG decoding and the motion analysis are CPU work: keep them off the event loop.
    data = await run_in_threadpool(schemas.parse_json, body)  # once: the key, finalize and checks share it
    if key is not None:
        digest = await run_in_threadpool(body_digest, data)
        if held := await run_in_threadpool(_resent, srv, key, digest):
            response.status_code = 200  # a re-send: nothing new
            return held
        key = SubmitKey(key, digest)
    finalize = drafts.parse_finalize(data)
    if finalize is not None:
        return await run_in_threadpool(_finalize, srv, *finalize, key)
    if data.get("kind") == "look":
        status, created = await looks.submit_look(srv, data, key)
    else:
        # The facts and the capability names (control_<kind> is only in the list, as in health).
        caps = {**srv.backend.capabilities(), **dict.fromkeys(srv.backend.capability_list(), True)}
        checked = await run_in_threadpool(schemas.check_request, data, settings, srv.assets, caps)
        status, created = await run_in_threadpool(
            planning.submit, srv.store, srv.runners, checked.data, checked.images, key
        )
    if not created:  # the same key raced its first send
        response.status_code = 200
    return status


def _finalize(srv: ServerState, draft_id: str, overrides: dict[str, Any], key: str | None):
    """``POST /v1/jobs {"finalize": DRAFT_ID}``: 202 and the new job; 404 / 409 with the sentence."""
    hint = drafts.gone_hint(srv.settings.keep_draft_days, srv.settings.keep_days)
    try:
        return drafts.submit_finalize(srv.store, srv.runners, draft_id, overrides, hint, key)
    except drafts.DraftMissing as exc:
        raise HTTPException(404, str(exc)) from None
    except drafts.DraftConflict as exc:
        raise HTTPException(409, str(exc)) from None


@router.get(f"{API_PREFIX}/jobs", response_model=schemas.JobList)
def list_jobs(request: Request, limit: int = Query(50, ge=1, le=1000)):
    return {"jobs": server_of(request).store.list(limit)}


@router.get(f"{API_PREFIX}/jobs/{{job_id}}", response_model=schemas.JobStatus)
def job_status(job_id: str, request: Request):
    return _job_or_404(server_of(request), job_id)


@router.get(
    f"{API_PREFIX}/jobs/{{job_id}}/video",
    response_class=FileResponse,
    responses={
        200: {"content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}}},
        409: {"model": schemas.Problem, "description": "not ready"},
    },
)
def job_video(job_id: str, request: Request):
    srv = server_of(request)
    status = _job_or_404(srv, job_id)
    path = srv.store.video_path(status["id"])
    if status["status"] != "succeeded" or not path.is_file():
        raise HTTPException(409, f"The job is {status['status']}; its video exists once it has succeeded.")
    return FileResponse(path, media_type="video/mp4", filename=f"{status['id']}.mp4")


@router.post(
    f"{API_PREFIX}/jobs/{{job_id}}/cancel",
    response_model=schemas.JobStatus,
    responses={404: {"model": schemas.Problem, "description": "no such job"}},
)
def cancel_job(job_id: str, request: Request):
    """Cancel a queued or running job: it stays, as ``cancelled``, so a client can read how it ended. A job
    that already ended is left as it is (a cancel that crosses the job's end never loses its clip)."""
    srv = server_of(request)
    status = _job_or_404(srv, job_id)
    if status["status"] in protocol.FINAL_STATUSES:
        return status
    srv.runners.cancel(job_id)
    return srv.store.get(job_id)


@router.delete(
    f"{API_PREFIX}/jobs/{{job_id}}",
    response_model=schemas.JobStatus,
    responses={
        404: {"model": schemas.Problem, "description": "no such job"},
        409: {"model": schemas.Problem, "description": "the job is queued or running: cancel it first"},
    },
)
def delete_job(job_id: str, request: Request):
    """Remove a job that has ended, with its video, inputs and kept latents; answers its last status (the
    job is then 404). A queued or running job is a 409: cancel it first."""
    srv = server_of(request)
    status = _job_or_404(srv, job_id)
    if status["status"] in protocol.FINAL_STATUSES and srv.store.remove(status["id"]):
        return status
    now = _job_or_404(srv, job_id)  # a second DELETE that crossed the first: gone
    raise HTTPException(
        409,
        f"The job is {now['status']}; cancel it first (POST {API_PREFIX}/jobs/{job_id}/cancel), then "
        "remove it once it has ended.",
    )
