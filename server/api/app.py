"""The app wiring: the server's parts made once, the routes (routes/: jobs, assets, health), the error
answers (errors.py), who may connect (access.py), and the lifespan that starts and stops the job runners,
the motion meter and their watchdog. No model code here."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from .. import __version__
from ..backends.base import Backend
from ..queue import drafts
from ..queue.asset_store import AssetStore, referenced_by_jobs
from ..queue.looks import device_share
from ..queue.motion import MotionMeasurements
from ..queue.runner import JobRunners
from ..queue.store import JobStore, still_assets
from . import errors, schemas
from .access import refusal
from .openapi import HeadAsGet, documented_openapi
from .routes import assets, health, jobs
from .settings import Settings
from .state import ServerState

log = logging.getLogger("server.api.app")

#: How often the watchdog looks at the job runners and the meter, and how often it applies retention.
WATCHDOG_S = 1.0
PRUNE_S = 600.0


def _recover(store: JobStore) -> None:
    retried, failed = store.recover()
    if retried or failed:
        log.info("after restart: %d interrupted job(s) queued again, %d marked failed", retried, failed)


def _prune(srv: ServerState) -> None:
    try:
        removed = srv.store.prune(*srv.settings.retention())
        days = srv.settings.keep_draft_days
        latents = drafts.prune_latents(srv.store, days * 86400 if days > 0 else None)
    except (OSError, sqlite3.Error):  # a full disk must not stop the start; the next tick retries
        log.exception("retention")
        return
    if removed:
        log.info("retention: removed %d finished job(s) and their files", removed)
    if latents:
        log.info("retention: removed the kept latents of %d draft(s)", latents)


async def _watchdog(srv: ServerState) -> None:
    """Restarts a job runner or meter thread that died (health shows it meanwhile); applies retention."""
    last_prune = time.monotonic()
    while True:
        await asyncio.sleep(WATCHDOG_S)
        try:
            await run_in_threadpool(srv.runners.ensure_running)
            await run_in_threadpool(srv.meter.ensure_running)
            if time.monotonic() - last_prune > PRUNE_S:
                last_prune = time.monotonic()
                await run_in_threadpool(_prune, srv)
        except Exception:  # e.g. a full disk refused the requeue: try again on the next tick
            log.exception("watchdog")


def _server_state(
    settings: Settings, backend: Backend, pool, store: JobStore | None, look=None
) -> ServerState:
    store = store or JobStore(settings.data_dir)
    _recover(store)
    # The look model takes the one local device in turn with the video model (not served with --ray).
    look = look if pool is None else None
    share = device_share(backend, look, settings)
    runners = JobRunners(
        store,
        pool.replicas if pool is not None else [backend],
        settings.segment_frames,
        settings.segment_overlap,
        look=look,
        share=share,
    )
    meter = MotionMeasurements(store)
    for runner in runners.all:
        runner.after_success = meter.submit
    asset_store = AssetStore(settings.data_dir / "assets")
    asset_store.sweep(referenced_by_jobs(store.requests_json()) | still_assets(store.applied_json()))
    return ServerState(settings, backend, store, runners, asset_store, meter, pool, look, share)


def create_app(
    settings: Settings, backend: Backend, pool=None, store: JobStore | None = None, look=None
) -> FastAPI:
    """``pool``: a started ray_pool.RayPool (--ray); its replicas get one job runner each. ``store``: the
    job store if the caller opened it already (``python -m server`` opens it, and so takes the data dir's
    lock, before it loads the model). ``look``: the look model (backends/look.py, loaded on its first
    job) or None: this server makes no looks."""
    srv = _server_state(settings, backend, pool, store, look)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(_prune, srv)
        srv.meter.start()
        srv.runners.start()
        task = asyncio.create_task(_watchdog(srv))
        yield
        task.cancel()
        # SIGTERM: the running job stops at its next step, or is left to the process's end after a short
        # wait (runner.STOP_WAIT_S); either way it is queued again without counting a run.
        await run_in_threadpool(srv.runners.stop)
        srv.meter.stop()

    app = FastAPI(title="blender-ltx generation server", version=__version__, lifespan=lifespan)
    app.state.server = srv
    app.openapi = lambda: documented_openapi(app, schemas, bearer=bool(settings.token))

    @app.middleware("http")
    async def check_access(request: Request, call_next):
        return refusal(request, settings.token) or await call_next(request)

    errors.install(app, settings.data_dir)
    for routes in (health, jobs, assets):
        # The routes themselves, not include_router's wrapper: openapi.allowed_methods reads each route.
        app.router.routes.extend(routes.router.routes)
    app.add_middleware(HeadAsGet)
    return app
