"""Who may talk to the server: a token when it has one, else loopback clients only."""

from __future__ import annotations

import hmac

from fastapi import Request

from blender_ltx.core.client import is_loopback_url as url_is_loopback
from blender_ltx.core.protocol import API_PREFIX

from .errors import problem


def has_token(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def foreign_site(request: Request) -> str | None:
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


def refusal(request: Request, token: str | None):
    """The answer that refuses this request, or None to let it through (health answers everyone)."""
    if not token:
        why = foreign_site(request)
        return problem(403, why) if why else None
    if request.url.path != f"{API_PREFIX}/health" and not has_token(request, token):
        return problem(
            401,
            "This server needs a token: send 'Authorization: Bearer TOKEN'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return None
