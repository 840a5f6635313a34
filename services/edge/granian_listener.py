"""granian (Rust: hyper, rustls, tokio) serving the edge's ASGI app on an already-bound socket, in
the running asyncio loop (``granian.server.embed``).

The edge's limits map onto granian's settings:

* ``header_timeout_s`` and ``idle_timeout_s`` -> HTTP/1.1 ``header_read_timeout`` (the lower of
  the two): hyper runs it from a connection's opening and from each response to the end of the
  next request's headers, so it is both the header deadline and the keep-alive idle deadline;
* ``max_header_bytes`` -> HTTP/1.1 ``max_buffer_size`` (hyper's floor: 8 KiB) and HTTP/2
  ``max_headers_size``;
* ``h2_max_concurrent_streams`` -> HTTP/2 ``max_concurrent_streams``;
* ``idle_timeout_s`` -> HTTP/2 keep-alive PINGs every ``idle_timeout_s``, the connection closed
  when one goes unanswered for as long (a dead peer; a live idle one stays);
* ``max_connections`` -> ``backpressure``: connections served at once. Every open connection
  holds a place, idle or not (granian's embedded default, 128, let 130 idle sockets starve
  everyone else), and one past it waits, unanswered, until a place frees.

What granian does not have (docs/edge.md, "Servers"): a deadline before the first bytes of a
connection that may be HTTP/2 (h2c on the plain port, every TLS connection: no handshake
deadline), an idle deadline on HTTP/2 connections, the per-address connection cap, and a cap on
requests per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from granian._granian import SocketHolder
from granian.constants import HTTPModes, Interfaces, SSLProtocols
from granian.http import HTTP1Settings, HTTP2Settings
from granian.log import LogLevels
from granian.server.embed import Server

from services.edge.config import EdgeOptions

#: hyper refuses an HTTP/1.1 read buffer below 8 KiB.
MIN_HTTP1_BUFFER = 8192


# granian's logging set-up is a `logging.config.dictConfig`: incremental, so that it only sets
# its own logger's level and never replaces (closes) meetmesh's handlers (kit/logs.py).
def _logging() -> dict[str, Any]:
    return {"version": 1, "incremental": True, "handlers": {}, "formatters": {}, "loggers": {}}


class _OnSocket(Server):
    """granian's embedded server on a socket the edge bound itself (so port 0 works)."""

    def __init__(self, sock: socket.socket, **options: Any) -> None:
        self._sock = sock
        super().__init__(target=None, **options)

    def _init_shared_socket(self) -> None:
        # granian owns (and at the end closes) the descriptor it is given: give it a duplicate.
        holder: Any = SocketHolder  # its stub lacks the (fd, uds, backlog) constructor
        self._ssp = None
        shared = holder(os.dup(self._sock.fileno()), False, 1024)
        self._shd, self._sfd = shared, shared.get_fd()


def http1_settings(options: EdgeOptions) -> HTTP1Settings:
    deadline_s = min(options.header_timeout_s, options.idle_timeout_s)
    return HTTP1Settings(
        header_read_timeout=max(1, round(deadline_s * 1000)),
        keep_alive=True,
        max_buffer_size=max(MIN_HTTP1_BUFFER, options.max_header_bytes),
    )


def http2_settings(options: EdgeOptions) -> HTTP2Settings:
    return HTTP2Settings(
        max_concurrent_streams=options.h2_max_concurrent_streams,
        max_headers_size=options.max_header_bytes,
        keep_alive_interval=max(1, round(options.idle_timeout_s * 1000)),
        keep_alive_timeout=max(1, round(options.idle_timeout_s)),
    )


@dataclass
class GranianListener:
    server: Server
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.server.stop()  # type: ignore[no-untyped-call]  # granian's embed module is untyped
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def start(
    app: Any, options: EdgeOptions, sock: socket.socket, certificate: tuple[str, str] | None
) -> GranianListener:
    """Serves ``app`` (ASGI, without its lifespan) on ``sock``: HTTP/1.1 and HTTP/2 (h2c in the
    clear, by ALPN with ``certificate``). WebSockets over HTTP/1.1."""
    tls: dict[str, Any] = {}
    if certificate is not None:
        cert, key = certificate
        tls = {"ssl_cert": Path(cert), "ssl_key": Path(key), "ssl_protocol_min": SSLProtocols.tls12}
    server = _OnSocket(
        sock,
        interface=Interfaces.ASGINL,  # the edge's lifespan is run by server.py
        http=HTTPModes.auto,
        websockets=True,
        http1_settings=http1_settings(options),
        http2_settings=http2_settings(options),
        log_dictconfig=_logging(),
        log_level=LogLevels.error,  # "embedded server is experimental" on every start otherwise
        log_access=False,
        backpressure=options.max_connections,
        **tls,
    )
    server.target = app
    return GranianListener(server, asyncio.create_task(server.serve()))
