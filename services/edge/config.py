"""Edge settings: the platform's settings (ports, stores, issuer) plus the edge's own options.

Upstream addresses come from the platform's endpoints (`MEETMESH_USER__TARGET`, ...); the edge's
options are its block, `MEETMESH_EDGE__<FIELD>` (e.g. `MEETMESH_EDGE__PORT=9800`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from services.kit import PlatformSettings
from services.kit.ratelimit import RateLimit

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Services the edge may forward to: public packages map to these by their package's service name.
UPSTREAM_SERVICES = ("user", "signaling", "meeting", "notification", "ai")


class EdgeOptions(BaseModel):
    #: The address the edge listens on.
    host: str = "127.0.0.1"
    #: Its HTTP port.
    port: int = Field(default=8800, ge=0, le=65535)
    #: The plain port's server: uvicorn (HTTP/1.1 by uvicorn and httptools, HTTP/2 cleartext, h2c,
    #: by the edge's own h2_server.py; the per-address cap and deadlines of connections.py),
    #: hypercorn (HTTP/1.1 and h2c, pure Python) or granian (Rust; HTTP/1.1 and h2c; no per-address
    #: cap, no deadline before a request's first bytes: docs/edge.md, "Servers").
    server: Literal["uvicorn", "hypercorn", "granian"] = "uvicorn"
    #: The TLS listener (HTTP/2 and HTTP/1.1 by ALPN); false to serve plain HTTP only.
    tls: bool = True
    #: The TLS listener's server: uvicorn (as on the plain port, and only beside it), hypercorn
    #: (pure Python) or granian (Rust; no handshake deadline and no idle deadline on HTTP/2:
    #: docs/edge.md, "Servers").
    tls_server: Literal["uvicorn", "hypercorn", "granian"] = "uvicorn"
    #: The TLS listener's port.
    tls_port: int = Field(default=8443, ge=0, le=65535)
    #: A PEM certificate chain; unset: a self-signed development certificate that the edge creates
    #: once under tls_dev_dir (tls.py).
    tls_certfile: Path | None = None
    #: The certificate's PEM private key (set with tls_certfile).
    tls_keyfile: Path | None = None
    #: Where the self-signed development certificate is kept.
    tls_dev_dir: Path = Path("./var/tls")
    #: HTTP/2 streams per connection.
    h2_max_concurrent_streams: int = Field(default=100, ge=1)
    #: The largest request head, in bytes (HTTP/2: the header list as SETTINGS_MAX_HEADER_LIST_SIZE
    #: counts it; granian's HTTP/1.1 takes at least 8 KiB, its floor).
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    #: Requests on one connection before it is ended (`connection: close` on hypercorn's HTTP/1.1,
    #: GOAWAY on HTTP/2) and the client opens a new one (hypercorn's own default: 1,000; granian
    #: and uvicorn's HTTP/1.1 have no such cap).
    max_requests_per_connection: int = Field(default=100_000, ge=1)
    #: HTTP/2 connections per upstream service (upstream.py): calls spread over them, and so over the
    #: processes of a service that runs --workers N.
    upstream_pool_size: int = Field(default=4, ge=1, le=64)
    #: The descriptor set every route comes from (written by `make gen`).
    descriptor_set: Path = REPO_ROOT / "gen" / "meetmesh.binpb"
    #: The OpenAPI document served at `/openapi.json` and rendered at `/docs`.
    openapi: Path = REPO_ROOT / "gen" / "openapi" / "openapi.json"
    #: The web client's built files, served at `/` when the folder exists.
    web_root: Path = REPO_ROOT / "clients" / "web" / "dist"
    #: The interactive API reference's built files (`clients/docs`, `make web-build`), at `/docs`.
    docs_root: Path = REPO_ROOT / "clients" / "docs" / "dist"
    #: Extra or overriding upstreams, service -> host:port (beside the platform's endpoints).
    upstreams: dict[str, str] = Field(default_factory=dict)
    #: The user service's JWKS URL (default: from the platform's user endpoint).
    jwks_url: str = ""
    #: Signaling's WebSocket URL behind `/rtc` (default: from the platform's signaling endpoint).
    signaling_ws_url: str = ""
    #: Prometheus's base URL (e.g. `http://prometheus:9090`), for the admin status page's charts
    #: (`/v1/admin/status`: a fixed list of the dashboards' queries); empty: the page says so.
    prometheus_url: str = ""
    #: Origins allowed by CORS (never the request's own Host reflected back; "*" for any).
    cors_origins: list[str] = Field(
        default_factory=lambda: ["http://localhost:8800", "http://127.0.0.1:8800"]
    )
    #: Requests per client address (checked before the token).
    rate_limit_address: RateLimit = Field(default_factory=RateLimit)
    #: Requests per access-token subject.
    rate_limit_token: RateLimit = Field(default_factory=lambda: RateLimit(rate=20.0, burst=50))
    #: The largest request body, in bytes (larger: 413).
    max_request_bytes: int = Field(default=4 * 1024 * 1024, ge=1)
    #: Slow clients (docs/security.md): seconds from opening a connection (or from its last
    #: response) to the end of a request's headers.
    header_timeout_s: float = Field(default=10.0, gt=0)
    #: Slow clients: seconds to receive a whole request body.
    body_timeout_s: float = Field(default=30.0, gt=0)
    #: Idle clients: seconds between requests on a keep-alive connection.
    idle_timeout_s: float = Field(default=5.0, gt=0)
    #: Open connections per client address (uvicorn's plain port).
    max_connections_per_address: int = Field(default=100, ge=1)
    #: Connections one granian listener serves at once (its "backpressure"): every open connection
    #: holds a place, idle or not, and further ones wait for one to free.
    max_connections: int = Field(default=4096, ge=128)
    #: Deadline for unary calls (JSON, gRPC-web) that send no `grpc-timeout` (seconds), kept by the
    #: edge (not sent upstream: past it the edge resets the call, 504 for JSON); streams get none.
    default_timeout_s: float = Field(default=30.0, gt=0)
    #: One access-log line per request (no personal data).
    access_log: bool = True

    @model_validator(mode="after")
    def _tls_beside_uvicorn(self) -> EdgeOptions:
        if self.tls and self.tls_server == "uvicorn" and self.server != "uvicorn":
            raise ValueError(
                f"edge.tls_server 'uvicorn' serves beside edge.server 'uvicorn', not {self.server!r}: "
                "set MEETMESH_EDGE__TLS_SERVER to hypercorn or granian"
            )
        return self


class EdgeSettings(PlatformSettings):
    edge: EdgeOptions = Field(default_factory=EdgeOptions)

    def upstream_addresses(self) -> dict[str, str]:
        addresses = {name: self.endpoint(name).address for name in UPSTREAM_SERVICES}
        return addresses | self.edge.upstreams

    @property
    def jwks_url(self) -> str:
        return self.edge.jwks_url or f"http://{self.user.host}:{self.user.http_port}/.well-known/jwks.json"

    @property
    def signaling_ws_url(self) -> str:
        signaling = self.signaling
        return self.edge.signaling_ws_url or f"ws://{signaling.host}:{signaling.http_port}/rtc"
