"""Handler helpers: write a unary RPC as ``request -> response``; the stream plumbing is here."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from grpclib.server import Stream

S = TypeVar("S")
Req = TypeVar("Req")
Resp = TypeVar("Resp")


def unary(
    method: Callable[[S, Req], Awaitable[Resp]],
) -> Callable[[S, Stream[Req, Resp]], Coroutine[Any, Any, None]]:
    """Adapt ``async def Method(self, request) -> response`` to grpclib's stream signature."""

    @functools.wraps(method)
    async def handler(self: S, stream: Stream[Req, Resp]) -> None:
        request = await stream.recv_message()
        assert request is not None  # unary: grpclib always delivers the one request message
        await stream.send_message(await method(self, request))

    handler.__annotations__ = {"stream": Any, "return": None}
    return handler
