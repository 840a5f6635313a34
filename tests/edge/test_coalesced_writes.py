"""HTTP/1.1 responses leave the edge in one write: uvicorn writes a response's head and body
separately, which costs a second send, a second TLS record and a second wake-up of the client for
every small answer, so the edge gives it the kit's ``CoalescingTransport`` and flushes it when a
response completes (``connections.py``). Checked on a real loopback connection with a record of
its writes, and end to end: a raw client's first read holds the whole answer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from services.kit.h2writes import CoalescingTransport
from tests.edge.harness import RecordedWrites


async def test_writes_in_one_step_go_out_as_one() -> None:
    loop = asyncio.get_running_loop()
    received = bytearray()
    got = asyncio.Event()
    closed = asyncio.Event()

    class Sink(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            received.extend(data)
            got.set()

        def connection_lost(self, exc: Exception | None) -> None:
            closed.set()

    server = await loop.create_server(Sink, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        spy = RecordedWrites(transport)
        coalesced = CoalescingTransport(spy, loop)  # type: ignore[arg-type]
        coalesced.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        coalesced.write(b"ok")
        assert spy.writes == []  # held until the response completes
        coalesced.flush()
        assert spy.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
        coalesced.write(b"part one, ")
        coalesced.writelines([b"part ", b"two"])
        assert coalesced.get_write_buffer_size() >= len(b"part one, part two")
        await asyncio.wait_for(got.wait(), 5)  # the loop turns: what was held goes out
        assert spy.writes[1:] == [b"part one, part two"]
        coalesced.write(b" and the last")
        coalesced.close()  # closing sends what is held first
        await asyncio.wait_for(closed.wait(), 5)
        assert (
            bytes(received)
            == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokpart one, part two and the last"
        )
        assert coalesced.get_extra_info("peername")[1] == port  # the rest is the real transport's
    finally:
        server.close()
        await server.wait_closed()


def _first_read(url: str, request: bytes) -> bytes:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        return sock.recv(1 << 16)


async def test_a_small_answer_arrives_in_one_read(make_edge: Callable[..., str]) -> None:
    url = make_edge()
    request = b"GET /healthz HTTP/1.1\r\nhost: edge\r\n\r\n"
    for _ in range(3):
        first = await asyncio.to_thread(_first_read, url, request)
        head, _, body = first.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), first[:80]
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        assert length > 0 and len(body) == length, first
