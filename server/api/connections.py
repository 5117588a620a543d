"""Connection-level guard: uvicorn times out idle keep-alive connections, but one that sends part of a
request's headers (slowloris) stays open for ever. The body half of a stall is http_limits.py's
``read_body``."""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def stall_guarded_h11(timeout_s: float) -> type[H11Protocol]:
    """An h11 protocol class closing a connection whose request headers are not complete after
    ``timeout_s`` from their first byte."""

    class StallGuardedH11(H11Protocol):
        _headers_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state == h11.IDLE:
                if self._headers_timer is None:
                    self._arm()
            else:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._headers_timer = self.loop.call_later(timeout_s, self._headers_stalled)

        def _disarm(self) -> None:
            if self._headers_timer is not None:
                self._headers_timer.cancel()
                self._headers_timer = None

        def _headers_stalled(self) -> None:
            self._headers_timer = None
            # Still waiting for headers (a keep-alive connection between requests is IDLE too, and
            # uvicorn's own keep-alive timeout closes those sooner).
            if self.conn.their_state == h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return StallGuardedH11
