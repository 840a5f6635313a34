"""Shared fixtures: the real PostgreSQL and Redis on 127.0.0.1, and services over real gRPC.

Every test session gets its own PostgreSQL database schemas (a unique schema prefix) and its own
Redis key prefix, so several runs can share the machine. Store-backed fixtures are parametrised
over two store kinds, so the same tests also run on the embedded defaults:

* ``real``: PostgreSQL (``MEETMESH_TEST_DATABASE_URL``) and Redis (``MEETMESH_TEST_REDIS_URL``);
* ``embedded``: SQLite in a temporary folder and the in-process Redis.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.kit.objects import ObjectStoreSettings
from tests.support import Platform, start_platform

PG_URL = os.environ.get("MEETMESH_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("MEETMESH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(params=["real", "embedded"])
def stores(request: pytest.FixtureRequest, tmp_path: Path, run_id: str) -> Iterator[dict[str, str]]:
    """Store URLs for one test: the real servers, or the embedded defaults."""
    if request.param == "real":
        yield {
            "kind": "real",
            "database_url": PG_URL,
            "redis_url": REDIS_URL,
            "schema_prefix": f"t{run_id}_{uuid.uuid4().hex[:6]}_",
            "redis_prefix": f"mmtest:{run_id}:{uuid.uuid4().hex[:6]}",
        }
    else:
        yield {
            "kind": "embedded",
            "database_url": f"sqlite+aiosqlite:///{tmp_path}/meetmesh.db",
            "redis_url": "memory://",
            "schema_prefix": "",
            "redis_prefix": f"mmtest:{uuid.uuid4().hex[:6]}",
        }


@pytest.fixture
async def platform(stores: dict[str, str], keys_dir: Path) -> AsyncIterator[Platform]:
    """The user and meeting services, each on its own gRPC port, over ``stores``."""
    plat = await start_platform(stores, keys_dir)
    try:
        yield plat
    finally:
        await plat.close()


# The S3 server (SeaweedFS) and the platforms that keep objects in it.
from tests.s3 import s3_server, s3_settings  # noqa: E402,F401


@pytest.fixture
async def s3_platform(
    run_id: str,
    keys_dir: Path,
    s3_settings: ObjectStoreSettings,  # noqa: F811 - the fixture imported above
) -> AsyncIterator[Platform]:
    """The user and meeting services on PostgreSQL and Redis, with objects in the session's S3."""
    stores = {
        "kind": "real",
        "database_url": PG_URL,
        "redis_url": REDIS_URL,
        "schema_prefix": f"t{run_id}_{uuid.uuid4().hex[:6]}_",
        "redis_prefix": f"mmtest:{run_id}:{uuid.uuid4().hex[:6]}",
    }
    plat = await start_platform(stores, keys_dir, objects=s3_settings)
    try:
        yield plat
    finally:
        await plat.close()
