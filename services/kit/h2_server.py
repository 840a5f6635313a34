"""A server-side HTTP/2 connection on an asyncio Protocol: the edge's HTTP/2 (one ASGI app under
uvicorn's listeners; connections.py hands it a connection that opens with the h2c preface, or whose
TLS handshake chose "h2" by ALPN), and the base of the services' gRPC server (``grpc_server.py``).

One ``Http2Connection`` serves one HTTP/2 connection: each request stream runs in its own task
(``_open`` makes it: by default the ASGI app; the gRPC server overrides it). It holds the limits a
public listener must:

* **Limits**: ``SETTINGS_MAX_CONCURRENT_STREAMS`` announced and enforced (a stream past it is
  refused with ``REFUSED_STREAM``), ``SETTINGS_MAX_HEADER_LIST_SIZE`` announced and enforced (a
  larger request head is answered 431, the HPACK table kept in step), a header deadline from the
  connection's start to its first complete request head, an idle deadline while no stream is open
  (GOAWAY, then close), and GOAWAY after ``max_requests`` streams.
* **Flow control**: the request side's windows are given back as the app reads the body (an app
  that does not read holds the client back); the response side waits for the client's windows
  and for the transport's buffer.
* **Protocol errors** end the connection with GOAWAY and the RFC 9113 code; a malformed request
  resets its stream only.

Response header fields are sent as literals without indexing (no Huffman coding): the client's
table is never touched, so its size setting does not matter. Not served: server push, WebSocket
over HTTP/2 (extended CONNECT is not announced), request trailers (read, not passed on).

Why (docs/edge.md, "Transports"): hypercorn's HTTP/2, built on the pure-Python ``h2`` state
machines, cost the edge about 0.9 ms of CPU per call, twice uvicorn's HTTP/1.1 path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from hpack import Decoder
from hpack.exceptions import HPACKError, OversizedHeaderListError

from services.kit.grpc_h2 import (
    _HEAD,
    _SETTING,
    _U32,
    ACK,
    CONTINUATION,
    DATA,
    DEFAULT_WINDOW,
    END_HEADERS,
    END_STREAM,
    FLOW_CONTROL_ERROR,
    FRAME_SIZE_ERROR,
    GOAWAY,
    HEADERS,
    MAX_STREAM_ID,
    PING,
    PREFACE,
    PRIORITY,
    PRIORITY_FLAG,
    PROTOCOL_ERROR,
    PUSH_PROMISE,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    _integer,
    _ProtocolError,
    frame,
    literal,
    unpad,
)

log = logging.getLogger("meetmesh.edge")
NO_ERROR, INTERNAL_ERROR, STREAM_CLOSED, REFUSED_STREAM, COMPRESSION_ERROR = 0x0, 0x2, 0x5, 0x7, 0x9
ENHANCE_YOUR_CALM = 0xB
(
    HEADER_TABLE_SIZE,
    ENABLE_PUSH,
    MAX_CONCURRENT_STREAMS,
    INITIAL_WINDOW_SIZE,
    MAX_FRAME_SIZE,
    MAX_HEADER_LIST_SIZE,
) = range(1, 7)
FRAME_SIZE = 16_384  # the frames this side takes (the RFC's default; not raised)
STREAM_WINDOW = 1 << 20  # what a client may send on one stream before the app reads
CONNECTION_WINDOW = 16 << 20
#: ``:status`` as a literal field without indexing, one per code.
_STATUS = {code: b"\x08" + _integer(3, 7, 0) + str(code).encode() for code in range(100, 600)}


@dataclass(frozen=True)
class Http2Limits:
    max_streams: int = 100
    max_header_bytes: int = 64 * 1024
    max_requests: int = 100_000
    #: None: no deadline (the services' gRPC port: its callers keep pooled connections open)
    header_timeout_s: float | None = 10.0
    idle_timeout_s: float | None = 5.0


class _Stream:
    __slots__ = (
        "body",
        "body_done",
        "buffered",
        "ended",
        "finished",
        "headers",
        "id",
        "no_body",
        "recv_window",
        "reset",
        "send_window",
        "started",
        "status",
        "task",
        "unacked",
        "waiter",
    )

    def __init__(self, stream_id: int, send_window: int, recv_window: int = STREAM_WINDOW) -> None:
        self.id = stream_id
        self.body: list[bytes] = []
        self.recv_window = recv_window  # what the client may still send on it
        self.ended = False  # the request is complete
        self.reset = False  # the client reset the stream, or the connection is gone
        self.waiter: asyncio.Future[None] | None = None
        self.send_window = send_window
        self.buffered = 0  # request bytes (with padding) received, not yet read by the app
        self.unacked = 0  # request bytes the app read and the client has not had back yet
        self.body_done = False  # the app has had the whole body
        self.status = 200
        self.headers: list[tuple[bytes, bytes]] = []
        self.started = False  # response HEADERS sent
        self.no_body = False  # a HEAD request, or a 204 or 304 answer: headers only
        self.finished = False  # response ended (END_STREAM sent)
        self.task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Http2Connection(asyncio.Protocol):
    """One server-side HTTP/2 connection serving an ASGI app (module docstring)."""

    #: What a client may send on one stream before its reader reads.
    stream_window_size = STREAM_WINDOW

    def __init__(
        self,
        app: Any,
        limits: Http2Limits,
        *,
        scheme: str = "http",
        state: dict[str, Any] | None = None,
        on_task: Callable[[asyncio.Task[None]], None] | None = None,
        on_lost: Callable[[Http2Connection], None] | None = None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.scheme = scheme
        self.state = state
        self.on_task = on_task
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.preface_seen = False
        self.decoder = Decoder()
        self.decoder.max_allowed_table_size = 4096
        self.decoder.max_header_list_size = 2**31  # checked after decoding (_decode)
        self.tasks: set[asyncio.Task[None]] = set()  # the streams' app tasks, held until they end
        self.streams: dict[int, _Stream] = {}
        self.last_stream = 0  # the highest stream id the client opened
        self.requests = 0
        self.pending: tuple[int, int, bytearray] | None = None  # a head awaiting CONTINUATION
        self.send_window = DEFAULT_WINDOW  # the client's connection window for our DATA
        self.stream_window = DEFAULT_WINDOW  # the client's initial stream window
        self.frame_size = FRAME_SIZE  # the largest frame the client takes
        self.received = 0  # connection bytes not given back yet
        self.window_waiters: list[asyncio.Future[None]] = []
        self.going_away = False
        self.paused = False  # the transport's buffer is full: senders wait
        self.timer: asyncio.TimerHandle | None = None
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None

    # -- the connection ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.loop = asyncio.get_running_loop()
        peer = transport.get_extra_info("peername")
        here = transport.get_extra_info("sockname")
        self.client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None
        self.server = (str(here[0]), int(here[1])) if isinstance(here, tuple) else None
        settings = b"".join(
            _SETTING.pack(k, v)
            for k, v in (
                (ENABLE_PUSH, 0),
                (MAX_CONCURRENT_STREAMS, self.limits.max_streams),
                (INITIAL_WINDOW_SIZE, self.stream_window_size),
                (MAX_HEADER_LIST_SIZE, self.limits.max_header_bytes),
            )
        )
        increment = CONNECTION_WINDOW - DEFAULT_WINDOW
        transport.write(  # type: ignore[attr-defined]
            frame(SETTINGS, 0, 0, settings) + frame(WINDOW_UPDATE, 0, 0, _U32.pack(increment))
        )
        self._arm(self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.transport = None
        for stream in self.streams.values():
            stream.reset = True
            stream.wake()
            self._on_reset(stream)
        self.streams.clear()
        self._wake_senders()
        if self.on_lost is not None:
            self.on_lost(self)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake_senders()

    def shutdown(self) -> None:
        """The server is stopping: no new streams; the open ones finish, then the connection ends."""
        self._goaway(NO_ERROR)
        if not self.streams:
            self._close()

    def _goaway(self, code: int) -> None:
        if not self.going_away and self.transport is not None:
            self.going_away = True
            self.transport.write(frame(GOAWAY, 0, 0, _U32.pack(self.last_stream) + _U32.pack(code)))

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _arm(self, seconds: float | None) -> None:
        self._disarm()
        if seconds is not None:
            self.timer = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expired(self) -> None:
        self.timer = None
        if not self.streams:  # the header or idle deadline: nothing in progress
            self._goaway(NO_ERROR)
            self._close()

    # -- receiving ---------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        buf = self.buffer + data if self.buffer else data
        pos = 0
        try:
            if not self.preface_seen:
                if len(buf) < len(PREFACE):
                    if not PREFACE.startswith(buf):
                        raise _ProtocolError(PROTOCOL_ERROR, "not an HTTP/2 connection preface")
                    self.buffer = buf
                    return
                if not buf.startswith(PREFACE):
                    raise _ProtocolError(PROTOCOL_ERROR, "not an HTTP/2 connection preface")
                self.preface_seen = True
                pos = len(PREFACE)
            end = len(buf)
            while end - pos >= 9 and self.transport is not None:
                head, flags, stream_id = _HEAD.unpack_from(buf, pos)
                length = head >> 8
                if length > FRAME_SIZE:
                    raise _ProtocolError(FRAME_SIZE_ERROR, "a frame larger than SETTINGS_MAX_FRAME_SIZE")
                if end - pos - 9 < length:
                    break
                payload = buf[pos + 9 : pos + 9 + length]
                pos += 9 + length
                self._frame(head & 0xFF, flags, stream_id & MAX_STREAM_ID, payload)
        except _ProtocolError as error:
            self._fail(error.code)
            return
        self.buffer = buf[pos:]

    def _fail(self, code: int) -> None:
        self.buffer = b""
        self._goaway(code)
        self._close()

    def _frame(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        if self.pending is not None and (kind != CONTINUATION or stream_id != self.pending[0]):
            raise _ProtocolError(PROTOCOL_ERROR, "a header block interrupted")
        if kind == DATA:
            self._data(flags, stream_id, payload)
        elif kind == HEADERS:
            if stream_id == 0:
                raise _ProtocolError(PROTOCOL_ERROR, "HEADERS on stream 0")
            payload = unpad(flags, payload)
            if flags & PRIORITY_FLAG:
                payload = payload[5:]
            if flags & END_HEADERS:
                self._head(stream_id, flags, payload)
            else:
                self.pending = (stream_id, flags, bytearray(payload))
                if len(payload) > self.limits.max_header_bytes + FRAME_SIZE:
                    raise _ProtocolError(PROTOCOL_ERROR, "a header block without end")
        elif kind == CONTINUATION:
            if self.pending is None:
                raise _ProtocolError(PROTOCOL_ERROR, "CONTINUATION without HEADERS")
            block = self.pending[2]
            block.extend(payload)
            if flags & END_HEADERS:
                pending, self.pending = self.pending, None
                self._head(pending[0], pending[1], bytes(block))
            elif len(block) > 2 * self.limits.max_header_bytes + FRAME_SIZE:
                raise _ProtocolError(PROTOCOL_ERROR, "a header block without end")
        elif kind == SETTINGS:
            self._settings(flags, stream_id, payload)
        elif kind == WINDOW_UPDATE:
            self._window_update(stream_id, payload)
        elif kind == PING:
            if len(payload) != 8 or stream_id:
                raise _ProtocolError(FRAME_SIZE_ERROR if len(payload) != 8 else PROTOCOL_ERROR, "PING")
            if flags & ACK:
                self._ping_acked(payload)
            elif self.transport is not None:
                self._calm()
                self.transport.write(frame(PING, ACK, 0, payload))
        elif kind == RST_STREAM:
            if len(payload) != 4 or not stream_id:
                raise _ProtocolError(PROTOCOL_ERROR, "RST_STREAM")
            stream = self.streams.pop(stream_id, None)
            if stream is not None:
                stream.reset = True
                stream.wake()
                self._on_reset(stream)
                self._wake_senders()
                self._maybe_idle()
        elif kind == GOAWAY:
            self.going_away = True  # the client opens no more streams; the open ones finish
            if not self.streams:
                self._close()
        elif kind == PUSH_PROMISE:
            raise _ProtocolError(PROTOCOL_ERROR, "a client may not push")
        elif kind == PRIORITY and len(payload) != 5:
            raise _ProtocolError(FRAME_SIZE_ERROR, "PRIORITY")
        # unknown frame types are ignored (RFC 9113, 5.5)

    def _data(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id == 0:
            raise _ProtocolError(PROTOCOL_ERROR, "DATA on stream 0")
        size = len(payload)
        self.received += size
        if self.received > CONNECTION_WINDOW:
            raise _ProtocolError(FLOW_CONTROL_ERROR, "more than the connection window")
        if self.received >= CONNECTION_WINDOW // 2 and self.transport is not None:
            self.transport.write(frame(WINDOW_UPDATE, 0, 0, _U32.pack(self.received)))
            self.received = 0
        stream = self.streams.get(stream_id)
        if stream is None or stream.ended:
            if stream_id > self.last_stream:
                raise _ProtocolError(PROTOCOL_ERROR, "DATA on an idle stream")
            return  # a stream this side closed or reset: counted for the connection, dropped
        stream.recv_window -= size
        if stream.recv_window < 0:
            raise _ProtocolError(FLOW_CONTROL_ERROR, "more than the stream window")
        body = unpad(flags, payload)
        if body:
            stream.body.append(body)
        stream.buffered += size
        if flags & END_STREAM:
            stream.ended = True
        stream.wake()

    def _head(self, stream_id: int, flags: int, block: bytes) -> None:
        stream = self.streams.get(stream_id)
        if stream is not None:  # request trailers: decoded (the table stays in step), not passed on
            if stream.ended or not flags & END_STREAM:
                raise _ProtocolError(PROTOCOL_ERROR, "HEADERS on an ended stream, or without its end")
            self._decode(block)
            stream.ended = True
            stream.wake()
            return
        if stream_id <= self.last_stream:  # a stream already closed here: decoded, dropped
            self._decode(block)
            self._reset(stream_id, STREAM_CLOSED)
            return
        if stream_id % 2 == 0:
            raise _ProtocolError(PROTOCOL_ERROR, "a client stream with an even id")
        self.last_stream = stream_id
        try:
            fields = self._decode(block)
        except OversizedHeaderListError:
            fields = None
        # The limit counts the app's tasks, not the open streams: a stream the client resets is
        # closed at once, but its task runs on until the app notices (the "rapid reset" attack
        # opens and resets streams to start work without bound).
        if self.going_away or len(self.tasks) >= self.limits.max_streams:
            self._reset(stream_id, REFUSED_STREAM)
            return
        self.requests += 1
        if self.requests >= self.limits.max_requests:
            self._goaway(NO_ERROR)
        self._disarm()
        stream = _Stream(stream_id, self.stream_window, self.stream_window_size)
        stream.ended = bool(flags & END_STREAM)
        self.streams[stream_id] = stream
        if fields is None:
            stream.task = self.loop.create_task(self._refuse(stream, 431))
        else:
            work = self._open(stream, fields)
            if work is None:
                self.streams.pop(stream_id)
                self._reset(stream_id, PROTOCOL_ERROR)
                self._maybe_idle()
                return
            stream.task = self.loop.create_task(work)
        self.tasks.add(stream.task)
        stream.task.add_done_callback(self.tasks.discard)
        if self.on_task is not None:
            self.on_task(stream.task)

    def _decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        # the whole list is decoded (the table must follow the client's), then its size checked
        try:
            fields = self.decoder.decode(block, raw=True)
        except HPACKError:
            raise _ProtocolError(COMPRESSION_ERROR, "a header block that does not decode") from None
        size = sum(len(n) + len(v) + 32 for n, v in fields)
        if size > self.limits.max_header_bytes:
            raise OversizedHeaderListError(f"{size} bytes of header list")
        return fields  # type: ignore[return-value]

    def _scope(self, fields: list[tuple[bytes, bytes]]) -> dict[str, Any] | None:
        """The request's ASGI scope; None for a malformed request (RFC 9113, 8.1.1)."""
        method = path = authority = scheme = None
        headers: list[tuple[bytes, bytes]] = []
        regular = False
        for name, value in fields:
            if name[:1] == b":":
                if regular:
                    return None  # a pseudo-header after a regular one
                if name == b":method" and method is None:
                    method = value
                elif name == b":path" and path is None:
                    path = value
                elif name == b":authority" and authority is None:
                    authority = value
                elif name == b":scheme" and scheme is None:
                    scheme = value
                else:
                    return None
            else:
                regular = True
                if name != name.lower() or name in (b"connection", b"keep-alive", b"upgrade"):
                    return None
                headers.append((name, value))
        if method is None or not path or scheme is None or method == b"CONNECT":
            return None
        if authority is not None and not any(n == b"host" for n, _ in headers):
            headers.insert(0, (b"host", authority))
        raw_path, _, query = path.partition(b"?")
        try:
            decoded = unquote(raw_path.decode("ascii"))
            method_text = method.decode("ascii")
        except UnicodeDecodeError:
            return None
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "2",
            "method": method_text,
            "scheme": self.scheme,
            "path": decoded,
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": headers,
            "client": self.client,
            "server": self.server,
        }
        if self.state is not None:
            scope["state"] = self.state.copy()
        return scope

    def _settings(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id:
            raise _ProtocolError(PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & ACK:
            if payload:
                raise _ProtocolError(FRAME_SIZE_ERROR, "a SETTINGS ACK with a payload")
            return
        if len(payload) % 6:
            raise _ProtocolError(FRAME_SIZE_ERROR, "SETTINGS")
        for offset in range(0, len(payload), 6):
            key, value = _SETTING.unpack_from(payload, offset)
            if key == INITIAL_WINDOW_SIZE:
                if value > MAX_STREAM_ID:
                    raise _ProtocolError(FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE")
                delta, self.stream_window = value - self.stream_window, value
                for stream in self.streams.values():
                    stream.send_window += delta
            elif key == MAX_FRAME_SIZE:
                if not FRAME_SIZE <= value <= (1 << 24) - 1:
                    raise _ProtocolError(PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE")
                self.frame_size = value
            elif key == ENABLE_PUSH and value > 1:
                raise _ProtocolError(PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH")
            # HEADER_TABLE_SIZE: this side's fields are never indexed, so the client's table size
            # does not matter; MAX_CONCURRENT_STREAMS: this side opens none
        if self.transport is not None:
            self._calm()
            self.transport.write(frame(SETTINGS, ACK, 0))
        self._wake_senders()

    def _window_update(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise _ProtocolError(FRAME_SIZE_ERROR, "WINDOW_UPDATE")
        increment = _U32.unpack(payload)[0] & MAX_STREAM_ID
        if stream_id == 0:
            if increment == 0:
                raise _ProtocolError(PROTOCOL_ERROR, "a WINDOW_UPDATE of 0")
            self.send_window += increment
            if self.send_window > MAX_STREAM_ID:
                raise _ProtocolError(FLOW_CONTROL_ERROR, "the connection window past 2^31-1")
            self._wake_senders()
            return
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        if increment == 0 or stream.send_window + increment > MAX_STREAM_ID:
            self.streams.pop(stream_id)
            stream.reset = True
            stream.wake()
            self._on_reset(stream)
            self._reset(stream_id, PROTOCOL_ERROR if increment == 0 else FLOW_CONTROL_ERROR)
            return
        stream.send_window += increment
        self._wake_senders()

    def _calm(self) -> None:
        """A frame that asks for an answer while the client does not read what it has been sent
        (the transport's buffer is past its high-water mark): a PING or SETTINGS flood."""
        if self.paused:
            raise _ProtocolError(ENHANCE_YOUR_CALM, "answers pile up unread")

    def _wake_senders(self) -> None:
        waiters, self.window_waiters = self.window_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _reset(self, stream_id: int, code: int) -> None:
        if self.transport is not None:
            self.transport.write(frame(RST_STREAM, 0, stream_id, _U32.pack(code)))

    def _maybe_idle(self) -> None:
        if self.streams or self.transport is None:
            return
        if self.going_away:
            self._close()
        else:
            self._arm(self.limits.idle_timeout_s)

    # -- the app -----------------------------------------------------------------------------
    def _open(self, stream: _Stream, fields: list[tuple[bytes, bytes]]) -> Coroutine[Any, Any, None] | None:
        """The work a new request stream runs in its task: here the ASGI app; None for a malformed
        request (the stream is reset with PROTOCOL_ERROR)."""
        scope = self._scope(fields)
        if scope is None:
            return None
        stream.no_body = scope["method"] == "HEAD"
        return self._run(stream, scope)

    def _ping_acked(self, payload: bytes) -> None:
        """The client answered a PING of this side's."""

    def _on_reset(self, stream: _Stream) -> None:
        """The client reset the stream, or the connection is gone (an ASGI app learns it from
        ``receive``)."""

    async def _refuse(self, stream: _Stream, status: int) -> None:
        await self._send(stream, {"type": "http.response.start", "status": status, "headers": []})
        await self._send(stream, {"type": "http.response.body", "body": b""})
        self._done(stream)

    async def _run(self, stream: _Stream, scope: dict[str, Any]) -> None:
        async def receive() -> dict[str, Any]:
            return await self._receive(stream)

        async def send(message: dict[str, Any]) -> None:
            await self._send(stream, message)

        try:
            await self.app(scope, receive, send)
        except Exception:
            log.exception("the edge's app failed on an HTTP/2 request")
            if not stream.started and not stream.reset:
                await self._send(stream, {"type": "http.response.start", "status": 500, "headers": []})
                await self._send(stream, {"type": "http.response.body", "body": b""})
        finally:
            self._done(stream)

    def _done(self, stream: _Stream) -> None:
        if self.streams.get(stream.id) is stream:
            del self.streams[stream.id]
            if not stream.finished:  # the app ended without finishing its response
                self._reset(stream.id, INTERNAL_ERROR)
            elif not stream.ended and stream.status:
                # the answer is complete: the rest of the request is not wanted. (A gRPC stream's
                # status is its gRPC status: after an OK answer it is 0 and the stream is not
                # reset, because grpclib's client takes any RST_STREAM as the end of its call.)
                self._reset(stream.id, NO_ERROR)
            self._maybe_idle()

    def _give_back(self, stream: _Stream) -> None:
        """The request bytes the reader has taken count towards the stream's window again; the
        client hears of it once a quarter of the window is owed (not after the request ended)."""
        stream.unacked += stream.buffered
        stream.buffered = 0
        if stream.ended or stream.unacked < self.stream_window_size // 4 or self.transport is None:
            return
        self.transport.write(frame(WINDOW_UPDATE, 0, stream.id, _U32.pack(stream.unacked)))
        stream.recv_window += stream.unacked
        stream.unacked = 0

    async def _receive(self, stream: _Stream) -> dict[str, Any]:
        if stream.body_done:  # after the whole body: wait until the response ends or the client goes
            while not stream.reset and not stream.finished:
                await self._wait(stream)
            return {"type": "http.disconnect"}
        while not stream.body and not stream.ended and not stream.reset:
            await self._wait(stream)
        if stream.reset:
            return {"type": "http.disconnect"}
        body = stream.body[0] if len(stream.body) == 1 else b"".join(stream.body)
        stream.body.clear()
        self._give_back(stream)
        stream.body_done = stream.ended
        return {"type": "http.request", "body": body, "more_body": not stream.ended}

    async def _wait(self, stream: _Stream) -> None:
        stream.waiter = self.loop.create_future()
        try:
            await stream.waiter
        finally:
            stream.waiter = None

    async def _send(self, stream: _Stream, message: dict[str, Any]) -> None:
        kind = message["type"]
        if stream.reset or stream.finished or self.transport is None:
            return  # the client went away (the app learns it from receive())
        if kind == "http.response.start":
            if stream.started:
                raise RuntimeError("http.response.start sent twice")
            stream.status = int(message["status"])
            stream.headers = list(message.get("headers", ()))
            if stream.status in (204, 304):
                stream.no_body = True
            return
        if kind != "http.response.body":
            return
        body: bytes = b"" if stream.no_body else message.get("body", b"")
        more = bool(message.get("more_body", False))
        if not stream.started:
            stream.started = True
            block = _STATUS.get(stream.status) or _STATUS[500]
            block += b"".join(
                literal(name.lower(), value, b"\x00")  # without indexing
                for name, value in stream.headers
                if name.lower() not in (b"connection", b"transfer-encoding", b"keep-alive")
            )
            last = not body and not more
            head = self._head_frames(stream.id, block, last)
            if last:
                self.transport.write(head)
                self._finished(stream)
                return
        else:
            head = b""
        await self._emit(stream, head, body, not more)

    async def _emit(self, stream: _Stream, head: bytes, data: bytes, end: bool) -> bool:
        """``head`` (frames ready to go, or nothing), then ``data`` as DATA, the last frame with
        END_STREAM when ``end``: in one write when the windows allow (the usual case), else the
        DATA as the client's windows open. False, with the rest unsent, when the client reset the
        stream or the connection went meanwhile. Both the gRPC and the ASGI answers go out here."""
        assert self.transport is not None
        size = len(data)
        if not size and not end:  # nothing to send yet but the head
            if head:
                self.transport.write(head)
            return True
        room = min(self.send_window, stream.send_window, self.frame_size)
        if not size or (size <= room and not self.paused):
            self.send_window -= size
            stream.send_window -= size
            self.transport.write(head + frame(DATA, END_STREAM if end else 0, stream.id, data))
            if end:
                self._finished(stream)
            return True
        if head:
            self.transport.write(head)
        view = memoryview(data)
        while view:
            while True:
                if stream.reset or self.transport is None:
                    return False
                room = min(self.send_window, stream.send_window, self.frame_size)
                if room > 0 and not self.paused:
                    break
                waiter = self.loop.create_future()
                self.window_waiters.append(waiter)
                await waiter
            chunk, view = view[:room], view[room:]
            self.send_window -= len(chunk)
            stream.send_window -= len(chunk)
            last = end and not view
            self.transport.write(frame(DATA, END_STREAM if last else 0, stream.id, bytes(chunk)))
            if last:
                self._finished(stream)
        return True

    def _head_frames(self, stream_id: int, block: bytes, end_stream: bool) -> bytes:
        """HEADERS (and CONTINUATION past the client's frame size) for a response head."""
        flags = END_STREAM if end_stream else 0
        if len(block) <= self.frame_size:
            return frame(HEADERS, flags | END_HEADERS, stream_id, block)
        out = [frame(HEADERS, flags, stream_id, block[: self.frame_size])]
        rest = block[self.frame_size :]
        while rest:
            part, rest = rest[: self.frame_size], rest[self.frame_size :]
            out.append(frame(CONTINUATION, 0 if rest else END_HEADERS, stream_id, part))
        return b"".join(out)

    def _finished(self, stream: _Stream) -> None:
        stream.finished = True
        stream.wake()  # a read waiting for the end learns of it
