"""``meetmesh up --stack``: the whole platform on real servers on one machine.

The step between the embedded default (SQLite, in-process Redis, a local folder) and production:
the project's own PostgreSQL, Redis, FerretDB (the MongoDB role) and S3 server (SeaweedFS, the
MinIO role), each under ``./var/stack/<name>`` with its data kept between runs, on fixed ports
(below) that ``MEETMESH_STACK_<NAME>_PORT`` overrides. ``Stack.settings_env()`` is what the
services are then configured with.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .ferretdb import FerretDBServer
from .postgres import PostgresServer
from .redis import RedisServer
from .s3 import SeaweedS3Server
from .servers import ServerSet, project_root

DEFAULT_PORTS = {"postgres": 55432, "redis": 56379, "ferretdb": 57017, "s3": 58333}


def stack_port(name: str) -> int:
    return int(os.environ.get(f"MEETMESH_STACK_{name.upper()}_PORT", DEFAULT_PORTS[name]))


@dataclass
class Stack:
    root: Path = field(default_factory=lambda: project_root() / "var" / "stack")
    servers: ServerSet = field(default_factory=ServerSet)
    env: dict[str, str] = field(default_factory=dict)

    def start(self, progress: Callable[[str], None] = print) -> dict[str, str]:
        """Start every server (idempotent for running ones); returns the services' settings."""
        try:
            pg = self.servers.get(
                "postgres", lambda: PostgresServer(self.root / "postgres", stack_port("postgres"))
            )
            redis = self.servers.get(
                "redis", lambda: RedisServer(self.root / "redis", stack_port("redis"), persistent=True)
            )
            self.env.update({"MEETMESH_DATABASE_URL": pg.url, "MEETMESH_REDIS_URL": redis.url})
            assert isinstance(pg, PostgresServer)
            mongo = self.servers.get(
                "ferretdb",
                lambda: FerretDBServer(pg, self.root / "ferretdb", stack_port("ferretdb")),
            )
            self.env["MEETMESH_MONGO_URL"] = mongo.url
            s3 = self.servers.get("s3", lambda: SeaweedS3Server(self.root / "s3", stack_port("s3")))
            assert isinstance(s3, SeaweedS3Server)
            self.env.update(
                {
                    "MEETMESH_OBJECTS__ENDPOINT": s3.endpoint,
                    "MEETMESH_OBJECTS__ACCESS_KEY": s3.access_key,
                    "MEETMESH_OBJECTS__SECRET_KEY": s3.secret_key,
                }
            )
        except BaseException:
            self.stop()
            raise
        for name, server in self.servers.items():
            progress(f"  {name:<13} {server.host}:{server.port}  data {server.root}")
        return dict(self.env)

    def stop(self) -> None:
        self.servers.stop_all(remove=False)  # the stack keeps its data between runs
