"""The asset routes: ``PUT``, ``GET`` and ``HEAD /v1/assets/{sha256}`` over the content-addressed store
(``server/queue/asset_store.py``, which says how assets are named and kept)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse

from blender_ltx.core.protocol import API_PREFIX

from ...queue.asset_store import SHA256_RE, check_sha
from ..errors import problem
from ..http_limits import read_body
from ..state import server_of

router = APIRouter()


@router.put(
    f"{API_PREFIX}/assets/{{sha256}}",
    status_code=201,
    responses={
        200: {"description": "already stored"},
        408: {"description": "the body stopped arriving"},
        413: {"description": "above the body limit"},
        422: {"description": "the bytes do not hash to the name"},
    },
)
async def put_asset(sha256: str, request: Request):
    srv = server_of(request)
    check_sha(sha256, "sha256")
    limit = srv.settings.max_body_bytes
    data = await read_body(request, limit, srv.settings.stall_timeout_s, "send a smaller file")
    created = await run_in_threadpool(srv.assets.put, sha256, data)
    return JSONResponse(status_code=201 if created else 200, content={"sha256": sha256, "size": len(data)})


# GET sends the bytes back; HEAD (openapi.py's HeadAsGet runs GET for it) says whether they are here.
@router.get(
    f"{API_PREFIX}/assets/{{sha256}}",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, 404: {"description": "not stored"}},
)
def get_asset(sha256: str, request: Request):
    assets = server_of(request).assets
    if not SHA256_RE.match(sha256) or not assets.has(sha256):
        return problem(404, f"No asset {sha256[:80]!r} on this server.")
    path = assets.path(sha256)
    return FileResponse(
        path, media_type="application/octet-stream", headers={"X-Asset-Size": str(path.stat().st_size)}
    )
