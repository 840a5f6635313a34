"""One socket write per loop turn for a grpclib server connection.

grpclib writes whatever h2 has ready after each step of a response: a unary answer goes out as
three ``transport.write`` calls (headers, the message, the trailers), each its own ``send`` system
call, and so does every frame a busy connection produces between two reads. Under load those
calls are a large share of a service's CPU (py-spy on the meeting service: ``send_headers`` and
friends ~15% self time, nearly all of it in the kernel). :class:`CoalescingServer` hands each
connection a transport that gathers the writes made during one turn of the event loop and sends
them together at the end of that turn (``loop.call_soon``), so a unary answer costs one system
call and nothing waits longer than the current turn. Flow control is unchanged: the real
transport still tells the protocol when its buffer is full, and ``close`` sends what was gathered
first.

The kit's own gRPC server (``grpc_server.py``) writes through this transport too; the class
``CoalescingServer`` is for grpclib's server (``MEETMESH_GRPC_SERVER=grpclib``). The edge's
HTTP/1.1 connections use the same transport (``services/edge/connections.py``):
uvicorn writes a response's head and its body separately, and the edge calls ``flush`` when the
response is complete, so the two leave as one send (one TLS record) without waiting for the turn
to end.
"""

from __future__ import annotations

import asyncio
from typing import Any

from grpclib.protocol import H2Protocol
from grpclib.server import Server


class CoalescingTransport:
    """A ``Transport`` whose writes of one loop turn leave as one (``flush`` sends them at once)."""

    __slots__ = ("_loop", "_pending", "_scheduled", "raw")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.raw = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._pending.append(data)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._turn_ended)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _turn_ended(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Sends what was gathered now, as one write."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        if self.raw.is_closing():
            return
        self.raw.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def get_write_buffer_size(self) -> int:
        return self.raw.get_write_buffer_size() + sum(len(data) for data in self._pending)

    def write_eof(self) -> None:
        self.flush()
        self.raw.write_eof()

    def close(self) -> None:
        self.flush()
        self.raw.close()

    def abort(self) -> None:
        self._pending = []
        self.raw.abort()

    def is_closing(self) -> bool:
        return self.raw.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.raw.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:  # pause_reading, set_protocol, set_write_buffer_limits, ...
        return getattr(self.raw, name)


class _CoalescingProtocol(H2Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        loop = asyncio.get_running_loop()
        super().connection_made(CoalescingTransport(transport, loop))  # type: ignore[arg-type]


class CoalescingServer(Server):
    """grpclib's ``Server`` whose connections write once per loop turn."""

    def _protocol_factory(self) -> H2Protocol:
        plain = super()._protocol_factory()
        return _CoalescingProtocol(plain.handler, plain.config, plain.h2_config)
