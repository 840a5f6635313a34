"""The real servers the suite talks to, started by the project itself once per test session.

In the spirit of pytest-postgresql and pytest-redis: the first test that needs a server starts it
(under a temporary folder, on a free port, from the binaries ``make setup`` installs), every later
test reuses it, and the session's end stops it. An environment variable points the suite at an
existing server instead, and then nothing is started:

=====================  ==================================  ===========================
role                   server started here                 use an existing one
=====================  ==================================  ===========================
relational store       PostgreSQL (Debian's binaries)      ``MEETMESH_TEST_DATABASE_URL``
cache, queues, pub/sub Redis (Debian's redis-server)       ``MEETMESH_TEST_REDIS_URL``
AI results, analytics  FerretDB on the PostgreSQL above    ``MEETMESH_TEST_MONGO_URL``
objects (S3)           SeaweedFS (``weed``, a Go tool)      ``MEETMESH_TEST_S3_ENDPOINT``
=====================  ==================================  ===========================

For an existing S3, ``MEETMESH_TEST_S3_ACCESS_KEY`` and ``MEETMESH_TEST_S3_SECRET_KEY`` give its
credentials; every session uses a bucket of its own there.

Every test gets its own PostgreSQL schemas, Redis key prefix and MongoDB database, every session its
own S3 bucket (see
``tests/conftest.py``), so one server serves the whole session.
"""

from __future__ import annotations

import atexit
import os

from services.kit.objects import ObjectStoreSettings
from services.stack import FerretDBServer, PostgresServer, RedisServer, SeaweedS3Server, ServerSet

_servers = ServerSet()
# The session's end stops them (tests/conftest.py); this also covers scripts that import this module
# outside pytest, which used to leave PostgreSQL and Redis running.
atexit.register(_servers.stop_all)


def postgres() -> PostgresServer:
    """The session's PostgreSQL server (started on first use)."""
    server = _servers.get("postgres", PostgresServer)
    assert isinstance(server, PostgresServer)
    return server


def postgres_url() -> str:
    return os.environ.get("MEETMESH_TEST_DATABASE_URL") or postgres().url


def redis_url() -> str:
    return os.environ.get("MEETMESH_TEST_REDIS_URL") or _servers.get("redis", RedisServer).url


def mongo_url() -> str:
    """MongoDB for the session: FerretDB on the session's PostgreSQL (started on first use)."""
    url = os.environ.get("MEETMESH_TEST_MONGO_URL")
    if url:
        return url
    return _servers.get("ferretdb", lambda: FerretDBServer(postgres())).url


def s3() -> SeaweedS3Server:
    """The session's SeaweedFS (started on first use)."""
    server = _servers.get("s3", SeaweedS3Server)
    assert isinstance(server, SeaweedS3Server)
    return server


def s3_settings(bucket: str) -> ObjectStoreSettings:
    """Object-store settings for the session's S3 (or ``MEETMESH_TEST_S3_ENDPOINT``) and ``bucket``."""
    endpoint = os.environ.get("MEETMESH_TEST_S3_ENDPOINT")
    if endpoint:
        access_key = os.environ.get("MEETMESH_TEST_S3_ACCESS_KEY", "")
        secret_key = os.environ.get("MEETMESH_TEST_S3_SECRET_KEY", "")
    else:
        server = s3()
        endpoint, access_key, secret_key = server.endpoint, server.access_key, server.secret_key
    return ObjectStoreSettings(
        endpoint=endpoint, access_key=access_key, secret_key=secret_key, bucket=bucket, timeout_s=2.0
    )


def stop_all() -> None:
    _servers.stop_all()
