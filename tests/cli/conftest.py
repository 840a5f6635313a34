"""Fixtures of the CLI tests: the real user and meeting services (PostgreSQL, Redis) behind the
edge, on a loop in a background thread, and ``meetmesh`` run as a person runs it: a child process
on a pseudo-terminal (pexpect), with a config folder of the test's own."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pexpect
import pytest

from services.edge.app import Edge
from tests.conftest import PG_URL, REDIS_URL
from tests.edge.conftest import edge_settings
from tests.edge.harness import LoopThread, start_uvicorn, stop_uvicorn
from tests.support import PASSWORD, Client, Platform, start_platform

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTORS = ROOT / "gen" / "meetmesh.binpb"


@dataclass
class Mesh:
    loop: LoopThread
    platform: Platform
    url: str

    def run(self, coro: Any, timeout: float = 30) -> Any:
        return self.loop.run(coro, timeout)

    def client(self, name: str = "Test User") -> Client:
        client: Client = self.run(self.platform.client(name))
        return client


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    loop = LoopThread()
    run_id = uuid.uuid4().hex[:8]
    stores = {
        "kind": "real",
        "database_url": PG_URL,
        "redis_url": REDIS_URL,
        "schema_prefix": f"cli{run_id}_",
        "redis_prefix": f"mmtest:cli:{run_id}",
    }
    platform = loop.run(start_platform(stores, tmp_path_factory.mktemp("keys")), timeout=60)
    edge = Edge(edge_settings(platform, DESCRIPTORS))
    server, port = loop.run(start_uvicorn(edge))
    yield Mesh(loop, platform, f"http://127.0.0.1:{port}")
    loop.run(stop_uvicorn(server))
    loop.run(platform.close(), timeout=60)
    loop.stop()


@dataclass
class Result:
    exit_code: int
    output: str

    def json(self) -> Any:
        return json.loads(self.output)

    @property
    def lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.strip()]


@dataclass
class Cli:
    """``meetmesh`` for one person: their own config folder, talking to the mesh's edge."""

    home: Path
    server: str
    env: dict[str, str] = field(default_factory=dict)

    def spawn(self, *args: str, server: str | None = None, timeout: float = 60) -> pexpect.spawn:
        env = {**os.environ, "MEETMESH_CONFIG_DIR": str(self.home), "COLUMNS": "200", **self.env}
        env.pop("MEETMESH_SERVER", None)
        env.pop("MEETMESH_PROFILE", None)
        env["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in ("gen", ".", "clients/python"))
        argv = ["-m", "services.cli", "--server", server or self.server, *args]
        return pexpect.spawn(
            sys.executable, argv, env=env, encoding="utf-8", timeout=timeout, dimensions=(50, 200)
        )

    def __call__(self, *args: str, server: str | None = None, timeout: float = 60) -> Result:
        child = self.spawn(*args, server=server, timeout=timeout)
        output = child.read()
        child.close()
        code = child.exitstatus if child.exitstatus is not None else 128 + (child.signalstatus or 0)
        return Result(code, output.replace("\r\n", "\n"))

    def login(self, email: str, password: str = PASSWORD, *args: str, server: str | None = None) -> Result:
        """``meetmesh login``, answering its prompts through the terminal."""
        child = self.spawn("login", *args, server=server)
        child.expect("Email: ")
        child.sendline(email)
        child.expect("Password: ")
        child.sendline(password)
        output = child.read()
        child.close()
        return Result(child.exitstatus if child.exitstatus is not None else -1, output.replace("\r\n", "\n"))

    def credentials(self, profile: str = "default") -> Path:
        return self.home / "credentials" / f"{profile}.json"


@pytest.fixture
def cli(mesh: Mesh, tmp_path: Path) -> Cli:
    return Cli(tmp_path / "config", mesh.url)


@pytest.fixture
def person(mesh: Mesh, cli: Cli) -> Client:
    """A registered person, logged in through ``meetmesh login`` in ``cli``."""
    client = mesh.client("Ada Lovelace")
    result = cli.login(client.email)
    assert result.exit_code == 0, result.output
    return client
