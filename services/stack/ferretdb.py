"""FerretDB on the project's PostgreSQL: the MongoDB role (it speaks the MongoDB wire protocol, so
PyMongo talks to it unchanged).

The binary is the project's own small launcher around FerretDB v1.24.2's embeddable package
(``deploy/tools/ferretdb``; FerretDB's ``cmd/ferretdb`` panics when built from the module proxy). It keeps
its data in one PostgreSQL database (``ferretdb`` unless told otherwise), has no telemetry, no
debug HTTP listener and no state directory.
"""

from __future__ import annotations

from pathlib import Path

from .postgres import PostgresServer
from .servers import ManagedServer, find_binary

BUILD_HINT = "make setup"


class FerretDBServer(ManagedServer):
    name = "ferretdb"

    def __init__(
        self,
        postgres: PostgresServer,
        root: Path | None = None,
        port: int = 0,
        database: str = "ferretdb",
    ) -> None:
        super().__init__(root, port)
        self.binary = find_binary("ferretdb", "FerretDB (built from deploy/tools/ferretdb)", BUILD_HINT)
        self.postgres = postgres
        self.database = database

    @property
    def url(self) -> str:
        """The MongoDB URL the services take (``MEETMESH_MONGO_URL``)."""
        return f"mongodb://{self.host}:{self.port}/"

    def prepare(self) -> None:
        self.postgres.create_database(self.database)

    def command(self) -> list[str]:
        return [
            self.binary,
            f"--listen-addr={self.host}:{self.port}",
            f"--postgresql-url={self.postgres.dsn(self.database)}",
            "--log-level=warn",
        ]

    def is_ready(self) -> bool:
        """A MongoDB ``ping`` answered with ``ok: 1`` (its backend reached)."""
        return ping(self.url)


def ping(url: str, timeout_s: float = 1.0) -> bool:
    """Whether the MongoDB server at ``url`` answers ``ping`` (FerretDB: its PostgreSQL reached)."""
    import pymongo
    import pymongo.errors

    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        url, serverSelectionTimeoutMS=int(timeout_s * 1000), connectTimeoutMS=int(timeout_s * 1000)
    )
    try:
        client.admin.command("ping")
        return True
    except pymongo.errors.PyMongoError:
        return False
    finally:
        client.close()
