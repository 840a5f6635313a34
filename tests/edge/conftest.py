"""Session fixtures: the real user and meeting services (PostgreSQL, Redis), the test-only echo
service and the edge in front of them, all on one event loop in a background thread."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from services.edge.app import Edge
from services.edge.config import EdgeOptions, EdgeSettings, RateLimit
from services.kit import Endpoint
from tests.conftest import PG_URL, REDIS_URL
from tests.edge.harness import LoopThread, compile_echo, merge_descriptor_sets, start_uvicorn, stop_uvicorn
from tests.support import Client, Platform, start_platform


@dataclass
class EdgeStack:
    loop: LoopThread
    platform: Platform
    edge: Edge
    url: str
    echo_address: str
    settings: EdgeSettings

    def run(self, coro: Any) -> Any:
        """Runs a coroutine on the stack's loop (where the platform's own clients live)."""
        return self.loop.run(coro)

    def client(self) -> Client:
        """A newly registered, logged-in person."""
        return self.run(self.platform.client())

    def address(self, service: str) -> str:
        return self.settings.endpoint(service).address


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.stop()


@pytest.fixture(scope="session")
def echo_descriptors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gen/meetmesh.binpb plus the compiled test-only echo service."""
    out = tmp_path_factory.mktemp("edgetest")
    merged = merge_descriptor_sets(Path("gen/meetmesh.binpb").resolve(), compile_echo(out))
    path = out / "merged.binpb"
    path.write_bytes(merged.SerializeToString())
    return path


def edge_settings(platform: Platform, descriptor_set: Path, **overrides: Any) -> EdgeSettings:
    """Edge settings in front of `platform`: real Redis with a unique prefix, generous rate limits."""
    user_http = platform.hosts["user"].http_port
    options: dict[str, Any] = {
        "port": 0,
        "descriptor_set": descriptor_set,
        "jwks_url": f"http://127.0.0.1:{user_http}/.well-known/jwks.json",
        "cors_origins": ["https://app.example"],
        "rate_limit_address": RateLimit(rate=100_000, burst=100_000),
        "rate_limit_token": RateLimit(rate=100_000, burst=100_000),
        "max_request_bytes": 64 * 1024,
        **overrides,
    }
    endpoints = {
        name: Endpoint(grpc_port=0, http_port=0, target=platform.settings.endpoint(name).address)
        for name in platform.hosts
    }
    return EdgeSettings(
        # The platform's local object folder and keys: the edge serves its signed object URLs.
        objects=platform.settings.objects,
        keys_dir=platform.settings.keys_dir,
        redis_url=REDIS_URL,
        redis_prefix=f"edgetest:{uuid.uuid4().hex[:12]}",
        edge=EdgeOptions(**options),
        **endpoints,
    )


@pytest.fixture(scope="session")
def stack(
    loop_thread: LoopThread, echo_descriptors: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EdgeStack]:
    from tests.edge.echo_service import start_echo

    run_id = uuid.uuid4().hex[:8]
    stores = {
        "kind": "real",
        "database_url": PG_URL,
        "redis_url": REDIS_URL,
        "schema_prefix": f"edge{run_id}_",
        "redis_prefix": f"mmtest:edge:{run_id}",
    }
    platform = loop_thread.run(start_platform(stores, tmp_path_factory.mktemp("keys")), timeout=60)
    echo, echo_port = loop_thread.run(start_echo())
    settings = edge_settings(platform, echo_descriptors, upstreams={"edgetest": f"127.0.0.1:{echo_port}"})
    edge = Edge(settings)
    server, port = loop_thread.run(start_uvicorn(edge))
    yield EdgeStack(
        loop_thread, platform, edge, f"http://127.0.0.1:{port}", f"127.0.0.1:{echo_port}", settings
    )
    loop_thread.run(stop_uvicorn(server))
    echo.close()
    loop_thread.run(echo.wait_closed())
    loop_thread.run(platform.close(), timeout=60)


def foreign_token(sub: str = "u1", **claims: Any) -> str:
    """An access token signed by a key the platform does not know."""
    now = int(time.time())
    payload = {"iss": "meetmesh", "sub": sub, "typ": "access", "iat": now, "exp": now + 300, **claims}
    return jwt.encode(
        payload, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "nope"}
    )


#: Every server the edge offers on its plain port (`edge.server`).
PLAIN_SERVERS = ("uvicorn", "hypercorn", "granian")


@pytest.fixture
def make_edge(stack: EdgeStack) -> Iterator[Any]:
    """Starts extra edges in front of the same platform with other options (``server=`` picks the
    plain port's server, uvicorn by default; no TLS listener); returns their URLs."""
    from services.edge.server import start_servers, stop_servers

    servers = []

    def start(**overrides: Any) -> str:
        options = stack.settings.edge.model_dump() | {"tls": False} | overrides
        settings = edge_settings(stack.platform, options.pop("descriptor_set"), **options)
        running = stack.run(start_servers(settings, Edge(settings)))
        servers.append(running)
        return str(running.url)

    yield start
    for running in servers:
        stack.run(stop_servers(running))
