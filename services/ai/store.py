"""The results store: transcript segments, analysis events and activities of meetings.

One interface, two implementations:

* ``MongoResultsStore``: MongoDB through PyMongo's async client (``pymongo.AsyncMongoClient``), for
  production (MongoDB), ``meetmesh up --stack`` and the tests (FerretDB on PostgreSQL). Selected by
  ``MEETMESH_MONGO_URL``.
* ``RelationalResultsStore``: SQLAlchemy through the kit's ``Database``, for the embedded default
  (SQLite) only.

Every write is a single statement for one finished result, so a failed or abandoned stream leaves
nothing half-written; writing the same id twice keeps the first (a redelivered event counts once).
Totals and timelines are computed from the stored activities and events by ``insights`` in Python,
the same for both stores (FerretDB v1 lacks ``$min``/``$max`` in ``$group`` and miscounts a second
``$sum``).

``StorePreparation`` creates indexes or runs migrations at start, and keeps trying while the store
is unreachable (the service starts anyway; its calls answer UNAVAILABLE meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from services.kit import Database, outage
from services.kit.logs import get_logger
from services.kit.pagination import decode_keyset, keyset_page

from .models import Activity, ActivityRow, AnalysisEvent, EventRow, Segment, SegmentRow

log = get_logger("meetmesh.ai")


class ResultsStore(Protocol):
    async def start(self) -> None:
        """Prepare the store (tables or indexes); idempotent."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """One round trip (readiness); raises the driver's error when the store is down."""
        ...

    async def add_segment(self, segment: Segment) -> None: ...

    async def add_event(self, event: AnalysisEvent) -> None: ...

    async def add_activity(self, activity: Activity) -> None: ...

    async def list_segments(self, meeting_id: str, size: int, page_token: str) -> tuple[list[Segment], str]:
        """A page of a meeting's segments in spoken order, and the next page's token."""
        ...

    async def count_segments(self, meeting_id: str) -> int:
        """How many segments a meeting's transcript holds."""
        ...

    async def list_events(self, meeting_id: str, kind: str) -> list[AnalysisEvent]:
        """A meeting's events of one kind, oldest first."""
        ...

    async def list_activities(
        self, meeting_id: str, size: int, page_token: str
    ) -> tuple[list[Activity], str]:
        """A page of a meeting's activities in time order, and the next page's token."""
        ...

    def activities(self, meeting_id: str) -> AsyncIterator[Activity]:
        """Every activity of a meeting in time order (for its totals)."""
        ...

    async def delete_meeting(self, meeting_id: str) -> None: ...


def _page_params(meeting_id: str, what: str = "segments") -> dict[str, str]:
    return {"meeting": meeting_id} if what == "segments" else {"meeting": meeting_id, "of": what}


# -- the relational store (embedded default) ---------------------------------------------------


def _utc(when: datetime) -> datetime:
    """SQLite keeps no time zone; every time here is UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _segment(row: SegmentRow) -> Segment:
    return Segment(
        row.id,
        row.meeting_id,
        row.participant_id,
        _utc(row.spoken_at),
        row.start_ms,
        row.end_ms,
        row.text,
        row.synthetic_score,
    )


def _activity(row: ActivityRow) -> Activity:
    return Activity(
        row.id, row.meeting_id, row.participant_id, row.kind, _utc(row.at), row.duration_ms, row.detail
    )


class RelationalResultsStore:
    def __init__(self, db: Database, migrations: Any = None) -> None:
        self.db = db
        self._migrations = migrations

    async def start(self) -> None:
        if self._migrations is not None:
            await self.db.migrate(self._migrations)

    async def close(self) -> None:
        """The database belongs to the runtime, which closes it."""

    async def ping(self) -> None:
        await self.db.ping()

    async def add_segment(self, segment: Segment) -> None:
        async with self.db.transaction() as session:
            session.add(SegmentRow(**segment.__dict__))

    async def add_event(self, event: AnalysisEvent) -> None:
        async with self.db.transaction() as session:
            session.add(EventRow(**event.__dict__))

    async def add_activity(self, activity: Activity) -> None:
        try:
            async with self.db.transaction() as session:
                session.add(ActivityRow(**activity.__dict__))
        except IntegrityError:
            pass  # recorded already

    async def list_segments(self, meeting_id: str, size: int, page_token: str) -> tuple[list[Segment], str]:
        position = decode_keyset(page_token, _page_params(meeting_id))
        query = select(SegmentRow).where(SegmentRow.meeting_id == meeting_id)
        if position is not None:
            when, ident = position
            query = query.where(
                or_(SegmentRow.spoken_at > when, and_(SegmentRow.spoken_at == when, SegmentRow.id > ident))
            )
        query = query.order_by(SegmentRow.spoken_at, SegmentRow.id).limit(size + 1)
        async with self.db.sessions() as session:
            rows = [_segment(r) for r in (await session.scalars(query)).all()]
        return keyset_page(rows, size, lambda s: (s.spoken_at, s.id), _page_params(meeting_id))

    async def count_segments(self, meeting_id: str) -> int:
        query = select(func.count()).select_from(SegmentRow).where(SegmentRow.meeting_id == meeting_id)
        async with self.db.sessions() as session:
            return int((await session.execute(query)).scalar_one())

    async def list_events(self, meeting_id: str, kind: str) -> list[AnalysisEvent]:
        query = (
            select(EventRow)
            .where(EventRow.meeting_id == meeting_id, EventRow.kind == kind)
            .order_by(EventRow.create_time, EventRow.id)
        )
        async with self.db.sessions() as session:
            return [
                AnalysisEvent(r.id, r.meeting_id, r.participant_id, r.kind, r.payload, _utc(r.create_time))
                for r in (await session.scalars(query)).all()
            ]

    async def list_activities(
        self, meeting_id: str, size: int, page_token: str
    ) -> tuple[list[Activity], str]:
        params = _page_params(meeting_id, "activities")
        position = decode_keyset(page_token, params)
        query = select(ActivityRow).where(ActivityRow.meeting_id == meeting_id)
        if position is not None:
            when, ident = position
            query = query.where(
                or_(ActivityRow.at > when, and_(ActivityRow.at == when, ActivityRow.id > ident))
            )
        query = query.order_by(ActivityRow.at, ActivityRow.id).limit(size + 1)
        async with self.db.sessions() as session:
            rows = [_activity(r) for r in (await session.scalars(query)).all()]
        return keyset_page(rows, size, lambda a: (a.at, a.id), params)

    async def activities(self, meeting_id: str) -> AsyncIterator[Activity]:
        query = (
            select(ActivityRow)
            .where(ActivityRow.meeting_id == meeting_id)
            .order_by(ActivityRow.at, ActivityRow.id)
        )
        async with self.db.sessions() as session:
            async for row in await session.stream_scalars(query):
                yield _activity(row)

    async def delete_meeting(self, meeting_id: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(delete(SegmentRow).where(SegmentRow.meeting_id == meeting_id))
            await session.execute(delete(EventRow).where(EventRow.meeting_id == meeting_id))
            await session.execute(delete(ActivityRow).where(ActivityRow.meeting_id == meeting_id))


# -- the MongoDB store -------------------------------------------------------------------------

# (collection, index name, keys): created at start, idempotently (same name, same keys).
INDEXES: tuple[tuple[str, str, list[tuple[str, int]]], ...] = (
    ("transcript_segments", "meeting_spoken", [("meeting_id", 1), ("spoken_at", 1), ("_id", 1)]),
    (
        "analysis_events",
        "meeting_kind_time",
        [("meeting_id", 1), ("kind", 1), ("create_time", 1), ("_id", 1)],
    ),
    ("meeting_activities", "meeting_time", [("meeting_id", 1), ("at", 1), ("_id", 1)]),
)


class MongoResultsStore:
    """MongoDB through ``pymongo.AsyncMongoClient`` (tested on FerretDB).

    Documents are the domain dataclasses with ``id`` as ``_id``. Times are BSON dates
    (milliseconds, UTC). A server that does not answer fails a call after ``timeout_s``
    (server selection) with a PyMongo ``ConnectionFailure``, which the kit answers as UNAVAILABLE;
    the client reconnects by itself once the server is back.
    """

    def __init__(self, url: str, database: str = "meetmesh_ai", timeout_s: float = 3.0) -> None:
        from pymongo import AsyncMongoClient

        timeout_ms = int(timeout_s * 1000)
        self._client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            url,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=max(30_000, timeout_ms),
            appname="meetmesh-ai",
        )
        self._db = self._client[database]

    async def start(self) -> None:
        for collection, name, keys in INDEXES:
            await self._db[collection].create_index(keys, name=name)

    async def index_names(self) -> dict[str, set[str]]:
        """The indexes of each collection (for checks and tests)."""
        result: dict[str, set[str]] = {}
        for collection, _name, _keys in INDEXES:
            info = await self._db[collection].index_information()
            result[collection] = set(info)
        return result

    async def close(self) -> None:
        await self._client.close()

    async def ping(self) -> None:
        await self._db.command("ping")

    async def _insert(self, collection: str, document: dict[str, Any]) -> None:
        from pymongo.errors import DuplicateKeyError

        document["_id"] = document.pop("id")
        with contextlib.suppress(DuplicateKeyError):  # recorded already
            await self._db[collection].insert_one(document)

    async def add_segment(self, segment: Segment) -> None:
        await self._insert("transcript_segments", dict(segment.__dict__))

    async def add_event(self, event: AnalysisEvent) -> None:
        await self._insert("analysis_events", dict(event.__dict__))

    async def add_activity(self, activity: Activity) -> None:
        await self._insert("meeting_activities", dict(activity.__dict__))

    async def list_segments(self, meeting_id: str, size: int, page_token: str) -> tuple[list[Segment], str]:
        params = _page_params(meeting_id)
        query = _after({"meeting_id": meeting_id}, "spoken_at", decode_keyset(page_token, params))
        cursor = self._db.transcript_segments.find(query).sort([("spoken_at", 1), ("_id", 1)]).limit(size + 1)
        rows = [_segment_doc(doc) async for doc in cursor]
        return keyset_page(rows, size, lambda s: (s.spoken_at, s.id), params)

    async def count_segments(self, meeting_id: str) -> int:
        return int(await self._db.transcript_segments.count_documents({"meeting_id": meeting_id}))

    async def list_events(self, meeting_id: str, kind: str) -> list[AnalysisEvent]:
        cursor = self._db.analysis_events.find({"meeting_id": meeting_id, "kind": kind}).sort(
            [("create_time", 1), ("_id", 1)]
        )
        return [
            AnalysisEvent(
                d["_id"], d["meeting_id"], d["participant_id"], d["kind"], d["payload"], d["create_time"]
            )
            async for d in cursor
        ]

    async def list_activities(
        self, meeting_id: str, size: int, page_token: str
    ) -> tuple[list[Activity], str]:
        params = _page_params(meeting_id, "activities")
        query = _after({"meeting_id": meeting_id}, "at", decode_keyset(page_token, params))
        cursor = self._db.meeting_activities.find(query).sort([("at", 1), ("_id", 1)]).limit(size + 1)
        rows = [_activity_doc(doc) async for doc in cursor]
        return keyset_page(rows, size, lambda a: (a.at, a.id), params)

    async def activities(self, meeting_id: str) -> AsyncIterator[Activity]:
        cursor = self._db.meeting_activities.find({"meeting_id": meeting_id}).sort([("at", 1), ("_id", 1)])
        async for doc in cursor:
            yield _activity_doc(doc)

    async def delete_meeting(self, meeting_id: str) -> None:
        for collection, _name, _keys in INDEXES:
            await self._db[collection].delete_many({"meeting_id": meeting_id})


def _after(query: dict[str, Any], time_field: str, position: Any) -> dict[str, Any]:
    """``query`` continued after a (time, id) keyset position (AIP-158)."""
    if position is not None:
        when, ident = position
        query["$or"] = [{time_field: {"$gt": when}}, {time_field: when, "_id": {"$gt": ident}}]
    return query


def _segment_doc(doc: dict[str, Any]) -> Segment:
    return Segment(
        doc["_id"],
        doc["meeting_id"],
        doc["participant_id"],
        doc["spoken_at"],
        doc["start_ms"],
        doc["end_ms"],
        doc["text"],
        doc["synthetic_score"],
    )


def _activity_doc(doc: dict[str, Any]) -> Activity:
    return Activity(
        doc["_id"],
        doc["meeting_id"],
        doc["participant_id"],
        doc["kind"],
        doc["at"],
        int(doc.get("duration_ms", 0)),
        str(doc.get("detail", "")),
    )


class StorePreparation:
    """Prepares the results store (indexes or migrations) at start; when the store is unreachable
    then, the service starts anyway (its calls answer UNAVAILABLE) and keeps trying every
    ``retry_s`` until the store is back and prepared."""

    def __init__(self, store: ResultsStore, retry_s: float = 2.0) -> None:
        self.store = store
        self.retry_s = retry_s
        self.prepared = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def first_try(self) -> None:
        try:
            await self.store.start()
        except Exception as exc:
            if outage(exc) is None:
                raise
            log.warning(
                "results store unreachable; preparing it when it is back", extra={"error": type(exc).__name__}
            )
            return
        self.prepared.set()

    async def start(self) -> None:
        if not self.prepared.is_set() and self._task is None:
            self._task = asyncio.create_task(self._retry(), name="results-store-preparation")

    async def _retry(self) -> None:
        while not self.prepared.is_set():
            await asyncio.sleep(self.retry_s)
            try:
                await self.store.start()
            except Exception as exc:  # still down (or failing): the next try may work
                if outage(exc) is None:
                    log.warning("preparing the results store failed", extra={"error": type(exc).__name__})
                continue
            self.prepared.set()
            log.info("results store prepared")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
