"""Durable events: a transactional outbox, a relay to Redis Streams, and stream consumers.

::

    service transaction ──► <schema>.outbox row ──► OutboxRelay ──XADD──► Redis stream
      (the change and its event commit together)      (deletes the rows)     │
                                                                             ▼
                        effect + processed key in one transaction ◄── StreamConsumer
                        (a redelivered key is skipped)                 (XREADGROUP, XACK after
                                                                        the effect, XAUTOCLAIM
                                                                        of a dead consumer's entries)

* A producing service writes each event (a proto whose ``(meetmesh.options.v1.stream)`` option
  names its stream) with :meth:`Outbox.append` on the connection or session of the transaction
  that makes the change: both commit or neither does.
* :class:`OutboxRelay` (a task in the producing service) takes unsent rows in id order, appends
  them to their stream with the row's idempotency key, then deletes them (the stream holds the
  event from then on). On PostgreSQL rows are taken with ``FOR UPDATE SKIP LOCKED``, so several
  instances relay side by side without taking the same row. A relay that dies after XADD and
  before its commit sends those rows again: delivery to the stream is at least once.
* :class:`StreamConsumer` reads through a consumer group and acknowledges an entry only after its
  handler returned; entries a dead consumer left pending are claimed after ``claim_idle_s``.
  An entry whose handler fails stays pending and is tried again when claimed; one that has failed
  ``max_deliveries`` times (Redis counts deliveries per entry, across restarts) while the consumer
  is otherwise healthy (its ``probe`` passes) is a poison message: it moves, with its error, to
  the dead-letter stream ``<stream>:dead:<group>`` and is acknowledged. A failing entry never holds
  up the entries after it.
  Handlers make their effect exactly once by recording the entry's key under a unique constraint
  in the same transaction as the effect (see the notification service's ``processed_events``).

Pub/sub stays for lossy fan-out (signaling, caches): see ``events.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis
from google.protobuf import symbol_database
from google.protobuf.message import Message
from redis.exceptions import ResponseError
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
)

from meetmesh.options.v1 import options_pb2

from . import tracing
from .db import Database
from .timestamps import utcnow

log = logging.getLogger("meetmesh.kit.outbox")


def outbox_table(metadata: MetaData, name: str) -> Table:
    """The outbox table ``name`` (``<service>_outbox``: SQLite has one namespace for every
    service) in a service's schema; its migration creates it with :func:`create_outbox`."""
    return Table(
        name,
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("key", String(32), nullable=False, unique=True),
        Column("event_type", String(200), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("create_time", DateTime(timezone=True), nullable=False),
        Column("sent_time", DateTime(timezone=True), nullable=True),
        Index(f"ix_{name}_unsent", "sent_time", "id"),
    )


def create_outbox(op: Any, schema: str | None, name: str) -> None:
    """In a service's migration: create the outbox table ``outbox_table`` describes."""
    import sqlalchemy as sa

    op.create_table(
        name,
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("key", sa.String(32), nullable=False, unique=True),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_time", sa.DateTime(timezone=True), nullable=True),
        schema=schema,
    )
    op.create_index(f"ix_{name}_unsent", name, ["sent_time", "id"], schema=schema)


def stream_template(event_type: str) -> str:
    """The ``stream`` option of the event message named ``event_type``."""
    descriptor = symbol_database.Default().pool.FindMessageTypeByName(event_type)
    options = descriptor.GetOptions()
    if not options.HasExtension(options_pb2.stream):
        raise ValueError(f"{event_type} declares no stream")
    return str(options.Extensions[options_pb2.stream])


def stream_of(event_type: type[Message] | str, prefix: str) -> str:
    """The Redis stream events of ``event_type`` are relayed to."""
    name = event_type if isinstance(event_type, str) else event_type.DESCRIPTOR.full_name
    return stream_template(name).replace("{prefix}", prefix)


class Outbox:
    """A service's outbox table; ``append`` inside the transaction that makes the change."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._wake: asyncio.Event | None = None

    async def append(self, conn: Any, event: Message, key: str | None = None) -> str:
        """Write ``event`` on ``conn`` (an AsyncConnection or AsyncSession in a transaction);
        returns its idempotency key: ``key`` (32 characters at most) when the event has a natural
        one (what it is about, so that consumers deduplicate it even if it were written twice),
        else a new UUID."""
        stream_template(event.DESCRIPTOR.full_name)  # refuse a type that names no stream
        key = key or uuid.uuid4().hex
        await conn.execute(
            insert(self.table).values(
                key=key,
                event_type=event.DESCRIPTOR.full_name,
                payload=event.SerializeToString(),
                create_time=utcnow(),
            )
        )
        self.kick()
        return key

    def kick(self) -> None:
        """Wake the relay. Called inside the writer's transaction, so usually before the commit: the
        relay then looks again a few times within a second (``_CHASE_S``) until the rows show."""
        if self._wake is not None:
            self._wake.set()


# After a kick, the relay looks again after these delays until the kicked rows are committed.
_CHASE_S = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
# Under load a kick always comes during a round, so the next round would follow at once with the
# few rows of that round's time (2026-12-04: 200 rounds/s of about 8 rows with two workers at
# 1,600 joins/s). A kicked round therefore starts no sooner than this after the round before
# began: each round carries the events of ~20 ms (its cost, four round trips, is about the same for
# 1 row or 200), for at most that much more delay on an event. A full batch goes on at once.
_GATHER_S = 0.02


class OutboxRelay:
    """Moves committed outbox rows to their Redis streams; one task per producing service."""

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        redis: aioredis.Redis,
        prefix: str,
        *,
        batch: int = 200,
        poll_s: float = 2.0,
        max_stream_length: int = 1_000_000,
        keep_sent: timedelta = timedelta(days=1),
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.redis = redis
        self.prefix = prefix
        self.batch = batch
        self.poll_s = poll_s
        self.max_stream_length = max_stream_length
        self.keep_sent = keep_sent
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._take_sql: str | None = None

    def start(self) -> None:
        self._stopping = False
        self.outbox._wake = self._wake
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.db.service}")

    async def stop(self) -> None:
        self._stopping = True  # the loop also ends by itself should a cancellation be swallowed
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            # Python 3.11's wait_for can swallow a cancellation that meets a finishing wait: give
            # the task a bounded time to end instead of awaiting it unconditionally.
            done, _ = await asyncio.wait({self._task}, timeout=5.0)
            if not done:
                log.warning("outbox relay did not stop in time", extra={"service": self.db.service})
            self._task = None
        self.outbox._wake = None

    async def relay_once(self) -> int:
        """Relay one batch; returns how many rows were sent."""
        if not self.db.sqlite and self.db.schema is not None:
            return await self._relay_pg(self.db.schema)
        t = self.outbox.table
        query = select(t.c.id, t.c.key, t.c.event_type, t.c.payload).where(t.c.sent_time.is_(None))
        query = query.order_by(t.c.id).limit(self.batch)
        if not self.db.sqlite:
            query = query.with_for_update(skip_locked=True)
        async with self.db.engine.begin() as conn:
            rows = (await conn.execute(query)).all()
            if not rows:
                return 0
            await self._xadd((row.key, row.event_type, row.payload) for row in rows)
            await conn.execute(delete(t).where(t.c.id.in_([r.id for r in rows])))
        return len(rows)

    async def _relay_pg(self, schema: str) -> int:
        """PostgreSQL: the rows are taken and deleted by one statement, in a transaction that
        commits only after their XADD (three round trips a batch, on the asyncpg pool). Deleting
        a row costs PostgreSQL less than marking it sent: an UPDATE of the indexed ``sent_time``
        writes a new row version and an entry in each of the table's three indexes, and the
        sent rows stayed until pruned, filling the unsent index with entries every take skipped.
        Nothing reads a sent row: the stream holds the event."""
        if self._take_sql is None:
            table = f'"{schema}"."{self.outbox.table.name}"'
            self._take_sql = (
                f"DELETE FROM {table} AS o USING (SELECT id FROM {table} WHERE sent_time IS NULL "  # noqa: S608
                "ORDER BY id LIMIT $1::integer FOR UPDATE SKIP LOCKED) AS picked WHERE o.id = picked.id "
                "RETURNING o.id, o.key, o.event_type, o.payload"
            )
        pool = await self.db.pg()
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(self._take_sql, self.batch)
            if not rows:
                return 0
            rows.sort(key=lambda row: row["id"])  # DELETE ... RETURNING keeps no order
            await self._xadd((row["key"], row["event_type"], row["payload"]) for row in rows)
        return len(rows)

    async def _xadd(self, events: Iterable[tuple[str, str, bytes]]) -> None:
        """Append (key, event type, payload) rows to their streams, in order, in one pipeline."""
        pipe = self.redis.pipeline(transaction=False)
        for key, event_type, payload in events:
            pipe.xadd(
                stream_of(event_type, self.prefix),
                {"key": key, "type": event_type, "data": payload},
                maxlen=self.max_stream_length,
                approximate=True,
            )
        await pipe.execute()

    async def prune(self) -> None:
        """Forget rows marked sent longer ago than ``keep_sent``: earlier versions of the relay kept
        sent rows (``sent_time`` set) instead of deleting them."""
        t = self.outbox.table
        async with self.db.engine.begin() as conn:
            await conn.execute(delete(t).where(t.c.sent_time < utcnow() - self.keep_sent))

    async def _run(self) -> None:
        tracing.quiet()  # polling is not a trace: no root spans from its SQL and Redis calls
        loop = asyncio.get_running_loop()
        next_prune = loop.time() + 60
        chase = len(_CHASE_S)  # not chasing a kick
        while not self._stopping:
            self._wake.clear()  # a kick from here on (during this round, too) wakes the next one
            began = loop.time()
            try:
                sent = await self.relay_once()
                if loop.time() >= next_prune:
                    next_prune = loop.time() + 3600
                    await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store or Redis is away: try again shortly
                log.warning("outbox relay failed", extra={"service": self.db.service, "error": repr(exc)})
                sent = 0
                await asyncio.sleep(1.0)
            if sent >= self.batch:
                continue
            if sent:
                chase = len(_CHASE_S)
            # A kick comes from inside the writer's transaction, usually before its commit: after
            # one, look again soon and a few times more until its rows show; otherwise poll slowly
            # (rows of other processes, or of one that died before relaying).
            delay = _CHASE_S[chase] if chase < len(_CHASE_S) else self.poll_s
            chase += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
                chase = 0
                gather = began + _GATHER_S - loop.time()
                if gather > 0:
                    await asyncio.sleep(gather)


@dataclass(frozen=True)
class StreamEntry:
    """One event read from a stream."""

    stream: str
    entry_id: str
    key: str
    event_type: str
    data: bytes


Handler = Callable[[StreamEntry], Awaitable[None]]


def consumer_name() -> str:
    """A name unique to this process (a restarted process is a new consumer)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class StreamConsumer:
    """Reads ``streams`` through consumer group ``group``; acknowledges an entry after ``handle``
    returned, and claims entries other consumers left pending for ``claim_idle_s``."""

    def __init__(
        self,
        redis: aioredis.Redis,
        streams: Sequence[str],
        group: str,
        handle: Handler,
        *,
        name: str | None = None,
        count: int = 100,
        block_ms: int = 500,
        claim_idle_s: float = 30.0,
        poll_s: float = 0.05,
        max_deliveries: int = 5,
        probe: Callable[[], Awaitable[object]] | None = None,
        max_dead_letters: int = 100_000,
        concurrency: int = 1,
        partition: Callable[[StreamEntry], str] | None = None,
        from_start: bool = True,
    ) -> None:
        self.redis = redis
        self.streams = list(streams)
        self.group = group
        self.handle = handle
        # Where a group this consumer creates begins: at the stream's start (events written before
        # the first consumer count too), or at its end (a consumer added to a running deployment
        # that must not act on the past, e.g. mail the host of every meeting that ever ended).
        # Only the group's creation depends on it; from then on nothing is missed either way.
        self.from_start = from_start
        self.name = name or consumer_name()
        self.count = count
        # 0: poll every ``poll_s`` instead of a blocking read (for the in-process Redis, where a
        # blocking read can hold up the other services of the process).
        self.block_ms = block_ms
        self.poll_s = poll_s
        self.claim_idle_s = claim_idle_s
        # A failing entry is dead-lettered on its ``max_deliveries``-th failed delivery, unless
        # ``probe`` (the handler's own dependencies: its database) fails too: an outage is not
        # the entry's fault, and its entries wait for the store to come back.
        self.max_deliveries = max_deliveries
        self.probe = probe
        self.max_dead_letters = max_dead_letters
        # Entries of one read are handled ``concurrency`` partitions at a time, in stream order
        # within a partition (``partition(entry)``, e.g. the meeting or the user an event is
        # about); without ``partition`` (or with ``concurrency`` 1) one at a time, in order.
        self.concurrency = max(concurrency, 1)
        self.partition = partition
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def dead_letter_stream(self, stream: str) -> str:
        """Where this group's poison entries of ``stream`` go."""
        return dead_letter_stream(stream, self.group)

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"stream-consumer-{self.group}")

    async def stop(self) -> None:
        self._stopping = True  # the loop also ends by itself should a cancellation be swallowed
        if self._task is not None:
            self._task.cancel()
            # As for the relay: a cancellation can be swallowed by a client call it meets (seen
            # with the in-process Redis), so wait a bounded time instead of unconditionally.
            done, _ = await asyncio.wait({self._task}, timeout=5.0)
            if not done:
                log.warning("stream consumer did not stop in time", extra={"group": self.group})
            self._task = None

    async def ensure_groups(self) -> None:
        for stream in self.streams:
            try:
                start = "0" if self.from_start else "$"
                await self.redis.xgroup_create(stream, self.group, id=start, mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def claim_once(self) -> int:
        """Take over and handle entries idle (unacknowledged) for longer than ``claim_idle_s``."""
        handled = 0
        for stream in self.streams:
            start = "0-0"
            while True:
                reply = await self.redis.xautoclaim(
                    stream,
                    self.group,
                    self.name,
                    min_idle_time=int(self.claim_idle_s * 1000),
                    start_id=start,
                    count=self.count,
                )
                start, entries = _text(reply[0]), reply[1]
                handled += await self._handle_all(stream, entries, await self._deliveries(stream, entries))
                if start == "0-0" or not entries:
                    break
        return handled

    async def read_once(self) -> int:
        reply: Any = await self.redis.xreadgroup(
            self.group,
            self.name,
            dict.fromkeys(self.streams, ">"),
            count=self.count,
            block=self.block_ms or None,
        )
        if not reply and not self.block_ms:
            await asyncio.sleep(self.poll_s)  # polling (the in-process Redis): nothing yet
        handled = 0
        for stream, entries in reply or []:
            handled += await self._handle_all(_text(stream), entries)
        return handled

    async def _deliveries(self, stream: str, entries: Sequence[Any]) -> dict[str, int]:
        """How often each of ``entries`` (just claimed) has been delivered, this time included."""
        ids = [_text(entry_id) for entry_id, fields in entries if fields is not None]
        if not ids:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for entry_id in ids:
            pipe.xpending_range(stream, self.group, min=entry_id, max=entry_id, count=1)
        counts: dict[str, int] = {}
        for reply in await pipe.execute():
            for pending in reply:
                counts[_text(pending["message_id"])] = int(pending["times_delivered"])
        return counts

    async def _healthy(self) -> bool:
        if self.probe is None:
            return True
        try:
            await self.probe()
        except Exception:
            return False
        return True

    async def _dead_letter(self, entry: StreamEntry, deliveries: int, error: BaseException) -> None:
        """Move ``entry`` to the dead-letter stream and acknowledge it, atomically."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(
            self.dead_letter_stream(entry.stream),
            {
                "key": entry.key,
                "type": entry.event_type,
                "data": entry.data,
                "stream": entry.stream,
                "entry": entry.entry_id,
                "group": self.group,
                "deliveries": str(deliveries),
                # The exception's type only: its message may quote personal data.
                "error": type(error).__name__,
            },
            maxlen=self.max_dead_letters,
            approximate=True,
        )
        pipe.xack(entry.stream, self.group, entry.entry_id)
        await pipe.execute()
        log.error(
            "poison event moved to the dead-letter stream",
            extra={
                "group": self.group,
                "stream": entry.stream,
                "entry": entry.entry_id,
                "key": entry.key,
                "deliveries": deliveries,
                "error": type(error).__name__,
            },
        )

    async def _handle_all(
        self, stream: str, entries: Sequence[Any], deliveries: dict[str, int] | None = None
    ) -> int:
        """Handle ``entries``: in order within a partition, up to ``concurrency`` partitions at
        once; returns how many were handled (and acknowledged)."""
        partitions: dict[str, list[StreamEntry]] = {}
        for entry_id, fields in entries:
            if fields is None:  # deleted (trimmed) while pending
                await self.redis.xack(stream, self.group, entry_id)
                continue
            entry = StreamEntry(
                stream=stream,
                entry_id=_text(entry_id),
                key=_text(fields.get(b"key", b"")),
                event_type=_text(fields.get(b"type", b"")),
                data=bytes(fields.get(b"data", b"")),
            )
            part = self.partition(entry) if self.partition is not None and self.concurrency > 1 else ""
            partitions.setdefault(part, []).append(entry)
        gate = asyncio.Semaphore(self.concurrency)

        async def run(part: list[StreamEntry]) -> int:
            async with gate:
                handled = 0
                for entry in part:
                    handled += await self._handle_one(entry, deliveries or {})
                return handled

        if len(partitions) <= 1:
            return sum([await run(part) for part in partitions.values()])
        return sum(await asyncio.gather(*(run(part) for part in partitions.values())))

    async def _handle_one(self, entry: StreamEntry, deliveries: dict[str, int]) -> int:
        try:
            await self.handle(entry)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Left pending: claimed and tried again after ``claim_idle_s``; the entries after it
            # go on meanwhile.
            count = deliveries.get(entry.entry_id, 1)
            if count >= self.max_deliveries and await self._healthy():
                await self._dead_letter(entry, count, exc)
            else:
                log.warning(
                    "event handling failed; it will be tried again",
                    extra={
                        "group": self.group,
                        "entry": entry.entry_id,
                        "deliveries": count,
                        "error": type(exc).__name__,
                    },
                )
            return 0
        await self.redis.xack(entry.stream, self.group, entry.entry_id)
        return 1

    async def _run(self) -> None:
        tracing.quiet()  # reading the stream is not a trace: no root spans from its Redis calls
        loop = asyncio.get_running_loop()
        ready = False
        next_claim = 0.0
        while not self._stopping:
            try:
                if not ready:
                    await self.ensure_groups()
                    ready = True
                if loop.time() >= next_claim:
                    next_claim = loop.time() + max(self.claim_idle_s / 2, 0.05)
                    await self.claim_once()
                await self.read_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("stream consumer failed", extra={"group": self.group, "error": repr(exc)})
                await asyncio.sleep(0.5)


def dead_letter_stream(stream: str, group: str) -> str:
    """The dead-letter stream of consumer group ``group`` on ``stream``."""
    return f"{stream}:dead:{group}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


__all__ = [
    "Outbox",
    "OutboxRelay",
    "StreamConsumer",
    "StreamEntry",
    "consumer_name",
    "dead_letter_stream",
    "outbox_table",
    "stream_of",
]
