"""Persistence of accounts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

from services.kit import AlreadyExists, Database
from services.kit.db import keyset
from services.kit.timestamps import utcnow

from .models import UserRow


class UserStore:
    def __init__(self, db: Database) -> None:
        self.db = db

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
