"""Following Redis pub/sub channels: the platform's one subscribe-and-reconnect loop.

``Follower`` subscribes to channels and patterns (event channels come from the contract, through
``events.channel_pattern``), hands every message to a callback, and when the connection is lost
reconnects with exponential backoff (plus jitter) and subscribes again. Pub/sub loses what is
published while nobody listens, so every (re)subscription first runs ``on_subscribed`` *after*
subscribing: a follower that must not miss anything re-reads its state there (nothing falls
between the two). ``on_lost`` runs when a subscription breaks (e.g. to stop trusting a local copy).

A message the callback fails on is logged (with the channel only) and skipped; the subscription
stays up.

On a real Redis the follower reads its connection itself, with hiredis: a message costs one
parse and the callback. redis-py's ``PubSub.get_message`` wrapped each one in its retry, timeout
and health-check layers, about 50 µs of CPU a message when messages come one by one (py-spy:
8% of a meeting worker under join load with two workers, where each worker receives every
join's event). The connection comes from the client's pool settings (address, TLS, password,
client name); while nothing arrives for ``health_check_s`` it is PINGed, and one that does not
answer within another ``health_check_s`` counts as lost. The in-process ``memory://`` Redis, or
a machine without hiredis, keeps redis-py's ``PubSub``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError

from . import tracing
from .logs import get_logger
from .redis import in_process

try:
    import hiredis
except ImportError:  # pragma: no cover - a dependency; redis-py's PubSub serves without it
    hiredis = None  # type: ignore[assignment]

log = get_logger("meetmesh.kit.follow")

#: A message: (channel, data).
Handler = Callable[[str, bytes], Awaitable[None] | None]
Hook = Callable[[], Awaitable[None] | None]


async def _call(hook: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    result = hook(*args)
    if result is not None:
        await result


class Follower:
    """Follows ``channels`` and ``patterns`` on ``redis`` until stopped (see the module docstring)."""

    def __init__(
        self,
        redis: Any,
        on_message: Handler,
        *,
        channels: Sequence[str] = (),
        patterns: Sequence[str] = (),
        on_subscribed: Hook | None = None,
        on_lost: Hook | None = None,
        name: str = "follower",
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        health_check_s: float = 30.0,
    ) -> None:
        if not channels and not patterns:
            raise ValueError("a follower needs a channel or a pattern")
        self._redis = redis
        self._on_message = on_message
        self._channels = list(channels)
        self._patterns = list(patterns)
        self._on_subscribed = on_subscribed
        self._on_lost = on_lost
        self._name = name
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._health_check_s = health_check_s
        # Reading the connection directly needs hiredis and a real server.
        self._direct = hiredis is not None and hasattr(redis, "connection_pool") and not in_process(redis)
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        #: How many times a subscription was (re)established (tests and metrics read it).
        self.subscriptions = 0
        self._failures = 0  # failed attempts since the last subscription held

    @property
    def subscribed(self) -> bool:
        """Whether the follower is subscribed now (and has run ``on_subscribed``)."""
        return self._subscribed.is_set()

    def start(self) -> None:
        """Start following (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def wait_subscribed(self, timeout_s: float = 10.0) -> None:
        """Return once subscribed; TimeoutError after ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            await self._subscribed.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._subscribed.clear()

    def _backoff(self, failures: int) -> float:
        ceiling = min(self._backoff_max_s, self._backoff_initial_s * 2 ** max(0, failures - 1))
        return float(ceiling / 2 + random.uniform(0, ceiling / 2))

    async def _run(self) -> None:
        tracing.quiet()  # following a channel is not a trace: no root spans from its Redis calls
        self._failures = 0
        while True:
            try:
                if self._direct:
                    await self._follow_direct()
                else:
                    await self._follow_pubsub()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failures += 1
                self._subscribed.clear()
                log.warning(
                    "subscription lost; resubscribing",
                    extra={"follower": self._name, "error": type(exc).__name__, "attempt": self._failures},
                )
                if self._on_lost is not None:
                    with contextlib.suppress(Exception):
                        await _call(self._on_lost)
                await asyncio.sleep(self._backoff(self._failures))

    def _subscribed_now(self) -> None:
        self.subscriptions += 1
        self._subscribed.set()
        self._failures = 0  # the backoff starts afresh after a subscription that held

    async def _deliver(self, raw_channel: bytes | str, raw_data: bytes | str) -> None:
        """Hand one message to the callback as (channel text, data bytes); a failure is logged."""
        channel = raw_channel.decode() if isinstance(raw_channel, bytes) else str(raw_channel)
        data = raw_data if isinstance(raw_data, bytes) else str(raw_data).encode()
        try:
            await _call(self._on_message, channel, data)
        except Exception:
            log.exception("could not handle a message", extra={"follower": self._name, "channel": channel})

    async def _follow_direct(self) -> None:
        """Subscribe on a connection of our own and read it with hiredis until it breaks."""
        connection = self._redis.connection_pool.make_connection()
        try:
            await connection.connect()
            stream: asyncio.StreamReader = connection._reader
            # No health check inside these sends: its PING would read a pub/sub message as reply.
            if self._channels:
                await connection.send_command("SUBSCRIBE", *self._channels, check_health=False)
            if self._patterns:
                await connection.send_command("PSUBSCRIBE", *self._patterns, check_health=False)
            reader = hiredis.Reader()
            unconfirmed = len(self._channels) + len(self._patterns)
            early: list[tuple[bytes, bytes]] = []  # messages before every subscription is confirmed
            pinged = False
            while True:
                try:
                    async with asyncio.timeout(self._health_check_s):
                        data = await stream.read(65536)
                except TimeoutError:
                    if pinged:
                        raise RedisConnectionError(
                            f"Redis did not answer a PING within {self._health_check_s:g} s"
                        ) from None
                    await connection.send_command("PING", check_health=False)
                    pinged = True
                    continue
                if not data:
                    raise RedisConnectionError("Redis closed the subscription's connection")
                pinged = False
                reader.feed(data)
                while (reply := reader.gets()) is not False:
                    if isinstance(reply, Exception):
                        raise RedisConnectionError(f"Redis refused the subscription: {reply}")
                    if not isinstance(reply, list) or not reply:
                        continue  # a RESP3 PONG
                    kind = reply[0]
                    if kind == b"message" or kind == b"pmessage":
                        if unconfirmed:
                            early.append((reply[-2], reply[-1]))
                        else:
                            await self._deliver(reply[-2], reply[-1])
                    elif (kind == b"subscribe" or kind == b"psubscribe") and unconfirmed:
                        unconfirmed -= 1
                        if not unconfirmed:  # every subscription holds: resync, then deliver
                            if self._on_subscribed is not None:
                                await _call(self._on_subscribed)
                            self._subscribed_now()
                            for channel, payload in early:
                                await self._deliver(channel, payload)
                            early.clear()
        finally:
            with contextlib.suppress(Exception):
                await connection.disconnect()

    async def _follow_pubsub(self) -> None:
        """The same through redis-py's ``PubSub`` (the in-process Redis)."""
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            if self._channels:
                await pubsub.subscribe(*self._channels)
            if self._patterns:
                await pubsub.psubscribe(*self._patterns)
            if self._on_subscribed is not None:
                await _call(self._on_subscribed)
            self._subscribed_now()
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    await self._deliver(message["channel"], message["data"])
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
