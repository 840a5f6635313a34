"""Redis from one URL: a real server (``redis://``), or the in-process one (``memory://``).

The in-process Redis (fakeredis) is shared by every service in one process, which is what the
embedded all-in-one mode needs; it speaks the same commands, including pub/sub and Lua.
Keys are prefixed per service: ``key(prefix, "user", "refresh", token_id)``.

A Redis that stops answering (alive, but hung or unreachable without a reset) fails each
command after ``command_timeout_s`` with redis's ``TimeoutError``, which services answer as
UNAVAILABLE. redis-py's own ``socket_timeout`` would do that with a timer per command (its send
runs under ``asyncio.wait_for``, a new task on Python 3.11, its read under ``asyncio.timeout``):
15-20 µs of CPU per command here (paired runs), about 5% of a meeting join before its commands
were batched (``batched`` below). Here a connection notes a deadline
when it starts writing or waiting for a reply, and one periodic check per event loop (every
``command_timeout_s / 4``) aborts the connection of any command past its deadline: the command
then fails within 1.25 times ``command_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .tracing import enabled as tracing_enabled

#: How long a command may wait for Redis (redis-py's default socket timeout, kept).
COMMAND_TIMEOUT_S = 5.0

_shared_fake: Any = None


class _Watchdog:
    """One per event loop: every ``every_s`` aborts the connections whose command is overdue.
    It holds its loop weakly (the registry below is keyed by the loop), so that a closed loop and
    its watchdog can go."""

    def __init__(self, loop: asyncio.AbstractEventLoop, every_s: float) -> None:
        self._loop = weakref.ref(loop)
        self.every_s = every_s
        self.connections: weakref.WeakSet[Watched] = weakref.WeakSet()
        self._armed = False  # a check is scheduled (not its handle: that holds the loop)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop()

    def add(self, connection: Watched, loop: asyncio.AbstractEventLoop) -> None:
        self.connections.add(connection)
        if not self._armed:
            self._armed = True
            loop.call_later(self.every_s, self._check, loop)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        self._armed = False
        now = loop.time()
        for connection in list(self.connections):
            deadline = connection.deadline
            if deadline is not None and now >= deadline:
                connection.expire()
        if self.connections:
            self._armed = True
            loop.call_later(self.every_s, self._check, loop)


_watchdogs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watchdog] = weakref.WeakKeyDictionary()


class Watched(AbstractConnection):
    """A connection whose writes and replies are bounded by the loop's watchdog (module docstring)
    rather than by a timer per command; mixed into redis-py's TCP, TLS and Unix-socket connections.
    Reads that pass their own ``timeout`` (pub/sub's ``get_message``) keep redis-py's handling."""

    deadline: float | None = None
    _expired = False
    _watchdog: _Watchdog | None = None

    def __init__(self, *args: Any, command_timeout_s: float = COMMAND_TIMEOUT_S, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.command_timeout_s = command_timeout_s

    def _watch(self) -> float | None:
        """Starts bounding one operation; returns the deadline to restore when it ends (a health
        check runs inside a send)."""
        previous = self.deadline
        loop = asyncio.get_running_loop()
        watchdog = self._watchdog
        if watchdog is None or watchdog.loop is not loop:
            watchdog = _watchdogs.get(loop)
            if watchdog is None:
                watchdog = _watchdogs[loop] = _Watchdog(loop, self.command_timeout_s / 4)
            watchdog.every_s = min(watchdog.every_s, self.command_timeout_s / 4)
            self._watchdog = watchdog
        if previous is None:
            self._expired = False
            if self not in watchdog.connections:
                watchdog.add(self, loop)
        self.deadline = loop.time() + self.command_timeout_s
        return previous

    def expire(self) -> None:
        """Called by the watchdog: the operation is overdue; end the connection under it."""
        self._expired = True
        self.deadline = None
        writer = self._writer
        if writer is not None:
            writer.transport.abort()  # the pending write or read fails at once

    def _overdue(self) -> RedisTimeoutError:
        return RedisTimeoutError(
            f"Redis did not answer within {self.command_timeout_s:g} s ({self._host_error()})"
        )

    @contextlib.contextmanager
    def _bounded(self) -> Iterator[None]:
        """One write or reply under the watchdog; the error of an aborted one is a timeout."""
        previous = self._watch()
        try:
            yield
        except RedisConnectionError:
            if self._expired:
                raise self._overdue() from None
            raise
        finally:
            self.deadline = previous

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        with self._bounded():
            await super().send_packed_command(command, check_health)

    async def read_response(
        self,
        disable_decoding: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 (redis-py's signature)
        *,
        disconnect_on_error: bool = True,
        push_request: bool | None = False,
    ) -> Any:
        if timeout is not None:  # the caller's own bound (pub/sub)
            return await super().read_response(
                disable_decoding, timeout, disconnect_on_error=disconnect_on_error, push_request=push_request
            )
        with self._bounded():
            return await super().read_response(
                disable_decoding, None, disconnect_on_error=disconnect_on_error, push_request=push_request
            )


class WatchedConnection(Watched, aioredis.Connection):
    pass


class WatchedSSLConnection(Watched, aioredis.SSLConnection):
    pass


class WatchedUnixConnection(Watched, aioredis.UnixDomainSocketConnection):
    pass


_WATCHED: dict[type[AbstractConnection], type[AbstractConnection]] = {
    aioredis.Connection: WatchedConnection,
    aioredis.SSLConnection: WatchedSSLConnection,
    aioredis.UnixDomainSocketConnection: WatchedUnixConnection,
}


def create_redis(
    url: str, connect_timeout_s: float = 3.0, command_timeout_s: float = COMMAND_TIMEOUT_S
) -> aioredis.Redis:
    """A client for ``url``; ``memory://`` gives the process-wide in-process server."""
    global _shared_fake
    if url.startswith("memory://"):
        import fakeredis

        if _shared_fake is None:
            _shared_fake = fakeredis.FakeServer()
        client: aioredis.Redis = fakeredis.FakeAsyncRedis(server=_shared_fake)
        return client
    # One immediate retry on a broken connection: after Redis restarts, every connection left in
    # the pool is dead and would fail one command each (a login right after recovery got
    # UNAVAILABLE); the retry reconnects. Not on timeouts (redis-py's Retry would retry those by
    # default): a command that timed out may have run.
    pool = aioredis.ConnectionPool.from_url(
        url,
        health_check_interval=30,
        socket_connect_timeout=connect_timeout_s,
        socket_timeout=None,  # bounded by the watchdog instead
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        retry_on_error=[RedisConnectionError],
        command_timeout_s=command_timeout_s,
    )
    pool.connection_class = _WATCHED[pool.connection_class]  # the URL's scheme chose TCP, TLS or Unix
    return aioredis.Redis.from_pool(pool)


def in_process(redis: Any) -> bool:
    """Whether ``redis`` is the in-process ``memory://`` server (fakeredis): no socket to read or
    write directly, so batches and subscriptions go through redis-py's own objects there."""
    return type(redis).__module__.startswith("fakeredis")


def key(prefix: str, service: str, *parts: str) -> str:
    """A namespaced key: ``<prefix>:<service>:<part>:<part>...``."""
    return ":".join((prefix, service, *parts))


class Batched:
    """Commands issued in one turn of the event loop, sent together in one write (auto-pipelining,
    as ioredis offers): under load, the hot paths' single commands (a join's EVALSHA and PUBLISH)
    come from many calls at once, and each sent alone cost a write system call, a pooled
    connection and redis-py's per-command machinery. A command waits at most one loop turn for
    company, or, while ``MAX_IN_FLIGHT`` batches are out already, until the first of them is
    answered (the commands of that wait then go together). Each caller gets its own reply or
    error; a lost connection fails the whole batch (each caller sees it, as it would have alone),
    after one retry on a new connection, as the client's own retry would. Order between callers
    of one batch is the order they called in; commands of one caller are sequential anyway.

    On a real Redis the batches go straight over connections this batcher holds (taken from the
    client's pool once, closed with it): redis-py's pipeline object cost about 0.1 ms of CPU a
    batch (its construction, pool checkout and release, per-command bookkeeping), a tenth of a
    meeting join. Replies are parsed by the connection's own parser and the client's response
    callbacks, as a pipeline parses them. While tracing is on, and for the in-process Redis, a
    batch is a redis-py pipeline (whose spans the Redis instrumentation records).

    One per client and event loop: :func:`batched`."""

    #: Batches sent and not yet answered at once (each on a connection of its own).
    MAX_IN_FLIGHT = 4

    def __init__(self, redis: aioredis.Redis, loop: asyncio.AbstractEventLoop) -> None:
        self._redis = redis
        self._loop = loop
        self._pending: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._scheduled = False
        # Batches go straight over held connections, except to the in-process Redis (pipelines).
        self._direct = not in_process(redis)
        self._idle: list[AbstractConnection] = []  # held connections between batches

    def execute(self, *args: Any) -> asyncio.Future[Any]:
        """The reply to one command (``"PUBLISH", channel, data``), parsed as redis-py parses it."""
        future = self._loop.create_future()
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)
        self._pending.append((args, future))
        return future

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending or len(self._running) >= self.MAX_IN_FLIGHT:
            return  # the first batch answered flushes what waits
        batch, self._pending = self._pending, []
        task = self._loop.create_task(self._send(batch))
        self._running.add(task)  # held until done: the loop keeps only weak references to tasks
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._pending and not self._scheduled and not self._loop.is_closed():
            self._scheduled = True
            self._loop.call_soon(self._flush)

    async def _send(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        try:
            if self._direct and not tracing_enabled():
                replies = await self._send_direct([args for args, _ in batch])
            else:
                pipe = self._redis.pipeline(transaction=False)
                for args, _ in batch:
                    pipe.execute_command(*args)
                replies = await pipe.execute(raise_on_error=False)
        except BaseException as exc:  # the connection, not one command: every caller sees it
            for _, future in batch:
                if not future.done():
                    if isinstance(exc, asyncio.CancelledError):  # the loop is shutting down
                        future.cancel()
                    else:
                        future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # its caller went away (a deadline)
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _send_direct(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """One write of every command and their replies, in order, on a held connection."""
        pool = self._redis.connection_pool
        connection = self._idle.pop() if self._idle else await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            try:
                replies = await self._round_trip(connection, commands)
            except RedisConnectionError:  # not a timeout (it may have run): no retry for those
                await connection.disconnect()
                replies = await self._round_trip(connection, commands)  # reconnects
        except BaseException:
            # Unknown how far it got (a timeout, a cancellation): start the next batch afresh.
            await asyncio.shield(connection.disconnect(nowait=True))
            self._idle.append(connection)
            raise
        self._idle.append(connection)
        return replies

    async def _round_trip(self, connection: AbstractConnection, commands: list[tuple[Any, ...]]) -> list[Any]:
        await connection.send_packed_command(connection.pack_commands(commands))
        callbacks = self._redis.response_callbacks
        replies: list[Any] = []
        for args in commands:
            try:
                reply = await connection.read_response()
            except ResponseError as error:  # that command's own error (the stream stays in step)
                replies.append(error)
                continue
            callback = callbacks.get(args[0])
            replies.append(reply if callback is None else callback(reply))
        return replies


def batched(redis: aioredis.Redis) -> Batched:
    """The :class:`Batched` of ``redis`` on the running loop. It is kept on the client itself, so
    that both go together (a registry keyed by the client would keep it alive through the
    batcher's reference to it)."""
    loop = asyncio.get_running_loop()
    batcher: Batched | None = getattr(redis, "_meetmesh_batched", None)
    if batcher is None or batcher._loop is not loop:
        batcher = Batched(redis, loop)
        redis._meetmesh_batched = batcher  # type: ignore[attr-defined]
    return batcher
