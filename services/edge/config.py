"""Edge settings: one validated object; every field has a one-machine default and an env override
(`MEETMESH_EDGE_<FIELD>`, e.g. `MEETMESH_EDGE_PORT=9800`, `MEETMESH_EDGE_UPSTREAMS='{"user": "10.0.0.5:8080"}'`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]

#: gRPC ports of the services (DESIGN.md); internal ones are listed but never routed.
DEFAULT_UPSTREAMS = {
    "user": "127.0.0.1:8080",
    "signaling": "127.0.0.1:8081",
    "meeting": "127.0.0.1:8082",
    "media": "127.0.0.1:8083",
    "ai": "127.0.0.1:9085",
    "notification": "127.0.0.1:8086",
}

#: RPCs that need no access token (the user service's anonymous methods).
DEFAULT_ANONYMOUS = [
    "/meetmesh.user.v1.UserService/Register",
    "/meetmesh.user.v1.UserService/Login",
    "/meetmesh.user.v1.UserService/RefreshSession",
    "/meetmesh.user.v1.UserService/Logout",
]


class RateLimit(BaseSettings):
    """A token bucket: `rate` requests per second on average, bursts up to `burst`. rate 0 = off."""

    rate: float = Field(default=50.0, ge=0)
    burst: int = Field(default=100, ge=1)


class EdgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEETMESH_EDGE_", env_nested_delimiter="__")

    host: str = "127.0.0.1"
    port: int = Field(default=8800, ge=0, le=65535)
    descriptor_set: Path = REPO_ROOT / "gen" / "meetmesh.binpb"
    openapi: Path = REPO_ROOT / "gen" / "openapi" / "openapi.json"
    #: The web client's built files, served at `/` when the folder exists.
    web_root: Path = REPO_ROOT / "clients" / "web" / "dist"
    upstreams: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_UPSTREAMS))
    #: The signaling service's WebSocket endpoint behind `/rtc`.
    signaling_ws_url: str = "ws://127.0.0.1:9081/rtc"
    jwks_url: str = "http://127.0.0.1:9080/.well-known/jwks.json"
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    anonymous_methods: list[str] = Field(default_factory=lambda: list(DEFAULT_ANONYMOUS))
    cors_origins: list[str] = Field(default_factory=lambda: ["http://localhost:8800", "http://127.0.0.1:8800"])
    redis_url: str = "memory://"
    redis_prefix: str = "edge:"
    rate_limit_address: RateLimit = Field(default_factory=RateLimit)
    rate_limit_token: RateLimit = Field(default_factory=lambda: RateLimit(rate=20.0, burst=50))
    max_request_bytes: int = Field(default=4 * 1024 * 1024, ge=1)
    #: Deadline for JSON calls that send no `grpc-timeout` (seconds); streams get none.
    default_timeout: float = Field(default=30.0, gt=0)
    access_log: bool = True
