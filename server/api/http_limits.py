"""The HTTP layer's limits on a request body: its size, how long it may stall, a client that leaves.

A route reads its body through ``read_body``, which raises one of the exceptions here; errors.py turns
each into its answer (413, 408, or nothing for a client that is gone). The header half of a stall is
connections.py's.
"""

from __future__ import annotations

import asyncio

from fastapi import Request
from starlette.requests import ClientDisconnect


class BodyTooLarge(Exception):
    """The body is above ``limit`` bytes; ``advice`` says what to send instead."""

    def __init__(self, limit: int, advice: str):
        super().__init__(f"The request body is above the {limit} byte limit; {advice}.")


class BodyStalled(Exception):
    def __init__(self, stall_s: float):
        super().__init__(f"The request body stopped arriving for {stall_s:g} s.")


class ClientGone(Exception):
    """The client closed the connection before its body was complete: nobody is left to answer."""


async def read_body(request: Request, limit: int, stall_s: float, advice: str) -> bytes:
    """The body, refusing to buffer more than ``limit`` bytes (a lying Content-Length included) or to
    wait more than ``stall_s`` for its next chunk (a client that stops mid-body)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit, advice)
    chunks, size = [], 0
    stream = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), stall_s)
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise BodyStalled(stall_s) from None
        except ClientDisconnect:
            raise ClientGone() from None
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit, advice)
        chunks.append(chunk)
    return b"".join(chunks)
