"""Connection-level defences of the edge, below ASGI: slow and idle clients, and per-address caps.

An ASGI app only sees a request once its headers are complete, so these live in uvicorn's
protocol classes (subclassed here and handed to uvicorn's `Config`):

* **header deadline**: a connection has `header_timeout_s` from being opened (or from its last
  response) to finish a request's headers; otherwise it is closed. This also closes sockets that
  never send anything; between requests uvicorn's keep-alive timeout (`idle_timeout_s`) applies.
* **per-address cap**: at most `max_connections_per_address` open connections (HTTP and
  WebSocket) per client address; further ones are closed at once.

* **HTTP/2**: a plain-port connection that opens with HTTP/2's preface (h2c with prior
  knowledge), or a TLS one whose ALPN chose "h2", is handed to the edge's own HTTP/2 server
  (`h2_server.py`) with the same app, per-address count and deadlines; uvicorn serves HTTP/1.1.
* **request head size**: an HTTP/1.1 head larger than `max_header_bytes` is answered 431 and the
  connection closed (httptools itself takes up to 80 KiB). The bytes of a body still arriving
  after its request was answered (413 from its content-length) are that request's, not the
  next head's.
* **one write per response**: uvicorn writes an HTTP/1.1 response's head and body separately;
  the kit's `CoalescingTransport` (`services/kit/h2writes.py`, the services' servers use it too)
  sends them as one (one send, one TLS record, one wake-up of the client).

The body deadline (`body_timeout_s`) is the ASGI side's: `asgi.read_body`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from services.kit.grpc_h2 import PREFACE
from services.kit.h2_server import Http2Connection, Http2Limits
from services.kit.h2writes import CoalescingTransport


class ConnectionLimits:
    """Open connections per client address, shared by every connection of one edge server."""

    def __init__(
        self, *, max_per_address: int, header_timeout_s: float, http2: Http2Limits | None = None
    ) -> None:
        self.max_per_address = max_per_address
        self.header_timeout_s = header_timeout_s
        self.http2 = http2 if http2 is not None else Http2Limits(header_timeout_s=header_timeout_s)
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
    limits_ = limits

    class GuardedHttp(HttpToolsProtocol):
        limits: ConnectionLimits = limits_  # for tests and introspection
        _counted: str | None = None
        _header_timer: asyncio.TimerHandle | None = None
        _first: bytes | None = b""  # the connection's first bytes while they may be HTTP/2's preface
        _head_bytes = 0  # bytes of the current request's head so far
        _tail = b""  # the last bytes seen, for a blank line split between reads
        # A request's body is still arriving (its head is complete): those bytes are not the next
        # request's head, even when the answer went out first (413 from content-length).
        _body_open = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
            address = _address(transport)
            if not limits.acquire(address):
                transport.abort()  # over the cap: no bytes, no work
                return
            self._counted = address
            ssl_object = transport.get_extra_info("ssl_object")
            if ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2":
                self._to_http2(b"")
                return
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._first is not None:
                first = self._first + data
                if len(first) < len(PREFACE) and PREFACE.startswith(first):
                    self._first = first  # not enough to tell yet
                    return
                self._first = None
                if first.startswith(PREFACE):
                    self._to_http2(first)
                    return
                data = first
            if self._header_timer is not None and not self._body_open and self._head_over(data):
                # the head is still coming, and it is over the limit
                self._head_too_large()
                return
            super().data_received(data)

        def _head_over(self, data: bytes) -> bool:
            """Whether the request head passes the limit with ``data`` (which may also carry
            the start of the body: only bytes up to the head's blank line count)."""
            before = self._head_bytes
            self._head_bytes += len(data)
            window = self._tail + data
            self._tail = window[-3:]
            if self._head_bytes <= limits.http2.max_header_bytes:
                return False
            end = window.find(b"\r\n\r\n")
            return end < 0 or before - (len(window) - len(data)) + end + 4 > limits.http2.max_header_bytes

        def _head_too_large(self) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self.transport.write(
                    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n"
                    b"connection: close\r\n\r\n"
                )
                self.transport.close()

        def _to_http2(self, first: bytes) -> None:
            """Hand the connection to the edge's HTTP/2 server (same app, count and state)."""
            self._disarm()
            self.connections.discard(self)
            counted, self._counted = self._counted, None
            tasks = self.tasks

            def task_started(task: asyncio.Task[None]) -> None:
                tasks.add(task)
                task.add_done_callback(tasks.discard)

            def lost(connection: Http2Connection) -> None:
                self.connections.discard(connection)
                if counted is not None:
                    limits.release(counted)

            h2 = Http2Connection(
                self.app,
                limits.http2,
                scheme=self.scheme or "http",
                state=self.app_state,
                on_task=task_started,
                on_lost=lost,
            )
            self.connections.add(h2)  # type: ignore[arg-type]  # uvicorn's shutdown calls shutdown()
            transport = self.transport
            raw = transport.raw if isinstance(transport, CoalescingTransport) else transport
            raw.set_protocol(h2)
            h2.connection_made(raw)
            if first:
                h2.data_received(first)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            self._release()
            super().connection_lost(exc)

        def on_headers_complete(self) -> None:
            self._disarm()
            self._body_open = True
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._body_open = False
            self._head_bytes = 0  # the next head starts after this body
            self._tail = b""
            super().on_message_complete()

        def on_response_complete(self) -> None:
            transport = self.transport
            if isinstance(transport, CoalescingTransport):
                transport.flush()  # the response's head and body, as one write
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
            self._head_bytes = 0
            self._tail = b""
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
