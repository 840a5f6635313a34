"""Redis from Debian's ``redis-server``, on a port and in a folder of the project's own."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

from .servers import ManagedServer, find_binary


class RedisServer(ManagedServer):
    name = "redis"

    def __init__(self, root: Path | None = None, port: int = 0, persistent: bool = False) -> None:
        super().__init__(root, port)
        self.binary = find_binary("redis-server", "the Redis server (Debian package redis-server)")
        self.persistent = persistent

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        save = (
            ["--appendonly", "yes", "--save", "60 1"]
            if self.persistent
            else ["--appendonly", "no", "--save", ""]
        )
        return [
            self.binary,
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.root),
            "--daemonize", "no",
            "--logfile", "",
            "--maxclients", "2000",
            *save,
        ]  # fmt: skip

    def is_ready(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection((self.host, self.port), timeout=0.5) as sock,
        ):
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
        return False
