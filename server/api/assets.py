"""The asset routes: ``PUT`` and ``HEAD /v1/assets/{sha256}`` over the content-addressed store
(``server/queue/asset_store.py``, which says how assets are named and kept)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse

from blender_ltx.core.protocol import API_PREFIX, ProtocolError

from ..queue.asset_store import SHA256_RE, AssetStore, check_sha


def add_routes(app: FastAPI, assets: AssetStore, max_bytes: int, read_body, too_large: type) -> None:
    """The two asset routes; ``read_body(request, limit)`` is app.py's bounded body reader, which raises
    ``too_large`` past the limit."""

    def _bad(exc: ProtocolError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc), "field": exc.field})

    @app.put(
        f"{API_PREFIX}/assets/{{sha256}}",
        status_code=201,
        responses={
            200: {"description": "already stored"},
            413: {"description": "above the body limit"},
            422: {"description": "the bytes do not hash to the name"},
        },
    )
    async def put_asset(sha256: str, request: Request):
        try:
            check_sha(sha256, "sha256")
            data = await read_body(request, max_bytes)
        except ProtocolError as exc:
            return _bad(exc)
        except too_large:
            return JSONResponse(
                status_code=413,
                content={"detail": f"The asset is above the {max_bytes} byte limit; send a smaller file."},
            )
        try:
            created = assets.put(sha256, data)
        except ProtocolError as exc:
            return _bad(exc)
        return JSONResponse(
            status_code=201 if created else 200, content={"sha256": sha256, "size": len(data)}
        )

    # GET sends the bytes back; HEAD (app.py's HeadAsGet runs GET for it) says whether they are here.
    @app.get(
        f"{API_PREFIX}/assets/{{sha256}}",
        response_class=FileResponse,
        responses={200: {"content": {"application/octet-stream": {}}}, 404: {"description": "not stored"}},
    )
    def get_asset(sha256: str):
        if not SHA256_RE.match(sha256) or not assets.has(sha256):
            return JSONResponse(
                status_code=404, content={"detail": f"No asset {sha256[:80]!r} on this server."}
            )
        path = assets.path(sha256)
        return FileResponse(
            path, media_type="application/octet-stream", headers={"X-Asset-Size": str(path.stat().st_size)}
        )
