"""A lean HTTP/2 client for gRPC calls whose messages the caller (de)serialises itself (unary and
server-streaming): the edge's pass-through calls to the services, the ai service's calls to Triton.

The edge forwards message bytes untouched, so it needs none of a gRPC library's codecs, stream
objects and event dispatch; under py-spy, grpclib and h2 took about 40% of the edge's CPU per call.
The ai service's inference calls cost 0.1-0.3 ms less CPU each than through tritonclient's
grpcio client (docs/ai.md). This client writes the frames itself and keeps only what such a
client needs (RFC 9113):

- one TCP connection, streams multiplexed on it; the preface, SETTINGS and PING answered;
- requests: HEADERS (+ CONTINUATION past the peer's frame size) and DATA in one write when the
  send windows allow, else as WINDOW_UPDATEs come; the peer's MAX_CONCURRENT_STREAMS kept;
- HPACK: a request's fixed fields (`:path`, `:authority`, `content-type`, `te`, `user-agent`)
  are indexed in the peer's dynamic table the first time and referred to by index after (the
  server decodes a few index bytes instead of ~90 bytes of strings; through the bench's echo the
  gain did not stand out of the host's noise, docs/edge.md); everything else, the metadata
  above all, is a literal, `authorization` never indexed by anyone on the way; nothing is
  Huffman-coded. A peer that announces a header table smaller
  than 4,096 bytes gets literals only. Replies are decoded with the `hpack` library, whose table
  follows the peer's;
- flow control: the connection window is acknowledged as data arrives; a stream's window while
  its caller has no complete message waiting (a message larger than the window still arrives;
  replies that pile up unread hold the upstream back);
- GOAWAY: streams past the last one the peer took fail UNAVAILABLE, the others finish, and the
  pool opens a new connection for new calls; a lost connection fails its streams UNAVAILABLE;
- a pool (``Upstream``) of a fixed number of connections taken in turn, and, when every one of
  them holds as many streams as its server allows, extra connections (up to ``max_extra``) for the
  calls past that, each closed once it has been idle ``extra_idle_s`` (Envoy's HTTP/2 pools also
  open a connection when the others are full); past the cap a call waits for room, within its
  deadline;
- deadlines: `grpc-timeout` is sent (unless the deadline is the caller's own: the edge's default,
  as a proxy's route timeout), and at the deadline the stream is reset (CANCEL) and the call ends
  DEADLINE_EXCEEDED; a caller that goes away resets its stream too.

Replies map to statuses as grpclib's client maps them (`:status` other than 200, content type,
trailers-only answers, `grpc-message` percent-decoding, `grpc-status-details-bin` kept raw).
"""

from __future__ import annotations

import asyncio
import base64
import struct
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import cast
from urllib.parse import unquote

from grpclib.const import Status
from hpack import Decoder
from hpack.exceptions import HPACKError

from services.kit.rpc_status import RpcStatus

Metadata = list[tuple[str, str | bytes]]
Event = Metadata | bytes | RpcStatus

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    range(10)
)
END_STREAM = ACK = 0x1
END_HEADERS, PADDED, PRIORITY_FLAG = 0x4, 0x8, 0x20
CANCEL, PROTOCOL_ERROR, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR = 0x8, 0x1, 0x3, 0x6

_HEAD = struct.Struct(">IBI")  # length (24 bits) and type, flags, stream id
_SETTING = struct.Struct(">HI")
_U32 = struct.Struct(">I")
_PREFIX = struct.Struct(">BI")  # a gRPC message: compressed flag, length

#: This side's windows: what the upstream may send before it hears back.
STREAM_WINDOW = 4 << 20
CONNECTION_WINDOW = 16 << 20
#: The largest reply message taken (the edge answers RESOURCE_EXHAUSTED past it).
MAX_MESSAGE = 64 << 20
DEFAULT_WINDOW = 65_535
MAX_STREAM_ID = (1 << 31) - 1

# https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md, as grpclib maps it
_HTTP_TO_GRPC = {
    b"400": Status.INTERNAL,
    b"401": Status.UNAUTHENTICATED,
    b"403": Status.PERMISSION_DENIED,
    b"404": Status.UNIMPLEMENTED,
    b"429": Status.UNAVAILABLE,
    b"502": Status.UNAVAILABLE,
    b"503": Status.UNAVAILABLE,
    b"504": Status.UNAVAILABLE,
}
_NOT_METADATA = (b"te", b"content-type", b"user-agent")


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return _HEAD.pack((len(payload) << 8) | kind, flags, stream_id) + payload


def _integer(value: int, bits: int, first: int) -> bytes:
    """An HPACK integer with a ``bits``-bit prefix in a first byte carrying ``first``."""
    top = (1 << bits) - 1
    if value < top:
        return bytes((first | value,))
    out = bytearray((first | top,))
    value -= top
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


class EncoderTable:
    """This side's view of the peer's HPACK dynamic table (RFC 7541, 2.3 and 4), for the fields
    it asks the peer to index: each is sent once as a literal with incremental indexing and then
    as its index, which moves as newer entries are added; the oldest go when the table is full."""

    SIZE = 4096  # the peer's SETTINGS_HEADER_TABLE_SIZE unless it says less (then: no table)

    __slots__ = ("entries", "inserted", "size", "where")

    def __init__(self) -> None:
        self.entries: deque[tuple[bytes, bytes]] = deque()  # oldest first
        self.where: dict[tuple[bytes, bytes], int] = {}  # field -> its insertion number
        self.inserted = 0
        self.size = 0

    def field(self, name: bytes, value: bytes, name_index: int = 0) -> bytes:
        """The field as an index if the table holds it, else as a literal that adds it."""
        key = (name, value)
        number = self.where.get(key)
        if number is not None:
            return _integer(62 + self.inserted - 1 - number, 7, 0x80)
        size = 32 + len(name) + len(value)
        if size > self.SIZE:
            return literal(name, value, b"\x00")
        while self.size + size > self.SIZE:
            old = self.entries.popleft()
            self.size -= 32 + len(old[0]) + len(old[1])
            del self.where[old]
        self.entries.append(key)
        self.where[key] = self.inserted
        self.inserted += 1
        self.size += size
        head = _integer(name_index, 6, 0x40) if name_index else b"\x40" + _integer(len(name), 7, 0) + name
        return head + _integer(len(value), 7, 0) + value


def literal(name: bytes, value: bytes, first: bytes = b"\x10") -> bytes:
    """A header field with a new name, neither string Huffman-coded: 'never indexed' (the first
    byte 0x10, the default), or 'without indexing' (0x00)."""
    return first + _integer(len(name), 7, 0) + name + _integer(len(value), 7, 0) + value


def grpc_timeout(seconds: float) -> bytes:
    """`grpc-timeout` in grpclib's units (at most 8 digits), as bytes, and never 0: a deadline
    already due is sent as 1n, which the server ends at once (grpclib can send 0 or less)."""
    if seconds > 10:
        return b"%dS" % int(seconds)
    if seconds > 0.01:
        return b"%dm" % int(seconds * 1e3)
    if seconds > 0.00001:
        return b"%du" % int(seconds * 1e6)
    return b"%dn" % max(1, int(seconds * 1e9))


def metadata_of(headers: list[tuple[bytes, bytes]]) -> Metadata:
    """Call metadata from reply headers as grpclib gives it: no pseudo, `grpc-` or HTTP fields;
    `-bin` values base64-decoded."""
    out: Metadata = []
    for name, value in headers:
        if name[:1] == b":" or name[:5] == b"grpc-" or name in _NOT_METADATA:
            continue
        key = name.decode("ascii")
        if key.endswith("-bin"):
            out.append((key, base64.b64decode(value + b"=" * (-len(value) % 4))))
        else:
            out.append((key, value.decode("ascii", "replace")))
    return out


def status_of(headers: list[tuple[bytes, bytes]]) -> RpcStatus:
    """The call's outcome from its trailers (or a trailers-only answer's headers)."""
    found: dict[bytes, bytes] = {}
    for name, value in headers:
        if name[:5] == b"grpc-":
            found[name] = value
    raw = found.get(b"grpc-status")
    trailers = metadata_of(headers)
    if raw is None:
        return RpcStatus(Status.UNKNOWN, "Missing grpc-status header", trailers=trailers)
    try:
        code = Status(int(raw))
    except ValueError:
        return RpcStatus(Status.UNKNOWN, f"Invalid grpc-status: {raw.decode('ascii', 'replace')!r}")
    if code is Status.OK:
        return RpcStatus(code, trailers=trailers)
    message = found.get(b"grpc-message")
    details = found.get(b"grpc-status-details-bin")
    return RpcStatus(
        code,
        unquote(message.decode("ascii", "replace"), errors="replace") if message is not None else "",
        base64.b64decode(details + b"=" * (-len(details) % 4)) if details is not None else None,
        trailers,
    )


class _Stream:
    """One call's side of a stream: what arrived, and whoever waits for it."""

    __slots__ = (
        "buffer",
        "done",
        "events",
        "head",
        "headers_seen",
        "id",
        "queued",
        "send_window",
        "unacked",
        "waiter",
        "window_waiter",
    )

    def __init__(self, stream_id: int, send_window: int) -> None:
        self.id = stream_id
        self.events: deque[Event] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.buffer = b""  # the start of a message whose rest has not arrived
        self.head = b""  # request HEADERS held back to go out with the first DATA (open_stream)
        self.headers_seen = False
        self.done = False  # the last event (a status) is queued
        self.send_window = send_window
        self.window_waiter: asyncio.Future[None] | None = None
        self.unacked = 0  # DATA bytes received and not yet given back as window
        self.queued = 0  # complete messages waiting for the caller

    def push(self, event: Event) -> None:
        self.events.append(event)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def finish(self, status: RpcStatus) -> None:
        if not self.done:
            self.done = True
            self.push(status)
        if self.window_waiter is not None and not self.window_waiter.done():
            self.window_waiter.set_result(None)


class Connection(asyncio.Protocol):
    """One HTTP/2 connection to an upstream gRPC server."""

    def __init__(self, authority: str, user_agent: str = "meetmesh") -> None:
        self.authority = authority.encode()
        self.user_agent = user_agent.encode()
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, _Stream] = {}
        self.next_id = 1
        self.closed = False  # lost, or told to go away: no new streams
        self.decoder = Decoder()
        self.max_streams = 1 << 31
        self.max_frame = 16_384
        self.stream_window = DEFAULT_WINDOW  # the peer's initial window for new streams
        self.send_window = DEFAULT_WINDOW  # the connection's, for DATA to the peer
        self.window_waiters: list[asyncio.Future[None]] = []
        self.slot_waiters: deque[asyncio.Future[None]] = deque()
        self.unacked = 0
        self._buffer = b""
        self._block: tuple[int, int, list[bytes]] | None = None  # stream, flags, header fragments
        self._static: dict[str, bytes] = {}  # literal fixed fields per path (no table)
        self.table: EncoderTable | None = EncoderTable()
        self._indexed: dict[str, tuple[int, bytes]] = {}  # path -> (table.inserted, fixed fields)
        self._size_update = b""  # a table size update the next header block must start with
        self._held: _Stream | None = None  # the last stream whose headers wait for its message
        # Done once the peer's first SETTINGS came (its stream limit is known) or the connection went.
        self.settled: asyncio.Future[None] = self.loop.create_future()
        self.on_idle: Callable[[], None] | None = None  # called when its last stream ends

    @property
    def has_room(self) -> bool:
        """Whether a new stream can go out now (open, and under the peer's stream limit)."""
        return not self.closed and len(self.streams) < self.max_streams

    # -- connection ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        settings = (
            _SETTING.pack(0x2, 0)  # ENABLE_PUSH off
            + _SETTING.pack(0x4, STREAM_WINDOW)  # INITIAL_WINDOW_SIZE
        )
        transport.write(
            PREFACE
            + frame(SETTINGS, 0, 0, settings)
            + frame(WINDOW_UPDATE, 0, 0, _U32.pack(CONNECTION_WINDOW - DEFAULT_WINDOW))
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        if not self.settled.done():
            self.settled.set_result(None)
        self._fail_from(0, Status.UNAVAILABLE, "the connection to the service was lost")  # wakes all

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _abort(self, code: int, why: str) -> None:
        """A connection error (the peer broke the protocol): GOAWAY, then close."""
        if self.transport is not None:
            last = _U32.pack(0)  # this side takes no streams from the peer
            self.transport.write(frame(GOAWAY, 0, 0, last + _U32.pack(code)))
            self.transport.close()
        self.closed = True
        self._fail_from(0, Status.INTERNAL, f"upstream protocol error: {why}")

    def _fail_from(self, last_id: int, code: Status, message: str) -> None:
        for stream_id in [s for s in self.streams if s > last_id]:
            self.streams.pop(stream_id).finish(RpcStatus(code, message))
        self._wake_all()

    def _wake_all(self) -> None:
        for waiter in self.window_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.window_waiters.clear()
        while self.slot_waiters:
            waiter = self.slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    # -- receiving ----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        offset, end = 0, len(buffer)
        while end - offset >= 9:
            head, flags, stream_id = _HEAD.unpack_from(buffer, offset)
            length = head >> 8
            if end - offset - 9 < length:
                break
            start = offset + 9
            offset = start + length
            try:
                self._frame(head & 0xFF, flags, stream_id & MAX_STREAM_ID, buffer[start:offset])
            except _ProtocolError as error:
                self._buffer = b""
                self._abort(error.code, str(error))
                return
        self._buffer = buffer[offset:] if offset < end else b""

    def _frame(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        if self._block is not None and kind != CONTINUATION:
            raise _ProtocolError(PROTOCOL_ERROR, "a header block was interrupted")
        size = _SIZES.get(kind)
        if size is not None and not size[0] <= len(payload) <= size[1]:
            raise _ProtocolError(FRAME_SIZE_ERROR, f"a frame of type {kind} and {len(payload)} bytes")
        if kind == DATA:
            self._data(flags, stream_id, payload)
        elif kind == HEADERS:
            payload = unpad(flags, payload)
            if flags & PRIORITY_FLAG:
                if len(payload) < 5:
                    raise _ProtocolError(FRAME_SIZE_ERROR, "a HEADERS frame too short for its priority")
                payload = payload[5:]
            if flags & END_HEADERS:
                self._headers(stream_id, flags, payload)
            else:
                self._block = (stream_id, flags, [payload])
        elif kind == CONTINUATION:
            if self._block is None or self._block[0] != stream_id:
                raise _ProtocolError(PROTOCOL_ERROR, "an unexpected CONTINUATION")
            self._block[2].append(payload)
            if flags & END_HEADERS:
                block_id, block_flags, parts = self._block
                self._block = None
                self._headers(block_id, block_flags, b"".join(parts))
        elif kind == SETTINGS:
            if not flags & ACK:
                self._settings(payload)
        elif kind == WINDOW_UPDATE:
            self._window_update(stream_id, _U32.unpack(payload)[0] & MAX_STREAM_ID)
        elif kind == PING:
            if not flags & ACK and self.transport is not None:
                self.transport.write(frame(PING, ACK, 0, payload))
        elif kind == RST_STREAM:
            stream = self.streams.pop(stream_id, None)
            if stream is not None:
                stream.finish(RpcStatus(Status.UNAVAILABLE, "the service reset the call"))
                self._slot_freed()
        elif kind == GOAWAY:
            last_id = _U32.unpack_from(payload)[0] & MAX_STREAM_ID
            self.closed = True
            self._fail_from(last_id, Status.UNAVAILABLE, "the service is going away")
            if not self.streams and self.transport is not None:
                self.transport.close()
        elif kind == PUSH_PROMISE:
            raise _ProtocolError(PROTOCOL_ERROR, "a push promise, though push is off")
        # PRIORITY and unknown frame types are ignored (RFC 9113, 5.5)

    def _settings(self, payload: bytes) -> None:
        if len(payload) % 6:
            raise _ProtocolError(FRAME_SIZE_ERROR, "a SETTINGS frame of the wrong size")
        for at in range(0, len(payload), 6):
            key, value = _SETTING.unpack_from(payload, at)
            if key == 0x1 and value < EncoderTable.SIZE and self.table is not None:
                # a smaller table than this side indexes for: literals from now on, and the
                # next header block empties the peer's table first (a size update to 0)
                self.table = None
                self._indexed.clear()
                self._size_update = b"\x20"
            elif key == 0x3:
                self.max_streams = value
            elif key == 0x4:
                if value > MAX_STREAM_ID:
                    raise _ProtocolError(FLOW_CONTROL_ERROR, "an initial window over 2^31-1")
                delta, self.stream_window = value - self.stream_window, value
                for stream in self.streams.values():
                    stream.send_window += delta
                    if stream.window_waiter is not None and not stream.window_waiter.done():
                        stream.window_waiter.set_result(None)
            elif key == 0x5:
                self.max_frame = value
        if self.transport is not None:
            self.transport.write(frame(SETTINGS, ACK, 0))
        if not self.settled.done():
            self.settled.set_result(None)
        self._wake_all()

    def _window_update(self, stream_id: int, increment: int) -> None:
        if stream_id == 0:
            self.send_window += increment
            waiters, self.window_waiters = self.window_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            return
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream.send_window += increment
            if stream.window_waiter is not None and not stream.window_waiter.done():
                stream.window_waiter.set_result(None)

    def _data(self, flags: int, stream_id: int, payload: bytes) -> None:
        size = len(payload)
        self.unacked += size
        if self.unacked >= CONNECTION_WINDOW // 2 and self.transport is not None:
            self.transport.write(frame(WINDOW_UPDATE, 0, 0, _U32.pack(self.unacked)))
            self.unacked = 0
        payload = unpad(flags, payload)
        stream = self.streams.get(stream_id)
        if stream is None or stream.done:
            return  # a stream this side already gave up (reset, deadline): its window is moot
        if not stream.headers_seen:
            self._end(stream, RpcStatus(Status.INTERNAL, "upstream protocol error: data before headers"))
            return
        stream.unacked += size
        data = stream.buffer + payload if stream.buffer else payload
        offset, end = 0, len(data)
        while end - offset >= 5:
            compressed, length = _PREFIX.unpack_from(data, offset)
            if length > MAX_MESSAGE:
                self._end(stream, RpcStatus(Status.RESOURCE_EXHAUSTED, "the reply is too large"))
                return
            if end - offset - 5 < length:
                break
            if compressed:
                self._end(stream, RpcStatus(Status.INTERNAL, "a compressed reply, though none was asked"))
                return
            stream.push(data[offset + 5 : offset + 5 + length])
            stream.queued += 1
            offset += 5 + length
        stream.buffer = data[offset:] if offset < end else b""
        if flags & END_STREAM:
            self._end(stream, RpcStatus(Status.INTERNAL, "upstream protocol error: no trailers"), reset=False)
        else:
            self._give_window(stream)

    def _give_window(self, stream: _Stream) -> None:
        """Acknowledges the stream's data while its caller has nothing waiting."""
        if stream.queued == 0 and stream.unacked >= STREAM_WINDOW // 4 and not stream.done:
            if self.transport is not None:
                self.transport.write(frame(WINDOW_UPDATE, 0, stream.id, _U32.pack(stream.unacked)))
            stream.unacked = 0

    def _headers(self, stream_id: int, flags: int, block: bytes) -> None:
        try:  # decoded even for a stream given up: the table must follow the peer's
            headers: list[tuple[bytes, bytes]] = self.decoder.decode(block, raw=True)  # type: ignore[assignment]
        except HPACKError as error:
            raise _ProtocolError(0x9, f"undecodable headers ({error})") from None  # COMPRESSION_ERROR
        stream = self.streams.get(stream_id)
        if stream is None or stream.done:
            return
        ends = bool(flags & END_STREAM)
        if stream.headers_seen:  # trailers
            if not ends:
                self._end(stream, RpcStatus(Status.INTERNAL, "upstream protocol error: trailers go on"))
                return
            if stream.buffer:
                self._end(stream, RpcStatus(Status.INTERNAL, "upstream protocol error: a cut message"), False)
                return
            self._end(stream, status_of(headers), reset=False)
            return
        stream.headers_seen = True
        http_status, content_type = b"", None
        for name, value in headers:
            if name == b":status":
                http_status = value
            elif name == b"content-type":
                content_type = value
        if ends and http_status == b"200" and any(name == b"grpc-status" for name, _ in headers):
            stream.push([])  # trailers-only (some servers send it without a content type)
            self._end(stream, status_of(headers), reset=False)
            return
        if http_status != b"200":
            text = http_status.decode("ascii", "replace")
            code = _HTTP_TO_GRPC.get(http_status, Status.UNKNOWN)
            self._end(stream, RpcStatus(code, f"Received :status = {text!r}"), reset=not ends)
            return
        if content_type is None or not (
            content_type == b"application/grpc" or content_type == b"application/grpc+proto"
        ):
            message = "Missing content-type header" if content_type is None else "Invalid content-type"
            self._end(stream, RpcStatus(Status.UNKNOWN, message), reset=not ends)
            return
        if ends:  # trailers-only, without a grpc-status
            stream.push([])
            self._end(stream, status_of(headers), reset=False)
        else:
            stream.push(metadata_of(headers))

    def _end(self, stream: _Stream, status: RpcStatus, reset: bool = True) -> None:
        """The stream's last event; a stream still open at the peer (``reset``) is reset."""
        stream.finish(status)
        if self.streams.pop(stream.id, None) is not None:
            if reset and self.transport is not None:
                self.transport.write(frame(RST_STREAM, 0, stream.id, _U32.pack(CANCEL)))
            self._slot_freed()

    def _slot_freed(self) -> None:
        while self.slot_waiters:
            waiter = self.slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break
        if self.closed and not self.streams and self.transport is not None:
            self.transport.close()
        elif not self.streams and self.on_idle is not None:
            self.on_idle()

    # -- sending ------------------------------------------------------------------------------

    def _fixed_fields(self, path: str) -> bytes:
        """:method, :scheme, :path, :authority, content-type, te and user-agent: indexed in the
        peer's table (``EncoderTable``) when it has one; the bytes are kept per path while the
        table does not change (an index moves only when an entry is added)."""
        table = self.table
        if table is None:
            cached = self._static.get(path)
            if cached is not None:
                return cached
        else:
            kept = self._indexed.get(path)
            if kept is not None and kept[0] == table.inserted:
                return kept[1]
        # (name, value, the name's index in HPACK's static table; 0: none)
        fields = (
            (b":path", path.encode(), 4),
            (b":authority", self.authority, 1),
            (b"content-type", b"application/grpc+proto", 31),
            (b"te", b"trailers", 0),
            (b"user-agent", self.user_agent, 58),
        )
        if table is None:  # :method POST, :scheme http (static table), then literals
            block = self._static[path] = b"\x83\x86" + b"".join(literal(n, v) for n, v, _ in fields)
            return block
        before = table.inserted
        block = b"\x83\x86" + b"".join(table.field(n, v, i) for n, v, i in fields)
        if table.inserted == before:  # all indexes: right until the table changes
            self._indexed[path] = (before, block)
        return block

    def _request_headers(self, path: str, metadata: Metadata, deadline_s: float | None) -> bytes:
        parts = (
            [self._size_update, self._fixed_fields(path)] if self._size_update else [self._fixed_fields(path)]
        )
        self._size_update = b""
        if deadline_s is not None:
            parts.append(literal(b"grpc-timeout", grpc_timeout(deadline_s)))
        for key, value in metadata:
            if isinstance(value, bytes):
                parts.append(literal(key.encode("ascii"), base64.b64encode(value).rstrip(b"=")))
            else:
                parts.append(literal(key.encode("ascii"), value.encode("ascii")))
        return b"".join(parts)

    async def open_stream(
        self, path: str, metadata: Metadata, deadline_s: float | None, *, hold: bool = False
    ) -> _Stream | None:
        """Sends the request's headers; None if this connection can take no new stream. With
        ``hold`` the headers wait for the first message and go out in the same write (one send, one
        TLS record, one wake-up of the server for a unary call): the caller must then call
        ``send_message`` next, before it awaits anything else."""
        while len(self.streams) >= self.max_streams and not self.closed:
            waiter = self.loop.create_future()
            self.slot_waiters.append(waiter)
            await waiter
        if self.closed or self.transport is None or self.next_id > MAX_STREAM_ID:
            self.closed = True
            return None
        held = self._held
        if held is not None and held.head:
            # header blocks reach the peer in the order they were made: HPACK indexes depend on
            # the table as every earlier block left it
            self.transport.write(held.head)
            held.head = b""
        stream_id = self.next_id
        self.next_id += 2
        stream = self.streams[stream_id] = _Stream(stream_id, self.stream_window)
        block = self._request_headers(path, metadata, deadline_s)
        limit = self.max_frame
        if len(block) <= limit:
            head = frame(HEADERS, END_HEADERS, stream_id, block)
        else:
            chunks = [block[i : i + limit] for i in range(0, len(block), limit)]
            out = [frame(HEADERS, 0, stream_id, chunks[0])]
            out += [frame(CONTINUATION, 0, stream_id, c) for c in chunks[1:-1]]
            out.append(frame(CONTINUATION, END_HEADERS, stream_id, chunks[-1]))
            head = b"".join(out)
        if hold:
            stream.head = head
            self._held = stream
        else:
            self.transport.write(head)
        return stream

    async def send_message(self, stream: _Stream, payload: bytes, *, end: bool = True) -> None:
        """A request message, ending the stream (the one message of a unary call) unless ``end`` is
        False (one of a client stream's many); waits for window as needed. Callers sending several
        messages on one stream send them one at a time: a message waiting for window is written in
        parts."""
        data = _PREFIX.pack(0, len(payload)) + payload
        offset, length = 0, len(data)
        while not stream.done and self.transport is not None:
            room = min(self.send_window, stream.send_window, length - offset)
            if room <= 0 and stream.head:  # the held headers go now, before waiting for window
                self.transport.write(stream.head)
                stream.head = b""
            if room > 0:
                out = [stream.head] if stream.head else []
                stream.head = b""
                while room > 0:
                    size = min(room, self.max_frame)
                    last = end and offset + size == length
                    out.append(
                        frame(DATA, END_STREAM if last else 0, stream.id, data[offset : offset + size])
                    )
                    offset += size
                    room -= size
                    self.send_window -= size
                    stream.send_window -= size
                self.transport.write(b"".join(out))
                if offset == length:
                    return
            waiter = self.loop.create_future()
            if self.send_window <= 0:
                self.window_waiters.append(waiter)
            else:
                stream.window_waiter = waiter
            await waiter
            stream.window_waiter = None

    async def events(self, stream: _Stream) -> AsyncIterator[Event]:
        """The stream's events: initial metadata, messages, then the status (always last)."""
        events = stream.events
        while True:
            while events:
                event = events.popleft()
                if isinstance(event, bytes):
                    stream.queued -= 1
                    self._give_window(stream)
                yield event
                if isinstance(event, RpcStatus):
                    return
            waiter = stream.waiter = self.loop.create_future()
            await waiter
            stream.waiter = None

    def half_close(self, stream: _Stream) -> None:
        """Ends the sending side of a client stream (an empty DATA frame with END_STREAM): the peer
        answers what it has and then ends the call."""
        if not stream.done and self.transport is not None:
            self.transport.write(frame(DATA, END_STREAM, stream.id))

    def cancel(self, stream: _Stream, status: RpcStatus) -> None:
        """The caller gives up (a deadline, or it went away): reset the stream."""
        if not stream.done:
            self._end(stream, status)


class _ProtocolError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


#: The payload sizes RFC 9113 allows a frame type (section 6): anything else is FRAME_SIZE_ERROR.
_SIZES = {RST_STREAM: (4, 4), PING: (8, 8), WINDOW_UPDATE: (4, 4), GOAWAY: (8, 1 << 24), PRIORITY: (5, 5)}


def unpad(flags: int, payload: bytes) -> bytes:
    """A DATA or HEADERS frame's payload without its padding (RFC 9113, 6.1): padding as long as
    the frame or longer is a PROTOCOL_ERROR."""
    if not flags & PADDED:
        return payload
    if not payload or payload[0] >= len(payload):
        raise _ProtocolError(PROTOCOL_ERROR, "padding longer than the frame")
    return payload[1 : len(payload) - payload[0]]


def _consumed(future: asyncio.Future[Connection]) -> None:
    if not future.cancelled():
        future.exception()


class Upstream:
    """Connections to one upstream service (``host:port``): ``pool_size`` taken in turn, each
    opened on first use and replaced once lost or told to go away; and, while all of those are
    full (as many streams as the server allows), up to ``max_extra`` more, each closed once it
    has had no stream for about ``extra_idle_s``."""

    def __init__(
        self,
        host: str,
        port: int,
        pool_size: int,
        user_agent: str = "meetmesh",
        *,
        max_extra: int = 64,
        extra_idle_s: float = 30.0,
    ) -> None:
        self.host, self.port = host, port
        self.user_agent = user_agent
        self.max_extra = max_extra
        self.extra_idle_s = extra_idle_s
        self._slots: list[Connection | None] = [None] * max(1, pool_size)
        self._opening: list[asyncio.Future[Connection] | None] = [None] * len(self._slots)
        self._turn = 0
        self.extra: list[Connection] = []
        self._extra_opening: asyncio.Future[Connection] | None = None
        self._idle_timers: dict[Connection, asyncio.TimerHandle] = {}

    def ready(self) -> Connection | None:
        """The next connection in turn if it is open (the common case, without awaiting)."""
        self._turn = turn = (self._turn + 1) % len(self._slots)
        current = self._slots[turn]
        return current if current is not None and not current.closed else None

    async def connection(self) -> Connection:
        """The connection in the current turn, opened (or reopened) now."""
        turn = self._turn
        current = self._slots[turn]
        if current is not None and not current.closed:
            return current
        opening = self._opening[turn]
        if opening is None:
            opening = self._opening[turn] = asyncio.ensure_future(self._open(turn))
            opening.add_done_callback(_consumed)  # a refusal nobody waited for is not "unretrieved"
        return await asyncio.shield(opening)

    async def roomy(self) -> Connection:
        """A connection that can take a stream now: one of the pool's, else an extra one (opened
        now, once its server's limits are known), else, with ``max_extra`` open, the current
        turn's (the stream then waits there for room)."""
        for _ in range(self.max_extra + 1):
            for connection in (*self._slots, *self.extra):
                if connection is not None and connection.has_room:
                    return connection
            self.extra = [c for c in self.extra if not c.closed]
            if len(self.extra) >= self.max_extra:
                break
            opening = self._extra_opening
            if opening is None:  # callers arriving meanwhile share the one being opened
                opening = self._extra_opening = asyncio.ensure_future(self._open_extra())
                opening.add_done_callback(_consumed)
            await asyncio.shield(opening)  # then look again: those ahead may have filled it
        return await self.connection()

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            lambda: Connection(f"{self.host}:{self.port}", self.user_agent), self.host, self.port
        )
        return connection

    async def _open(self, turn: int) -> Connection:
        try:
            connection = await self._connect()
            self._slots[turn] = connection
            return connection
        finally:
            self._opening[turn] = None

    async def _open_extra(self) -> Connection:
        try:
            connection = await self._connect()
            try:  # its stream limit, before calls crowd onto it (a new connection allows any number)
                async with asyncio.timeout(10.0):
                    await asyncio.shield(connection.settled)
            except TimeoutError:
                connection.close()
                raise ConnectionError("the service did not answer a new connection's SETTINGS") from None
            connection.on_idle = lambda: self._idle(connection)
            self.extra.append(connection)
            return connection
        finally:
            self._extra_opening = None

    def _idle(self, connection: Connection) -> None:
        """An extra connection's last stream ended: close it if it has none ``extra_idle_s`` on."""
        if connection not in self._idle_timers:
            loop = asyncio.get_running_loop()
            self._idle_timers[connection] = loop.call_later(self.extra_idle_s, self._retire, connection)

    def _retire(self, connection: Connection) -> None:
        self._idle_timers.pop(connection, None)
        if connection.streams:
            return  # busy again: the next time it goes idle starts the wait again
        if connection in self.extra:
            self.extra.remove(connection)
        connection.close()

    def close(self) -> None:
        for connection in (*self._slots, *self.extra):
            if connection is not None:
                connection.close()
        for timer in self._idle_timers.values():
            timer.cancel()
        self._idle_timers.clear()
        self._slots = [None] * len(self._slots)
        self.extra = []


async def call(
    upstream: Upstream,
    path: str,
    payload: bytes,
    metadata: Metadata,
    deadline_s: float | None,
    *,
    what: str,
    announce: bool = True,
) -> AsyncIterator[Event]:
    """One call of ``path`` with the request message ``payload``: yields the initial metadata (a
    list), each reply message (bytes), and last, always, the status. Opening a connection or
    waiting for room on one counts against the deadline; past it the stream is reset and the
    status is DEADLINE_EXCEEDED. The deadline goes upstream as ``grpc-timeout`` unless
    ``announce`` is False: then it is this side's alone, as a proxy's route timeout is (the
    server sees the reset, not the deadline). A refused or lost connection is UNAVAILABLE
    ("``what`` is unavailable"); a caller that stops listening resets its stream."""
    loop = asyncio.get_running_loop()
    deadline = None if deadline_s is None else loop.time() + deadline_s
    sent_s = deadline_s if announce else None
    connection = upstream.ready()
    if connection is not None and connection.has_room:
        stream = await connection.open_stream(path, metadata, sent_s, hold=True)  # does not wait
    else:
        stream = None
    if stream is None:  # opening a connection, or waiting for room on one: bounded by the deadline
        try:
            async with asyncio.timeout_at(deadline):
                stream, connection = await _open(upstream, path, metadata, sent_s)
        except TimeoutError:
            yield RpcStatus(Status.DEADLINE_EXCEEDED, "deadline exceeded")
            return
        except OSError:
            yield RpcStatus(Status.UNAVAILABLE, f"{what} is unavailable")
            return
    if stream is None or connection is None:
        yield RpcStatus(Status.UNAVAILABLE, f"{what} is unavailable")
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
    upstream: Upstream, path: str, metadata: Metadata, deadline_s: float | None
) -> tuple[_Stream | None, Connection]:
    """A new stream with the request's headers held for its first message (``call`` sends it
    next), on the first connection that takes one: the current turn's, or where that one is full,
    another with room (``Upstream.roomy``). One that was told to go away takes none: it is
    replaced."""
    connection = await upstream.connection()
    for _ in range(3):
        if not connection.has_room:
            connection = await upstream.roomy()
        stream = await connection.open_stream(path, metadata, deadline_s, hold=True)
        if stream is not None:
            return stream, connection
        connection = await upstream.connection()
    return None, connection
