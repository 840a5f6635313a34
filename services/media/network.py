"""aiortc's side of the platform's ICE settings (``services/kit/ice.py``): the UDP port range and
the RTCConfiguration of media's peer connections.

aioice binds ephemeral ports (and gathers host candidates on every interface but loopback); both
are process-wide behaviours of aioice, so these settings apply to the whole process (the media
service runs one per process; tests and bots use loopback).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer

from services.kit.ice import IceServer, use_host_addresses

__all__ = ["PortRange", "rtc_configuration", "use_host_addresses"]


class PortRange:
    """Binds host candidates' UDP sockets inside [low, high] (for firewalls in front of media).

    Installed on one event loop by wrapping its ``create_datagram_endpoint`` for requests that
    ask for an ephemeral port.
    """

    def __init__(self, low: int, high: int) -> None:
        if not 0 < low <= high <= 65535:
            raise ValueError(f"bad UDP port range {low}-{high}")
        self.low, self.high = low, high
        self._next: Iterator[int] = itertools.cycle(range(low, high + 1))

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        original = loop.create_datagram_endpoint

        async def create_datagram_endpoint(factory: Any, local_addr: Any = None, **kw: Any) -> Any:
            if local_addr is None or local_addr[1] != 0:
                return await original(factory, local_addr=local_addr, **kw)
            last: OSError | None = None
            for _ in range(self.high - self.low + 1):
                port = next(self._next)
                try:
                    return await original(factory, local_addr=(local_addr[0], port), **kw)
                except OSError as exc:
                    last = exc
            raise OSError(f"no free UDP port in {self.low}-{self.high}") from last

        # Patched on the loop instance, with a wrapper of the same call shape (typeshed types it strictly).
        loop.create_datagram_endpoint = create_datagram_endpoint  # type: ignore[method-assign,assignment]


def rtc_configuration(servers: Sequence[IceServer] = ()) -> RTCConfiguration:
    ice = [
        RTCIceServer(urls=s.urls, username=s.username or None, credential=s.credential or None)
        for s in servers
    ]
    return RTCConfiguration(iceServers=ice)
