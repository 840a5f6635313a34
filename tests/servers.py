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

import os
import threading

from services.kit.objects import ObjectStoreSettings
from services.stack import FerretDBServer, ManagedServer, PostgresServer, RedisServer, SeaweedS3Server

_lock = threading.Lock()
_running: dict[str, ManagedServer] = {}


def _server(name: str, make: type[ManagedServer]) -> ManagedServer:
    with _lock:
        if name not in _running:
            _running[name] = make().start()
        return _running[name]


def postgres() -> PostgresServer:
    """The session's PostgreSQL server (started on first use)."""
    server = _server("postgres", PostgresServer)
    assert isinstance(server, PostgresServer)
    return server


def postgres_url() -> str:
    return os.environ.get("MEETMESH_TEST_DATABASE_URL") or postgres().url


def redis_url() -> str:
    return os.environ.get("MEETMESH_TEST_REDIS_URL") or _server("redis", RedisServer).url


def mongo_url() -> str:
    """MongoDB for the session: FerretDB on the session's PostgreSQL (started on first use)."""
    url = os.environ.get("MEETMESH_TEST_MONGO_URL")
    if url:
        return url
    with _lock:
        server = _running.get("ferretdb")
    if server is None:
        server = register("ferretdb", FerretDBServer(postgres()).start())
    return server.url


def s3() -> SeaweedS3Server:
    """The session's SeaweedFS (started on first use)."""
    server = _server("s3", SeaweedS3Server)
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


def register(name: str, server: ManagedServer) -> ManagedServer:
    """Keep a server started by another fixture module so that the session's end stops it."""
    with _lock:
        return _running.setdefault(name, server)


def stop_all() -> None:
    with _lock:
        servers = list(_running.values())
        _running.clear()
    for server in reversed(servers):
        server.remove()
