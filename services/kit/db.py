"""The relational store: one SQLAlchemy 2 async engine from one URL, and Alembic migrations.

PostgreSQL (``postgresql+asyncpg://``) in production and tests; SQLite (``sqlite+aiosqlite://``)
for the embedded default. Each service owns one PostgreSQL schema. Models declare their tables in
the service's logical schema (``MetaData(schema="meeting")``); ``Database`` translates it to the
real schema (``<schema_prefix><service>``) on PostgreSQL and drops it on SQLite, which has none.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import Select, and_, event, or_, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from . import tracing


def keyset(
    query: Select[Any],
    time_col: Any,
    id_col: Any,
    after: tuple[datetime, str] | None,
    limit: int,
    *,
    newest_first: bool = False,
) -> Select[Any]:
    """Order ``query`` by (time, id) and continue after the keyset position ``after`` (AIP-158)."""
    if after is not None:
        t, i = after
        if newest_first:
            query = query.where(or_(time_col < t, and_(time_col == t, id_col < i)))
        else:
            query = query.where(or_(time_col > t, and_(time_col == t, id_col > i)))
    order = (time_col.desc(), id_col.desc()) if newest_first else (time_col, id_col)
    return query.order_by(*order).limit(limit)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


class Database:
    """An engine and session factory for one service's schema."""

    def __init__(
        self,
        url: str,
        service: str,
        *,
        schema_prefix: str = "",
        pool_size: int = 20,
        connect_timeout_s: float = 3.0,
    ) -> None:
        self.url = url
        self.service = service
        self.sqlite = is_sqlite(url)
        self.schema: str | None = None if self.sqlite else f"{schema_prefix}{service}"
        options: dict[str, Any] = {"schema_translate_map": {service: self.schema}}
        kwargs: dict[str, Any] = {"execution_options": options}
        if self.sqlite:
            _ensure_sqlite_dir(url)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            # A fixed pool: calls beyond it wait for a connection (cheap) rather than opening and
            # closing overflow connections (expensive). No pre-ping (a round trip per checkout): a
            # connection found dead fails its call with UNAVAILABLE and is replaced.
            # A database that went away fails calls fast (connect timeout) and is used again, with
            # no restart, once it is back: broken connections are dropped as they fail.
            kwargs.update(pool_size=pool_size, max_overflow=0, pool_timeout=10, pool_recycle=1800)
            kwargs["connect_args"] = {"timeout": connect_timeout_s}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        tracing.instrument_engine(self.engine, service)
        if self.sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._pool_size = pool_size
        self._connect_timeout_s = connect_timeout_s
        self._pg: asyncpg.Pool | None = None
        self._pg_lock: asyncio.Lock | None = None

    async def pg(self) -> asyncpg.Pool:
        """PostgreSQL only: a plain asyncpg pool beside the engine, for the hot paths that run
        hand-written statements (asyncpg prepares each statement once per connection and then
        runs it in one round trip). Opened on first use, closed with the database."""
        if self.sqlite:
            raise RuntimeError("no asyncpg pool on SQLite")
        if self._pg is None:
            if self._pg_lock is None:
                self._pg_lock = asyncio.Lock()
            async with self._pg_lock:
                if self._pg is None:
                    dsn = self.url.replace("postgresql+asyncpg://", "postgresql://", 1)
                    self._pg = await asyncpg.create_pool(
                        dsn,
                        min_size=1,
                        max_size=max(2, self._pool_size // 2),
                        timeout=self._connect_timeout_s,
                        command_timeout=None,
                        # The hot statements are single autocommit statements that leave no
                        # session state behind: no RESET ALL round trip on every release.
                        reset=_keep_session,
                    )
        return self._pg

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only, on an autocommit connection: one round trip per query,
        with no BEGIN/ROLLBACK around it (each query sees committed data)."""
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            async with AsyncSession(bind=conn, expire_on_commit=False) as session:
                yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on any error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def migrate(self, script_location: Path) -> None:
        """Bring this service's schema to the newest Alembic revision (not traced: start-up work)."""
        with tracing.untraced():
            await self._migrate(script_location)

    async def _migrate(self, script_location: Path) -> None:
        async with self.engine.begin() as conn:
            if not self.sqlite:
                # One migrator at a time per schema, across processes.
                lock_id = zlib.crc32(f"meetmesh-migrate:{self.schema}".encode())
                await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            await conn.run_sync(_upgrade, str(script_location), self.service, self.schema)

    async def ping(self) -> None:
        """One round trip to the database (the readiness check of services that own a schema)."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def drop_schema(self) -> None:
        """Drop this service's schema (tests only)."""
        if self.sqlite:
            return
        with tracing.untraced():
            async with self.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))

    async def close(self) -> None:
        if self._pg is not None:
            pool, self._pg = self._pg, None
            await pool.close()
        await self.engine.dispose()


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """asyncpg's pool reset hook: nothing to reset (see ``Database.pg``)."""


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _upgrade(conn: Connection, script_location: str, service: str, schema: str | None) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    cfg.attributes.update(connection=conn, service=service, schema=schema)
    command.upgrade(cfg, "head")


def run_migrations_online() -> None:
    """The body of every service's ``migrations/env.py``."""
    from alembic import context

    attrs = context.config.attributes
    conn: Connection = attrs["connection"]
    service: str = attrs["service"]
    schema: str | None = attrs["schema"]
    context.configure(
        connection=conn,
        version_table=f"alembic_version_{service}",
        version_table_schema=schema,
        include_schemas=schema is not None,
        render_as_batch=schema is None,
    )
    conn.execution_options(schema_translate_map={service: schema})
    with context.begin_transaction():
        context.run_migrations()


def migration_schema() -> str | None:
    """Inside a migration script: the real schema of the service (None on SQLite)."""
    from alembic import context

    schema: str | None = context.config.attributes["schema"]
    return schema
