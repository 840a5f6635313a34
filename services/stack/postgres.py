"""PostgreSQL from Debian's binaries, as a cluster of the project's own (``initdb``, trust on loopback)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

from .servers import (
    ManagedServer,
    MissingPrerequisite,
    ServerFailed,
    traversable_by_others,
    unprivileged_user,
)


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's bin folder (``/usr/lib/postgresql/<version>/bin``)."""
    explicit = os.environ.get("MEETMESH_POSTGRES_BIN")
    candidates = [explicit] if explicit else glob.glob("/usr/lib/postgresql/*/bin")
    usable = [Path(c) for c in candidates if (Path(c) / "postgres").is_file()]
    if not usable:
        raise MissingPrerequisite("the PostgreSQL server (Debian package postgresql)")
    return max(usable, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


class PostgresServer(ManagedServer):
    name = "postgres"

    def __init__(self, root: Path | None = None, port: int = 0, durable: bool = False) -> None:
        super().__init__(root, port)
        # durable: a commit is in the WAL when it returns, so a killed server loses no committed
        # data (crash tests); otherwise commits are flushed in the background, which is faster.
        self.durable = durable
        self.bin = postgres_bin()
        self.run_as = unprivileged_user("postgres")

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL the services take (``MEETMESH_DATABASE_URL``)."""
        return f"postgresql+asyncpg://postgres@{self.host}:{self.port}/postgres"

    def dsn(self, database: str = "postgres") -> str:
        """A libpq URL (for FerretDB and other non-Python clients)."""
        return f"postgres://postgres@{self.host}:{self.port}/{database}"

    def prepare(self) -> None:
        if self.run_as is not None:
            if not traversable_by_others(self.root):
                raise ServerFailed(
                    f"postgres: {self.root} is not reachable by the '{self.run_as}' account "
                    "(a folder above it lacks o+x); put the stack elsewhere"
                )
            shutil.chown(self.root, self.run_as, self.run_as)
        if (self.data / "PG_VERSION").exists():
            return
        result = subprocess.run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            user=self.run_as,
            cwd=self.root,
            check=False,
        )
        if result.returncode != 0:
            raise ServerFailed(f"initdb failed:\n{result.stdout}{result.stderr}")

    def command(self) -> list[str]:
        return [
            str(self.bin / "postgres"),
            "-D", str(self.data),
            "-p", str(self.port),
            "-c", f"listen_addresses={self.host}",
            "-c", "unix_socket_directories=",
            "-c", "max_connections=300",
            # a test and development cluster: durability is not what it is for
            "-c", "fsync=off",
            "-c", f"synchronous_commit={'on' if self.durable else 'off'}",
            "-c", "full_page_writes=off",
        ]  # fmt: skip

    def is_ready(self) -> bool:
        result = subprocess.run(
            [str(self.bin / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port), "-U", "postgres"],
            check=False,
        )
        return result.returncode == 0

    def create_database(self, name: str) -> None:
        """Create a database if it does not exist (FerretDB keeps its data in one)."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a plain database name: {name!r}")
        psql = [str(self.bin / "psql"), "-h", self.host, "-p", str(self.port), "-U", "postgres", "-tA"]
        found = subprocess.run(
            [*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],  # noqa: S608 - checked above
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        if found.stdout.strip() != "1":
            subprocess.run([*psql, "-c", f'CREATE DATABASE "{name}"'], capture_output=True, check=True)

    def stop(self, timeout_s: float = 15.0) -> None:
        # SIGTERM is postgres's "smart" shutdown, which waits for clients; SIGINT is "fast".
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)
        super().stop(timeout_s)
