"""Calls to the upstream gRPC services, passing message bytes through untouched.

A pool of HTTP/2 connections per upstream service (``pool_size``, taken in turn): one connection
multiplexes every call, but it is one TCP connection, served by one process of a service that runs
``--workers N``; several spread the calls over the workers (and over the kernel's per-connection
work). The connections are the edge's own lean HTTP/2 client (``grpc_h2``): request bytes go out
as they came, reply bytes come back undecoded, and `grpc-status-details-bin` is kept as bytes so
that the edge forwards it unchanged. Until 2026-12 they were grpclib channels with a pass-through
codec; grpclib and h2 were then about 40% of the edge's CPU per call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from grpclib.const import Status

from services.edge.grpc_h2 import Connection, Event, Metadata, Upstream
from services.edge.status import RpcStatus
from services.kit.catalog import Rpc
from services.kit.tracing import client_span, end_rpc

__all__ = ["Metadata", "Upstreams"]


class Upstreams:
    """Connections to the upstream services, keyed by service name (`user`, `meeting`, ...)."""

    def __init__(self, addresses: Mapping[str, str], pool_size: int = 4) -> None:
        self._addresses = dict(addresses)
        self._pool_size = max(1, pool_size)
        self._pools: dict[str, Upstream] = {}

    def upstream(self, service: str) -> Upstream | None:
        pool = self._pools.get(service)
        if pool is None:
            address = self._addresses.get(service)
            if address is None:
                return None
            host, _, port = address.rpartition(":")
            pool = self._pools[service] = Upstream(host, int(port), self._pool_size)
        return pool

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

    async def call(
        self, rpc: Rpc, payload: bytes, metadata: Metadata, deadline_s: float | None
    ) -> AsyncIterator[Metadata | bytes | RpcStatus]:
        """Runs one call. Yields the initial metadata (a list), then each reply message (bytes),
        and finally the status (an RpcStatus): always exactly one status, last."""
        upstream = self.upstream(rpc.service)
        if upstream is None:
            yield RpcStatus(Status.UNIMPLEMENTED, f"no upstream configured for service {rpc.service!r}")
            return
        span, carried = client_span("edge", rpc.path, upstream.host, upstream.port, metadata)
        if span is None and carried is metadata:  # untraced: no outcome to note, no try/finally
            async for event in _call(upstream, rpc, payload, metadata, deadline_s):
                yield event
            return
        outcome = "CANCELLED"  # unless a status comes: the caller went away
        try:
            async for event in _call(upstream, rpc, payload, list(carried.items()), deadline_s):
                if isinstance(event, RpcStatus):
                    outcome = event.code.name
                yield event
        finally:
            if span is not None:
                end_rpc(span, outcome)
                span.end()


async def _call(
    upstream: Upstream, rpc: Rpc, payload: bytes, metadata: Metadata, deadline_s: float | None
) -> AsyncIterator[Event]:
    loop = asyncio.get_running_loop()
    deadline = None if deadline_s is None else loop.time() + deadline_s
    unavailable = RpcStatus(Status.UNAVAILABLE, f"service {rpc.service!r} is unavailable")
    connection = upstream.ready()
    if connection is not None and len(connection.streams) < connection.max_streams:
        stream = await connection.open_stream(rpc.path, metadata, deadline_s)  # does not wait
    else:
        stream = None
    if stream is None:  # opening a connection, or waiting for room on one: bounded by the deadline
        try:
            async with asyncio.timeout_at(deadline):
                stream, connection = await _open(upstream, rpc, metadata, deadline_s)
        except TimeoutError:
            yield RpcStatus(Status.DEADLINE_EXCEEDED, "deadline exceeded")
            return
        except OSError:
            yield unavailable
            return
    if stream is None or connection is None:
        yield unavailable
        return
    timer = None
    if deadline is not None:
        timer = loop.call_at(
            deadline, connection.cancel, stream, RpcStatus(Status.DEADLINE_EXCEEDED, "deadline exceeded")
        )
    try:
        await connection.send_message(stream, payload)
        async for event in connection.events(stream):
            yield event
    finally:
        if timer is not None:
            timer.cancel()
        connection.cancel(stream, RpcStatus(Status.CANCELLED, "the caller went away"))


async def _open(
    upstream: Upstream, rpc: Rpc, metadata: Metadata, deadline_s: float | None
) -> tuple[Any, Connection]:
    """A new stream with the request's headers sent, on the first connection that takes one
    (one that was told to go away takes none: it is replaced)."""
    connection = await upstream.connection()
    for _ in range(3):
        stream = await connection.open_stream(rpc.path, metadata, deadline_s)
        if stream is not None:
            return stream, connection
        connection = await upstream.connection()
    return None, connection
