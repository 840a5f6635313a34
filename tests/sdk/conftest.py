"""Fixtures for the SDK's end-to-end tests: the whole real-time path on the real stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.rtc_helpers import Rtc, start_rtc
from tests.support import start_platform


@pytest.fixture
async def rtc(run_id: str, keys_dir: Path) -> AsyncIterator[Rtc]:
    """User, meeting, media and signaling services on PostgreSQL and Redis, with one meeting."""
    import uuid

    from tests.conftest import PG_URL, REDIS_URL

    stores = {
        "kind": "real",
        "database_url": PG_URL,
        "redis_url": REDIS_URL,
        "schema_prefix": f"t{run_id}_{uuid.uuid4().hex[:6]}_",
        "redis_prefix": f"mmtest:{run_id}:{uuid.uuid4().hex[:6]}",
    }
    platform = await start_platform(stores, keys_dir)
    env = await start_rtc(platform)
    try:
        yield env
    finally:
        await env.close()
        await platform.close()
