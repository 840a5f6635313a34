"""The `/rtc` WebSocket proxy: browsers reach the signaling service's WebSocket through the edge.

Messages (text and binary), the query string (which carries the join token), the chosen
subprotocol and close codes pass through unchanged. An unreachable upstream is answered with an
HTTP 503 before the handshake completes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from services.edge.asgi import Receive, Scope, Send
from services.edge.status import EdgeError


async def _deny(
    scope: Scope, send: Send, status: int, reason: bytes, headers: list[tuple[str, str]] | None = None
) -> None:
    if "websocket.http.response" in scope.get("extensions", {}):
        extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers or []]
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain"), *extra],
            }
        )
        await send({"type": "websocket.http.response.body", "body": reason})
    else:
        await send({"type": "websocket.close", "code": 1013})


async def proxy_websocket(
    scope: Scope,
    receive: Receive,
    send: Send,
    upstream_url: str,
    admit: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Proxies one WebSocket; `admit` (the edge's per-address rate limit) may refuse it first."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if admit is not None:
        try:
            await admit()
        except EdgeError as exc:
            await _deny(scope, send, exc.http_status, exc.status.message.encode(), exc.status.headers)
            return
    query = scope.get("query_string", b"").decode("latin-1")
    url = upstream_url + ("?" + query if query else "")
    subprotocols = scope.get("subprotocols") or None
    try:
        upstream = await connect(url, subprotocols=subprotocols, open_timeout=5, max_size=None)
    except InvalidStatus as exc:
        status = exc.response.status_code
        await _deny(scope, send, status if 400 <= status < 500 else 502, b"signaling refused the connection")
        return
    except (OSError, InvalidHandshake, TimeoutError):
        await _deny(scope, send, 503, b"signaling is unavailable")
        return
    async with upstream:
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        await _relay(receive, send, upstream)


async def _relay(receive: Receive, send: Send, upstream: ClientConnection) -> None:
    """Pump both ways until either side goes; then stop the other pump, collect both, and when
    signaling went first, close the client with signaling's code.

    Either side may go at any moment, so each pump ends quietly when its peer has gone
    (`ConnectionClosed` from the upstream, `OSError` - uvicorn's `ClientDisconnected` - from the
    client), and every task's outcome is collected: none is left for asyncio to report as
    "Task exception was never retrieved". The client's close is sent only once its pump has
    stopped reading: granian holds a `websocket.close` until a pending `receive()` returns.
    """
    pumps = [
        asyncio.create_task(_client_to_upstream(receive, upstream)),
        asyncio.create_task(_upstream_to_client(upstream, send)),
    ]
    try:
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pump in pumps:
            pump.cancel()
        outcomes = await asyncio.gather(*pumps, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
    if outcomes[1] is True:  # signaling went first; the client may still be there
        code = upstream.close_code or 1000
        with contextlib.suppress(OSError):
            await send(
                {"type": "websocket.close", "code": _forwardable(code), "reason": upstream.close_reason or ""}
            )


async def _client_to_upstream(receive: Receive, upstream: ClientConnection) -> None:
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                await upstream.close(code=_forwardable(message.get("code", 1000)))
                return
            data = message.get("text") if message.get("text") is not None else message.get("bytes")
            if data is not None:
                await upstream.send(data)
    except ConnectionClosed:
        return  # signaling went first; _relay closes the client


async def _upstream_to_client(upstream: ClientConnection, send: Send) -> bool:
    """Signaling's messages to the client; True once signaling has gone, False if the client did."""
    try:
        async for data in upstream:
            if isinstance(data, str):
                await send({"type": "websocket.send", "text": data})
            else:
                await send({"type": "websocket.send", "bytes": data})
    except ConnectionClosed:
        pass
    except OSError:
        return False  # the client went first (ClientDisconnected): nothing more can reach it
    return True


def _forwardable(code: int) -> int:
    """Codes 1005/1006/1015 describe a connection and may not be sent in a close frame."""
    return 1000 if code in (1005, 1006, 1015) else code
