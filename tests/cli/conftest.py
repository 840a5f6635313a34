"""Fixtures of the CLI tests: the real user and meeting services (PostgreSQL, Redis) behind the
edge, on a loop in a background thread, and ``meetmesh`` run as a person runs it: a child process
on a pseudo-terminal (pexpect), with a config folder of the test's own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pexpect
import pytest

from services.edge.app import Edge
from services.kit import Runtime
from services.kit.objects import ObjectStoreSettings
from services.stack.servers import free_port
from tests.conftest import PG_URL, REDIS_URL
from tests.edge.conftest import edge_settings
from tests.edge.harness import LoopThread, start_uvicorn, stop_uvicorn
from tests.support import PASSWORD, Client, Platform, make_settings, start_platform

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

    def promote(self, client: Client) -> None:
        """Makes ``client`` an admin on the database, as `meetmesh admin promote` does."""
        from services.user.store import UserStore

        assert self.run(UserStore(self.platform.runtime.database("user")).set_role(client.email, "admin"))


def _stores(tag: str) -> dict[str, str]:
    run_id = uuid.uuid4().hex[:8]
    return {
        "kind": "real",
        "database_url": PG_URL,
        "redis_url": REDIS_URL,
        "schema_prefix": f"{tag}{run_id}_",
        "redis_prefix": f"mmtest:{tag}:{run_id}",
    }


def _serve(loop: LoopThread, start: Any, folder: Path) -> Iterator[Mesh]:
    """A platform from ``start(stores, keys, objects)`` behind an edge that also serves its signed
    object URLs (recording downloads)."""
    port = free_port()
    (folder / "keys").mkdir(exist_ok=True)
    objects = ObjectStoreSettings(local_dir=folder / "objects", public_url=f"http://127.0.0.1:{port}/objects")
    platform = loop.run(start(folder / "keys", objects), timeout=120)
    edge = Edge(edge_settings(platform, DESCRIPTORS))
    server, _ = loop.run(start_uvicorn(edge, port))
    try:
        yield Mesh(loop, platform, f"http://127.0.0.1:{port}")
    finally:
        loop.run(stop_uvicorn(server))
        loop.run(platform.close(), timeout=60)


@pytest.fixture(scope="session")
def cli_loop() -> Iterator[LoopThread]:
    loop = LoopThread()
    yield loop
    loop.stop()


@pytest.fixture(scope="session")
def mesh(cli_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """The user and meeting services behind the edge."""

    async def start(keys: Path, objects: ObjectStoreSettings) -> Platform:
        return await start_platform(_stores("cli"), keys, objects=objects)

    yield from _serve(cli_loop, start, tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="session")
def ai_mesh(cli_loop: LoopThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """User, meeting and ai services behind the edge; the ai service on a bundled tritonserver of
    its own (a hard-linked copy of the built model repository), results in PostgreSQL."""
    from services.ai.config import AiServiceOptions
    from tests.ai.conftest import BUILT, AiTestSettings, BundledTriton

    folder = tmp_path_factory.mktemp("cli-ai")
    assert (BUILT / "BUILD.json").is_file(), "build the models first: make models"
    repository = folder / "model_repository"
    shutil.copytree(BUILT, repository, copy_function=os.link)
    triton = BundledTriton(repository, folder / "triton")
    triton.start()

    async def start(keys: Path, objects: ObjectStoreSettings) -> Platform:
        stores = _stores("cliai")
        base = make_settings(stores, keys, objects).model_dump()
        base["ai"] = AiServiceOptions(
            **base["ai"],
            model_repository=repository,
            manage_triton=False,
            triton_url=triton.url,
            stream_idle_timeout_s=3.0,
        )
        settings = AiTestSettings(**base)
        platform = Platform(settings, stores, Runtime(settings, schema_prefix=stores["schema_prefix"]))
        try:
            for service in ("user", "meeting", "ai"):
                await platform.start(service)
        except BaseException:
            await platform.close()
            raise
        return platform

    try:
        yield from _serve(cli_loop, start, folder)
    finally:
        triton.stop()


@dataclass
class Result:
    exit_code: int
    output: str
    errors: str = ""

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

    def _env(self) -> dict[str, str]:
        env = {**os.environ, "MEETMESH_CONFIG_DIR": str(self.home), "COLUMNS": "200", **self.env}
        env.pop("MEETMESH_SERVER", None)
        env.pop("MEETMESH_PROFILE", None)
        env["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in ("gen", ".", "clients/python"))
        return env

    def _argv(self, args: tuple[str, ...], server: str | None) -> list[str]:
        return ["-m", "services.cli", "--server", server or self.server, *args]

    def spawn(self, *args: str, server: str | None = None, timeout: float = 60) -> pexpect.spawn:
        return pexpect.spawn(
            sys.executable,
            self._argv(args, server),
            env=self._env(),
            encoding="utf-8",
            timeout=timeout,
            dimensions=(50, 200),
        )

    def __call__(self, *args: str, server: str | None = None, timeout: float = 60) -> Result:
        """Runs one command on a terminal; with ``--json`` through pipes instead, as
        ``meetmesh ... --json | jq`` runs it, so that ``output`` is standard output alone (on a
        terminal, anything this test process's own libraries write to the terminal between the
        fork and the exec would be mixed into it)."""
        if "--json" in args:
            done = subprocess.run(
                [sys.executable, *self._argv(args, server)],
                env=self._env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            return Result(done.returncode, done.stdout, done.stderr)
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

    def age_access_token(self) -> dict[str, Any]:
        """Marks the saved access token as expired, as it is after 15 minutes; returns what was saved."""
        saved: dict[str, Any] = json.loads(self.credentials().read_text())
        self.credentials().write_text(json.dumps({**saved, "access_expires": time.time() - 1}))
        return saved


@pytest.fixture
def cli(mesh: Mesh, tmp_path: Path) -> Cli:
    return Cli(tmp_path / "config", mesh.url)


@pytest.fixture
def ai_cli(ai_mesh: Mesh, tmp_path: Path) -> Cli:
    return Cli(tmp_path / "config", ai_mesh.url)


@pytest.fixture
def person(mesh: Mesh, cli: Cli) -> Client:
    """A registered person, logged in through ``meetmesh login`` in ``cli``."""
    client = mesh.client("Ada Lovelace")
    result = cli.login(client.email)
    assert result.exit_code == 0, result.output
    return client
