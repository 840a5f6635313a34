"""Connection-level defences of the edge, below ASGI: slow and idle clients, and per-address caps.

An ASGI app only sees a request once its headers are complete, so these live in uvicorn's
protocol classes (subclassed here and handed to uvicorn's `Config`):

* **header deadline**: a connection has `header_timeout_s` from being opened (or from its last
  response) to finish a request's headers; otherwise it is closed. This also closes sockets that
  never send anything; between requests uvicorn's keep-alive timeout (`idle_timeout_s`) applies.
* **per-address cap**: at most `max_connections_per_address` open connections (HTTP and
  WebSocket) per client address; further ones are closed at once.

The body deadline (`body_timeout_s`) is the ASGI side's: `asgi.read_body`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class ConnectionLimits:
    """Open connections per client address, shared by every connection of one edge server."""

    def __init__(self, *, max_per_address: int, header_timeout_s: float) -> None:
        self.max_per_address = max_per_address
        self.header_timeout_s = header_timeout_s
        self.open: Counter[str] = Counter()

    def acquire(self, address: str) -> bool:
        if self.open[address] >= self.max_per_address:
            return False
        self.open[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


def _address(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""


def protocol_classes(limits: ConnectionLimits) -> tuple[type[Any], type[Any]]:
    """The HTTP and WebSocket protocol classes for uvicorn, bound to `limits`."""

    class GuardedHttp(HttpToolsProtocol):
        _counted: str | None = None
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            address = _address(transport)
            if not limits.acquire(address):
                transport.abort()  # over the cap: no bytes, no work
                return
            self._counted = address
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            self._release()
            super().connection_lost(exc)

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # the next request's headers are on the clock too

        def handle_websocket_upgrade(self) -> None:
            self._release()  # the WebSocket protocol counts the connection from here on
            super().handle_websocket_upgrade()

        def _release(self) -> None:
            if self._counted is not None:
                limits.release(self._counted)
                self._counted = None

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(limits.header_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    class GuardedWebSocket(WebSocketsSansIOProtocol):
        _counted: str | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            address = _address(transport)
            if limits.acquire(address):
                self._counted = address
            else:
                transport.abort()  # type: ignore[attr-defined]

        def connection_lost(self, exc: Exception | None) -> None:
            if self._counted is not None:
                limits.release(self._counted)
                self._counted = None
            super().connection_lost(exc)

    return GuardedHttp, GuardedWebSocket
