"""Shared fixtures: the real PostgreSQL and Redis on 127.0.0.1, and services over real gRPC.

Every test session gets its own PostgreSQL database schemas (a unique schema prefix) and its own
Redis key prefix, so several runs can share the machine. Store-backed fixtures are parametrised
over two store kinds, so the same tests also run on the embedded defaults:

* ``real``: the project's own PostgreSQL and Redis servers, started once per session by
  ``tests/servers.py`` (or existing ones named by ``MEETMESH_TEST_DATABASE_URL`` and
  ``MEETMESH_TEST_REDIS_URL``);
* ``embedded``: SQLite in a temporary folder and the in-process Redis.
"""

from __future__ import annotations

import os
import uuid

# This process loads grpcio (Triton's client, the OTLP exporter) and starts many children (pexpect
# for the CLI, servers). With gRPC's fork support on, a child could run gRPC's at-fork code between
# fork and exec and write a log line into its terminal (seen in CI: an "epoll_wait" error line in
# front of a CLI's JSON output). Every child here execs at once and never uses gRPC before that.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.kit.objects import ObjectStoreSettings
from tests import servers
from tests.support import Platform, start_platform


def __getattr__(name: str) -> str:
    """``PG_URL`` and ``REDIS_URL``: the session servers' URLs (starting them on first use)."""
    if name == "PG_URL":
        return servers.postgres_url()
    if name == "REDIS_URL":
        return servers.redis_url()
    raise AttributeError(name)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    servers.stop_all()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return servers.postgres_url()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return servers.redis_url()


@pytest.fixture(scope="session")
def mongo_url() -> str:
    """MongoDB (FerretDB started for the session, or ``MEETMESH_TEST_MONGO_URL``)."""
    return servers.mongo_url()


@pytest.fixture
async def mongo_database(mongo_url: str, run_id: str) -> AsyncIterator[str]:
    """A MongoDB database of the test's own, dropped at its end."""
    from pymongo import AsyncMongoClient

    name = f"t{run_id}_{uuid.uuid4().hex[:6]}_ai"
    yield name
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url)
    try:
        await client.drop_database(name)
    finally:
        await client.close()


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
            "database_url": servers.postgres_url(),
            "redis_url": servers.redis_url(),
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


@pytest.fixture(scope="session")
def s3_settings() -> ObjectStoreSettings:
    """Object-store settings for the session's S3 (SeaweedFS, started on first use) and a bucket
    of the session's own."""
    return servers.s3_settings(f"meetmesh-test-{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def s3_platform(
    run_id: str, keys_dir: Path, s3_settings: ObjectStoreSettings
) -> AsyncIterator[Platform]:
    """The user and meeting services on PostgreSQL and Redis, with objects in the session's S3."""
    stores = {
        "kind": "real",
        "database_url": servers.postgres_url(),
        "redis_url": servers.redis_url(),
        "schema_prefix": f"t{run_id}_{uuid.uuid4().hex[:6]}_",
        "redis_prefix": f"mmtest:{run_id}:{uuid.uuid4().hex[:6]}",
    }
    plat = await start_platform(stores, keys_dir, objects=s3_settings)
    try:
        yield plat
    finally:
        await plat.close()
