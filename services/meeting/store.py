"""Persistence of meetings and participants.

Seats: ``meetings.admitted_count`` counts ADMITTED participants and only ever changes through a
conditional ``UPDATE ... WHERE admitted_count < capacity`` in the same transaction as the
participant's state change, so racing joins can never put a meeting above its capacity (a CHECK
constraint backs this up). On PostgreSQL the update's row lock serialises the seat changes of one
meeting and nothing else.

The hot path (join, leave, admit/deny/remove, and the meeting-and-participant read behind every
access check) runs on PostgreSQL as ONE hand-written statement each, on the database's asyncpg
pool (``Database.pg``): a join is a single CTE that locks the caller's participant row, takes the
seat with the same conditional update and inserts or updates the participant, so it costs one
round trip (asyncpg prepares each statement once per connection). The outcome columns the
statement returns say why nothing changed (meeting missing or ended, full, denied). A join the
meeting service has nothing cached for goes in "straight" (``join_straight``): the same statement
also decides the host's role and the name, and stands back, writing nothing, where a passcode or
the lobby would apply, so a first join costs one statement and no read before it. Rows come back
as mapped objects built without the ORM's per-attribute events (``_built``). SQLite (the embedded
default) runs the same transactions through SQLAlchemy behind the same methods.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import Table, and_, bindparam, delete, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import class_mapper, configure_mappers

from meetmesh.meeting.events.v1 import events_pb2 as ev
from services.kit import Database, FailedPrecondition, NotFound, PermissionDenied, ResourceExhausted
from services.kit.db import keyset
from services.kit.errors import Reason
from services.kit.events import meeting_event
from services.kit.outbox import Outbox
from services.kit.timestamps import to_timestamp, utcnow

from .models import (
    AttachmentRow,
    InvitationRow,
    MeetingRow,
    ParticipantRow,
    RecordingRow,
    TranscriptRow,
)

WAITING, ADMITTED, DENIED, REMOVED, LEFT = "waiting", "admitted", "denied", "removed", "left"
ENDED = "ended"


# Built once: the hot read of every meeting call.
_MEETING_AND_PARTICIPANT = (
    select(MeetingRow, ParticipantRow)
    .outerjoin(
        ParticipantRow,
        and_(ParticipantRow.meeting_id == MeetingRow.id, ParticipantRow.user_id == bindparam("uid")),
    )
    .where(MeetingRow.id == bindparam("mid"))
)

_MEETINGS: Table = MeetingRow.__table__  # type: ignore[assignment]
_PARTICIPANTS: Table = ParticipantRow.__table__  # type: ignore[assignment]
_P_BY_USER = select(_PARTICIPANTS).where(
    _PARTICIPANTS.c.meeting_id == bindparam("mid"), _PARTICIPANTS.c.user_id == bindparam("uid")
)
_P_BY_ID = select(_PARTICIPANTS).where(
    _PARTICIPANTS.c.id == bindparam("pid"), _PARTICIPANTS.c.meeting_id == bindparam("mid")
)
_MEETING_BY_ID = select(_MEETINGS).where(_MEETINGS.c.id == bindparam("mid"))
# The seat reservation: one conditional UPDATE that also returns the meeting as updated.
_TAKE_SEAT = (
    update(_MEETINGS)
    .where(
        _MEETINGS.c.id == bindparam("mid"),
        _MEETINGS.c.admitted_count < _MEETINGS.c.capacity,
        _MEETINGS.c.state != ENDED,
    )
    .values(admitted_count=_MEETINGS.c.admitted_count + 1, state="active", update_time=bindparam("now"))
    .returning(*_MEETINGS.c)
)
_FREE_SEAT = (
    update(_MEETINGS)
    .where(_MEETINGS.c.id == bindparam("mid"), _MEETINGS.c.admitted_count > 0)
    .values(admitted_count=_MEETINGS.c.admitted_count - 1, update_time=bindparam("now"))
)


async def _meeting_on(conn: AsyncConnection, meeting_id: str) -> MeetingRow:
    found = (await conn.execute(_MEETING_BY_ID, {"mid": meeting_id})).first()
    if found is None:
        raise NotFound(f"meetings/{meeting_id} does not exist")
    return MeetingRow(**found._mapping)


async def _take_seat_on(conn: AsyncConnection, meeting_id: str, now: datetime) -> MeetingRow:
    """Take a seat or raise; returns the meeting as updated."""
    taken = (await conn.execute(_TAKE_SEAT, {"mid": meeting_id, "now": now})).first()
    if taken is not None:
        return MeetingRow(**taken._mapping)
    state = (await conn.execute(select(_MEETINGS.c.state).where(_MEETINGS.c.id == meeting_id))).scalar()
    if state is None:
        raise NotFound(f"meetings/{meeting_id} does not exist")
    if state == ENDED:
        raise FailedPrecondition("the meeting has ended", reason=Reason.ERROR_REASON_MEETING_ENDED)
    raise ResourceExhausted("the meeting is full", retry_after_s=5, reason=Reason.ERROR_REASON_MEETING_FULL)


def new_id() -> str:
    return uuid.uuid4().hex


def participant_id_for(meeting_id: str, user_id: str) -> str:
    """The id of an account's participant in a meeting: derived from the two, so every join of
    that account (the first, and each one after a leave) names the same participant before the
    join statement runs. The join path starts the participant's live generation under this id
    before it takes the seat (api/joining.py); with a random id, a join whose participant row
    already existed found it under another id and had to start the generation again, with two
    more Redis calls and a read (rows from before 2026-12 keep their random ids and still take
    that way). 32 hex digits, as ``new_id``; an account has one participant per meeting
    (``uq_participants_meeting_user``), so the id is unique as the pair is."""
    digest = hashlib.blake2b(f"{meeting_id}/{user_id}".encode(), digest_size=16, person=b"mm-participant")
    return digest.hexdigest()


def durable_event(meeting: Any, **event: Any) -> ev.MeetingEvent:
    """The outbox copy of a meeting event: stamped with the meeting's host and title."""
    message = meeting_event(meeting.id, **event)
    message.host = meeting.host_user_id
    message.title = meeting.title
    return message


# A participant's new state -> the MeetingEvent field that reports it.
_STATE_EVENT = {
    WAITING: "participant_waiting",
    ADMITTED: "participant_admitted",
    DENIED: "participant_denied",
    REMOVED: "participant_removed",
    LEFT: "participant_left",
}
_EVENT_TYPE = ev.MeetingEvent.DESCRIPTOR.full_name


def _event_head(meeting_id: str, state: str) -> tuple[bytes, bytes]:
    """For the PostgreSQL statements, which assemble a participant event's bytes themselves:
    the serialized ``meeting`` and ``time`` fields, and the tag of the oneof field for ``state``.
    (Protobuf messages concatenate: fields may follow in any order.)"""
    head = meeting_event(meeting_id).SerializeToString()
    number = ev.MeetingEvent.DESCRIPTOR.fields_by_name[_STATE_EVENT[state]].number
    return head, bytes([(number << 3) | 2])


def _pb_varint(length: str) -> str:
    """SQL: a protobuf varint of ``length`` (< 16384)."""
    return (
        f"(CASE WHEN {length} < 128 THEN set_byte('\\x00'::bytea, 0, {length}) "
        f"ELSE set_byte(set_byte('\\x0000'::bytea, 0, ({length} % 128) + 128), 1, {length} / 128) END)"
    )


def _pb_string(tag: str, value: str) -> str:
    """SQL: a length-delimited protobuf field (``tag`` in hex) holding the text ``value``."""
    data = f"convert_to({value}, 'UTF8')"
    return f"('\\x{tag}'::bytea || {_pb_varint(f'octet_length({data})')} || {data})"


def _pg_outbox_insert(schema: str, time_param: str) -> str:
    """SQL: the CTE body writing a participant event to the outbox from the rows ``pp``
    (participant) and ``mm`` (meeting) in the FROM clause the caller appends; ``$a`` is the key,
    ``$b`` the head, ``$c`` the oneof tag (see ``_event_head``)."""
    change = f"({_pb_string('0a', 'pp.id')} || {_pb_string('12', 'pp.user_id')})"
    return (
        f'INSERT INTO "{schema}".meeting_outbox (key, event_type, payload, create_time) '
        f"SELECT $a::text, '{_EVENT_TYPE}', $b::bytea || {_pb_string('1a', 'mm.host_user_id')} "
        f"|| {_pb_string('22', 'mm.title')} || $c::bytea "
        f"|| set_byte('\\x00'::bytea, 0, octet_length({change})) || {change}, {time_param}"
    )


# -- the PostgreSQL hot path: one statement per operation ---------------------------------------
_M_COLS = tuple(c.name for c in _MEETINGS.c)
_P_COLS = tuple(c.name for c in _PARTICIPANTS.c)


def _aliased(alias: str, cols: Sequence[str], prefix: str) -> str:
    return ", ".join(f"{alias}.{c} AS {prefix}{c}" for c in cols)


def _row_from(record: asyncpg.Record, cols: Sequence[str], prefix: str) -> dict[str, Any] | None:
    if record[f"{prefix}id"] is None:
        return None
    return {c: record[f"{prefix}{c}"] for c in cols}


_R = TypeVar("_R", MeetingRow, ParticipantRow)
_J = TypeVar("_J")


def _built(cls: type[_R], values: dict[str, Any]) -> _R:
    """A row object from a hand-written statement's columns, built the way SQLAlchemy's own
    loading builds one: the values go into the instance's dict, without the constructor's
    per-attribute change events (about 25 us a meeting; nothing ever flushes these objects)."""
    row: _R = _MANAGERS[cls].new_instance()
    row.__dict__.update(values)
    return row


configure_mappers()  # the managers below need their attributes set up before a first constructor
_MANAGERS: dict[type[Any], Any] = {
    cls: class_mapper(cls).class_manager for cls in (MeetingRow, ParticipantRow)
}


def _pg_statements(schema: str) -> dict[str, str]:
    """The hot statements with the service's real schema, built once per store.

    Every parameter carries its type at every use, so PostgreSQL never has to guess between
    ``text`` and ``varchar``."""
    m, p = f'"{schema}".meetings', f'"{schema}".participants'
    m_cols, p_cols = _aliased("mm", _M_COLS, "m_"), _aliased("pp", _P_COLS, "p_")
    # The participant event goes to the outbox in the same statement ($8.. / $6..: key, head, tag).
    event = _pg_outbox_insert(schema, "{time}")
    join_event = (
        event.replace("$a", "$8")
        .replace("$b", "$9")
        .replace("$c", "$10")
        .replace("{time}", "$6::timestamptz")
    )
    transition_event = (
        event.replace("$a", "$6").replace("$b", "$7").replace("$c", "$8").replace("{time}", "$4::timestamptz")
    )
    # $1 meeting, $2 user, $3 display name ('': the participant's earlier one, else $14), $4 role
    # of a new participant ($13 instead when the user hosts the meeting), $5 target state, $6 now,
    # $7 new participant id, $11 false for a straight join: one made without reading the meeting
    # first, which must not happen ("gated") where a passcode or the lobby ($12: the roles that
    # bypass it) would apply; the caller then takes the checked way.
    gate = (
        f"NOT $11::boolean AND EXISTS (SELECT 1 FROM {m} AS gm WHERE gm.id = $1::text "  # noqa: S608
        "AND gm.host_user_id <> $2::text AND (gm.passcode_hash IS NOT NULL OR (gm.lobby_enabled "
        "AND NOT COALESCE((SELECT role FROM prior), $4::text) = ANY($12::text[]))))"
    )
    # The only interpolations are the schema (an identifier from configuration, quoted) and
    # constants of this module: no request data ever reaches the text.
    join = f"""
WITH prior AS (
  SELECT * FROM {p} WHERE meeting_id = $1::text AND user_id = $2::text FOR UPDATE
), go AS (
  SELECT NOT EXISTS (SELECT 1 FROM prior WHERE state <> '{LEFT}') AND NOT ({gate}) AS ok
), seat AS (
  UPDATE {m} SET admitted_count = admitted_count + 1, state = 'active', update_time = $6::timestamptz
  WHERE id = $1::text AND $5::text = '{ADMITTED}' AND admitted_count < capacity
    AND state <> '{ENDED}' AND (SELECT ok FROM go)
  RETURNING *
), allowed AS (
  SELECT (SELECT ok FROM go) AND ($5::text <> '{ADMITTED}' OR EXISTS (SELECT 1 FROM seat)) AS ok
), rejoined AS (
  UPDATE {p} AS t
  SET display_name = COALESCE(NULLIF($3::text, ''), NULLIF(prior.display_name, ''), $14::text),
    state = $5::text, update_time = $6::timestamptz,
    admit_time = CASE WHEN $5::text = '{ADMITTED}' THEN $6::timestamptz END
  FROM prior WHERE t.id = prior.id AND (SELECT ok FROM allowed)
  RETURNING t.*
), inserted AS (
  INSERT INTO {p} ({", ".join(_P_COLS)})
  SELECT $7::text, $1::text, $2::text, COALESCE(NULLIF($3::text, ''), $14::text),
    CASE WHEN (SELECT host_user_id FROM {m} WHERE id = $1::text) = $2::text
      THEN $13::text ELSE $4::text END, $5::text, $6::timestamptz,
    CASE WHEN $5::text = '{ADMITTED}' THEN $6::timestamptz END, $6::timestamptz
  WHERE NOT EXISTS (SELECT 1 FROM prior) AND (SELECT ok FROM allowed)
    AND ($5::text = '{ADMITTED}' OR EXISTS (
      SELECT 1 FROM {m} WHERE id = $1::text AND state <> '{ENDED}'))
  RETURNING *
), outbox AS (
  {join_event}
  FROM (SELECT * FROM rejoined UNION ALL SELECT * FROM inserted) AS pp,
       (SELECT * FROM seat UNION ALL
        SELECT * FROM {m} WHERE id = $1::text AND NOT EXISTS (SELECT 1 FROM seat)) AS mm
)
SELECT g.prior_state, g.changed, g.gated, {p_cols}, {m_cols}
FROM (SELECT (SELECT state FROM prior) AS prior_state,
             EXISTS (SELECT 1 FROM rejoined) OR EXISTS (SELECT 1 FROM inserted) AS changed,
             NOT EXISTS (SELECT 1 FROM prior WHERE state <> '{LEFT}') AND ({gate}) AS gated) AS g
LEFT JOIN (SELECT * FROM rejoined UNION ALL SELECT * FROM inserted
           UNION ALL SELECT * FROM prior WHERE state <> '{LEFT}') AS pp ON true
LEFT JOIN (SELECT * FROM seat UNION ALL
           SELECT * FROM {m} WHERE id = $1::text AND NOT EXISTS (SELECT 1 FROM seat)) AS mm ON true
"""  # noqa: S608
    # $1 meeting, $2 participant, $3 target state, $4 now, $5 the states it may move from.
    # (``freed`` runs although nothing reads it: PostgreSQL runs every data-modifying CTE.)
    transition = f"""
WITH prior AS (
  SELECT * FROM {p} WHERE id = $2::text AND meeting_id = $1::text FOR UPDATE
), go AS (
  SELECT EXISTS (SELECT 1 FROM prior WHERE state = ANY($5::text[])) AS ok
), seat AS (
  UPDATE {m} SET admitted_count = admitted_count + 1, state = 'active', update_time = $4::timestamptz
  WHERE id = $1::text AND $3::text = '{ADMITTED}' AND admitted_count < capacity
    AND state <> '{ENDED}' AND (SELECT ok FROM go)
  RETURNING id
), freed AS (
  UPDATE {m} SET admitted_count = admitted_count - 1, update_time = $4::timestamptz
  WHERE id = $1::text AND $3::text <> '{ADMITTED}' AND admitted_count > 0 AND (SELECT ok FROM go)
    AND EXISTS (SELECT 1 FROM prior WHERE state = '{ADMITTED}')
  RETURNING id
), moved AS (
  UPDATE {p} AS t SET state = $3::text, update_time = $4::timestamptz,
    admit_time = CASE WHEN $3::text = '{ADMITTED}' THEN $4::timestamptz ELSE t.admit_time END
  FROM prior WHERE t.id = prior.id AND (SELECT ok FROM go)
    AND ($3::text <> '{ADMITTED}' OR EXISTS (SELECT 1 FROM seat))
  RETURNING t.*
), outbox AS (
  {transition_event}
  FROM moved AS pp, (SELECT * FROM {m} WHERE id = $1::text) AS mm
)
SELECT (SELECT state FROM prior) AS prior_state,
       (SELECT state FROM {m} WHERE id = $1::text) AS meeting_state, {p_cols}
FROM (SELECT 1) AS one LEFT JOIN moved AS pp ON true
"""  # noqa: S608
    read = f"""
SELECT {m_cols}, {p_cols}
FROM {m} AS mm LEFT JOIN {p} AS pp ON pp.meeting_id = mm.id AND pp.user_id = $2::text
WHERE mm.id = $1::text
"""  # noqa: S608
    return {"join": join, "transition": transition, "read": read}


def _seat_refused(meeting_state: str | None, meeting_id: str) -> Exception:
    """Why a seat could not be taken, from the meeting's state (None: no such meeting)."""
    if meeting_state is None:
        return NotFound(f"meetings/{meeting_id} does not exist")
    if meeting_state == ENDED:
        return FailedPrecondition("the meeting has ended", reason=Reason.ERROR_REASON_MEETING_ENDED)
    return ResourceExhausted("the meeting is full", retry_after_s=5, reason=Reason.ERROR_REASON_MEETING_FULL)


@dataclass(frozen=True)
class JoinRules:
    """What the join statement needs of the access rules (``access.py`` owns them)."""

    host_role: str
    lobby_bypass: tuple[str, ...]
    #: A participant who gives no name and has none on record (the handler's last resort too).
    default_name: str


class MeetingStore:
    def __init__(self, db: Database, outbox: Outbox, rules: JoinRules) -> None:
        self.db = db
        self._pg = None if db.sqlite or db.schema is None else _pg_statements(db.schema)
        self.rules = rules
        # Durable events go to this outbox in the transaction (or statement) of their change.
        self.outbox = outbox

    async def _record(self, conn: Any, meeting: Any, state: str, participant: str, user: str) -> None:
        change = ev.ParticipantChange(participant=participant, user=user)
        await self.outbox.append(conn, durable_event(meeting, **{_STATE_EVENT[state]: change}))

    # -- meetings --------------------------------------------------------------------------------
    async def create_meeting(self, values: dict[str, Any]) -> MeetingRow:
        """Insert a meeting; with a ``request_id`` already used by the same host, return that one."""
        now = utcnow()
        row = MeetingRow(
            id=new_id(), create_time=now, update_time=now, admitted_count=0, state="scheduled", **values
        )
        try:
            async with self.db.transaction() as session:
                session.add(row)
        except IntegrityError:
            if not values.get("request_id"):
                raise
            existing = await self._by_request(values["host_user_id"], values["request_id"])
            if existing is None:
                raise
            return existing
        return row

    async def _by_request(self, host: str, request_id: str) -> MeetingRow | None:
        async with self.db.reader() as session:
            query = select(MeetingRow).where(
                MeetingRow.host_user_id == host, MeetingRow.request_id == request_id
            )
            return (await session.execute(query)).scalar_one_or_none()

    async def meeting(self, meeting_id: str) -> MeetingRow | None:
        async with self.db.reader() as session:
            return await session.get(MeetingRow, meeting_id)

    async def meeting_and_participant(
        self, meeting_id: str, user_id: str
    ) -> tuple[MeetingRow | None, ParticipantRow | None]:
        """A meeting and the user's participant in it (the hot path of every meeting call)."""
        if self._pg is not None:
            pool = await self.db.pg()
            record = await pool.fetchrow(self._pg["read"], meeting_id, user_id)
            if record is None:
                return None, None
            p_values = _row_from(record, _P_COLS, "p_")
            m_values = _row_from(record, _M_COLS, "m_")
            return (
                _built(MeetingRow, m_values) if m_values is not None else None,
                _built(ParticipantRow, p_values) if p_values is not None else None,
            )
        async with self.db.reader() as session:
            found = (
                await session.execute(_MEETING_AND_PARTICIPANT, {"mid": meeting_id, "uid": user_id})
            ).first()
            if found is None:
                return None, None
            return found[0], found[1]

    async def is_invited(self, meeting_id: str, email: str) -> bool:
        async with self.db.reader() as session:
            query = select(
                exists().where(InvitationRow.meeting_id == meeting_id, InvitationRow.email == email)
            )
            return bool((await session.execute(query)).scalar())

    async def update_meeting(self, meeting_id: str, values: dict[str, Any]) -> MeetingRow:
        async with self.db.transaction() as session:
            row = await session.get(MeetingRow, meeting_id, with_for_update=not self.db.sqlite)
            if row is None:
                raise NotFound(f"meetings/{meeting_id} does not exist")
            if row.state == ENDED:
                raise FailedPrecondition("the meeting has ended", reason=Reason.ERROR_REASON_MEETING_ENDED)
            capacity = values.get("capacity")
            if capacity is not None and capacity < row.admitted_count:
                raise FailedPrecondition(
                    f"capacity {capacity} is below the {row.admitted_count} participants admitted now"
                )
            for key, value in values.items():
                setattr(row, key, value)
            row.update_time = utcnow()
        return row

    async def end_meeting(self, meeting_id: str) -> MeetingRow:
        now = utcnow()
        async with self.db.transaction() as session:
            row = await session.get(MeetingRow, meeting_id, with_for_update=not self.db.sqlite)
            if row is None:
                raise NotFound(f"meetings/{meeting_id} does not exist")
            await session.execute(
                update(ParticipantRow)
                .where(ParticipantRow.meeting_id == meeting_id, ParticipantRow.state.in_((ADMITTED, WAITING)))
                .values(state=LEFT, update_time=now)
            )
            row.state = ENDED
            row.admitted_count = 0
            row.update_time = now
            await self.outbox.append(session, durable_event(row, meeting_ended=ev.MeetingEnded()))
        return row

    async def meetings_for(
        self, user_id: str, email: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[MeetingRow]:
        """Meetings the user hosts, has joined or is invited to; newest first."""
        joined = select(ParticipantRow.meeting_id).where(ParticipantRow.user_id == user_id)
        visible = [MeetingRow.host_user_id == user_id, MeetingRow.id.in_(joined)]
        if email:
            visible.append(
                MeetingRow.id.in_(select(InvitationRow.meeting_id).where(InvitationRow.email == email))
            )
        query = keyset(
            select(MeetingRow).where(or_(*visible)),
            MeetingRow.create_time,
            MeetingRow.id,
            after,
            limit,
            newest_first=True,
        )
        async with self.db.reader() as session:
            return list((await session.execute(query)).scalars())

    # -- participants ----------------------------------------------------------------------------
    async def join(
        self,
        meeting_id: str,
        user_id: str,
        display_name: str,
        role: str,
        *,
        wait_in_lobby: bool,
        participant_id: str | None = None,
    ) -> tuple[ParticipantRow, bool, MeetingRow]:
        """The caller's participant after joining, whether this call changed it, and the meeting
        as it stands after the join. A new participant gets ``participant_id`` (a fresh id when
        None); an existing one keeps its own."""
        new = participant_id or new_id()
        if self._pg is not None:
            joined = await self._twice(
                self._join_pg, meeting_id, user_id, display_name, role, wait_in_lobby, new, checked=True
            )
            assert joined is not None  # only a straight join is ever gated
            return joined
        return await self._twice(self._join_once, meeting_id, user_id, display_name, role, wait_in_lobby, new)

    @property
    def straight_joins(self) -> bool:
        """Whether :meth:`join_straight` is available (PostgreSQL)."""
        return self._pg is not None

    async def join_straight(
        self, meeting_id: str, user_id: str, display_name: str, role: str, participant_id: str
    ) -> tuple[ParticipantRow, bool, MeetingRow] | None:
        """A join straight into a seat without reading the meeting first (PostgreSQL only): the
        statement itself gives the host its role and falls back to the participant's earlier
        name (``display_name`` may be empty). None, with nothing written, where the meeting asks
        this caller for a passcode or puts them in the lobby: then the checked :meth:`join`."""
        return await self._twice(
            self._join_pg, meeting_id, user_id, display_name, role, False, participant_id, checked=False
        )

    @staticmethod
    async def _twice(join: Callable[..., Awaitable[_J]], *args: Any, **kwargs: Any) -> _J:
        """A join, once more if the same user joined concurrently (its insert lost the race on
        the unique (meeting, user) key: the second round finds that row)."""
        for _ in range(2):
            try:
                return await join(*args, **kwargs)
            except (IntegrityError, asyncpg.UniqueViolationError):
                continue
        raise FailedPrecondition("concurrent joins by the same account; retry")

    async def _join_pg(
        self,
        meeting_id: str,
        user_id: str,
        display_name: str,
        role: str,
        wait_in_lobby: bool,
        pid: str,
        *,
        checked: bool,
    ) -> tuple[ParticipantRow, bool, MeetingRow] | None:
        """The join as one statement (see the module's docstring)."""
        assert self._pg is not None
        state = WAITING if wait_in_lobby else ADMITTED
        pool = await self.db.pg()
        head, tag = _event_head(meeting_id, state)
        record = await pool.fetchrow(
            self._pg["join"],
            meeting_id,
            user_id,
            display_name,
            role,
            state,
            utcnow(),
            pid,
            new_id(),
            head,
            tag,
            checked,
            self.rules.lobby_bypass,
            self.rules.host_role,
            self.rules.default_name,
        )
        if record is not None and record["changed"]:
            self.outbox.kick()
        assert record is not None  # the statement always returns its one outcome row
        if record["gated"]:
            return None
        m_values = _row_from(record, _M_COLS, "m_")
        if m_values is None:
            raise NotFound(f"meetings/{meeting_id} does not exist")
        meeting = _built(MeetingRow, m_values)
        if record["prior_state"] in (DENIED, REMOVED):
            raise PermissionDenied(
                "you may not join this meeting", reason=Reason.ERROR_REASON_ADMISSION_DENIED
            )
        p_values = _row_from(record, _P_COLS, "p_")
        if p_values is None:
            raise _seat_refused(meeting.state, meeting_id)
        return _built(ParticipantRow, p_values), bool(record["changed"]), meeting

    async def _join_once(
        self, meeting_id: str, user_id: str, display_name: str, role: str, wait_in_lobby: bool, pid: str
    ) -> tuple[ParticipantRow, bool, MeetingRow]:
        # Core statements on one connection: the hottest write path, without the ORM's unit of work.
        now = utcnow()
        async with self.db.engine.begin() as conn:
            query = _P_BY_USER if self.db.sqlite else _P_BY_USER.with_for_update()
            found = (await conn.execute(query, {"mid": meeting_id, "uid": user_id})).first()
            if found is not None and found.state in (ADMITTED, WAITING):
                return ParticipantRow(**found._mapping), False, await _meeting_on(conn, meeting_id)
            if found is not None and found.state in (DENIED, REMOVED):
                raise PermissionDenied(
                    "you may not join this meeting", reason=Reason.ERROR_REASON_ADMISSION_DENIED
                )
            state = WAITING if wait_in_lobby else ADMITTED
            meeting = await _take_seat_on(conn, meeting_id, now) if state == ADMITTED else None
            values: dict[str, Any] = {
                "display_name": display_name,
                "state": state,
                "admit_time": now if state == ADMITTED else None,
                "update_time": now,
            }
            if found is None:
                values.update(id=pid, meeting_id=meeting_id, user_id=user_id, role=role, create_time=now)
                await conn.execute(insert(_PARTICIPANTS).values(**values))
                row = ParticipantRow(**values)
            else:  # LEFT: back in through the same door
                await conn.execute(
                    update(_PARTICIPANTS).where(_PARTICIPANTS.c.id == found.id).values(**values)
                )
                row = ParticipantRow(**{**found._mapping, **values})
            if meeting is None:
                meeting = await _meeting_on(conn, meeting_id)
            await self._record(conn, meeting, state, row.id, user_id)
        return row, True, meeting

    async def participant(self, meeting_id: str, participant_id: str) -> ParticipantRow | None:
        async with self.db.reader() as session:
            row = await session.get(ParticipantRow, participant_id)
            return row if row is not None and row.meeting_id == meeting_id else None

    async def transition(
        self, meeting_id: str, participant_id: str, *, allowed_from: Sequence[str], to: str
    ) -> ParticipantRow:
        """Move a participant between states, taking or freeing its seat as needed."""
        now = utcnow()
        if self._pg is not None:
            pool = await self.db.pg()
            head, tag = _event_head(meeting_id, to)
            record = await pool.fetchrow(
                self._pg["transition"],
                meeting_id,
                participant_id,
                to,
                now,
                list(allowed_from),
                new_id(),
                head,
                tag,
            )
            self.outbox.kick()
            assert record is not None  # the statement always returns its one outcome row
            prior = record["prior_state"]
            if prior is None:
                raise NotFound(f"meetings/{meeting_id}/participants/{participant_id} does not exist")
            if prior not in allowed_from:
                raise FailedPrecondition(
                    f"the participant is {prior.upper()}, not {' or '.join(allowed_from).upper()}"
                )
            moved = _row_from(record, _P_COLS, "p_")
            if moved is None:
                raise _seat_refused(record["meeting_state"], meeting_id)
            return _built(ParticipantRow, moved)
        async with self.db.engine.begin() as conn:
            query = _P_BY_ID if self.db.sqlite else _P_BY_ID.with_for_update()
            found = (await conn.execute(query, {"mid": meeting_id, "pid": participant_id})).first()
            if found is None:
                raise NotFound(f"meetings/{meeting_id}/participants/{participant_id} does not exist")
            if found.state not in allowed_from:
                raise FailedPrecondition(
                    f"the participant is {found.state.upper()}, not {' or '.join(allowed_from).upper()}"
                )
            values: dict[str, Any] = {"state": to, "update_time": now}
            if to == ADMITTED:
                meeting = await _take_seat_on(conn, meeting_id, now)
                values["admit_time"] = now
            else:
                if found.state == ADMITTED:
                    await conn.execute(_FREE_SEAT, {"mid": meeting_id, "now": now})
                meeting = await _meeting_on(conn, meeting_id)
            await conn.execute(
                update(_PARTICIPANTS).where(_PARTICIPANTS.c.id == participant_id).values(**values)
            )
            await self._record(conn, meeting, to, participant_id, found.user_id)
        return ParticipantRow(**{**found._mapping, **values})

    async def set_role(self, meeting_id: str, participant_id: str, role: str) -> ParticipantRow:
        async with self.db.transaction() as session:
            row = await session.get(ParticipantRow, participant_id, with_for_update=not self.db.sqlite)
            if row is None or row.meeting_id != meeting_id:
                raise NotFound(f"meetings/{meeting_id}/participants/{participant_id} does not exist")
            row.role = role
            row.update_time = utcnow()
        return row

    async def participants(
        self, meeting_id: str, state: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[ParticipantRow]:
        query = select(ParticipantRow).where(ParticipantRow.meeting_id == meeting_id)
        if state:
            query = query.where(ParticipantRow.state == state)
        query = keyset(query, ParticipantRow.create_time, ParticipantRow.id, after, limit)
        async with self.db.reader() as session:
            return list((await session.execute(query)).scalars())

    # -- invitations and recordings --------------------------------------------------------------
    async def invite(
        self, meeting_id: str, email: str, inviter: str, inviter_name: str = ""
    ) -> InvitationRow:
        row = InvitationRow(
            id=new_id(), meeting_id=meeting_id, email=email, inviter_user_id=inviter, create_time=utcnow()
        )
        try:
            async with self.db.transaction() as session:
                session.add(row)
                await session.flush()  # a second invitation of the address fails here
                meeting = await session.get(MeetingRow, meeting_id)
                if meeting is None:
                    raise NotFound(f"meetings/{meeting_id} does not exist")
                created = ev.InvitationCreated(
                    invitation=f"meetings/{meeting_id}/invitations/{row.id}",
                    email=email,
                    inviter=inviter,
                    description=meeting.description,
                    inviter_name=inviter_name,
                )
                start, end = to_timestamp(meeting.start_time), to_timestamp(meeting.end_time)
                if start is not None:
                    created.start_time.CopyFrom(start)
                if end is not None:
                    created.end_time.CopyFrom(end)
                await self.outbox.append(session, durable_event(meeting, invitation_created=created))
        except IntegrityError:
            async with self.db.reader() as session:
                query = select(InvitationRow).where(
                    InvitationRow.meeting_id == meeting_id, InvitationRow.email == email
                )
                return (await session.execute(query)).scalar_one()
        return row

    async def invitations(
        self, meeting_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[InvitationRow]:
        query = keyset(
            select(InvitationRow).where(InvitationRow.meeting_id == meeting_id),
            InvitationRow.create_time,
            InvitationRow.id,
            after,
            limit,
        )
        async with self.db.reader() as session:
            return list((await session.execute(query)).scalars())

    async def recordings(
        self, meeting_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[RecordingRow]:
        query = keyset(
            select(RecordingRow).where(RecordingRow.meeting_id == meeting_id),
            RecordingRow.create_time,
            RecordingRow.id,
            after,
            limit,
        )
        async with self.db.reader() as session:
            return list((await session.execute(query)).scalars())

    async def add_recording(self, meeting_id: str, values: dict[str, Any]) -> RecordingRow:
        meeting = await self.meeting(meeting_id)
        if meeting is None:
            raise NotFound(f"meetings/{meeting_id} does not exist")
        row = RecordingRow(id=new_id(), meeting_id=meeting_id, create_time=utcnow(), **values)
        ready = ev.RecordingReady(recording=f"meetings/{meeting_id}/recordings/{row.id}")
        async with self.db.transaction() as session:
            session.add(row)
            await self.outbox.append(session, durable_event(meeting, recording_ready=ready))
        return row

    async def recording(self, meeting_id: str, recording_id: str) -> RecordingRow | None:
        async with self.db.reader() as session:
            row: RecordingRow | None = await session.get(RecordingRow, recording_id)
        return row if row is not None and row.meeting_id == meeting_id else None

    async def set_renditions(self, meeting_id: str, recording_id: str, renditions: str) -> RecordingRow:
        """Replace a recording's renditions (JSON); NotFound for a recording of no such meeting."""
        async with self.db.transaction() as session:
            row: RecordingRow | None = await session.get(RecordingRow, recording_id, with_for_update=True)
            if row is None or row.meeting_id != meeting_id:
                raise NotFound(f"meetings/{meeting_id}/recordings/{recording_id} does not exist")
            row.renditions = renditions
        return row

    # -- transcripts -------------------------------------------------------------------------------
    async def complete_transcript(self, meeting_id: str, segment_count: int) -> tuple[TranscriptRow, bool]:
        """Record the ended meeting's transcript complete and write its ``transcript_ready`` event,
        once: a second call returns the recorded row and False, and writes nothing. NotFound for no
        such meeting, FailedPrecondition for a meeting that has not ended."""
        async with self.db.transaction() as session:
            # The meeting's row lock (PostgreSQL) orders concurrent calls: the second sees the first's row.
            meeting = await session.get(MeetingRow, meeting_id, with_for_update=not self.db.sqlite)
            if meeting is None:
                raise NotFound(f"meetings/{meeting_id} does not exist")
            if meeting.state != ENDED:
                raise FailedPrecondition(f"meetings/{meeting_id} has not ended: its transcript may grow")
            done: TranscriptRow | None = await session.get(TranscriptRow, meeting_id)
            if done is not None:
                return done, False
            row = TranscriptRow(meeting_id=meeting_id, segment_count=segment_count, ready_time=utcnow())
            session.add(row)
            name = f"meetings/{meeting_id}/transcript"
            ready = ev.TranscriptReady(transcript=name, segment_count=segment_count)
            # The event's key is the transcript's: consumers deduplicate it by what it is about too.
            key = uuid.uuid5(uuid.NAMESPACE_URL, f"meetmesh:{name}").hex
            await self.outbox.append(session, durable_event(meeting, transcript_ready=ready), key=key)
        return row, True

    # -- attachments -------------------------------------------------------------------------------
    async def add_attachment(self, meeting_id: str, values: dict[str, Any]) -> AttachmentRow:
        attachment_id = new_id()
        row = AttachmentRow(
            id=attachment_id,
            meeting_id=meeting_id,
            object_key=f"meetings/{meeting_id}/attachments/{attachment_id}",
            state="pending",
            create_time=utcnow(),
            **values,
        )
        async with self.db.transaction() as session:
            session.add(row)
        return row

    async def attachment(self, meeting_id: str, attachment_id: str) -> AttachmentRow | None:
        async with self.db.reader() as session:
            row = await session.get(AttachmentRow, attachment_id)
        return row if row is not None and row.meeting_id == meeting_id else None

    async def mark_attachment_ready(self, attachment_id: str) -> AttachmentRow | None:
        async with self.db.transaction() as session:
            row = await session.get(AttachmentRow, attachment_id, with_for_update=not self.db.sqlite)
            if row is not None:
                row.state = "ready"
        return row

    async def delete_attachment(self, attachment_id: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(delete(AttachmentRow).where(AttachmentRow.id == attachment_id))

    async def delete_attachments(self, meeting_id: str) -> int:
        """Forget every attachment of a meeting (its files are removed by the caller)."""
        async with self.db.transaction() as session:
            result = await session.execute(
                delete(AttachmentRow).where(AttachmentRow.meeting_id == meeting_id)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def attachments(
        self, meeting_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[AttachmentRow]:
        query = keyset(
            select(AttachmentRow).where(
                AttachmentRow.meeting_id == meeting_id, AttachmentRow.state == "ready"
            ),
            AttachmentRow.create_time,
            AttachmentRow.id,
            after,
            limit,
        )
        async with self.db.reader() as session:
            return list((await session.execute(query)).scalars())
