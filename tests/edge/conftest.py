"""Session fixtures: the echo service, a JWKS endpoint, Redis and the edge, on a background loop."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.edge.app import Edge, redis_from_url
from services.edge.catalog import build_catalog
from services.edge.config import DEFAULT_ANONYMOUS, EdgeSettings, RateLimit
from tests.edge.harness import LoopThread, compile_echo, merge_descriptor_sets, start_uvicorn, stop_uvicorn

REDIS_URL = "redis://127.0.0.1:6379/0"
ECHO_ANONYMOUS = [f"/meetmesh.edgetest.v1.EchoService/{m}" for m in ("Echo", "GetNote", "Count", "Fail")]


@dataclass
class Signer:
    """Issues ES256 access tokens like the user service does (the test's own key and JWKS)."""

    key: ec.EllipticCurvePrivateKey
    kid: str

    def token(self, sub: str = "users/u1", *, typ: str = "access", ttl: int = 300, **claims: Any) -> str:
        now = int(time.time())
        payload = {"sub": sub, "typ": typ, "iat": now, "exp": now + ttl, **claims}
        return jwt.encode(payload, self.key, algorithm="ES256", headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}]}


@dataclass
class EdgeStack:
    loop: LoopThread
    edge: Edge
    url: str
    echo_address: str
    signer: Signer
    descriptor_set: Path
    settings: EdgeSettings


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.stop()


@pytest.fixture(scope="session")
def echo_descriptors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("edgetest")
    echo_set = compile_echo(out)
    merged = merge_descriptor_sets(Path("gen/meetmesh.binpb").resolve(), echo_set)
    path = out / "merged.binpb"
    path.write_bytes(merged.SerializeToString())
    return path


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer(ec.generate_private_key(ec.SECP256R1()), kid=uuid.uuid4().hex[:8])


def edge_settings(descriptor_set: Path, upstreams: dict[str, str], jwks_url: str, **overrides: Any) -> EdgeSettings:
    values: dict[str, Any] = {
        "descriptor_set": descriptor_set,
        "upstreams": upstreams,
        "jwks_url": jwks_url,
        "redis_url": REDIS_URL,
        "redis_prefix": f"edgetest:{uuid.uuid4().hex}:",
        "anonymous_methods": [*DEFAULT_ANONYMOUS, *ECHO_ANONYMOUS],
        "cors_origins": ["https://app.example"],
        "rate_limit_address": RateLimit(rate=100_000, burst=100_000),
        "rate_limit_token": RateLimit(rate=100_000, burst=100_000),
        "max_request_bytes": 64 * 1024,
        "access_log": True,
        **overrides,
    }
    return EdgeSettings(**values)


@pytest.fixture(scope="session")
def stack(loop_thread: LoopThread, echo_descriptors: Path, signer: Signer) -> Iterator[EdgeStack]:
    from tests.edge.echo_service import start_echo

    jwks_app = Starlette(routes=[Route("/.well-known/jwks.json", lambda _: JSONResponse(signer.jwks()))])
    echo, echo_port = loop_thread.run(start_echo())
    jwks_server, jwks_port = loop_thread.run(start_uvicorn(jwks_app))
    settings = edge_settings(
        echo_descriptors, {"edgetest": f"127.0.0.1:{echo_port}"},
        f"http://127.0.0.1:{jwks_port}/.well-known/jwks.json",
    )
    edge = Edge(settings, catalog=build_catalog(merge_descriptor_sets(echo_descriptors)),
                redis=redis_from_url(REDIS_URL))
    server, port = loop_thread.run(start_uvicorn(edge))
    yield EdgeStack(loop_thread, edge, f"http://127.0.0.1:{port}", f"127.0.0.1:{echo_port}", signer,
                    echo_descriptors, settings)
    loop_thread.run(stop_uvicorn(server))
    loop_thread.run(stop_uvicorn(jwks_server))
    echo.close()
    loop_thread.run(echo.wait_closed())
