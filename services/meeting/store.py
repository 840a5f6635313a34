"""Persistence of meetings and participants.

Seats: ``meetings.admitted_count`` counts ADMITTED participants and only ever changes through a
conditional ``UPDATE ... WHERE admitted_count < capacity`` in the same transaction as the
participant's state change, so racing joins can never put a meeting above its capacity (a CHECK
constraint backs this up). On PostgreSQL the update's row lock serialises the seat changes of one
meeting and nothing else.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.kit import Database, FailedPrecondition, NotFound, PermissionDenied, ResourceExhausted
from services.kit.db import keyset
from services.kit.timestamps import utcnow

from .models import InvitationRow, MeetingRow, ParticipantRow, RecordingRow

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

_PARTICIPANT_OF_USER = select(ParticipantRow).where(
    ParticipantRow.meeting_id == bindparam("mid"), ParticipantRow.user_id == bindparam("uid")
)
_PARTICIPANT_OF_USER_FOR_UPDATE = _PARTICIPANT_OF_USER.with_for_update()
# The seat reservation: one conditional UPDATE that also returns the meeting as updated.
_TAKE_SEAT = (
    update(MeetingRow)
    .where(
        MeetingRow.id == bindparam("mid"),
        MeetingRow.admitted_count < MeetingRow.capacity,
        MeetingRow.state != ENDED,
    )
    .values(admitted_count=MeetingRow.admitted_count + 1, state="active", update_time=bindparam("now"))
    .returning(MeetingRow)
)
_NO_SYNC = {"synchronize_session": False}


def new_id() -> str:
    return uuid.uuid4().hex


class MeetingStore:
    def __init__(self, db: Database) -> None:
        self.db = db

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
                raise FailedPrecondition("the meeting has ended", reason="MEETING_ENDED")
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

    # -- seats -----------------------------------------------------------------------------------
    @staticmethod
    async def _take_seat(session: AsyncSession, meeting_id: str) -> MeetingRow:
        """Take a seat or raise; returns the meeting as updated."""
        taken = (
            await session.execute(
                _TAKE_SEAT, {"mid": meeting_id, "now": utcnow()}, execution_options=_NO_SYNC
            )
        ).scalar_one_or_none()
        if taken is not None:
            return taken
        state = (await session.execute(select(MeetingRow.state).where(MeetingRow.id == meeting_id))).scalar()
        if state is None:
            raise NotFound(f"meetings/{meeting_id} does not exist")
        if state == ENDED:
            raise FailedPrecondition("the meeting has ended", reason="MEETING_ENDED")
        raise ResourceExhausted("the meeting is full", retry_after_s=5, reason="MEETING_FULL")

    @staticmethod
    async def _free_seat(session: AsyncSession, meeting_id: str) -> None:
        await session.execute(
            update(MeetingRow)
            .where(MeetingRow.id == meeting_id, MeetingRow.admitted_count > 0)
            .values(admitted_count=MeetingRow.admitted_count - 1, update_time=utcnow())
        )

    # -- participants ----------------------------------------------------------------------------
    async def join(
        self, meeting_id: str, user_id: str, display_name: str, role: str, *, wait_in_lobby: bool
    ) -> tuple[ParticipantRow, bool, MeetingRow]:
        """The caller's participant after joining, whether this call changed it, and the meeting
        as it stands after the join."""
        for _ in range(2):
            try:
                return await self._join_once(meeting_id, user_id, display_name, role, wait_in_lobby)
            except IntegrityError:
                continue  # the same user joined concurrently: the next round finds that row
        raise FailedPrecondition("concurrent joins by the same account; retry")

    async def _join_once(
        self, meeting_id: str, user_id: str, display_name: str, role: str, wait_in_lobby: bool
    ) -> tuple[ParticipantRow, bool, MeetingRow]:
        now = utcnow()
        async with self.db.transaction() as session:
            query = _PARTICIPANT_OF_USER if self.db.sqlite else _PARTICIPANT_OF_USER_FOR_UPDATE
            row = (await session.execute(query, {"mid": meeting_id, "uid": user_id})).scalar_one_or_none()
            if row is not None and row.state in (ADMITTED, WAITING):
                return row, False, await self._meeting_in(session, meeting_id)
            if row is not None and row.state in (DENIED, REMOVED):
                raise PermissionDenied("you may not join this meeting", reason="ADMISSION_DENIED")
            state = WAITING if wait_in_lobby else ADMITTED
            meeting = await self._take_seat(session, meeting_id) if state == ADMITTED else None
            if row is None:
                row = ParticipantRow(
                    id=new_id(),
                    meeting_id=meeting_id,
                    user_id=user_id,
                    display_name=display_name,
                    role=role,
                    state=state,
                    create_time=now,
                    admit_time=now if state == ADMITTED else None,
                    update_time=now,
                )
                session.add(row)
            else:  # LEFT: back in through the same door
                row.state = state
                row.display_name = display_name
                row.admit_time = now if state == ADMITTED else None
                row.update_time = now
            if meeting is None:
                meeting = await self._meeting_in(session, meeting_id)
        return row, True, meeting

    @staticmethod
    async def _meeting_in(session: AsyncSession, meeting_id: str) -> MeetingRow:
        meeting = (await session.execute(select(MeetingRow).where(MeetingRow.id == meeting_id))).scalar_one()
        return meeting

    async def participant(self, meeting_id: str, participant_id: str) -> ParticipantRow | None:
        async with self.db.reader() as session:
            row = await session.get(ParticipantRow, participant_id)
            return row if row is not None and row.meeting_id == meeting_id else None

    async def transition(
        self, meeting_id: str, participant_id: str, *, allowed_from: Sequence[str], to: str
    ) -> ParticipantRow:
        """Move a participant between states, taking or freeing its seat as needed."""
        now = utcnow()
        async with self.db.transaction() as session:
            query = select(ParticipantRow).where(
                ParticipantRow.id == participant_id, ParticipantRow.meeting_id == meeting_id
            )
            if not self.db.sqlite:
                query = query.with_for_update()
            row = (await session.execute(query)).scalar_one_or_none()
            if row is None:
                raise NotFound(f"meetings/{meeting_id}/participants/{participant_id} does not exist")
            if row.state not in allowed_from:
                raise FailedPrecondition(
                    f"the participant is {row.state.upper()}, not {' or '.join(allowed_from).upper()}"
                )
            if to == ADMITTED:
                await self._take_seat(session, meeting_id)
                row.admit_time = now
            elif row.state == ADMITTED:
                await self._free_seat(session, meeting_id)
            row.state = to
            row.update_time = now
        return row

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
    async def invite(self, meeting_id: str, email: str, inviter: str) -> InvitationRow:
        row = InvitationRow(
            id=new_id(), meeting_id=meeting_id, email=email, inviter_user_id=inviter, create_time=utcnow()
        )
        try:
            async with self.db.transaction() as session:
                session.add(row)
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
