"""Look jobs over HTTP: ``POST /v1/jobs`` with ``"kind": "look"`` comes here from the jobs route (one
queue, one submit path, the same Idempotency-Key); their stills are assets (``GET /v1/assets/{sha256}``).
The request's shape and rules live in ``api/looks.py``, the job's plan and run in ``queue/looks.py``."""

from __future__ import annotations

from typing import Any

from fastapi.concurrency import run_in_threadpool

from ...queue import looks as queue_looks
from ..looks import check_look_request
from ..state import ServerState


async def submit_look(srv: ServerState, data: dict[str, Any], key: str | None) -> tuple[dict[str, Any], bool]:
    """Check a look request (a sentence naming the field when this server makes no looks) and queue it:
    (its status, created)."""
    checked = await run_in_threadpool(check_look_request, data, srv.settings, srv.assets, srv.look)
    return await run_in_threadpool(
        queue_looks.submit_look, srv.store, srv.runners, checked.data, checked.images, srv.look, key
    )
