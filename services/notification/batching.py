"""Group commits. Of stream events: the events the consumer hands over at about the same time (it
handles up to ``event_concurrency`` meetings or users side by side) are recorded and routed in one
transaction, their processed keys in one statement, their deliveries in one insert.

Each event's handler still waits for its own outcome, so the consumer acknowledges an entry only
after the transaction with its effect committed, and the events of one meeting or user stay in
stream order. Should a batch fail, its events are handled again one transaction each, so that a
poison event fails alone (and is retried or dead-lettered alone).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from services.kit.outbox import StreamEntry

from .routing import Router
from .store import NotificationStore

T = TypeVar("T")
Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class _Gathering(Generic[Item, Outcome]):
    """What both batchers share: callers wait in one list, and one flusher task at a time takes
    them out in batches (``_flush``) and settles each caller's future."""

    def __init__(self) -> None:
        self._waiting: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def _submit(self, item: Item) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._flusher
            self._flusher = None
        for _, future in self._waiting:
            future.cancel()
        self._waiting = []


class EventBatcher(_Gathering[StreamEntry, bool]):
    def __init__(self, store: NotificationStore, router: Router, max_batch: int = 64) -> None:
        super().__init__()
        self.store = store
        self.router = router
        self.max_batch = max_batch

    async def handle(self, entry: StreamEntry) -> bool:
        """Record and route ``entry`` (with whatever else is waiting); False when its key was
        processed before (nothing done)."""
        return await self._submit(entry)

    async def _flush(self) -> None:
        while self._waiting:
            # One turn of the loop: the other partitions' handlers add their events first.
            await asyncio.sleep(0)
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
            batch = [(e, f) for e, f in batch if not f.done()]  # cancelled meanwhile
            if not batch:
                continue
            try:
                new = await self._together([e for e, _ in batch])
            except asyncio.CancelledError:
                for _, future in batch:
                    future.cancel()
                raise
            except Exception:
                await self._one_by_one(batch)
                continue
            for entry, future in batch:
                if not future.done():
                    future.set_result(entry.key[:64] in new)

    async def _together(self, entries: list[StreamEntry]) -> set[str]:
        async def effect(session: AsyncSession, new: set[str]) -> None:
            routed: set[str] = set()
            # The deliveries of the whole batch go in at the commit, in one insert (a lookup would
            # otherwise flush each event's rows on its own). Events of one meeting or user never
            # share a batch (the consumer hands over the next only after this one committed), so
            # no lookup here misses a row this batch added.
            with session.no_autoflush:
                for entry in entries:
                    key = entry.key[:64]
                    if key in new and key not in routed:
                        routed.add(key)
                        await self.router.route(session, entry)

        return await self.store.consume_many([e.key for e in entries], effect)

    async def _one_by_one(self, batch: list[tuple[StreamEntry, asyncio.Future[bool]]]) -> None:
        for entry, future in batch:
            if future.done():
                continue

            async def effect(session: AsyncSession, entry: StreamEntry = entry) -> None:
                await self.router.route(session, entry)

            try:
                future.set_result(await self.store.consume(entry.key, effect))
            except asyncio.CancelledError:
                future.cancel()
                raise
            except Exception as exc:
                future.set_exception(exc)


class GroupCommit(_Gathering[T, None]):
    """Items recorded at about the same time (say, deliveries sent side by side) are written by
    one call of ``write`` (one transaction); each ``record`` returns once its item is written, or
    raises what the write raised."""

    def __init__(self, write: Callable[[list[T]], Awaitable[None]], max_batch: int = 256) -> None:
        super().__init__()
        self.write = write
        self.max_batch = max_batch

    async def record(self, item: T) -> None:
        await self._submit(item)

    async def _flush(self) -> None:
        while self._waiting:
            await asyncio.sleep(0)  # the others finishing in this turn of the loop join the batch
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
            try:
                await self.write([item for item, _ in batch])
            except asyncio.CancelledError:
                for _, future in batch:
                    future.cancel()
                raise
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
