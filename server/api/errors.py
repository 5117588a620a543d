"""Every error the HTTP layer answers becomes its JSON answer here, in one place: ``{"detail": sentence}``
(plus ``field`` for a broken rule), whichever route or check raised it."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from blender_ltx.core.protocol import ProtocolError

from ..queue.store import StorageFull, is_storage_full, storage_full_sentence
from .http_limits import BodyStalled, BodyTooLarge, ClientGone
from .openapi import allowed_methods

log = logging.getLogger("server.api.errors")

#: Where FastAPI's validation errors say a value came from; the field name alone is what a client needs.
_LOCATIONS = ("query", "path", "body", "header")


def problem(status: int, detail: str, field: str | None = None, headers: dict | None = None) -> JSONResponse:
    content = {"detail": detail} if field is None else {"detail": detail, "field": field}
    return JSONResponse(status_code=status, content=content, headers=headers)


def unprocessable(exc: ProtocolError) -> JSONResponse:
    return problem(422, str(exc), exc.field)


def install(app: FastAPI, data_dir: Path) -> None:
    """Register the answers on ``app``; ``data_dir`` is named in the disk-full sentence."""

    @app.exception_handler(ProtocolError)
    async def broken_rule(request: Request, exc: ProtocolError):
        return unprocessable(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"] if p not in _LOCATIONS)
        return unprocessable(ProtocolError(field or "request", err["msg"]))

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge):
        return problem(413, str(exc))

    @app.exception_handler(BodyStalled)
    async def stalled(request: Request, exc: BodyStalled):
        return problem(408, str(exc), headers={"Connection": "close"})

    @app.exception_handler(ClientGone)
    async def client_gone(request: Request, exc: ClientGone):
        # Not an error: nobody reads this answer (uvicorn drops it), and the log stays quiet.
        return Response(status_code=400, headers={"Connection": "close"})

    @app.exception_handler(StorageFull)
    async def storage_full(request: Request, exc: StorageFull):
        log.error("%s: %s", request.url.path, exc)
        return problem(507, str(exc))

    @app.exception_handler(sqlite3.Error)
    @app.exception_handler(OSError)
    async def storage_error(request: Request, exc: Exception):
        """A write refused by a full disk, from any route (a cancel or a DELETE writes too)."""
        if not is_storage_full(exc):
            raise exc
        log.error("%s: %s", request.url.path, exc)
        return problem(507, storage_full_sentence(data_dir))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names only the first route's methods
            headers["Allow"] = ", ".join(allowed_methods(app, request.scope))
        return problem(exc.status_code, exc.detail, headers=headers)
