"""The services' gRPC server: grpclib's handlers and stream API on the kit's own HTTP/2 connection.

Why: a unary call through grpclib's server costs 320-360 µs of server CPU on these machines (the
echo baseline of ``make bench``), most of it in the pure-Python ``h2`` state machines, ``hpack``'s
per-field logging, ``hyperframe`` and grpclib's event dispatch. The same call on ``h2_server.py``'s
connection (frames parsed with ``struct``, answers written as precomputed literal header blocks)
costs a fraction of that, and every service pays it on every call (docs/kit.md, "The gRPC server").

What stays grpclib's: the generated ``__mapping__`` of each service (method paths, cardinality,
message types), the handlers' stream API (``recv_message``, ``send_message``, ``async for``,
``send_initial_metadata``, ``send_trailing_metadata``, ``cancel``, ``metadata``, ``deadline``,
``peer``, ``user_agent``), its codecs and status-details codec, its metadata and ``grpc-timeout``
rules, and what it answers to a request that is not gRPC:

- not ``POST``: HTTP 405; no or another ``content-type``: 415 with grpc-status UNKNOWN; no
  ``te: trailers``: 400; an unknown method: UNIMPLEMENTED ("Method not found"); a bad
  ``grpc-timeout``: UNKNOWN ("Invalid grpc-timeout header");
- a handler's ``GRPCError`` becomes the trailers (status, ``grpc-message`` percent-encoded,
  ``grpc-status-details-bin``); any other exception UNKNOWN "Internal Server Error"; a unary
  method that ends without its answer UNKNOWN;
- at the deadline the handler is cancelled and the call ends DEADLINE_EXCEEDED; a client that
  resets its stream (or loses the connection) cancels its handler.

The kit's cross-cutting work (admission by the contract's policy, metrics, tracing, validation of
every request message) is called directly rather than through grpclib's events: ``wrap`` turns a
method function into the served one, ``on_message``/``on_send`` see each message (see server.py).

Stopping (``close``): the listener closes, every connection is told GOAWAY, and the calls in
flight are cancelled as grpclib cancels them; a cancelled call that can still answer ends
UNAVAILABLE ("the server is shutting down") rather than with a bare reset.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
import struct
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, cast

from grpclib.const import Cardinality, Status
from grpclib.encoding.base import CodecBase, StatusDetailsCodecBase
from grpclib.exceptions import GRPCError, StreamTerminatedError
from grpclib.metadata import Deadline, decode_timeout, encode_bin_value, encode_grpc_message, encode_metadata
from multidict import MultiDict

from .grpc_h2 import PING, frame, literal
from .h2_server import _STATUS, Http2Connection, Http2Limits, _Stream
from .h2writes import CoalescingTransport

log = logging.getLogger("meetmesh.kit.grpc")

Method = Callable[[Any], Coroutine[Any, Any, Any]]
#: ``wrap(method_name, metadata, peer_host, deadline, func)``: the function that serves the call.
Wrap = Callable[[str, Any, str, Deadline | None, Method], Method]
MessageHook = Callable[[Any], Coroutine[Any, Any, None]]

_PREFIX = struct.Struct(">?I")
#: How long a stopping server waits for a client to answer its PING (wait_closed).
_PING_WAIT_S = 1.0
_CONTENT_TYPE = b"application/grpc"
_STATUS_200 = b"\x88"  # ':status: 200', HPACK static table entry 8
_TRAILERS_OK = literal(b"grpc-status", b"0", b"\x00")
#: The inbound window of one stream, as grpclib's server has it (4 MiB): a 4 MiB request message
#: arrives without waiting for a window update.
STREAM_WINDOW = 4 << 20


def _oversized(length: int) -> GRPCError:
    return GRPCError(Status.RESOURCE_EXHAUSTED, f"the message is {length} bytes, over the limit")


def _fields(pairs: Iterable[tuple[str, str]]) -> bytes:
    return b"".join(literal(k.encode("ascii"), v.encode("ascii"), b"\x00") for k, v in pairs)


class Peer:
    """The caller's address, as grpclib's ``Peer`` gives it (``addr()``; no TLS here)."""

    __slots__ = ("_addr",)

    def __init__(self, addr: tuple[str, int] | None) -> None:
        self._addr = addr

    def addr(self) -> tuple[str, int] | None:
        return self._addr

    def cert(self) -> None:
        return None


class _Call:
    """What the server needs of one request head (read by ``GrpcConnection._open``)."""

    __slots__ = ("content_type", "metadata", "method", "path", "te", "timeout", "user_agent")

    def __init__(self) -> None:
        self.method = b""
        self.path = b""
        self.content_type: bytes | None = None
        self.te: bytes | None = None
        self.user_agent: str | None = None
        self.timeout: list[str] = []
        self.metadata: MultiDict[str | bytes] = MultiDict()


class Stream:
    """One call, as its handler sees it: grpclib's server ``Stream`` API (module docstring)."""

    __slots__ = (
        "_buffer",
        "_cardinality",
        "_conn",
        "_h2",
        "_head_sent",
        "_message_sent",
        "_method_name",
        "_recv_type",
        "_send_type",
        "_server",
        "_trailers_sent",
        "cancelled",
        "deadline",
        "metadata",
        "peer",
        "user_agent",
    )

    def __init__(
        self,
        server: GrpcServer,
        conn: GrpcConnection,
        h2: _Stream,
        method_name: str,
        handler: Any,
        deadline: Deadline | None,
        metadata: MultiDict[str | bytes],
        user_agent: str | None,
    ) -> None:
        self._server = server
        self._conn = conn
        self._h2 = h2
        self._method_name = method_name
        self._cardinality: Cardinality = handler.cardinality
        self._recv_type = handler.request_type
        self._send_type = handler.reply_type
        self._buffer = b""
        self._head_sent = False
        self._message_sent = False
        self._trailers_sent = False
        self.cancelled = False
        self.deadline = deadline
        self.metadata = metadata
        self.user_agent = user_agent
        self.peer = Peer(conn.client)

    # -- receiving ---------------------------------------------------------------------------
    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> Any:
        message = await self.recv_message()
        if message is None:
            raise StopAsyncIteration
        return message

    async def recv_message(self) -> Any:
        """The next request message; None when the client has ended its side."""
        data = await self._conn.read_message(self)
        if data is None:
            return None
        message = self._server.codec.decode(data, self._recv_type)
        if self._server.on_message is not None:
            await self._server.on_message(message)
        return message

    # -- sending -----------------------------------------------------------------------------
    def _head(self, metadata: Any) -> bytes:
        if not metadata:
            return self._server.head_ok
        return self._server.head_ok + _fields(encode_metadata(MultiDict(metadata)))

    async def send_initial_metadata(self, *, metadata: Any = None) -> None:
        if self._head_sent:
            raise GRPCError(Status.INTERNAL, "Initial metadata was already sent")
        head = self._head(metadata)  # (raises for metadata grpclib would refuse, nothing sent)
        self._head_sent = True
        await self._conn.send(self._h2, head, b"", False)

    async def send_message(self, message: Any) -> None:
        if self._message_sent and not self._cardinality.server_streaming:
            raise GRPCError(Status.INTERNAL, "Message was already sent")
        if self._server.on_send is not None:
            await self._server.on_send(message)
        body = self._server.codec.encode(message, self._send_type)
        head = b""
        if not self._head_sent:
            self._head_sent = True
            head = self._server.head_ok
        self._message_sent = True
        await self._conn.send(self._h2, head, _PREFIX.pack(False, len(body)) + body, False)

    async def send_trailing_metadata(
        self,
        *,
        status: Status = Status.OK,
        status_message: str | None = None,
        status_details: Any = None,
        metadata: Any = None,
    ) -> None:
        if self._trailers_sent:
            raise GRPCError(Status.INTERNAL, "Trailing metadata was already sent")
        if not self._cardinality.server_streaming and not self._message_sent and status is Status.OK:
            raise GRPCError(
                Status.INTERNAL, "Unary response with OK status requires a single message to be sent"
            )
        if status is Status.OK and status_message is None and not metadata:
            block = _TRAILERS_OK
        else:
            pairs = [("grpc-status", str(status.value))]
            if status_message is not None:
                pairs.append(("grpc-message", encode_grpc_message(status_message)))
            codec = self._server.status_details_codec
            if status_details is not None and codec is not None:
                raw = encode_bin_value(codec.encode(status, status_message, status_details))
                pairs.append(("grpc-status-details-bin", raw.decode("ascii")))
            if metadata:
                pairs.extend(encode_metadata(MultiDict(metadata)))
            block = _fields(pairs)
        if not self._head_sent:  # trailers-only
            self._head_sent = True
            block = self._server.head_ok + block
        self._trailers_sent = True
        self._h2.status = status.value  # (the gRPC status here: Http2Connection._done reads it)
        await self._conn.send(self._h2, block, b"", True, trailers=True)

    async def cancel(self) -> None:
        """Resets the stream (RST_STREAM CANCEL): the client learns there is nothing more."""
        if self.cancelled:
            raise GRPCError(Status.INTERNAL, "Stream was already cancelled")
        self.cancelled = True
        self._conn.cancel_stream(self._h2)


class GrpcConnection(Http2Connection):
    """One client connection to a service's gRPC port."""

    stream_window_size = STREAM_WINDOW

    def __init__(self, server: GrpcServer) -> None:
        super().__init__(None, server.limits, on_lost=server._lost)
        self.grpc = server
        self.pings: list[asyncio.Future[None]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # the writes of one loop turn (a unary answer's head, message and trailers) leave as one
        raw = cast(asyncio.Transport, transport)
        coalescing = CoalescingTransport(raw, asyncio.get_running_loop())
        super().connection_made(cast(asyncio.BaseTransport, coalescing))
        sock = raw.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _open(self, stream: _Stream, fields: list[tuple[bytes, bytes]]) -> Coroutine[Any, Any, None] | None:
        call = _Call()
        scheme = False
        regular = False
        metadata = call.metadata
        for name, value in fields:
            if name[:1] == b":":
                if regular:
                    return None  # a pseudo-header after a regular one
                if name == b":method" and not call.method:
                    call.method = value
                elif name == b":path" and not call.path:
                    call.path = value
                elif name == b":scheme" and not scheme:
                    scheme = True
                elif name != b":authority":
                    return None
                continue
            regular = True
            if name != name.lower() or name in (b"connection", b"keep-alive", b"upgrade"):
                return None
            if name == b"content-type":
                call.content_type = value
            elif name == b"te":
                call.te = value
            elif name == b"user-agent":
                call.user_agent = value.decode("ascii", "replace")
            elif name == b"grpc-timeout":
                call.timeout.append(value.decode("ascii", "replace"))
            elif name[:5] != b"grpc-":
                key = name.decode("ascii", "replace")
                if key.endswith("-bin"):
                    try:
                        metadata.add(key, base64.b64decode(value + b"=" * (-len(value) % 4)))
                    except ValueError:
                        return None
                else:
                    metadata.add(key, value.decode("ascii", "replace"))
        if not call.method or not call.path or not scheme or call.method == b"CONNECT":
            return None
        return self.grpc._serve(self, stream, call)

    def ping(self) -> asyncio.Future[None]:
        """A PING to the client; the future is done when its answer arrives (or the connection
        ends). Everything the client sent before it read the PING has arrived by then."""
        done = self.loop.create_future()
        if self.transport is None:
            done.set_result(None)
            return done
        self.pings.append(done)
        self.transport.write(frame(PING, 0, 0, b"meetmesh"))
        return done

    def _ping_acked(self, payload: bytes) -> None:
        if self.pings:
            done = self.pings.pop(0)
            if not done.done():
                done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        for done in self.pings:
            if not done.done():
                done.set_result(None)
        self.pings.clear()

    def _on_reset(self, stream: _Stream) -> None:
        task = stream.task
        if task is not None and not task.done():
            task.cancel()

    async def read_message(self, call: Stream) -> bytes | None:
        """The next whole message of a call's request stream (None at its end); the stream's
        window is given back as messages are taken, and whenever a message waits for more."""
        stream = call._h2
        while True:
            buffer = call._buffer
            if stream.body:
                if len(buffer) >= 5 and not (stream.ended or stream.reset):
                    # The message's length is known: its pieces are joined once, when all have come
                    # (joining at every arrival copied a message of n windows n times over). A
                    # compressed or oversized one goes on below, to be refused at once.
                    compressed, length = _PREFIX.unpack_from(buffer)
                    limit = self.grpc.max_message_bytes
                    pending = len(buffer) + sum(map(len, stream.body))
                    if pending < 5 + length and not compressed and (limit is None or length <= limit):
                        self._give_back(stream)
                        await self._wait(stream)
                        continue
                buffer = b"".join((buffer, *stream.body)) if buffer else b"".join(stream.body)
                stream.body.clear()
            size = len(buffer)
            if size >= 5:
                compressed, length = _PREFIX.unpack_from(buffer)
                if compressed:
                    raise GRPCError(Status.INTERNAL, "compressed messages are not supported")
                limit = self.grpc.max_message_bytes
                if limit is not None and length > limit:
                    call._buffer = b""
                    await self._discard(stream, 5 + length - size)
                    raise self.grpc.refuse_oversized(length)
                if size - 5 >= length:
                    call._buffer = buffer[5 + length :]
                    self._give_back(stream)
                    return buffer[5 : 5 + length]
            call._buffer = buffer
            if stream.reset:
                raise StreamTerminatedError("the client reset the stream")
            if stream.ended:
                if size:
                    raise GRPCError(Status.INTERNAL, "the request ended inside a message")
                return None
            self._give_back(stream)  # the rest of a message may be larger than the window
            await self._wait(stream)

    async def _discard(self, stream: _Stream, remaining: int) -> None:
        """Read and drop the ``remaining`` bytes of an oversized request message (or until the
        request ends), giving the window back as they come: memory stays within one window
        however large the message says it is, and a client blocked on flow control can finish
        sending and then read the refusal (grpclib's client turns a reset that comes while it
        sends into StreamTerminatedError instead of the status)."""
        while remaining > 0 and not stream.ended and not stream.reset:
            self._give_back(stream)
            await self._wait(stream)
            remaining -= sum(map(len, stream.body))
            stream.body.clear()
        self._give_back(stream)

    async def send(
        self, stream: _Stream, head: bytes, data: bytes, end: bool, *, trailers: bool = False
    ) -> None:
        """A header block (``head``; the trailers when ``trailers``) and/or DATA, in one write
        when the windows allow, else DATA as the client's windows open."""
        if stream.reset or stream.finished or self.transport is None:
            raise StreamTerminatedError("the client reset the stream")
        if trailers:
            self.transport.write(self._head_frames(stream.id, head, True))
            self._finished(stream)
            return
        out = self._head_frames(stream.id, head, False) if head else b""
        if not await self._emit(stream, out, data, end):
            raise StreamTerminatedError("the client reset the stream")

    def cancel_stream(self, stream: _Stream) -> None:
        if self.streams.get(stream.id) is stream:
            del self.streams[stream.id]
            stream.reset = True
            self._reset(stream.id, 0x8)  # CANCEL
            self._maybe_idle()

    async def abort(
        self, stream: _Stream, http_status: int, status: Status | None, message: str | None
    ) -> None:
        """An answer to a request that is not a gRPC call this server takes (grpclib's rules)."""
        # (grpclib's own server leaves content-type out of its 200 answers, so that grpclib's client
        # reports them as "Missing content-type header" rather than, say, UNIMPLEMENTED)
        block = self.grpc.head_ok if http_status == 200 else _STATUS[http_status]
        pairs = []
        if status is not None:
            pairs.append(("grpc-status", str(status.value)))
        if message is not None:
            pairs.append(("grpc-message", message))
        await self.send(stream, block + _fields(pairs), b"", True, trailers=True)


class GrpcServer:
    """A gRPC server for grpclib handlers on the kit's HTTP/2 connections (module docstring)."""

    def __init__(
        self,
        handlers: Iterable[Any],
        *,
        codec: CodecBase,
        status_details_codec: StatusDetailsCodecBase | None,
        wrap: Wrap | None = None,
        on_message: MessageHook | None = None,
        on_send: MessageHook | None = None,
        limits: Http2Limits | None = None,
        max_message_bytes: int | None = None,
        refuse_oversized: Callable[[int], Exception] | None = None,
    ) -> None:
        self.mapping: dict[str, Any] = {}
        for handler in handlers:
            self.mapping.update(handler.__mapping__())
        self._paths = {path.encode("ascii"): path for path in self.mapping}
        self.codec = codec
        self.status_details_codec = status_details_codec
        self.wrap = wrap
        self.on_message = on_message
        self.on_send = on_send
        # A request message longer than this is refused (``refuse_oversized(its length)``) from
        # its length prefix, its bytes dropped as they arrive instead of gathered (None: no limit
        # here; the codec may still refuse what it decodes).
        self.max_message_bytes = max_message_bytes
        self.refuse_oversized = refuse_oversized or _oversized
        # grpclib's (h2's) defaults: 100 streams, 64 KiB of header list; no idle or header deadline
        self.limits = limits or Http2Limits(
            max_streams=100,
            max_header_bytes=64 * 1024,
            max_requests=1 << 30,
            header_timeout_s=None,
            idle_timeout_s=None,
        )
        subtype = getattr(codec, "__content_subtype__", "proto")
        self._subtype = subtype.encode("ascii")
        #: ':status: 200' and the content type: the head of every answer
        self.head_ok = _STATUS_200 + literal(b"content-type", _CONTENT_TYPE + b"+" + self._subtype, b"\x00")
        self._server: asyncio.AbstractServer | None = None
        self._port = 0
        self.connections: set[GrpcConnection] = set()
        self.calls: set[asyncio.Task[None]] = set()
        self.streaming: set[asyncio.Task[None]] = set()  # the calls of streaming methods
        self.closing = False

    @property
    def port(self) -> int:
        return self._port

    async def start(
        self,
        host: str | None,
        port: int,
        *,
        reuse_address: bool | None = None,
        reuse_port: bool | None = None,
        backlog: int = 100,
    ) -> None:
        if self._server is not None:
            raise RuntimeError("the server is already started")
        self._server = await asyncio.get_running_loop().create_server(
            self._connection, host, port, backlog=backlog, reuse_address=reuse_address, reuse_port=reuse_port
        )
        self._port = int(self._server.sockets[0].getsockname()[1])

    def _connection(self) -> GrpcConnection:
        conn = GrpcConnection(self)
        self.connections.add(conn)
        return conn

    def _lost(self, conn: Http2Connection) -> None:
        self.connections.discard(cast(GrpcConnection, conn))

    def close(self) -> None:
        """No new connections; the streaming calls in flight are ended (UNAVAILABLE, "the server is
        shutting down"); unary calls finish. Connections stay open meanwhile and still take calls:
        grpclib's client drops every call on a connection the moment it hears GOAWAY, so GOAWAY
        waits for ``close_connections``."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        self.closing = True
        self._server.close()
        for task in list(self.streaming):
            task.cancel()

    async def wait_closed(self) -> None:
        """Until the listener is closed and every call has ended, including those the clients
        sent before they heard of the close: a PING to every connection, answered with nothing
        new begun, ends the wait (its answer comes after whatever the client sent before it)."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        await self._server.wait_closed()
        while True:
            while self.calls:
                await asyncio.wait(list(self.calls))
            answers = [conn.ping() for conn in self.connections]
            if answers:
                await asyncio.wait(answers, timeout=_PING_WAIT_S)
            if not self.calls:
                return

    async def cancel_calls(self) -> None:
        """Cancels the calls still running (a stop's grace period is over) and waits for them."""
        calls = list(self.calls)
        for task in calls:
            task.cancel()
        if calls:
            await asyncio.wait(calls)

    def close_connections(self) -> None:
        """GOAWAY to every client, and the connections closed."""
        for conn in list(self.connections):
            conn._goaway(0)
            conn._close()

    # -- one call ------------------------------------------------------------------------------
    async def _serve(self, conn: GrpcConnection, h2: _Stream, call: _Call) -> None:
        task = h2.task or asyncio.current_task()
        if task is not None:
            self.calls.add(task)
        try:
            await self._call(conn, h2, call)
        except (asyncio.CancelledError, StreamTerminatedError):
            pass  # reset by the client, the connection lost, or the server closing (answered)
        except Exception:
            log.exception("the gRPC server failed on a call")
        finally:
            if task is not None:
                self.calls.discard(task)
                self.streaming.discard(task)
            conn._done(h2)

    async def _call(self, conn: GrpcConnection, h2: _Stream, call: _Call) -> None:
        if call.method != b"POST":
            await conn.abort(h2, 405, None, None)
            return
        content_type = call.content_type
        if content_type is None:
            await conn.abort(h2, 415, Status.UNKNOWN, "Missing content-type header")
            return
        base, _, subtype = content_type.partition(b"+")
        if base != _CONTENT_TYPE or (subtype or b"proto") != self._subtype:
            await conn.abort(h2, 415, Status.UNKNOWN, "Unacceptable content-type header")
            return
        if call.te != b"trailers":
            await conn.abort(h2, 400, Status.UNKNOWN, 'Required "te: trailers" header is missing')
            return
        method_name = self._paths.get(call.path)
        if method_name is None:
            await conn.abort(h2, 200, Status.UNIMPLEMENTED, "Method not found")
            return
        deadline = None
        if call.timeout:
            try:
                deadline = Deadline.from_timeout(min(decode_timeout(v) for v in call.timeout))
            except ValueError:
                await conn.abort(h2, 200, Status.UNKNOWN, "Invalid grpc-timeout header")
                return
        handler = self.mapping[method_name]
        task = h2.task
        if task is not None and handler.cardinality is not Cardinality.UNARY_UNARY:
            if self.closing:
                await conn.abort(h2, 200, Status.UNAVAILABLE, "the server is shutting down")
                return
            self.streaming.add(task)
        stream = Stream(self, conn, h2, method_name, handler, deadline, call.metadata, call.user_agent)
        func: Method = handler.func
        if self.wrap is not None:
            peer = conn.client
            func = self.wrap(method_name, call.metadata, peer[0] if peer else "", deadline, func)
        timer = None
        expired = False
        if deadline is not None and task is not None:

            def expire() -> None:
                nonlocal expired
                expired = True
                task.cancel()

            timer = conn.loop.call_later(deadline.time_remaining(), expire)
        try:
            await func(stream)
        except asyncio.CancelledError:
            if expired:
                await self._end(stream, Status.DEADLINE_EXCEEDED, None, None)
            elif self.closing and not h2.reset:
                await self._end(stream, Status.UNAVAILABLE, "the server is shutting down", None)
            else:
                raise
            return
        except GRPCError as error:
            await self._end(stream, error.status, error.message, error.details)
            return
        except StreamTerminatedError:
            raise
        except Exception:
            log.exception("application error", extra={"method": method_name})
            await self._end(stream, Status.UNKNOWN, "Internal Server Error", None)
            return
        finally:
            if timer is not None:
                timer.cancel()
        if stream._trailers_sent or stream.cancelled:
            return
        if not stream._cardinality.server_streaming and not stream._message_sent:
            log.error("a unary method ended without its answer", extra={"method": method_name})
            await self._end(stream, Status.UNKNOWN, "Internal Server Error", None)
            return
        await stream.send_trailing_metadata()

    async def _end(self, stream: Stream, status: Status, message: str | None, details: Any) -> None:
        if stream._trailers_sent or stream.cancelled or stream._h2.reset:
            return
        with contextlib.suppress(StreamTerminatedError):  # the client is gone: nobody to tell
            await stream.send_trailing_metadata(status=status, status_message=message, status_details=details)
