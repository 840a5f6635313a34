"""Following Redis pub/sub channels: the platform's one subscribe-and-reconnect loop.

``Follower`` subscribes to channels and patterns (event channels come from the contract, through
``events.channel_pattern``), hands every message to a callback, and when the connection is lost
reconnects with exponential backoff (plus jitter) and subscribes again. Pub/sub loses what is
published while nobody listens, so every (re)subscription first runs ``on_subscribed`` *after*
subscribing: a follower that must not miss anything re-reads its state there (nothing falls
between the two). ``on_lost`` runs when a subscription breaks (e.g. to stop trusting a local copy).

A message the callback fails on is logged (with the channel only) and skipped; the subscription
stays up.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from . import tracing
from .logs import get_logger

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
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        #: How many times a subscription was (re)established (tests and metrics read it).
        self.subscriptions = 0

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
        failures = 0
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                if self._channels:
                    await pubsub.subscribe(*self._channels)
                if self._patterns:
                    await pubsub.psubscribe(*self._patterns)
                if self._on_subscribed is not None:
                    await _call(self._on_subscribed)
                self.subscriptions += 1
                self._subscribed.set()
                failures = 0
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None:
                        continue
                    channel = message["channel"]
                    channel = channel.decode() if isinstance(channel, bytes) else str(channel)
                    data = message["data"]
                    try:
                        await _call(
                            self._on_message, channel, data if isinstance(data, bytes) else str(data).encode()
                        )
                    except Exception:
                        log.exception(
                            "could not handle a message", extra={"follower": self._name, "channel": channel}
                        )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self._subscribed.clear()
                log.warning(
                    "subscription lost; resubscribing",
                    extra={"follower": self._name, "error": type(exc).__name__, "attempt": failures},
                )
                if self._on_lost is not None:
                    with contextlib.suppress(Exception):
                        await _call(self._on_lost)
                await asyncio.sleep(self._backoff(failures))
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
