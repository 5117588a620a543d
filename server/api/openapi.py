"""What the HTTP layer promises beyond the routes: the OpenAPI document (every model of schemas.py in
components, the real error bodies), HEAD wherever GET answers, and a 405's full list of methods."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

_REF = "#/components/schemas/{model}"
#: An asset's name: its SHA-256, as the asset store checks it (queue/asset_store.SHA256_RE).
SHA256_PATTERN = "^[0-9a-f]{64}$"

#: Answers any route may give, besides its own (middleware and the error handlers).
_ANY_ROUTE = {
    "401": "this server needs a token: 'Authorization: Bearer TOKEN'",
    "403": "a token-less server refuses requests for other host names and web pages of other sites",
    "422": "a rule was broken: 'field' names the request field, 'detail' says the rule",
    "507": "the server's disk is full; nothing was half-written",
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="Problem")}}},
    }


def documented_openapi(app: FastAPI, schemas: ModuleType) -> dict[str, Any]:
    """FastAPI's document, plus every pydantic model of ``schemas`` under components (routes may refer to
    them by ``$ref``, so nothing points into a ``$defs`` that is not there) and the error answers."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
    models = [
        obj
        for obj in vars(schemas).values()
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == schemas.__name__
    ]
    _, defs = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in defs.get("$defs", {}).items():
        components.setdefault(name, schema)
    for path, operations in doc.get("paths", {}).items():
        for operation in operations.values():
            for param in operation.get("parameters", ()):
                if param.get("in") == "path" and param.get("name") == "sha256":  # what the routes check
                    param.setdefault("schema", {})["pattern"] = SHA256_PATTERN
            responses = operation.setdefault("responses", {})
            for code, description in _ANY_ROUTE.items():
                responses[code] = _problem(description)  # 422 replaces FastAPI's HTTPValidationError
            if "{" in path:
                responses.setdefault("404", _problem("no such job on this server"))
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    app.openapi_schema = doc
    return doc


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route of this path answers (HEAD with GET)."""
    methods: set[str] = set()
    for route in app.router.routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(scope)[0] != Match.NONE:
            methods |= set(route_methods)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


class HeadAsGet:
    """HEAD runs the GET route and sends its status and headers only (FastAPI routes answer GET alone)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body"):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)
