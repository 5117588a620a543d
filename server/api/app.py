"""HTTP routes (FastAPI). No model code here: requests are checked (schemas), queued (jobs) and read back."""

from __future__ import annotations

import asyncio
import hmac
import logging
import sqlite3
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from blender_ltx.core.client import is_loopback_url as url_is_loopback
from blender_ltx.core import protocol
from blender_ltx.core.protocol import API_PREFIX, ProtocolError

from .. import __version__
from . import assets, schemas
from ..queue import asset_store as asset_store_mod
from ..queue import drafts, jobs
from ..backends.base import Backend
from .openapi import HeadAsGet, allowed_methods, documented_openapi
from ..meter.job_motion import JobMotionMeter
from .settings import Settings

log = logging.getLogger("server.api.app")


#: How often the watchdog looks at the worker thread, and how often it applies the retention rule.
WATCHDOG_S = 1.0
PRUNE_S = 600.0


class BodyTooLarge(Exception):
    pass


class BodyStalled(Exception):
    pass


async def _read_body(request: Request, limit: int, stall_s: float) -> bytes:
    """The body, refusing to buffer more than ``limit`` bytes (a lying Content-Length included) or to
    wait more than ``stall_s`` for its next chunk (a client that stops mid-body)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge()
    chunks, size = [], 0
    stream = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), stall_s)
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise BodyStalled() from None
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


def _has_token(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def create_app(settings: Settings, backend: Backend, pool=None) -> FastAPI:
    """``pool``: a started ray_pool.RayPool (--ray); its replicas get one worker each."""
    store = jobs.JobStore(settings.data_dir)
    retried, failed = store.recover()
    if retried or failed:
        log.info("after restart: %d interrupted job(s) queued again, %d marked failed", retried, failed)
    worker = jobs.Workers(
        store,
        pool.replicas if pool is not None else [backend],
        settings.segment_frames,
        settings.segment_overlap,
    )

    def prune() -> None:
        try:
            removed = store.prune(*settings.retention())
            drafts_days = settings.keep_draft_days
            gone = drafts.prune_latents(store, drafts_days * 86400 if drafts_days > 0 else None)
            if gone:
                log.info("retention: removed the kept latents of %d draft(s)", gone)
        except (OSError, sqlite3.Error):  # a full disk must not stop the start; the next tick retries
            log.exception("retention")
            return
        if removed:
            log.info("retention: removed %d finished job(s) and their files", removed)

    async def watchdog() -> None:
        """Restarts a worker thread that died (health shows it meanwhile); applies the retention rule."""
        last_prune = time.monotonic()
        while True:
            await asyncio.sleep(WATCHDOG_S)
            try:
                await run_in_threadpool(worker.ensure_running)
                if time.monotonic() - last_prune > PRUNE_S:
                    last_prune = time.monotonic()
                    await run_in_threadpool(prune)
            except Exception:  # e.g. a full disk refused the requeue: try again on the next tick
                log.exception("watchdog")

    meter = JobMotionMeter(store)
    for w in worker.all:
        w.after_success = meter.submit

    asset_store = asset_store_mod.AssetStore(settings.data_dir / "assets")
    asset_store.sweep(asset_store_mod.referenced_by_jobs(store.requests_json()))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(prune)
        meter.resubmit_pending()
        meter.start()
        worker.start()
        task = asyncio.create_task(watchdog())
        yield
        task.cancel()
        # SIGTERM: the running job stops at its next step and is queued again without counting a run.
        await run_in_threadpool(worker.stop)
        meter.stop()

    app = FastAPI(title="blender-ltx generation server", version=__version__, lifespan=lifespan)
    app.state.store = store
    app.state.worker = worker
    app.openapi = lambda: documented_openapi(app, schemas)
    app.state.assets = asset_store

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        if not settings.token:
            refusal = _foreign_site(request)
            if refusal:
                return JSONResponse(status_code=403, content={"detail": refusal})
        if settings.token and request.url.path != f"{API_PREFIX}/health":
            if not _has_token(request, settings.token):
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

    @app.exception_handler(sqlite3.Error)
    @app.exception_handler(OSError)
    async def storage_error(request: Request, exc: Exception):
        """A write refused by a full disk, from any route (a cancel or a DELETE writes too)."""
        if not jobs.is_storage_full(exc):
            raise exc
        log.error("%s: %s", request.url.path, exc)
        return JSONResponse(status_code=507, content={"detail": jobs.storage_full_sentence(store.root)})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names only the first route's methods
            headers["Allow"] = ", ".join(allowed_methods(app, request.scope))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    def _job_or_404(job_id: str) -> dict[str, Any]:
        status = store.get(job_id)
        if status is None:
            raise HTTPException(404, f"No job with id {job_id!r} on this server.")
        return status

    @app.get(f"{API_PREFIX}/health")
    def health(request: Request) -> dict[str, Any]:
        if settings.token and not _has_token(request, settings.token):
            # Without the token, only that the server is up: the rest names jobs, paths and the queue.
            return {"status": "ok", "version": __version__, "auth": True}
        return {
            "status": "ok",
            "version": __version__,
            **backend.info(),
            "backend": backend.name,
            "family": backend.family,
            # Every family chains long jobs (chain.py), so long shots are the server's, not the model's.
            "capabilities": backend.capability_list() + ["long_shots"],
            "features": backend.capabilities(),
            "loras": backend.loras(),
            # What a request that leaves num_inference_steps / guidance_scale out (or null) gets.
            "defaults": backend.profile().defaults(),
            "profile": backend.profile().to_dict(),
            "limits": settings.limits(),
            # Jobs up to max_frames are accepted; above segment_frames they run as a chain (one clip).
            "max_frames": settings.max_frames,
            "segment_frames": settings.segment_frames,
            "segment_overlap": worker.segment_overlap,
            "queue_length": store.queue_length(),
            "running": store.running_id(),
            "worker": worker.info(),
            "auth": bool(settings.token),
            **({"replicas": _replicas()} if pool is not None else {}),
            "assets": asset_store.stats(),
            # Draft, then final: the model's recipe and how long a draft stays finalizable.
            "recipe": backend.recipe(),
            "drafts": drafts.retention_info(
                settings.keep_draft_days, settings.keep_days, settings.video_budget_gb
            ),
        }

    def _replicas() -> list[dict[str, Any]]:
        return [{**w.backend.state.to_dict(), "job": w.job} for w in worker.all]

    @app.post(
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
            408: {"model": schemas.Problem, "description": "the body stopped arriving"},
            413: {"model": schemas.Problem, "description": "body too large"},
        },
    )
    async def submit(request: Request):
        try:
            body = await _read_body(request, settings.max_body_bytes, settings.stall_timeout_s)
        except BodyStalled:
            return JSONResponse(
                status_code=408,
                content={"detail": f"The request body stopped arriving for {settings.stall_timeout_s:g} s."},
                headers={"Connection": "close"},
            )
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
            # The facts and the capability names (control_<kind> is only in the list, as in health).
            caps = {**backend.capabilities(), **dict.fromkeys(backend.capability_list(), True)}
            finalize = await run_in_threadpool(_finalize_request, body)
            if finalize is not None:
                return await run_in_threadpool(_finalize, *finalize)
            checked = await run_in_threadpool(schemas.check_request, body, settings, asset_store, caps)
            return await run_in_threadpool(jobs.submit, store, worker, checked.data, checked.images)
        except ProtocolError as exc:
            return _unprocessable(exc)
        except jobs.StorageFull as exc:
            log.error("%s", exc)
            return JSONResponse(status_code=507, content={"detail": str(exc)})

    def _finalize_request(body: bytes):
        return drafts.parse_finalize(schemas.parse_json(body))

    def _finalize(draft_id: str, overrides: dict[str, Any]):
        """POST /v1/jobs {"finalize": DRAFT_ID}: 202 and the new job; 404 / 409 with the sentence."""
        hint = drafts.gone_hint(settings.keep_draft_days, settings.keep_days)
        try:
            status = drafts.submit_finalize(store, worker, draft_id, overrides, hint)
        except drafts.DraftMissing as exc:
            return JSONResponse(status_code=404, content={"detail": str(exc)})
        except drafts.DraftConflict as exc:
            return JSONResponse(status_code=409, content={"detail": str(exc)})
        return JSONResponse(status_code=202, content=schemas.JobStatus.model_validate(status).model_dump())

    @app.get(f"{API_PREFIX}/jobs", response_model=schemas.JobList)
    def list_jobs(limit: int = Query(50, ge=1, le=1000)):
        return {"jobs": store.list(limit)}

    @app.get(f"{API_PREFIX}/jobs/{{job_id}}", response_model=schemas.JobStatus)
    def job_status(job_id: str):
        return _job_or_404(job_id)

    @app.get(
        f"{API_PREFIX}/jobs/{{job_id}}/video",
        response_class=FileResponse,
        responses={
            200: {"content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}}},
            409: {"model": schemas.Problem, "description": "not ready"},
        },
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
    def cancel_job(
        job_id: str,
        keep_finished: bool = Query(
            False,
            description="true: only cancel; a job that already ended is left as it is (a client's cancel "
            "that crosses the job's end never removes the video)",
        ),
    ):
        """Queued or running: cancel it. Finished: remove it, its video and inputs (answers its last
        status; the job is then 404), unless ``keep_finished``."""
        status = _job_or_404(job_id)
        if status["status"] in protocol.FINAL_STATUSES:
            if not keep_finished:
                store.remove(status["id"])
            return status
        worker.cancel(job_id)
        return store.get(job_id)

    async def read_asset_body(request: Request, limit: int) -> bytes:
        return await _read_body(request, limit, settings.stall_timeout_s)

    assets.add_routes(app, asset_store, settings.max_body_bytes, read_asset_body, BodyTooLarge)
    app.add_middleware(HeadAsGet)
    return app
