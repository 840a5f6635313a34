"""Calls to the upstream grpclib services, passing message bytes through untouched.

A pool of HTTP/2 channels per upstream service (``pool_size``, taken in turn): one connection
multiplexes every call, but it is one TCP connection, served by one process of a service that runs
``--workers N``; several spread the calls over the workers (and over the kernel's per-connection
work). The pass-through codec hands the request bytes to
grpclib as they came and returns reply bytes undecoded; a raw status-details codec keeps
`grpc-status-details-bin` as bytes so that the edge forwards it unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from grpclib.client import Channel, Stream
from grpclib.const import Cardinality, Status
from grpclib.encoding.base import CodecBase, StatusDetailsCodecBase
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from services.edge.status import RpcStatus
from services.kit.catalog import Rpc
from services.kit.tracing import TracedChannel

Metadata = list[tuple[str, str | bytes]]


class PassthroughCodec(CodecBase):
    """Messages are already-serialized protobuf bytes in both directions."""

    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: Any) -> bytes:
        return message  # type: ignore[no-any-return]

    def decode(self, data: bytes, message_type: Any) -> Any:
        return data


class RawDetailsCodec(StatusDetailsCodecBase):
    """Keeps `grpc-status-details-bin` as the raw serialized `google.rpc.Status`."""

    def encode(self, status: Status, message: str | None, details: Any) -> bytes:
        return details  # type: ignore[no-any-return]

    def decode(self, status: Status, message: str | None, data: bytes) -> Any:
        return data


def _cardinality(rpc: Rpc) -> Cardinality:
    return Cardinality.UNARY_STREAM if rpc.server_streaming else Cardinality.UNARY_UNARY


class Upstreams:
    """Channels to the upstream services, keyed by service name (`user`, `meeting`, ...)."""

    def __init__(self, addresses: Mapping[str, str], pool_size: int = 4) -> None:
        self._addresses = dict(addresses)
        self._pool_size = max(1, pool_size)
        self._pools: dict[str, list[Channel]] = {}
        self._turn = 0

    def channel(self, service: str) -> Channel | None:
        pool = self._pools.get(service)
        if pool is None:
            address = self._addresses.get(service)
            if address is None:
                return None
            host, _, port = address.rpartition(":")
            pool = self._pools[service] = [
                TracedChannel(
                    host,
                    int(port),
                    codec=PassthroughCodec(),
                    status_details_codec=RawDetailsCodec(),
                    service="edge",
                )
                for _ in range(self._pool_size)
            ]
        self._turn += 1
        return pool[self._turn % len(pool)]

    def close(self) -> None:
        for pool in self._pools.values():
            for channel in pool:
                channel.close()
        self._pools.clear()

    async def call(
        self, rpc: Rpc, payload: bytes, metadata: Metadata, deadline_s: float | None
    ) -> AsyncIterator[Metadata | bytes | RpcStatus]:
        """Runs one call. Yields the initial metadata (a list), then each reply message (bytes),
        and finally the status (an RpcStatus): always exactly one status, last."""
        channel = self.channel(rpc.service)
        if channel is None:
            yield RpcStatus(Status.UNIMPLEMENTED, f"no upstream configured for service {rpc.service!r}")
            return
        stream: Stream[bytes, bytes] | None = None
        try:
            async with channel.request(  # message types are bytes: the codec passes them through
                rpc.path, _cardinality(rpc), bytes, bytes, timeout=deadline_s, metadata=metadata
            ) as stream:
                await stream.send_message(payload, end=True)
                await stream.recv_initial_metadata()
                yield list((stream.initial_metadata or {}).items())
                async for message in stream:
                    yield message
                await stream.recv_trailing_metadata()
                yield RpcStatus(Status.OK, trailers=list((stream.trailing_metadata or {}).items()))
        except GRPCError as exc:
            trailers = list((stream.trailing_metadata or {}).items()) if stream is not None else []
            yield RpcStatus(exc.status, exc.message or "", exc.details, trailers)
        except TimeoutError:
            yield RpcStatus(Status.DEADLINE_EXCEEDED, "deadline exceeded")
        except (OSError, StreamTerminatedError):
            yield RpcStatus(Status.UNAVAILABLE, f"service {rpc.service!r} is unavailable")
        except ProtocolError:
            yield RpcStatus(Status.INTERNAL, "upstream protocol error")
