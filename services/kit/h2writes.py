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
"""

from __future__ import annotations

import asyncio
from typing import Any

from grpclib.protocol import H2Protocol
from grpclib.server import Server


class _CoalescingTransport:
    """A ``Transport`` whose writes of one loop turn leave as one."""

    __slots__ = ("_loop", "_pending", "_scheduled", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._pending.append(data)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        pending = self._pending
        if not pending:
            return
        self._pending = []
        if self._transport.is_closing():
            return
        self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:  # abort, pause_reading, set_write_buffer_limits, ...
        return getattr(self._transport, name)


class _CoalescingProtocol(H2Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        loop = asyncio.get_running_loop()
        super().connection_made(_CoalescingTransport(transport, loop))  # type: ignore[arg-type]


class CoalescingServer(Server):
    """grpclib's ``Server`` whose connections write once per loop turn."""

    def _protocol_factory(self) -> H2Protocol:
        plain = super()._protocol_factory()
        return _CoalescingProtocol(plain.handler, plain.config, plain.h2_config)
