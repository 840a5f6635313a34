"""The results store: transcript segments and analysis events of meetings.

One interface, two implementations: ``RelationalResultsStore`` (SQLAlchemy through the kit's
``Database``: SQLite in the embedded default, PostgreSQL in tests) and ``MongoResultsStore``
(PyMongo's asyncio API, for production deployments with MongoDB). Every write is a single
statement for one finished result, so a failed or abandoned stream leaves nothing half-written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import and_, delete, or_, select

from services.kit import Database
from services.kit.pagination import decode_keyset, keyset_page

from .models import AnalysisEvent, EventRow, Segment, SegmentRow


class ResultsStore(Protocol):
    async def add_segment(self, segment: Segment) -> None: ...

    async def add_event(self, event: AnalysisEvent) -> None: ...

    async def list_segments(self, meeting_id: str, size: int, page_token: str) -> tuple[list[Segment], str]:
        """A page of a meeting's segments in spoken order, and the next page's token."""
        ...

    async def list_events(self, meeting_id: str, kind: str) -> list[AnalysisEvent]: ...

    async def delete_meeting(self, meeting_id: str) -> None: ...


def _segment(row: SegmentRow) -> Segment:
    return Segment(
        row.id,
        row.meeting_id,
        row.participant_id,
        row.spoken_at,
        row.start_ms,
        row.end_ms,
        row.text,
        row.synthetic_score,
    )


def _page_params(meeting_id: str) -> dict[str, str]:
    return {"meeting": meeting_id}


class RelationalResultsStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_segment(self, segment: Segment) -> None:
        async with self.db.transaction() as session:
            session.add(SegmentRow(**segment.__dict__))

    async def add_event(self, event: AnalysisEvent) -> None:
        async with self.db.transaction() as session:
            session.add(EventRow(**event.__dict__))

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

    async def list_events(self, meeting_id: str, kind: str) -> list[AnalysisEvent]:
        query = (
            select(EventRow)
            .where(EventRow.meeting_id == meeting_id, EventRow.kind == kind)
            .order_by(EventRow.create_time, EventRow.id)
        )
        async with self.db.sessions() as session:
            return [
                AnalysisEvent(r.id, r.meeting_id, r.participant_id, r.kind, r.payload, r.create_time)
                for r in (await session.scalars(query)).all()
            ]

    async def delete_meeting(self, meeting_id: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(delete(SegmentRow).where(SegmentRow.meeting_id == meeting_id))
            await session.execute(delete(EventRow).where(EventRow.meeting_id == meeting_id))


class MongoResultsStore:
    """MongoDB through ``pymongo.AsyncMongoClient``.

    Not exercised by the test suite: no MongoDB server can run on the build machines (Debian ships
    none and nothing may be downloaded). The relational store implements the same interface and is
    tested for real.
    """

    def __init__(self, url: str, database: str = "meetmesh_ai") -> None:
        from pymongo import ASCENDING, AsyncMongoClient

        self._client: Any = AsyncMongoClient(url, tz_aware=True)
        self._db = self._client[database]
        self._ascending = ASCENDING

    async def ensure_indexes(self) -> None:
        asc = self._ascending
        await self._db.transcript_segments.create_index(
            [("meeting_id", asc), ("spoken_at", asc), ("_id", asc)]
        )
        await self._db.analysis_events.create_index(
            [("meeting_id", asc), ("kind", asc), ("create_time", asc)]
        )

    async def add_segment(self, segment: Segment) -> None:
        doc = dict(segment.__dict__)
        doc["_id"] = doc.pop("id")
        await self._db.transcript_segments.insert_one(doc)

    async def add_event(self, event: AnalysisEvent) -> None:
        doc = dict(event.__dict__)
        doc["_id"] = doc.pop("id")
        await self._db.analysis_events.insert_one(doc)

    async def list_segments(self, meeting_id: str, size: int, page_token: str) -> tuple[list[Segment], str]:
        position = decode_keyset(page_token, _page_params(meeting_id))
        query: dict[str, Any] = {"meeting_id": meeting_id}
        if position is not None:
            when, ident = position
            query["$or"] = [{"spoken_at": {"$gt": when}}, {"spoken_at": when, "_id": {"$gt": ident}}]
        cursor = self._db.transcript_segments.find(query).sort([("spoken_at", 1), ("_id", 1)]).limit(size + 1)
        rows = [_from_doc(doc) async for doc in cursor]
        return keyset_page(rows, size, lambda s: (s.spoken_at, s.id), _page_params(meeting_id))

    async def list_events(self, meeting_id: str, kind: str) -> list[AnalysisEvent]:
        cursor = self._db.analysis_events.find({"meeting_id": meeting_id, "kind": kind}).sort(
            "create_time", 1
        )
        return [
            AnalysisEvent(
                d["_id"], d["meeting_id"], d["participant_id"], d["kind"], d["payload"], d["create_time"]
            )
            async for d in cursor
        ]

    async def delete_meeting(self, meeting_id: str) -> None:
        await self._db.transcript_segments.delete_many({"meeting_id": meeting_id})
        await self._db.analysis_events.delete_many({"meeting_id": meeting_id})

    async def close(self) -> None:
        await self._client.close()


def _from_doc(doc: dict[str, Any]) -> Segment:
    spoken_at: datetime = doc["spoken_at"]
    return Segment(
        doc["_id"],
        doc["meeting_id"],
        doc["participant_id"],
        spoken_at,
        doc["start_ms"],
        doc["end_ms"],
        doc["text"],
        doc["synthetic_score"],
    )
