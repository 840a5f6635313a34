"""A meeting outbox relay in a process of its own, for the crash test: ``python -m
tests.notification.relay_process DB_URL SCHEMA_PREFIX REDIS_URL PREFIX``. Small batches, so a
kill lands between batches and inside one."""

from __future__ import annotations

import asyncio
import sys

from meetmesh.meeting.events.v1 import events_pb2  # noqa: F401 -- registers the event type
from services.kit import Database, create_redis
from services.kit.outbox import Outbox, OutboxRelay
from services.meeting.models import OUTBOX


async def main(db_url: str, schema_prefix: str, redis_url: str, prefix: str) -> None:
    db = Database(db_url, "meeting", schema_prefix=schema_prefix)
    relay = OutboxRelay(db, Outbox(OUTBOX), create_redis(redis_url), prefix, batch=10, poll_s=0.01)
    relay.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
