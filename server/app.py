"""HTTP routes (FastAPI). No model code here: requests are checked (schemas), queued (jobs) and read back."""

from __future__ import annotations

import hmac
import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse

from blender_ltx.core.client import is_loopback as url_is_loopback
from blender_ltx.core.protocol import API_PREFIX, ProtocolError

from . import __version__, jobs, schemas
from .backends.base import Backend
from .meter.job_motion import JobMotionMeter
from .settings import Settings

log = logging.getLogger("server.app")


class BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refusing to buffer more than ``limit`` bytes (a lying Content-Length included)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _foreign_site(request: Request) -> str | None:
    """Why a token-less (loopback) server must not answer this request, or None.

    A web page on another site can POST to 127.0.0.1 without a CORS preflight (text/plain), and a DNS
    name rebound to 127.0.0.1 lets it read the answers; browsers mark both (Origin, Host), local
    clients do neither."""
    host = request.headers.get("host", "")
    if host and not url_is_loopback(f"http://{host}/"):
        return (
            f"This server has no token, so it only answers requests addressed to 127.0.0.1 or localhost "
            f"(Host was {host[:100]!r}); start it with --token to serve other names."
        )
    origin = request.headers.get("origin")
    if origin is not None and not url_is_loopback(f"{origin}/"):
        return (
            f"This server has no token, so it does not answer web pages of other sites (Origin was "
            f"{origin[:100]!r}); send the request from a local client instead."
        )
    return None


def _unprocessable(exc: ProtocolError) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": str(exc), "field": exc.field})


def create_app(settings: Settings, backend: Backend) -> FastAPI:
    store = jobs.JobStore(settings.data_dir)
    retried, failed = store.recover()
    if retried or failed:
        log.info("after restart: %d interrupted job(s) queued again, %d marked failed", retried, failed)
    worker = jobs.Worker(store, backend)
    meter = JobMotionMeter(store)
    worker.after_success = meter.submit

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        meter.resubmit_pending()
        meter.start()
        worker.start()
        yield
        worker.stop()
        meter.stop()

    app = FastAPI(title="blender-ltx generation server", version=__version__, lifespan=lifespan)
    app.state.store = store
    app.state.worker = worker

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        if not settings.token:
            refusal = _foreign_site(request)
            if refusal:
                return JSONResponse(status_code=403, content={"detail": refusal})
        if settings.token and request.url.path != f"{API_PREFIX}/health":
            given = request.headers.get("authorization", "")
            expected = f"Bearer {settings.token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return JSONResponse(
                    status_code=401,
                    content={"detail": "This server needs a token: send 'Authorization: Bearer TOKEN'."},
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"] if p not in ("query", "path", "body"))
        return _unprocessable(ProtocolError(field or "request", err["msg"]))

    def _job_or_404(job_id: str) -> dict[str, Any]:
        status = store.get(job_id)
        if status is None:
            raise HTTPException(404, f"No job with id {job_id!r} on this server.")
        return status

    @app.get(f"{API_PREFIX}/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            **backend.info(),
            "backend": backend.name,
            "capabilities": backend.capabilities(),
            # What a request that leaves num_inference_steps / guidance_scale out (or null) gets.
            "defaults": backend.profile().defaults(),
            "profile": backend.profile().to_dict(),
            "limits": settings.limits(),
            "queue_length": store.queue_length(),
            "running": store.running_id(),
            "auth": bool(settings.token),
        }

    @app.post(
        f"{API_PREFIX}/jobs",
        status_code=202,
        response_model=schemas.JobStatus,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": schemas.JobRequest.model_json_schema()}},
            }
        },
        responses={413: {"description": "body too large"}, 422: {"description": "a rule was broken"}},
    )
    async def submit(request: Request):
        try:
            body = await _read_body(request, settings.max_body_bytes)
        except BodyTooLarge:
            return JSONResponse(
                status_code=413,
                content={
                    "detail": f"The request body is above the {settings.max_body_bytes} byte limit; "
                    "send fewer or smaller keyframe images."
                },
            )
        try:
            # PNG decoding and the motion analysis are CPU work: keep them off the event loop.
            checked = await run_in_threadpool(schemas.check_request, body, settings)
            return await run_in_threadpool(jobs.submit, store, worker, checked.data, checked.images)
        except ProtocolError as exc:
            return _unprocessable(exc)

    @app.get(f"{API_PREFIX}/jobs", response_model=schemas.JobList)
    def list_jobs(limit: int = Query(50, ge=1, le=1000)):
        return {"jobs": store.list(limit)}

    @app.get(f"{API_PREFIX}/jobs/{{job_id}}", response_model=schemas.JobStatus)
    def job_status(job_id: str):
        return _job_or_404(job_id)

    @app.get(
        f"{API_PREFIX}/jobs/{{job_id}}/video",
        response_class=FileResponse,
        responses={200: {"content": {"video/mp4": {}}}, 409: {"description": "not ready"}},
    )
    def job_video(job_id: str):
        status = _job_or_404(job_id)
        path = store.video_path(status["id"])
        if status["status"] != "succeeded" or not path.is_file():
            raise HTTPException(
                409, f"The job is {status['status']}; its video exists once it has succeeded."
            )
        return FileResponse(path, media_type="video/mp4", filename=f"{status['id']}.mp4")

    @app.delete(f"{API_PREFIX}/jobs/{{job_id}}", response_model=schemas.JobStatus)
    def cancel_job(job_id: str):
        _job_or_404(job_id)
        worker.cancel(job_id)
        return store.get(job_id)

    return app
