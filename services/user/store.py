"""Persistence of accounts."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any, cast

from google.protobuf.message import Message
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

from meetmesh.user.events.v1 import events_pb2 as ev
from services.kit import AlreadyExists, Database
from services.kit.db import keyset
from services.kit.outbox import Outbox
from services.kit.timestamps import to_timestamp, utcnow

from .models import OUTBOX, PasswordResetRow, UserRow


def user_event(row: UserRow, **event: Message) -> ev.UserEvent:
    """A durable event about the account ``row`` (one field of ``UserEvent``'s oneof)."""
    message = ev.UserEvent(user=row.id, email=row.email, display_name=row.display_name, **event)
    message.time.GetCurrentTime()
    return message


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    def __init__(self, db: Database, outbox: Outbox | None = None) -> None:
        self.db = db
        # Durable account events go to this outbox in the transaction of their change.
        self.outbox = outbox or Outbox(OUTBOX)

    async def create(self, *, email: str, password_hash: str, display_name: str) -> UserRow:
        now = utcnow()
        row = UserRow(
            id=uuid.uuid4().hex,
            email=email,
            password_hash=password_hash,
            display_name=display_name,
            avatar_uri="",
            avatar_key="",
            role="member",
            state="active",
            create_time=now,
            update_time=now,
        )
        try:
            async with self.db.transaction() as session:
                session.add(row)
                await session.flush()
                await self.outbox.append(session, user_event(row, registered=ev.Registered()))
        except IntegrityError:
            raise AlreadyExists("an account with this email already exists") from None
        return row

    async def by_email(self, email: str) -> UserRow | None:
        async with self.db.reader() as session:
            result = await session.execute(select(UserRow).where(UserRow.email == email))
            return result.scalar_one_or_none()

    async def by_id(self, user_id: str) -> UserRow | None:
        async with self.db.reader() as session:
            return await session.get(UserRow, user_id)

    async def update(self, user_id: str, **values: object) -> UserRow | None:
        async with self.db.transaction() as session:
            row = await session.get(UserRow, user_id, with_for_update=not self.db.sqlite)
            if row is None:
                return None
            for key, value in values.items():
                setattr(row, key, value)
            row.update_time = utcnow()
            if "display_name" in values:
                await self.outbox.append(session, user_event(row, profile_updated=ev.ProfileUpdated()))
        return row

    async def set_role(self, email: str, role: str) -> bool:
        async with self.db.transaction() as session:
            statement = update(UserRow).where(UserRow.email == email).values(role=role)
            # An UPDATE's result is a CursorResult (SQLAlchemy types it as the rowcount-less Result).
            result = cast("CursorResult[Any]", await session.execute(statement))
            return bool(result.rowcount)

    async def page(self, after: tuple[datetime, str] | None, limit: int) -> list[UserRow]:
        """Users newest first, after the keyset position ``after``."""
        query = keyset(select(UserRow), UserRow.create_time, UserRow.id, after, limit, newest_first=True)
        async with self.db.reader() as session:
            return list((await session.execute(query)).scalars())

    # -- events without a change of their own (security notices) ----------------------------------
    async def record(self, user_id: str, **event: Message) -> None:
        """Write a durable event about the account (e.g. ``signed_in=SignedIn(...)``)."""
        async with self.db.transaction() as session:
            row = await session.get(UserRow, user_id)
            if row is not None:
                await self.outbox.append(session, user_event(row, **event))

    # -- password resets -------------------------------------------------------------------------
    async def start_password_reset(self, row: UserRow, token: str, ttl: timedelta) -> None:
        """Store the token's hash and the event that mails the token, in one transaction."""
        now = utcnow()
        expire = now + ttl
        requested = ev.PasswordResetRequested(token=token, expire_time=to_timestamp(expire))
        async with self.db.transaction() as session:
            session.add(
                PasswordResetRow(
                    token_hash=token_hash(token), user_id=row.id, expire_time=expire, create_time=now
                )
            )
            await self.outbox.append(session, user_event(row, password_reset_requested=requested))

    async def spend_password_reset(self, token: str, password_hash: str) -> str | None:
        """Spend a live token and set the password, atomically; returns the user id, or None when
        the token is unknown, spent or expired."""
        now = utcnow()
        resets: Any = PasswordResetRow.__table__
        async with self.db.transaction() as session:
            spent = await session.execute(
                update(resets)
                .where(
                    resets.c.token_hash == token_hash(token),
                    resets.c.used_time.is_(None),
                    resets.c.expire_time > now,
                )
                .values(used_time=now)
                .returning(resets.c.user_id)
            )
            user_id = spent.scalar()
            if user_id is None:
                return None
            await session.execute(
                update(UserRow)
                .where(UserRow.id == user_id, UserRow.state == "active")
                .values(password_hash=password_hash, update_time=now)
            )
        return str(user_id)
